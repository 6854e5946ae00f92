/**
 * {@linkcode endLeftovers}: what a stale record's sandbox left running when
 * nsbox and its PID 1 were killed together (with `--share pid` nothing dies
 * with PID 1; a network helper that missed its parent-death signal). Run by
 * the stale-record clean-up of every command that reads the store, and so by
 * `nsbox gc`, only for a record that passed authentication, and only on
 * processes checked on their own terms — never on a pid the record merely
 * names:
 *
 * - a recorded helper (pasta, slirp4netns, the egress proxy, the publish
 *   relay) is ended when the process at its pid has the recorded start time
 *   and name, runs in nsbox's own user namespace (the relay: in the
 *   sandbox's recorded outer one, a child of nsbox's own), and was not
 *   reaped;
 * - a process of the sandbox is ended when its user namespace is the
 *   recorded one (the sandbox's outer one, alive as long as a process is in
 *   it, so its inode is not reused meanwhile) or nested in it, that
 *   namespace is a child of nsbox's own, no running sandbox's record names
 *   it, and the process's PID, network and IPC namespaces are the ones
 *   recorded.
 *
 * Each is checked again through a pidfd before it is signalled.
 *
 * Before that scan, a sandbox with limits is ended through its cgroup
 * (`cgroup.kill`): every process in it, whatever namespaces it has entered
 * since (`unshare -rn` leaves the recorded network namespace, not the
 * cgroup, which the sandbox sees read-only as its cgroup namespace's root).
 * Only the leaf cgroup the record names, when it is verifiably that
 * sandbox's on its own terms ({@linkcode staleCgroup}): named for it, the
 * caller's own, and with the recorded cgroup id (the directory's inode
 * number, never reused while the system runs), checked on an open
 * descriptor of the directory through which it is then killed. A systemd
 * scope is then collected by systemd once it is empty (nsbox never removes
 * a scope's directories itself); a delegated cgroup's directories nsbox made
 * are removed.
 *
 * @module
 */
import { cString, getLibc, type Libc } from "../../ffi/libc.ts";
import { normalCgroupPath } from "../cgroup/fs.ts";
import { SIGNALS } from "../linux.ts";
import { nsId, nsInode, sameNs, userNsAncestry } from "../procfs.ts";
import type { RecordedHelper, SandboxState } from "./store.ts";

/** Field 22 of /proc/PID/stat (the start time) and field 3 (the state), or null when it is gone. */
function statOf(pid: number): { start: number; state: string } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { start: Number(fields[19]), state: fields[0]! };
  } catch {
    return null;
  }
}

function commOf(pid: number): string | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  } catch {
    return null;
  }
}

/**
 * Whether `pid` is the helper recorded, running in nsbox's own user namespace, or in the sandbox's outer one
 * (`outer`, a child of nsbox's own: the publish relay joins it).
 */
function isHelper(pid: number, h: RecordedHelper, outer: number | undefined): boolean {
  const st = statOf(pid);
  if (st === null || st.start !== h.start || st.state === "Z" || commOf(pid) !== h.comm) return false;
  const own = nsId("/proc/self/ns/user");
  if (sameNs(nsId(`/proc/${pid}/ns/user`), own)) return true;
  const chain = userNsAncestry(pid, 2);
  return outer !== undefined && chain[0]?.ino === outer && chain[0]?.dev === own?.dev && sameNs(chain[1] ?? null, own);
}

/** Whether `pid` belongs to the sandbox `state` records (see the module's comment). */
function inSandbox(pid: number, state: SandboxState, ownUserNs: ReturnType<typeof nsId>): boolean {
  const outer = state.namespaces.user;
  if (outer === undefined) return false;
  const chain = userNsAncestry(pid);
  const i = chain.findIndex((ns) => ns.ino === outer);
  if (i < 0 || !sameNs(chain[i + 1] ?? null, ownUserNs) || chain[i]!.dev !== ownUserNs?.dev) return false;
  for (const ns of ["pid", "net", "ipc"]) {
    const recorded = state.namespaces[ns];
    if (recorded === undefined || nsInode(pid, ns) !== recorded) return false;
  }
  const st = statOf(pid);
  return st !== null && st.state !== "Z" && st.start >= state.pidStart;
}

const O_RDONLY = 0, O_DIRECTORY = 0o200000, O_CLOEXEC = 0o2000000;

/** How long the clean-up waits for a killed cgroup to empty. */
const CGROUP_EMPTY_WAIT_MS = 5000;

/** The owner of directory `path` (not following a symlink), or null when it is none. */
function dirOwner(path: string): number | null {
  try {
    const st = Deno.lstatSync(path);
    return st.isDirectory ? st.uid : null;
  } catch {
    return null;
  }
}

/**
 * The leaf cgroup of the sandbox `state` records, when the record names one that can be its: a normalised path under
 * /sys/fs/cgroup whose last part is `sandbox`, in a directory named for the sandbox (`nsbox-NAME.scope`, the
 * recorded unit, or `nsbox-NAME` without a unit: a delegated cgroup), both directories of `uid` (`ownerOf`), and a
 * recorded cgroup id (records of older versions have none). Else null. The id itself is checked when the cgroup is
 * opened ({@linkcode killStaleCgroup}).
 */
export function staleCgroup(
  state: Pick<SandboxState, "name" | "cgroup" | "unit" | "cgroupId">,
  uid: number,
  ownerOf: (path: string) => number | null = dirOwner,
): string | null {
  if (state.cgroup === null || state.cgroupId === undefined) return null;
  const leaf = normalCgroupPath(state.cgroup);
  if (leaf === null || !leaf.endsWith("/sandbox")) return null;
  const parent = leaf.slice(0, -"/sandbox".length);
  const expected = state.unit === null ? `nsbox-${state.name}` : `nsbox-${state.name}.scope`;
  if ((state.unit !== null && state.unit !== expected) || parent.slice(parent.lastIndexOf("/") + 1) !== expected) {
    return null;
  }
  return ownerOf(parent) === uid && ownerOf(leaf) === uid ? leaf : null;
}

/** Sleeps `ms` milliseconds (the store's clean-up is synchronous). */
function sleepSync(ms: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** The pids in cgroup file `procs` (cgroup.procs), or none when it cannot be read. */
function pidsIn(procs: string): number[] {
  return (readOrNull(procs) ?? "").split("\n").filter(Boolean).map(Number);
}

/**
 * Kills every process in the stale sandbox's leaf cgroup `leaf` (see the module's comment) and waits until it is
 * empty; returns what it ended, in words. Through an open descriptor of the directory, checked to be the recorded
 * cgroup id and the caller's own: a cgroup made at the same path meanwhile is never touched. Without cgroup.kill
 * (Linux before 5.14), each process cgroup.procs lists is killed through a pidfd, checked to be in that cgroup,
 * round after round until it is empty.
 */
function killStaleCgroup(libc: Libc, state: SandboxState, leaf: string): string[] {
  const fd = libc.open(cString(leaf), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return []; // gone: systemd collected it, nothing runs there
  const ended: string[] = [];
  try {
    const at = `/proc/self/fd/${fd}`;
    const st = Deno.statSync(at);
    if (st.ino !== state.cgroupId || st.uid !== Deno.uid()) return [];
    const named = new Set<number>();
    const name = (pids: number[]) => {
      for (const pid of pids) {
        if (!named.has(pid)) ended.push(`${commOf(pid) ?? "process"} (pid ${pid}, in the sandbox's cgroup)`);
        named.add(pid);
      }
    };
    const relative = leaf.slice("/sys/fs/cgroup".length);
    const inLeaf = (pid: number) => (readOrNull(`/proc/${pid}/cgroup`) ?? "").split("\n").includes(`0::${relative}`);
    try {
      name(pidsIn(`${at}/cgroup.procs`));
      Deno.writeTextFileSync(`${at}/cgroup.kill`, "1");
    } catch {
      // no cgroup.kill: one process at a time, each checked through its pidfd
      for (let round = 0; round < 100; round++) {
        const pids = pidsIn(`${at}/cgroup.procs`);
        if (pids.length === 0) break;
        name(pids);
        for (const pid of pids) {
          const pidfd = libc.pidfd_open(pid, 0);
          if (pidfd < 0) continue;
          if (inLeaf(pid)) libc.pidfd_send_signal(pidfd, SIGNALS.SIGKILL!, null, 0);
          libc.close(pidfd);
        }
        sleepSync(2);
      }
    }
    const deadline = performance.now() + CGROUP_EMPTY_WAIT_MS;
    while (/^populated 1$/m.test(readOrNull(`${at}/cgroup.events`) ?? "") && performance.now() < deadline) {
      sleepSync(5);
    }
  } catch {
    // the cgroup went away meanwhile
  } finally {
    libc.close(fd);
  }
  if (state.unit === null) {
    // a delegated cgroup: nsbox made these directories (a systemd scope's are systemd's to remove)
    const parent = leaf.slice(0, -"/sandbox".length);
    for (const dir of [leaf, `${parent}/init`, parent]) {
      try {
        Deno.removeSync(dir);
      } catch {
        // not there, or not empty
      }
    }
  }
  return ended;
}

/**
 * The cgroup a killed nsbox stepped into to supervise a delegated sandbox (`nsbox-supervisor-PID`, beside the
 * sandbox's `nsbox-NAME`; src/cgroup/manager.ts), removed when it is the caller's and empty: rmdir refuses a cgroup
 * with processes or children, so one in use (a live nsbox that got the same pid) stays.
 */
export function supervisorCgroupOf(leaf: string, supervisorPid: number): string | null {
  const base = leaf.slice(0, leaf.lastIndexOf("/")); // nsbox-NAME
  const own = base.slice(0, base.lastIndexOf("/"));
  if (!Number.isSafeInteger(supervisorPid) || supervisorPid <= 0 || own.length <= "/sys/fs/cgroup".length) return null;
  return `${own}/nsbox-supervisor-${supervisorPid}`;
}

function removeSupervisorCgroup(leaf: string, supervisorPid: number) {
  const dir = supervisorCgroupOf(leaf, supervisorPid);
  if (dir === null || dirOwner(dir) !== Deno.uid()) return;
  try {
    Deno.removeSync(dir);
  } catch {
    // in use, or gone meanwhile
  }
}

/**
 * Ends what the (authenticated, stale) record `state` left running; `liveUserNs`: the user namespaces
 * recorded by sandboxes that run (never touched). Returns what it ended, in words ("pasta (pid 12)").
 */
export function endLeftovers(state: SandboxState, liveUserNs: ReadonlySet<number>): string[] {
  const libc = getLibc();
  const ended: string[] = [];
  const kill = (pid: number, check: () => boolean, what: string): boolean => {
    if (pid === Deno.pid || !check()) return false;
    const pidfd = libc.pidfd_open(pid, 0);
    if (pidfd < 0) return false;
    try {
      // The pid may have been reused between the check and pidfd_open: check what the pidfd holds.
      if (!check() || libc.pidfd_send_signal(pidfd, SIGNALS.SIGKILL!, null, 0) < 0) return false;
      ended.push(`${what} (pid ${pid})`);
      return true;
    } finally {
      libc.close(pidfd);
    }
  };
  for (const h of state.helpers ?? []) kill(h.pid, () => isHelper(h.pid, h, state.namespaces.user), h.comm);
  const leaf = staleCgroup(state, Deno.uid() ?? -1);
  if (leaf !== null) ended.push(...killStaleCgroup(libc, state, leaf));
  if (leaf !== null && state.unit === null) removeSupervisorCgroup(leaf, state.supervisorPid);
  const outer = state.namespaces.user;
  if (outer === undefined || liveUserNs.has(outer)) return ended;
  const own = nsId("/proc/self/ns/user");
  const seen = new Set<number>();
  // Scan after scan (a process may fork while the scan runs), until one finds nothing; bounded.
  for (let round = 0; round < 100; round++) {
    let found = 0;
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const pid = Number(e.name);
      const what = seen.has(pid) ? null : commOf(pid) ?? "process";
      if (kill(pid, () => inSandbox(pid, state, own), what ?? "")) {
        found++;
        if (what === null) ended.pop(); // named once
        seen.add(pid);
      }
    }
    if (found === 0) break;
    const until = performance.now() + 2;
    while (performance.now() < until) { /* let them die before the next scan */ }
  }
  return ended;
}
