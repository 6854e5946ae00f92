/**
 * The validated, immutable description of one sandbox: everything later
 * stages need, nothing they must look up again. Plain data, so it can be
 * written as JSON (state files, `--json`, golden tests).
 *
 * @module
 */
import type { ShareableNamespace } from "./options.ts";
import type { SeccompArch } from "../linux.ts";
import type { ResolvedProfile } from "./seccomp_profile.ts";
import type { PublishSpec } from "./publish.ts";
import type { EgressPattern } from "./egress.ts";

/**
 * nsbox's terminal, as found on fds 0-2 when it starts:
 * - "foreground": one is nsbox's controlling terminal and nsbox's process
 *   group is its foreground group. The command gets a process group of its
 *   own and the terminal (Ctrl-C, Ctrl-Z and job control inside work).
 * - "background": nsbox has that controlling terminal but is not in the
 *   foreground (started with `&`). The command gets a process group of its
 *   own (not a session, where it could read the terminal freely: as a
 *   background group it gets SIGTTIN like any job), and the terminal when
 *   nsbox is brought to the foreground (`fg`).
 * - "none": no controlling terminal among fds 0-2 (scripts, CI). The command
 *   gets a session of its own, so kill(0, ...) inside never reaches the
 *   caller's script and its other jobs.
 */
export type TerminalMode = "foreground" | "background" | "none";

/** A range of ids: `count` ids from `inside` map to ids from `outside`. */
export interface IdRange {
  readonly inside: number;
  readonly outside: number;
  readonly count: number;
}

/** A subordinate id range from /etc/subuid or /etc/subgid. */
export interface SubIdRange {
  readonly start: number;
  readonly count: number;
}

/** Who the command is inside, and how ids are mapped. */
export interface IdentitySpec {
  /** "user": not uid 0, no capabilities (unless added); "root": uid 0 with the namespace's capabilities. */
  readonly mode: "user" | "root";
  /** The caller's uid and gid on the host. */
  readonly hostUid: number;
  readonly hostGid: number;
  /**
   * The command's uid and gid inside, which the caller's are mapped to: its own by default, 0 with
   * `--root`, or `--user`'s. Absent in records of older nsbox versions (see {@linkcode insideIds}).
   */
  readonly uid?: number;
  readonly gid?: number;
  /** The command's capabilities (numbers), in its own user namespace. */
  readonly capabilities: readonly number[];
  /** Subordinate ranges to map too (`--map-users`), or null. */
  readonly subUids: SubIdRange | null;
  readonly subGids: SubIdRange | null;
}

/** A validated mount, with host paths resolved. */
export type MountSpec =
  | {
    readonly kind: "bind";
    /** Canonical host path (symlinks resolved). */
    readonly source: string;
    /** Normalised absolute path inside. */
    readonly destination: string;
    readonly readOnly: boolean;
    /** `--dev-bind`: device nodes in it stay usable (no nodev). Absent: false. */
    readonly devices?: boolean;
    /** What the source is, so the mount point can be made to match. */
    readonly sourceType: "directory" | "file";
  }
  | {
    readonly kind: "tmpfs";
    readonly destination: string;
    /** Size in bytes, or null for the default (src/plan/plan.ts TMPFS_SIZE). */
    readonly size: number | null;
    /** Permissions of its root, or null for 0755. */
    readonly mode: number | null;
  };

/** An entry of a directory reproduced by a mimic, as it was when nsbox started. */
export type MimicEntry =
  | { readonly name: string; readonly type: "directory" | "file" | "other" }
  | { readonly name: string; readonly type: "symlink"; readonly target: string };

/**
 * A tmpfs over the nearest existing parent of missing mount points (src/spec/mount_points.ts): the parent's entries
 * bound back into it ("other": sockets, fifos, devices, bound like files), its symlinks recreated, the mount points
 * created, then read-only, nosuid, nodev.
 */
export interface MimicSpec {
  /** The parent, inside (symlinks resolved). */
  readonly path: string;
  /** Its permission bits, given to the tmpfs's root. */
  readonly mode: number;
  /** Its entries when nsbox started, sorted by name. */
  readonly entries: readonly MimicEntry[];
  /** What is created in it, parents first, relative to `path`: the mount points of this and later mounts. */
  readonly create: readonly { readonly path: string; readonly type: "directory" | "file" }[];
}

/**
 * How the mount point of one mount is had, decided by validation from the host (src/spec/mount_points.ts): "exists"
 * (nothing is created), "create" (`names` below `parent`, in a tmpfs of the sandbox's own), "mimic" (a
 * {@linkcode MimicSpec} first), "absent" (an optional mount skipped).
 */
export type MountPointSpec =
  | { readonly path: string; readonly how: "exists" }
  /** An optional mount (/var/tmp) where the root lacks the directory: not made. */
  | { readonly path: string; readonly how: "absent" }
  | { readonly path: string; readonly how: "create"; readonly parent: string; readonly names: readonly string[] }
  | { readonly path: string; readonly how: "mimic"; readonly mimic: MimicSpec };

/** A place inside covered because it shows a `--hide` path. */
export interface HiddenPath {
  /** Normalised absolute path inside. */
  readonly path: string;
  /** What the hidden host path is: a directory is covered by an empty directory, anything else by an empty file. */
  readonly type: "directory" | "file";
}

/** One sandbox, validated. */
export interface SandboxSpec {
  /** Command and arguments; `command[0]` is looked up in the sandbox's PATH. */
  readonly command: readonly string[];
  /** The command's complete environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory inside; when `required` is false, `/` is used if it does not exist. */
  readonly cwd: { readonly path: string; readonly required: boolean };
  /** Host namespaces kept (all others are new). */
  readonly share: readonly ShareableNamespace[];
  readonly identity: IdentitySpec;
  /** Hostname inside, or null when the UTS namespace is shared. */
  readonly hostname: string | null;
  /** Canonical host directory that becomes `/`, or null for the host's `/`. */
  readonly rootfs: string | null;
  readonly mounts: readonly MountSpec[];
  /**
   * The mount points of the root's own mounts (/proc, /dev, /tmp, /run, /sys/fs/cgroup with limits, resolv.conf with
   * `--net`) and of `mounts`, in the plan's order.
   */
  readonly mountPoints: readonly MountPointSpec[];
  /**
   * Paths inside where the root or a bind would show nsbox's own directories
   * (records, configuration, caches): each gets an empty read-only tmpfs.
   */
  readonly covered: readonly string[];
  /**
   * `--hide`: paths inside where the root or a bind would show a hidden host path, after every mount: a
   * directory gets an empty read-only tmpfs, a file an empty read-only file.
   */
  readonly hidden: readonly HiddenPath[];
  /** "reaper": nsbox's init is PID 1; "none": the command is PID 1. */
  readonly init: "reaper" | "none";
  /** nsbox's terminal when it started; decides the command's session and process group. */
  readonly terminal: TerminalMode;
  /** Descriptors among 0-2 the caller had closed (`>&-`): closed for the command too. */
  readonly closedStdio: readonly number[];
  /** The sandbox's network. */
  readonly network: NetworkSpec;
  /** The seccomp filter. */
  readonly seccomp: SeccompSpec;
  /** Resource limits, or null for none (then no cgroup is made). */
  readonly limits: LimitsSpec | null;
  /** `--timeout`: SIGTERM `ms` after the start, SIGKILL `killAfterMs` later; null: none. */
  readonly timeout: { readonly ms: number; readonly killAfterMs: number } | null;
}

/** The sandbox's network. */
export interface NetworkSpec {
  /**
   * "none": loopback only; "host": the host's namespace; "pasta"/"slirp4netns": a user-mode stack; "filtered":
   * loopback only, and nsbox's egress proxy (`egress`) listening on it.
   */
  readonly mode: "none" | "host" | "pasta" | "slirp4netns" | "filtered";
  /** With "filtered": what the proxy admits, and its port inside (on 127.0.0.1 and ::1). */
  readonly egress?: { readonly allow: readonly EgressPattern[]; readonly port: number } | null;
  readonly publish: readonly PublishSpec[];
  readonly allowHostLoopback: boolean;
  /** The nameserver written to the sandbox's resolv.conf, and where it is bound (inside), or null. */
  readonly dns: { readonly nameserver: string; readonly target: string } | null;
  /** With the host's network: its resolv.conf when it lives in /run (bound read-only into the private /run). */
  readonly hostResolvConf: string | null;
}

/** Which seccomp filter the sandbox gets. */
export interface SeccompSpec {
  /** "default": nsbox's filter; "unconfined": none; "profile": `profile`, from an OCI file. */
  readonly mode: "default" | "unconfined" | "profile";
  readonly profile: ResolvedProfile | null;
  /** Let the sandbox create user namespaces. */
  readonly allowUserns: boolean;
  /** The architecture the filter is built for (null with "unconfined" on an unknown one). */
  readonly arch: SeccompArch | null;
}

/** Validated resource limits; null fields are not limited. */
export interface LimitsSpec {
  readonly memoryMax: number | null;
  readonly swapMax: number | null;
  readonly cpus: number | null;
  readonly pidsMax: number | null;
  readonly ioWeight: number | null;
}

/**
 * The command's uid and gid inside for `identity`: `uid`/`gid` when set, else (records of older
 * versions) 0 for "root" and the caller's own ids for "user".
 */
export function insideIds(identity: IdentitySpec): { uid: number; gid: number } {
  const root = identity.mode === "root";
  return {
    uid: identity.uid ?? (root ? 0 : identity.hostUid),
    gid: identity.gid ?? (root ? 0 : identity.hostGid),
  };
}
