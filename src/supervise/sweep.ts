/**
 * What a sandbox that shares the host's PID namespace (`--share pid`) leaves
 * behind once its PID 1 has ended: without a PID namespace of its own nothing
 * dies with PID 1, so a command that double-forks and ignores signals would
 * outlive nsbox. {@linkcode holdSandbox} takes hold of the sandbox before it
 * is released; {@linkcode Sweeper.sweep} kills what is left, until nothing is:
 *
 * - with a cgroup (limits): `cgroup.kill` on the sandbox's cgroups, then wait
 *   until they are empty (a sandbox cannot leave its cgroup namespace's root);
 * - otherwise: every process whose user namespace is the sandbox's outer one
 *   (its PID 1's) or nested in it, found in /proc and killed through a pidfd,
 *   scan after scan until a scan finds none. A process cannot leave that
 *   namespace tree: joining another user namespace needs CAP_SYS_ADMIN in it.
 *
 * The native supervisor does the same (ffi/nsbox_supervise.c, NSBOX_SV_SWEEP)
 * once it has taken over; this one serves when the sandbox ends before.
 *
 * @module
 */
import { cString, getLibc } from "../../ffi/libc.ts";
import { check } from "../errors.ts";
import { SIGNALS } from "../linux.ts";
import { type NsId, nsId, sameNs, userNsAncestry } from "../procfs.ts";
import type { SandboxCgroup } from "../cgroup/manager.ts";
import type { SupervisorOp } from "../spawn/abi.ts";

const O_RDONLY = 0, O_CLOEXEC = 0o2000000;

/** A sandbox held for a sweep: its outer user namespace, open so that its inode number cannot be reused. */
export interface Sweeper {
  /** Kills every process the sandbox left, until none is left. Idempotent. */
  sweep(cgroup: SandboxCgroup | null): Promise<void>;
  /** Lets the namespace go. */
  close(): void;
  /** The sweep as an op of the native supervisor, which then holds the namespace (`fd`). */
  teardown(cgroup: SandboxCgroup | null): SupervisorOp;
  /** The open user namespace. */
  readonly fd: number;
}

/**
 * Takes hold of the sandbox whose PID 1 is `pid` (created, not yet released:
 * it is in the sandbox's outer user namespace and cannot have left it).
 */
export function holdSandbox(pid: number): Sweeper {
  const libc = getLibc();
  // Before release: a sandbox that cannot be swept up after is not started.
  let fd = check(
    libc.open(cString(`/proc/${pid}/ns/user`), O_RDONLY | O_CLOEXEC, 0),
    "cannot open the sandbox's user namespace",
  );
  const target = nsId(`/proc/self/fd/${fd}`);
  let done = false;
  return {
    async sweep(cgroup) {
      if (done || target === null) return;
      if (!(cgroup && await killCgroups(cgroup.cgroups))) await killUserns(target);
      done = true;
    },
    close() {
      if (fd >= 0) libc.close(fd);
      fd = -1;
    },
    teardown: (cgroup) => ({ kind: "sweep", usernsFd: fd, cgroups: cgroup?.cgroups ?? [] }),
    get fd() {
      return fd;
    },
  };
}

/** Whether the process `pid`'s user namespace is `target` or nested in it. */
function inSandbox(pid: number, target: NsId, own: NsId | null): boolean {
  const first = nsId(`/proc/${pid}/ns/user`);
  if (first === null || sameNs(first, own)) return false; // gone, or the caller's own namespace (most processes)
  return userNsAncestry(pid).some((ns) => sameNs(ns, target));
}

/** Whether some thread of `pid` still runs (a zombie leader may have live threads). */
function running(pid: number): boolean {
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        if (!/\) [ZX] /.test(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`))) return true;
      } catch {
        // that thread is gone
      }
    }
  } catch {
    // the process is gone
  }
  return false;
}

/** Scans /proc and SIGKILLs the sandbox's processes until a scan finds none. No round limit. */
async function killUserns(target: NsId): Promise<void> {
  const libc = getLibc();
  const own = nsId("/proc/self/ns/user");
  for (;;) {
    let found = 0;
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const pid = Number(e.name);
      if (pid === Deno.pid || !inSandbox(pid, target, own) || !running(pid)) continue;
      const pidfd = libc.pidfd_open(pid, 0);
      if (pidfd < 0) continue; // gone meanwhile
      try {
        // The pid may have been reused between the check and pidfd_open: check again what the pidfd holds.
        if (inSandbox(pid, target, own)) {
          libc.pidfd_send_signal(pidfd, SIGNALS.SIGKILL!, null, 0);
          found++;
        }
      } finally {
        libc.close(pidfd);
      }
    }
    if (found === 0) return;
    await new Promise((r) => setTimeout(r, 1)); // let them die before the next scan
  }
}

/**
 * cgroup.kill on each cgroup (Linux 5.14+), then waits until each is empty.
 * False when a cgroup cannot be killed that way (the caller falls back).
 */
async function killCgroups(paths: readonly string[]): Promise<boolean> {
  const live: string[] = [];
  for (const path of paths) {
    try {
      Deno.writeTextFileSync(`${path}/cgroup.kill`, "1");
      live.push(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && !exists(path)) continue; // no such cgroup (PID 1's, not made)
      return false;
    }
  }
  for (const path of live) {
    while (populated(path)) await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function populated(path: string): boolean {
  try {
    return /^populated 1$/m.test(Deno.readTextFileSync(`${path}/cgroup.events`));
  } catch {
    return false; // removed
  }
}
