/**
 * What a caller asks for: the input of {@linkcode run}, mirrored one to one by
 * the flags of `nsbox run`. Loose on purpose; {@linkcode validate} turns it
 * into a checked {@linkcode SandboxSpec}.
 *
 * @module
 */

/** The default cap of a detached sandbox's log (`--log-size`). */
export const DEFAULT_LOG_SIZE = 10 * 1024 * 1024;
/** The smallest cap `--log-size` accepts. */
export const MIN_LOG_SIZE = 4096;

/** A name for a sandbox: what `--name` accepts. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Namespaces that `share` can keep from the host. */
export const SHAREABLE_NAMESPACES = ["net", "ipc", "uts", "pid"] as const;

/** A namespace the sandbox can keep from the host instead of a new one. */
export type ShareableNamespace = typeof SHAREABLE_NAMESPACES[number];

/** A mount the caller adds, applied in order after the default view. */
export type MountOption =
  | {
    /** `--bind SRC[:DST]` or `--ro-bind SRC[:DST]`. */
    readonly kind: "bind";
    /** Host path; relative paths are taken from the current directory. */
    readonly source: string;
    /** Path inside the sandbox; defaults to `source`. */
    readonly destination?: string;
    /** Read-only (`--ro-bind`). */
    readonly readOnly?: boolean;
    /** `--bind-try`, `--ro-bind-try`: a source that does not exist is skipped, not an error. */
    readonly optional?: boolean;
    /** `--dev-bind`: device nodes in it stay usable (no nodev); a device node or a directory. */
    readonly devices?: boolean;
  }
  | {
    /** `--tmpfs DST[:size=SIZE,mode=MODE]`. */
    readonly kind: "tmpfs";
    /** Path inside the sandbox. */
    readonly destination: string;
    /** Its size in bytes (default: a quarter of the host's memory). */
    readonly size?: number;
    /** Permissions of its root directory (default 0o755). */
    readonly mode?: number;
  };

/** One step of environment editing, applied in order. */
export type EnvEdit =
  | { readonly kind: "set"; readonly name: string; readonly value: string }
  | { readonly kind: "unset"; readonly name: string };

/** Options of {@linkcode run}; each names the `nsbox run` flag it mirrors. */
export interface RunOptions {
  /** The command and its arguments (after `--`). */
  readonly command: readonly string[];
  /** `--name`: what `nsbox ps`, `exec`, `kill` call it (default: 8 random hex digits). */
  readonly name?: string;
  /** `--share`: host namespaces to keep. */
  readonly share?: readonly ShareableNamespace[];
  /** `--root`: uid and gid 0 inside, with the namespace's capabilities. */
  readonly root?: boolean;
  /**
   * `--user UID[:GID]`: the uid (and gid) the caller is mapped to inside, numbers or names in the
   * root's /etc/passwd and /etc/group. uid 0 is `root` (its capabilities); not with `root`.
   */
  readonly user?: string;
  /** `--map-users`: map the caller's subordinate id range as well. */
  readonly mapUsers?: boolean;
  /** `--hostname` (default `nsbox`). */
  readonly hostname?: string;
  /** `--rootfs`: a directory that becomes `/`. */
  readonly rootfs?: string;
  /** `--bind`, `--ro-bind`, `--tmpfs`, in order. */
  readonly mounts?: readonly MountOption[];
  /**
   * `--hide`: host paths (`~` is the caller's HOME; relative ones from the current directory) that appear
   * empty inside wherever the root or a bind would show them; ones that do not exist are ignored.
   */
  readonly hide?: readonly string[];
  /** `--chdir`: working directory inside (must exist). */
  readonly chdir?: string;
  /** `--clearenv`: start from an empty environment. */
  readonly clearEnv?: boolean;
  /** `--setenv`, `--unsetenv`, in order. */
  readonly envEdits?: readonly EnvEdit[];
  /**
   * `--proc`: "new" (default) a fresh /proc; "host" the existing /proc bound, with the host's PID
   * namespace (as `share: ["pid"]`), where a fresh one is refused (containers that mask /proc).
   */
  readonly proc?: "new" | "host";
  /** `--as-pid-1`: exec the command as PID 1 instead of under nsbox's init. */
  readonly asPid1?: boolean;
  /**
   * `--net`: "none" (default: loopback only), "auto" (`--net`: pasta, or
   * slirp4netns when pasta is missing), "pasta", "slirp4netns", or "host"
   * (the host's network namespace, like `share: ["net"]`).
   */
  readonly net?: NetMode;
  /** `--publish`: host ports forwarded into the sandbox (needs `net`). */
  readonly publish?: readonly PublishOption[];
  /**
   * `--allow-host`: filtered egress, only through nsbox's proxy, to destinations matching these patterns (a host
   * name, `*.SUFFIX`, an IP address or CIDR range, `*`; each with an optional `:PORT`).
   */
  readonly allowHosts?: readonly string[];
  /** `--allow-host-loopback`: let the sandbox reach the host's loopback services. */
  readonly allowHostLoopback?: boolean;
  /** `--cap-add`: capabilities to give the command (names, with or without CAP_). */
  readonly capAdd?: readonly string[];
  /** `--cap-drop`: capabilities to take away, or "ALL". */
  readonly capDrop?: readonly string[];
  /** `--seccomp`: "default" (nsbox's filter), "unconfined" (none), or the path of an OCI profile. */
  readonly seccomp?: string;
  /** `--allow-userns`: let the sandbox create user namespaces. */
  readonly allowUserns?: boolean;
  /** Resource limits (`--mem`, `--swap`, `--cpus`, `--pids`, `--io-weight`). */
  readonly limits?: LimitOptions;
  /** `--timeout`: milliseconds after which the command gets SIGTERM (nsbox then exits 124). */
  readonly timeout?: number;
  /** `--kill-after`: milliseconds after the timeout's SIGTERM until SIGKILL (default 10 s). */
  readonly killAfter?: number;
}

/** How long `--timeout` waits after its SIGTERM before SIGKILL, unless `--kill-after` says. */
export const DEFAULT_KILL_AFTER_MS = 10_000;

/** Network modes of `--net`. */
export const NET_MODES = ["none", "auto", "pasta", "slirp4netns", "host"] as const;
/** A network mode. */
export type NetMode = typeof NET_MODES[number];

/** A host port forwarded into the sandbox. */
export interface PublishOption {
  /** Host address (default 127.0.0.1). */
  readonly hostIp?: string;
  readonly hostPort: number;
  /** Port inside the sandbox. */
  readonly port: number;
  readonly protocol?: "tcp" | "udp";
}

/** Resource limits; any one of them gives the sandbox a cgroup of its own. */
export interface LimitOptions {
  /** `--mem`: memory.max in bytes. */
  readonly memory?: number;
  /** `--swap`: memory.swap.max in bytes (0 by default when `memory` is set). */
  readonly swap?: number;
  /** `--cpus`: CPU time as a number of CPUs, fractions allowed (cpu.max). */
  readonly cpus?: number;
  /** `--pids`: pids.max. */
  readonly pids?: number;
  /** `--io-weight`: io.weight, 1 to 10000. */
  readonly ioWeight?: number;
}
