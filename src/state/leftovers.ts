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
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";
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
