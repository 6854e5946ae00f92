/**
 * libsystemd's sd-bus, the client half nsbox needs to ask the user's systemd
 * manager for a transient scope. Hand-written symbol table (only the
 * non-variadic entry points: FFI cannot call C varargs portably), opened on
 * first use; `null` where libsystemd is not installed.
 *
 * Every call returns a negative errno on failure; src/cgroup/systemd.ts's
 * busCheck() is the one place that turns that into an error.
 *
 * @module
 */

/** sd-bus symbols; each parameter is commented with its C type. */
export const SD_BUS_SYMBOLS = {
  /** int sd_bus_open_user(sd_bus **ret) */
  sd_bus_open_user: { parameters: ["buffer" /* sd_bus ** */], result: "i32" },
  /** sd_bus *sd_bus_flush_close_unref(sd_bus *bus) */
  sd_bus_flush_close_unref: { parameters: ["pointer" /* sd_bus * */], result: "pointer" },
  /** int sd_bus_message_new_method_call(sd_bus *bus, sd_bus_message **m, const char *destination,
   *  const char *path, const char *interface, const char *member) */
  sd_bus_message_new_method_call: {
    parameters: [
      "pointer", /* sd_bus * */
      "buffer", /* sd_bus_message ** */
      "buffer", /* const char *destination */
      "buffer", /* const char *path */
      "buffer", /* const char *interface */
      "buffer", /* const char *member */
    ],
    result: "i32",
  },
  /** int sd_bus_message_append_basic(sd_bus_message *m, char type, const void *p) */
  sd_bus_message_append_basic: {
    parameters: ["pointer", /* sd_bus_message * */ "u8", /* char */ "buffer" /* const void * */],
    result: "i32",
  },
  /** int sd_bus_message_open_container(sd_bus_message *m, char type, const char *contents) */
  sd_bus_message_open_container: {
    parameters: ["pointer", /* sd_bus_message * */ "u8", /* char */ "buffer" /* const char * */],
    result: "i32",
  },
  /** int sd_bus_message_close_container(sd_bus_message *m) */
  sd_bus_message_close_container: { parameters: ["pointer" /* sd_bus_message * */], result: "i32" },
  /** int sd_bus_call(sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error,
   *  sd_bus_message **reply) */
  sd_bus_call: {
    parameters: [
      "pointer", /* sd_bus * */
      "pointer", /* sd_bus_message * */
      "u64", /* uint64_t usec */
      "buffer", /* sd_bus_error * */
      "buffer", /* sd_bus_message ** */
    ],
    result: "i32",
  },
  /** int sd_bus_message_read_basic(sd_bus_message *m, char type, void *p) */
  sd_bus_message_read_basic: {
    parameters: ["pointer", /* sd_bus_message * */ "u8", /* char */ "buffer" /* void * */],
    result: "i32",
  },
  /** int sd_bus_message_is_signal(sd_bus_message *m, const char *interface, const char *member) */
  sd_bus_message_is_signal: {
    parameters: ["pointer", /* sd_bus_message * */ "buffer", /* const char * */ "buffer" /* const char * */],
    result: "i32",
  },
  /** sd_bus_message *sd_bus_message_unref(sd_bus_message *m) */
  sd_bus_message_unref: { parameters: ["pointer" /* sd_bus_message * */], result: "pointer" },
  /** int sd_bus_process(sd_bus *bus, sd_bus_message **r) */
  sd_bus_process: { parameters: ["pointer", /* sd_bus * */ "buffer" /* sd_bus_message ** */], result: "i32" },
  /** int sd_bus_wait(sd_bus *bus, uint64_t timeout_usec) */
  sd_bus_wait: { parameters: ["pointer", /* sd_bus * */ "u64" /* uint64_t */], result: "i32" },
  /** void sd_bus_error_free(sd_bus_error *e) */
  sd_bus_error_free: { parameters: ["buffer" /* sd_bus_error * */], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened sd-bus symbols. */
export type SdBus = Deno.DynamicLibrary<typeof SD_BUS_SYMBOLS>["symbols"];

let lib: SdBus | null | undefined;

/** Opens libsystemd on first use; null when it is not installed. */
export function getSdBus(): SdBus | null {
  if (lib === undefined) {
    try {
      lib = Deno.dlopen("libsystemd.so.0", SD_BUS_SYMBOLS).symbols;
    } catch {
      lib = null;
    }
  }
  return lib;
}
