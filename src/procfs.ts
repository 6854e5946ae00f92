/**
 * What /proc says about processes' namespaces, for the parts of nsbox that
 * check a live process on their own terms (src/state/live.ts before `kill`
 * and `exec`, src/supervise/sweep.ts after a `--share pid` sandbox).
 *
 * @module
 */
import { cString, getLibc } from "../ffi/libc.ts";

const O_RDONLY = 0, O_CLOEXEC = 0o2000000;
/** ioctl NS_GET_PARENT: _IO(0xb7, 0x2), a descriptor of the parent namespace. */
const NS_GET_PARENT = 0xb702n;

/** A namespace: the device and inode of its nsfs file. */
export interface NsId {
  readonly dev: number;
  readonly ino: number;
}

/** The namespace a path leads to (`/proc/PID/ns/NS`, `/proc/self/fd/N`), or null when it cannot be seen. */
export function nsId(path: string): NsId | null {
  try {
    const st = Deno.statSync(path); // follows the magic link to the nsfs inode
    return { dev: st.dev, ino: st.ino! };
  } catch {
    return null;
  }
}

/** Whether two namespaces are the same one (false when either is unknown). */
export function sameNs(a: NsId | null, b: NsId | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;
}

/**
 * The user namespace of process `pid` and its ancestors, nearest first, as
 * far as the caller may see (NS_GET_PARENT stops at the caller's own
 * namespace's parent) or `depth` levels; empty when the process is gone.
 */
export function userNsAncestry(pid: number, depth = Infinity): NsId[] {
  const libc = getLibc();
  const out: NsId[] = [];
  let fd = libc.open(cString(`/proc/${pid}/ns/user`), O_RDONLY | O_CLOEXEC, 0);
  while (fd >= 0) {
    const id = nsId(`/proc/self/fd/${fd}`);
    if (id === null || out.length >= depth) break;
    out.push(id);
    const parent = out.length < depth ? libc.ioctl(fd, NS_GET_PARENT, 0n) : -1; // EPERM at the top
    libc.close(fd);
    fd = parent;
  }
  if (fd >= 0) libc.close(fd);
  return out;
}

/** The inode of `/proc/PID/ns/NS` (PID may be "self"), from its link ("net:[4026531840]"), or null when unreadable. */
export function nsInode(pid: number | "self", ns: string): number | null {
  try {
    const m = /^\w+:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/ns/${ns}`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The fields of /proc/PID/status, or null when the process is gone or not ours to read. */
export function processStatus(pid: number | "self"): Record<string, string> | null {
  try {
    const out: Record<string, string> = {};
    for (const line of Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return out;
  } catch {
    return null;
  }
}

/**
 * The host pid of the sandbox's command: the child of `initPid` whose pid in
 * its own PID namespace is `nsPid`, or null. PID 1 is not dumpable (its
 * task children lists are closed to us), hence the walk of /proc.
 */
export function commandPid(initPid: number, nsPid: number): number | null {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const st = processStatus(Number(e.name));
    if (st && Number(st.PPid) === initPid && Number(st.NSpid?.split(/\s+/).at(-1)) === nsPid) return Number(e.name);
  }
  return null;
}
