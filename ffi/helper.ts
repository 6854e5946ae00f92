/**
 * The C helper's symbol table (ffi/nsbox_helper.c, ABI in ffi/nsbox_helper.h).
 * The helper and the static nsbox-init built from the same source are
 * embedded and loaded by src/spawn/embedded.ts.
 *
 * @module
 */

/** The helper's symbols; each parameter is commented with its C type. */
export const HELPER_SYMBOLS = {
  /** int nsbox_spawn(const struct nsbox_plan *plan, struct nsbox_spawn_result *out) */
  nsbox_spawn: {
    parameters: ["buffer", /* const struct nsbox_plan * */ "buffer" /* struct nsbox_spawn_result * */],
    result: "i32",
  },
  /** uint32_t nsbox_abi_version(void) */
  nsbox_abi_version: { parameters: [], result: "u32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened helper's symbols. */
export type Helper = Deno.DynamicLibrary<typeof HELPER_SYMBOLS>["symbols"];
