/**
 * Helpers of the escape tests: the integration harness, plus a way to run a
 * Python attack inside a sandbox and read back what each step got (an errno
 * name such as "EPERM", or "ok").
 *
 * @module
 */
import { exists, hasProgram, nsbox, type NsboxOptions, type Ran } from "../integration/_harness.ts";

export * from "../integration/_harness.ts";

/** Syscall numbers in these tests are x86_64's. */
export const X86_64 = Deno.build.arch === "x86_64";
/** The attacks are written in Python (the host's, visible through the read-only root). */
export const HAS_PYTHON = hasProgram("python3");
/** Why a test that needs both is skipped. */
export const NEEDS_PY_X86 = !HAS_PYTHON || !X86_64;

/**
 * Python run before each attack script:
 * - `sc(nr, *args)`: a raw system call through libc's syscall(); ints are
 *   passed as unsigned 64-bit words (so -3 and 0xffffffff00005412 arrive
 *   whole), bytes as char*, None as NULL; returns "ok" or the errno name.
 * - `oserr(fn, *args)`: calls fn; "ok" or the errno name of its OSError.
 * - `out(key, value)`: prints "key: value", the line {@linkcode results} reads.
 */
export const PY_PRELUDE = `
import ctypes, errno, os, socket, stat, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def _arg(x):
    return ctypes.c_ulong(x & 0xffffffffffffffff) if isinstance(x, int) else x
def ename(e):
    return errno.errorcode.get(e, "errno %d" % e)
def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[_arg(a) for a in args])
    return "ok" if r >= 0 else ename(ctypes.get_errno())
def oserr(fn, *args):
    try:
        fn(*args)
        return "ok"
    except OSError as e:
        return ename(e.errno)
def out(key, value):
    print("%s: %s" % (key, value), flush=True)
`;

/**
 * More Python for mount attacks: `mount(src, target, fstype, flags, data)`,
 * `umount(target, flags)`, `clear_ro(dfd, path, flags)` (mount_setattr
 * clearing MOUNT_ATTR_RDONLY), `append(path)` (open for append and write),
 * `overwrite(path, data)` (open with O_TRUNC and write: a read-only mount
 * answers EROFS before any permission check);
 * each returns "ok" or the errno name. MS_* and MNT_DETACH as in the kernel.
 */
export const PY_MOUNT = `
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
MNT_DETACH, AT_FDCWD, AT_EMPTY_PATH, AT_RECURSIVE = 2, -100, 0x1000, 0x8000
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
def _b(s):
    return None if s is None else s.encode()
def mount(src, target, fstype, flags, data=None):
    ctypes.set_errno(0)
    return "ok" if libc.mount(_b(src), _b(target), _b(fstype), flags, _b(data)) == 0 else ename(ctypes.get_errno())
def umount(target, flags=0):
    ctypes.set_errno(0)
    return "ok" if libc.umount2(_b(target), flags) == 0 else ename(ctypes.get_errno())
class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]
def clear_ro(dfd, path, flags=0):
    return sc(442, dfd, path.encode(), flags, ctypes.byref(MountAttr(0, 1, 0, 0)), 32)
def append(path):
    def w():
        with open(path, "a") as f:
            f.write("nsbox-escape\\n")
    return oserr(w)
def overwrite(path, data="nsbox-escape\\n"):
    def w():
        with open(path, "w") as f:
            f.write(data)
    return oserr(w)
`;

/** Runs the Python `script` (after {@linkcode PY_PRELUDE}) in a sandbox with `flags`. */
export function sandboxPy(script: string, flags: readonly string[] = [], opts: NsboxOptions = {}): Promise<Ran> {
  return nsbox(["run", ...flags, "--", "python3", "-c", PY_PRELUDE + script], opts);
}

/** The "key: value" lines of an attack's output, by key. */
export function results(r: Ran): Record<string, string> {
  const map: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const i = line.indexOf(": ");
    if (i > 0) map[line.slice(0, i)] = line.slice(i + 2);
  }
  return map;
}

/** Runs `script` with `flags` and returns its results; fails when the script did not exit 0. */
export async function attack(script: string, flags: readonly string[] = []): Promise<Record<string, string>> {
  const r = await sandboxPy(script, flags);
  if (r.code !== 0) {
    throw new Error(
      `attack script with [${flags.join(" ")}] exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return results(r);
}

/** A process of the caller's outside any sandbox (`sleep`), killed at the end of the scope. */
export function hostProcess(): AsyncDisposable & { pid: number; alive(): boolean } {
  const child = new Deno.Command("sleep", { args: ["300"], stdin: "null", stdout: "null", stderr: "null" }).spawn();
  return {
    pid: child.pid,
    alive() {
      try {
        return !/\) [ZX] /.test(Deno.readTextFileSync(`/proc/${child.pid}/stat`));
      } catch {
        return false;
      }
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone already
      }
      await child.status;
    },
  };
}

/** The caller's home directory when it is visible inside a sandbox (not under /tmp), else null. */
export function visibleHome(): string | null {
  const home = Deno.env.get("HOME");
  if (!home || !home.startsWith("/") || home === "/" || home === "/tmp" || home.startsWith("/tmp/")) return null;
  try {
    return Deno.statSync(home).isDirectory ? home : null;
  } catch {
    return null;
  }
}

/** A directory of the caller's in its home (so the sandbox sees it, read-only), removed at the end of the scope. */
export async function homeDir(): Promise<AsyncDisposable & { path: string }> {
  const home = visibleHome();
  if (!home) throw new Error("no home directory outside /tmp");
  const path = await Deno.makeTempDir({ dir: home, prefix: ".nsbox-security-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Whether `path` exists on the host (without following a final symlink). */
export const hostHas = exists;
