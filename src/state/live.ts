/**
 * {@linkcode verifyLive}: before `kill` signals a sandbox or `exec` joins
 * it, the process its (authenticated) record names is checked on its own
 * terms, so that a record pointing elsewhere is refused even if it passed
 * authentication:
 *
 * - PID 1 is the very process recorded (its start time);
 * - the sandbox's command (PID 1 itself with `--as-pid-1`, else PID 1's child
 *   with the recorded pid inside) is in a user namespace nested two levels
 *   below nsbox's own (the command's inner one, in the sandbox's outer one),
 *   and the outer one is the one recorded at start. A process of the host, of
 *   another program's sandbox, or of nsbox's own user namespace fails this;
 * - its PID, network and IPC namespaces are the ones recorded, and it shares
 *   with the host exactly the namespaces the spec says are shared;
 * - a spec without a seccomp filter matches a command without one more than
 *   nsbox has, and the spec's capabilities are in the command's bounding set;
 * - for `exec`, a recorded cgroup is a normalised path under /sys/fs/cgroup
 *   equal to the command's own cgroup.
 *
 * PID 1's own /proc/PID/ns is not readable from the host (it is not
 * dumpable), which is why the command's namespaces are read instead.
 *
 * @module
 */
import { commandPid, nsInode, processStatus, userNsAncestry } from "../procfs.ts";
import { CGROUP_ROOT, cgroupOf, normalCgroupPath } from "../cgroup/fs.ts";
import { NsboxError } from "../errors.ts";
import { processStart, type SandboxState } from "./store.ts";

export { normalCgroupPath };

/**
 * The inodes of the parent and grandparent of process `pid`'s user
 * namespace (NS_GET_PARENT), null where there is none or it cannot be seen.
 */
export function userNsAncestors(pid: number): [number | null, number | null] {
  const [, parent, grandparent] = userNsAncestry(pid, 3);
  return [parent?.ino ?? null, grandparent?.ino ?? null];
}

/** What {@linkcode verifyLive} found. */
export interface LiveSandbox {
  /** The host pid of the sandbox's command (whose namespaces `exec` joins). */
  readonly commandPid: number;
  /** The cgroup `exec` may put its process in (the command's own), or null. */
  readonly cgroup: string | null;
}

/** Why the live process does not match the record, or null when it does. */
type Check = { ok: LiveSandbox } | { gone: true } | { mismatch: string };

function check(state: SandboxState, forExec: boolean): Check {
  const r = checkOnce(state, forExec);
  // A sandbox that ends while it is looked at loses its namespaces with its processes: gone, not a mismatch.
  return "mismatch" in r && ending(state) ? { gone: true } : r;
}

/** Whether the sandbox's PID 1 or command has ended or is exiting (PF_EXITING, or a zombie). */
function ending(state: SandboxState): boolean {
  if (processStart(state.pid) !== state.pidStart) return true;
  const cmd = state.spec.init === "none" ? state.pid : commandPid(state.pid, state.commandNsPid ?? 0);
  return cmd === null || exiting(state.pid) || exiting(cmd);
}

const PF_EXITING = 0x4;

function exiting(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return /^[ZX]/.test(fields[0] ?? "") || (Number(fields[6]) & PF_EXITING) !== 0;
  } catch {
    return true; // gone
  }
}

function checkOnce(state: SandboxState, forExec: boolean): Check {
  if (processStart(state.pid) !== state.pidStart) return { gone: true };
  const spec = state.spec;
  const cmd = spec.init === "none" ? state.pid : commandPid(state.pid, state.commandNsPid ?? 0);
  if (cmd === null) return { gone: true };
  // PID 1 must still be the process recorded once the command was found (pids get reused).
  if (processStart(state.pid) !== state.pidStart) return { gone: true };
  const own = nsInode("self", "user");
  const inner = nsInode(cmd, "user");
  if (own === null || inner === null) return { gone: true };
  const [outer, host] = userNsAncestors(cmd);
  if (inner === own || outer === null || host !== own) {
    return { mismatch: "its command is not in a user namespace of a sandbox of nsbox's" };
  }
  if (outer !== state.namespaces.user) return { mismatch: "its user namespace is not the one recorded" };
  for (const ns of ["pid", "net", "ipc"]) {
    if (nsInode(cmd, ns) !== state.namespaces[ns]) return { mismatch: `its ${ns} namespace is not the one recorded` };
  }
  for (const ns of ["pid", "net", "ipc", "uts"] as const) {
    const shared = nsInode(cmd, ns) === nsInode("self", ns);
    if (shared !== spec.share.includes(ns)) {
      return { mismatch: `its ${ns} namespace is ${shared ? "" : "not "}the host's, unlike the record says` };
    }
  }
  const cs = processStatus(cmd), self = processStatus("self");
  if (!cs || !self) return { gone: true };
  if (spec.seccomp.mode === "unconfined" && cs.Seccomp !== self.Seccomp) {
    return { mismatch: "its command has a seccomp filter the record does not" };
  }
  const bounding = BigInt(`0x${cs.CapBnd ?? "0"}`);
  if (spec.identity.capabilities.some((c) => (bounding & (1n << BigInt(c))) === 0n)) {
    return { mismatch: "the record gives capabilities its command does not have" };
  }
  let cgroup: string | null = null;
  if (forExec && state.cgroup !== null) {
    cgroup = normalCgroupPath(state.cgroup);
    if (cgroup === null) return { mismatch: "its recorded cgroup is not a path under /sys/fs/cgroup" };
    const own = cgroupOf(cmd);
    if (own === null || `${CGROUP_ROOT}${own === "/" ? "" : own}` !== cgroup) {
      return { mismatch: "its command is not in the recorded cgroup" };
    }
  }
  return { ok: { commandPid: cmd, cgroup } };
}

/**
 * Checks that the sandbox `state` records is running as recorded (see the
 * module's comment). Returns null when it has ended (or has no command
 * running); throws an {@linkcode NsboxError} when the live process does not
 * match the record, saying what `doing` (e.g. "not signalling it") is not done.
 */
export function verifyLive(state: SandboxState, doing: string, opts: { forExec?: boolean } = {}): LiveSandbox | null {
  const r = check(state, opts.forExec ?? false);
  if ("ok" in r) return r.ok;
  if ("gone" in r) return null;
  throw new NsboxError(`the sandbox '${state.name}' does not match its record: ${r.mismatch}; ${doing}`, {
    hint: "its record was written by something other than nsbox, or the sandbox was changed from inside",
  });
}
