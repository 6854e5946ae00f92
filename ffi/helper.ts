/**
 * The C helper (ffi/nsbox_helper.c): its symbol table and its loader.
 *
 * The helper's bytes are embedded in the program (a bytes import), written to
 * a memfd and opened with dlopen("/proc/self/fd/N"): the same path whether
 * nsbox runs from a checkout or as a compiled binary, and nothing is written
 * to disk. Opened on first use only.
 *
 * @module
 */
import { check, cString, getLibc } from "./libc.ts";
import { NsboxError } from "../src/errors.ts";

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

const MFD_CLOEXEC = 0x1;
let helper: Helper | undefined;

/** Loads the embedded helper on first use; throws when it was not built. */
export async function getHelper(): Promise<Helper> {
  if (helper) return helper;
  let bytes: Uint8Array;
  try {
    bytes = (await import("./build/libnsbox_helper.so", { with: { type: "bytes" } })).default;
  } catch (cause) {
    const missing = cause instanceof Error && /not a valid module type|raw-imports/i.test(cause.message);
    throw new NsboxError(
      missing
        ? "cannot import the C helper: bytes imports are not enabled"
        : "the C helper is not built (ffi/build/libnsbox_helper.so)",
      {
        hint: missing
          ? 'run Deno with --unstable-raw-imports (or "unstable": ["raw-imports"] in deno.json)'
          : "run `deno task build`, or start nsbox through scripts/nsbox",
        cause,
      },
    );
  }
  const libc = getLibc();
  const fd = check(libc.memfd_create(cString("nsbox-helper"), MFD_CLOEXEC), "cannot create a memfd for the helper");
  let off = 0;
  while (off < bytes.length) {
    const chunk = bytes.subarray(off);
    off += Number(check(libc.write(fd, chunk, BigInt(chunk.length)), "cannot write the helper to its memfd"));
  }
  // The mapping outlives the descriptor, so it is closed right after dlopen.
  try {
    helper = Deno.dlopen(`/proc/self/fd/${fd}`, HELPER_SYMBOLS).symbols;
  } finally {
    libc.close(fd);
  }
  return helper;
}
