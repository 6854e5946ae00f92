/**
 * The C helper and the static nsbox-init, embedded in the program (bytes
 * imports) and brought to life from memfds: the helper is written to a
 * memfd and opened with dlopen("/proc/self/fd/N") — the same path whether
 * nsbox runs from a checkout or as a compiled binary, and nothing is written
 * to disk — and nsbox-init (built from the same source) stays in a sealed
 * memfd the sandbox's PID 1 execs (see {@linkcode getStaticInit}). Each is
 * loaded on first use only.
 *
 * @module
 */
import { bindPointer, cString, errno, getLibc, lookupSymbol } from "../../ffi/libc.ts";
import { type Helper, HELPER_SYMBOLS } from "../../ffi/helper.ts";
import { check, NsboxError } from "../errors.ts";

const MFD_CLOEXEC = 0x1;
let helper: Helper | undefined;

/** Loads the embedded helper on first use; throws when it was not built. */
export async function getHelper(): Promise<Helper> {
  if (helper) return helper;
  let bytes: Uint8Array;
  try {
    bytes = (await import("../../ffi/build/libnsbox_helper.so", { with: { type: "bytes" } })).default;
  } catch (cause) {
    const missing = cause instanceof Error && /not a valid module type|raw-imports/i.test(cause.message);
    throw new NsboxError(
      missing
        ? "cannot import the C helper: bytes imports are not enabled"
        : "the C helper is not built (ffi/build/libnsbox_helper.so)",
      {
        hint: missing
          ? 'run Deno with --unstable-raw-imports (or "unstable": ["raw-imports"] in deno.json)'
          : "run `scripts/deno task build`, or start nsbox through scripts/nsbox",
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
    helper = openHelper(`/proc/self/fd/${fd}`);
  } finally {
    libc.close(fd);
  }
  return helper;
}

const RTLD_NOW = 2;

/**
 * The helper at `path`, opened with the C library's dlopen and its symbols
 * called as pointers (see ffi/libc.ts: a Deno.dlopen trampoline per symbol
 * costs ~0.15 ms more); with Deno.dlopen where libc has no dlsym. Never
 * closed: it lives as long as nsbox.
 */
function openHelper(path: string): Helper {
  if (lookupSymbol(null, "dlopen") === null) return Deno.dlopen(path, HELPER_SYMBOLS).symbols;
  const libc = getLibc();
  const handle = libc.dlopen(cString(path), RTLD_NOW);
  if (handle === null) {
    const why = libc.dlerror();
    throw new NsboxError(
      `cannot load the C helper: ${why === null ? "dlopen failed" : Deno.UnsafePointerView.getCString(why)}`,
    );
  }
  const symbols: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(HELPER_SYMBOLS)) {
    const pointer = lookupSymbol(handle, name);
    if (pointer === null) {
      throw new NsboxError(`cannot load the C helper: it has no ${name}`, { hint: "run `scripts/deno task build`" });
    }
    symbols[name] = bindPointer(pointer, def);
  }
  return symbols as Helper;
}

const MFD_ALLOW_SEALING = 0x2, MFD_EXEC = 0x10;
const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 0x1, F_SEAL_SHRINK = 0x2, F_SEAL_GROW = 0x4, F_SEAL_WRITE = 0x8, F_SEAL_EXEC = 0x20;
const EINVAL = 22;
let staticInit: number | undefined;

/**
 * A descriptor of the static nsbox-init (ffi/build/nsbox-init): what every
 * child nsbox spawns execs at once with execveat(fd, "", AT_EMPTY_PATH) to
 * replay its plan (and then to be the sandbox's PID 1), and what the CLI
 * execs as its native supervisor. A close-on-exec memfd holding the embedded
 * bytes, mode 0555 (readable: a process exec'd from a file it may not read
 * is not dumpable, and the parent must still write the child's uid_map; the
 * child makes itself not dumpable once it has its id maps), sealed against
 * any change, open for the life of this process. Created on first use; -1
 * when it cannot be (vm.memfd_noexec=2): nsbox then refuses to start
 * sandboxes. Throws only when nsbox-init was not built.
 */
export async function getStaticInit(): Promise<number> {
  if (staticInit !== undefined) return staticInit;
  let bytes: Uint8Array;
  try {
    bytes = (await import("../../ffi/build/nsbox-init", { with: { type: "bytes" } })).default;
  } catch (cause) {
    throw new NsboxError("the static nsbox-init is not built (ffi/build/nsbox-init)", {
      hint:
        "run `scripts/deno task build` (it needs a static C library: libc6-dev), or start nsbox through scripts/nsbox",
      cause,
    });
  }
  const libc = getLibc();
  const name = cString("nsbox-init");
  // MFD_EXEC (Linux 6.3) keeps the memfd executable under vm.memfd_noexec=1; older kernels refuse the flag.
  let sealExec = F_SEAL_EXEC;
  let fd = libc.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno() === EINVAL) {
    fd = libc.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    sealExec = 0;
  }
  if (fd < 0) return staticInit = -1;
  try {
    let off = 0;
    while (off < bytes.length) {
      const chunk = bytes.subarray(off);
      off += Number(check(libc.write(fd, chunk, BigInt(chunk.length)), "cannot write nsbox-init to its memfd"));
    }
    check(libc.fchmod(fd, 0o555), "cannot make nsbox-init's memfd read-only");
    check(
      libc.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | sealExec | F_SEAL_SEAL),
      "cannot seal nsbox-init's memfd",
    );
  } catch {
    libc.close(fd);
    return staticInit = -1;
  }
  return staticInit = fd;
}

const F_SEAL_SEALED = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;

/**
 * A close-on-exec memfd holding `bytes`, sealed against any change: how nsbox
 * hands data to a program it starts (the native supervisor's configuration).
 * The caller closes it.
 */
export function sealedMemfd(name: string, bytes: Uint8Array): number {
  const libc = getLibc();
  const fd = check(
    libc.memfd_create(cString(name), MFD_CLOEXEC | MFD_ALLOW_SEALING),
    `cannot create a memfd for ${name}`,
  );
  try {
    let off = 0;
    while (off < bytes.length) {
      const chunk = bytes.subarray(off);
      off += Number(check(libc.write(fd, chunk, BigInt(chunk.length)), `cannot write ${name} to its memfd`));
    }
    check(libc.fcntl(fd, F_ADD_SEALS, F_SEAL_SEALED), `cannot seal ${name}'s memfd`);
  } catch (e) {
    libc.close(fd);
    throw e;
  }
  return fd;
}
