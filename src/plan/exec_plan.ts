/**
 * {@linkcode buildExecPlan}: the plan of `nsbox exec`, joining a running
 * sandbox. Pure: from the sandbox's recorded spec, the host pid of its
 * command (whose namespaces are joined), and the request.
 *
 * The order is forced by who owns what. The sandbox's PID, network, IPC and
 * cgroup namespaces belong to its outer user namespace, its mount and UTS
 * namespaces to the inner one (nested in the outer: see plan.ts). A process
 * can join a namespace only with capabilities in the namespace's owner and
 * in its own user namespace, so: the outer user namespace first (found from
 * the inner one with NS_GET_PARENT), then PID, network, IPC, cgroup; then the
 * inner user namespace, then mount and UTS. The PID namespace takes effect
 * for children: nsbox's reaper forks the command into it.
 *
 * @module
 */
import { insideIds, type SandboxSpec, type TerminalMode } from "../spec/spec.ts";
import type { ChildPlan, SetupOp } from "./ops.ts";
import { CLONE, SIGNALS } from "../linux.ts";
import { commandOps, DEFAULT_PATH, FORWARDED_SIGNALS } from "./plan.ts";

/** What `nsbox exec` is asked to run. */
export interface ExecRequest {
  readonly command: readonly string[];
  /** Working directory inside (default: the sandbox's). */
  readonly chdir?: string;
  /** The command's environment (default: the sandbox's). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * `--user`: the uid and gid to run as (mapped in the sandbox; `setgroups`: the sandbox may set groups, then
   * `gid` is the only one). As another uid than the sandbox's own, the command gets no capabilities.
   */
  readonly ids?: { readonly uid: number; readonly gid: number; readonly setgroups: boolean };
}

const O_RDONLY = 0;

/** Namespaces in the order they are joined, with the user namespace they belong to. */
const JOIN: ReadonlyArray<{ ns: string; type: number; owner: "outer" | "inner"; shareable?: string }> = [
  { ns: "pid", type: CLONE.NEWPID, owner: "outer", shareable: "pid" },
  { ns: "net", type: CLONE.NEWNET, owner: "outer", shareable: "net" },
  { ns: "ipc", type: CLONE.NEWIPC, owner: "outer", shareable: "ipc" },
  { ns: "cgroup", type: CLONE.NEWCGROUP, owner: "outer" },
  { ns: "mnt", type: CLONE.NEWNS, owner: "inner" },
  { ns: "uts", type: CLONE.NEWUTS, owner: "inner", shareable: "uts" },
];

/**
 * Builds the plan that joins the sandbox whose command is host pid
 * `commandPid`. Descriptors `fdBase` … `fdBase+7` are used while joining:
 * the caller picks them above every descriptor it has open.
 */
export function buildExecPlan(
  spec: SandboxSpec,
  commandPid: number,
  req: ExecRequest,
  opts: { fdBase: number; terminal: TerminalMode },
): ChildPlan {
  const joined = JOIN.filter((j) => !j.shareable || !spec.share.includes(j.shareable as never));
  const fd = (i: number) => opts.fdBase + i;
  const userFd = fd(0), outerFd = fd(1);
  const ops: SetupOp[] = [
    {
      kind: "open",
      path: `/proc/${commandPid}/ns/user`,
      flags: O_RDONLY,
      mode: 0,
      fd: userFd,
      what: "cannot open the sandbox's user namespace",
    },
  ];
  joined.forEach((j, i) => {
    ops.push({
      kind: "open",
      path: `/proc/${commandPid}/ns/${j.ns}`,
      flags: O_RDONLY,
      mode: 0,
      fd: fd(2 + i),
      what: `cannot open the sandbox's ${j.ns} namespace`,
    });
  });
  ops.push(
    { kind: "nsParent", fd: userFd, to: outerFd, what: "cannot find the sandbox's outer user namespace" },
    { kind: "setns", fd: outerFd, nstype: CLONE.NEWUSER, what: "cannot join the sandbox's outer user namespace" },
  );
  const join = (owner: "outer" | "inner") =>
    joined.forEach((j, i) => {
      if (j.owner === owner) {
        ops.push({ kind: "setns", fd: fd(2 + i), nstype: j.type, what: `cannot join the sandbox's ${j.ns} namespace` });
      }
    });
  join("outer");
  ops.push({ kind: "setns", fd: userFd, nstype: CLONE.NEWUSER, what: "cannot join the sandbox's user namespace" });
  join("inner");
  for (let i = 0; i < 2 + joined.length; i++) {
    ops.push({ kind: "close", fd: fd(i), what: "cannot close a namespace descriptor" });
  }
  let commandSpec = spec;
  if (req.ids) {
    const { uid, gid, setgroups } = req.ids;
    ops.push({ kind: "setIds", uid, gid, setgroups, what: `cannot become uid ${uid} gid ${gid}` });
    if (uid !== insideIds(spec.identity).uid) {
      // another user than the sandbox's: none of its capabilities (the bounding set emptied too)
      commandSpec = { ...spec, identity: { ...spec.identity, mode: uid === 0 ? "root" : "user", capabilities: [] } };
    }
  }
  const cwd = req.chdir ?? spec.cwd.path;
  ops.push({
    kind: "chdir",
    path: cwd,
    fallback: req.chdir === undefined && !spec.cwd.required ? "/" : null,
    what: `cannot change directory to ${cwd}`,
  });
  ops.push(...commandOps(commandSpec));

  const env = req.env ?? spec.env;
  return {
    cloneFlags: 0,
    idMaps: { uid: [], gid: [], setgroups: "deny", writer: "none" },
    ops,
    exec: {
      file: req.command[0] ?? "",
      argv: req.command,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      searchPath: env.PATH ?? DEFAULT_PATH,
    },
    init: "reaper",
    forwardSignals: FORWARDED_SIGNALS.map((s) => SIGNALS[s]!),
    pdeathsig: SIGNALS.SIGKILL!,
    holdExit: false,
    terminal: opts.terminal,
    killOrphans: false,
  };
}
