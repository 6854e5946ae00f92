/**
 * The setup ops the child replays, in order (bubblewrap's SetupOp list, made
 * explicit). Plain data: the plan is golden-tested as JSON, then encoded for
 * the C helper by src/spawn/abi.ts. Every op says `what` it does, in the words
 * an error message needs: "cannot bind /a on /b".
 *
 * @module
 */

import type { TerminalMode } from "../spec/spec.ts";

/**
 * Where an op's path is resolved: from the directory held in a slot (a
 * descriptor an earlier op opened), with openat2's RESOLVE_* flags; e.g. the
 * new root with RESOLVE_IN_ROOT, so that no symlink leads out of it. Null:
 * the path as it is, from the current directory.
 */
export interface At {
  readonly slot: number;
  readonly resolve: number;
}

/** One step of the child's setup. */
export type SetupOp =
  | {
    readonly kind: "mount";
    readonly source: string | null;
    readonly target: string;
    readonly fstype: string | null;
    /** mount(2) flags (MS_*). */
    readonly flags: number;
    readonly data: string | null;
    /** A missing target or source is not an error (masking paths a kernel may not have). */
    readonly ignoreMissing?: boolean;
    readonly what: string;
  }
  | {
    readonly kind: "mountSetattr";
    /** With `at`, relative to it; "" is the slot's own mount. */
    readonly path: string;
    readonly at?: At | null;
    /** MOUNT_ATTR_* to set and to clear. */
    readonly set: number;
    readonly clear: number;
    readonly recursive: boolean;
    readonly ignoreMissing?: boolean;
    readonly what: string;
  }
  | { readonly kind: "umount"; readonly path: string; readonly flags: number; readonly what: string }
  | {
    readonly kind: "mkdir" | "mkfile";
    /** With `at`, its parent is resolved from there and the last component is created, never followed. */
    readonly path: string;
    readonly at?: At | null;
    readonly mode: number;
    readonly ignoreExists: boolean;
    readonly what: string;
  }
  | {
    readonly kind: "symlink";
    readonly target: string;
    readonly path: string;
    readonly at?: At | null;
    readonly what: string;
  }
  | {
    /** Opens `path` (from `at`) into `slot`, with open(2) flags (O_CLOEXEC is added). */
    readonly kind: "openSlot";
    readonly slot: number;
    readonly path: string;
    readonly at: At | null;
    readonly flags: number;
    readonly what: string;
  }
  | { readonly kind: "closeSlot"; readonly slot: number; readonly what: string }
  | {
    /** A detached copy of the mount tree at `path` (from `at`; "" is the slot itself), into `slot`. */
    readonly kind: "openTree";
    readonly slot: number;
    readonly path: string;
    readonly at: At | null;
    readonly recursive: boolean;
    readonly ignoreMissing?: boolean;
    readonly what: string;
  }
  | {
    /** A new, detached mount of a `fstype` filesystem, into `slot`. */
    readonly kind: "fsmount";
    readonly slot: number;
    readonly fstype: string;
    /** "key=value" or "key" (a flag), as fsconfig(2) takes them. */
    readonly options: readonly string[];
    /** MOUNT_ATTR_* of the mount. */
    readonly attrs: number;
    readonly what: string;
  }
  | {
    /** Attaches the detached mount in slot `from` at `path` (from `at`); the slot is emptied. */
    readonly kind: "moveMount";
    readonly from: number;
    readonly path: string;
    readonly at: At | null;
    readonly ignoreMissing?: boolean;
    readonly what: string;
  }
  | { readonly kind: "pivotRoot"; readonly newRoot: string; readonly putOld: string; readonly what: string }
  | { readonly kind: "chdir"; readonly path: string; readonly fallback: string | null; readonly what: string }
  | { readonly kind: "sethostname"; readonly name: string; readonly what: string }
  | {
    readonly kind: "prctl";
    readonly option: number;
    readonly arg2: number;
    readonly arg3: number;
    readonly what: string;
  }
  | { readonly kind: "capbsetDrop"; readonly caps: readonly number[]; readonly what: string }
  | {
    readonly kind: "capset";
    readonly effective: readonly number[];
    readonly permitted: readonly number[];
    readonly inheritable: readonly number[];
    readonly clearAmbient: boolean;
    readonly what: string;
  }
  | { readonly kind: "cloexecFrom"; readonly fd: number; readonly what: string }
  | { readonly kind: "linkUp"; readonly name: string; readonly what: string }
  | {
    /**
     * A listening TCP socket on `address`:`port` (an IPv4 or IPv6 literal), made in the child's network namespace
     * and sent over the unix socket `via` (SCM_RIGHTS), then closed in the child.
     */
    readonly kind: "listenSend";
    readonly address: string;
    readonly port: number;
    readonly backlog: number;
    /** The child's descriptor of the unix socket (filled in by the caller that made it; -1 in a pure plan). */
    readonly via: number;
    readonly what: string;
  }
  | { readonly kind: "unshare"; readonly flags: number; readonly what: string }
  | {
    readonly kind: "nestUserns";
    /** uid_map and gid_map text of the nested namespace, in the current one's ids. */
    readonly uidMap: string;
    readonly gidMap: string;
    /** "deny" to write to setgroups first, or null to leave it. */
    readonly setgroups: "deny" | null;
    /** Other CLONE_NEW* flags unshared with it (CLONE_NEWNS locks the mounts). */
    readonly flags: number;
    /** The maps map one id, the caller's own: it writes them itself, no helper process. */
    readonly selfMap: boolean;
    readonly what: string;
  }
  | {
    readonly kind: "writeFile";
    readonly path: string;
    readonly data: string;
    readonly mode: number;
    readonly what: string;
  }
  | { readonly kind: "dup2"; readonly from: number; readonly to: number; readonly what: string }
  | {
    readonly kind: "setns";
    /** A descriptor of the namespace (opened by an earlier "open" op). */
    readonly fd: number;
    /** The CLONE_NEW* type it must be, or 0. */
    readonly nstype: number;
    readonly what: string;
  }
  | { readonly kind: "nsParent"; readonly fd: number; readonly to: number; readonly what: string }
  | { readonly kind: "close"; readonly fd: number; readonly what: string }
  | { readonly kind: "setsid"; readonly what: string }
  | {
    /**
     * Become uid `uid` and gid `gid` (real, effective, saved) in the current user namespace, keeping the permitted
     * capabilities effective for the ops after it (`nsbox exec --user`); with `setgroups`, `gid` is the only group.
     */
    readonly kind: "setIds";
    readonly uid: number;
    readonly gid: number;
    readonly setgroups: boolean;
    readonly what: string;
  }
  | {
    readonly kind: "open";
    readonly path: string;
    /** open(2) flags (O_*). */
    readonly flags: number;
    readonly mode: number;
    /** The descriptor number it gets. */
    readonly fd: number;
    readonly what: string;
  }
  | {
    readonly kind: "seccomp";
    /** Classic BPF: [code, jt, jf, k] per instruction. */
    readonly program: readonly (readonly [number, number, number, number])[];
    readonly what: string;
  };

/** How the parent maps ids before releasing the child. */
export interface IdMapPlan {
  readonly uid: readonly IdMapLine[];
  readonly gid: readonly IdMapLine[];
  /** "deny": the kernel way (setgroups refused inside); "allow": newuidmap/newgidmap wrote the maps. */
  readonly setgroups: "deny" | "allow";
  /** "kernel": write /proc/PID/{uid,gid}_map; "newidmap": run newuidmap/newgidmap; "none": no user namespace. */
  readonly writer: "kernel" | "newidmap" | "none";
}

/** One line of uid_map/gid_map: `inside outside count`. */
export interface IdMapLine {
  readonly inside: number;
  readonly outside: number;
  readonly count: number;
}

/** Everything the spawner needs, derived from a spec without touching the host. */
export interface ChildPlan {
  /** CLONE_NEW* flags for clone3. */
  readonly cloneFlags: number;
  readonly idMaps: IdMapPlan;
  readonly ops: readonly SetupOp[];
  readonly exec: {
    readonly file: string;
    readonly argv: readonly string[];
    /** `NAME=value` strings. */
    readonly env: readonly string[];
    /** The PATH the command is looked up in, inside the sandbox. */
    readonly searchPath: string;
  };
  /** "reaper": the helper stays PID 1; "none": the command is PID 1. */
  readonly init: "reaper" | "none";
  /** Signals PID 1 forwards to the command. */
  readonly forwardSignals: readonly number[];
  /** Signal the child gets when nsbox dies. */
  readonly pdeathsig: number;
  /** PID 1 waits for the parent after the command exits (to read cgroup statistics). */
  readonly holdExit: boolean;
  /**
   * Where the command runs with respect to nsbox's process group and
   * terminal (see {@linkcode TerminalMode}): "foreground", a process group of
   * its own and the terminal; "background", a process group of its own;
   * "none", a session of its own. "inherit": it stays in nsbox's group (only
   * for nsbox's own helper programs, never a sandbox's command).
   */
  readonly terminal: TerminalMode | "inherit";
  /** PID 1 kills what is left when the command exits (no PID namespace of its own). */
  readonly killOrphans: boolean;
}
