/**
 * {@linkcode buildPlan}: a {@linkcode SandboxSpec} → the ordered ops the child
 * replays. Pure: no FFI, no host access; golden-tested.
 *
 * The sequence follows bubblewrap's: make every mount private; put a tmpfs on
 * /tmp and pivot into it, so the host's tree sits at /oldroot and the new root
 * is assembled at /newroot; bind the root read-only, add /proc, /dev, /tmp and
 * the caller's mounts in order; detach /oldroot; pivot into /newroot.
 *
 * @module
 */
import type { MimicSpec, MountPointSpec, SandboxSpec } from "../spec/spec.ts";
import { idMapPlan, nestedMapText } from "./idmap.ts";
import { CAP_LAST, CLONE, MNT_DETACH, MOUNT_ATTR, MS, O, PR, RESOLVE, SIGNALS } from "../linux.ts";
import type { At, ChildPlan, SetupOp } from "./ops.ts";
import { buildBaseFilter, buildProfileFilter, buildSeccompFilter } from "./seccomp.ts";

/** The PATH used to find the command when the environment has none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Signals nsbox's init forwards to the command. */
export const FORWARDED_SIGNALS = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGWINCH"] as const;

const BASE = "/tmp"; // any directory that exists on every host; hidden by our own mount namespace
const NEW = "/newroot";
const OLD = "/oldroot";

/** Device nodes bound from the host into the minimal /dev. */
export const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"] as const;

const DEV_LINKS: ReadonlyArray<[string, string]> = [
  ["/proc/self/fd", "fd"],
  ["/proc/self/fd/0", "stdin"],
  ["/proc/self/fd/1", "stdout"],
  ["/proc/self/fd/2", "stderr"],
  ["pts/ptmx", "ptmx"],
];

/** Whether `path` is an absolute path below /run without `..`. */
function normalizedUnderRun(path: string): boolean {
  return /^\/run\/[^\0]+$/.test(path) && !path.split("/").includes("..");
}

// Slots (descriptors the ops open and name by number, see ffi/nsbox_helper.h).
/** The new root, once its root mount is attached at /newroot. */
const ROOT_SLOT = 0;
/** The host's root, at /oldroot after the first pivot. */
const OLD_SLOT = 1;
/** A detached mount between its creation and its attachment. */
const TREE_SLOT = 2;
/** A mimic's parent directory as it was before the mimic went over it. */
const LOWER_SLOT = 3;
/** A mimic (a tmpfs), from its creation until it is made read-only. */
const MIMIC_SLOT = 4;

/**
 * Destinations are resolved inside the new root: a symlink there (one a
 * sandbox planted in a bound directory, or one of a --rootfs tree) resolves
 * as if the new root were `/`, never into the host's tree at /oldroot, and
 * magic links (/proc/self/...) are refused.
 */
const IN_NEW_ROOT: At = { slot: ROOT_SLOT, resolve: RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS };
/**
 * Bind sources are canonical host paths (validation resolved them): any
 * symlink found in one now was put there since, so it is refused rather
 * than followed.
 */
const IN_OLD_ROOT: At = { slot: OLD_SLOT, resolve: RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS };

/** `path` relative to a root ("/" is "."). */
function rel(path: string): string {
  const r = path.replace(/^\/+/, "");
  return r === "" ? "." : r;
}

/** Default sizes of the sandbox's tmpfs mounts (tmpfs `size=`: bytes, or a share of RAM). README: Security. */
export const TMPFS_SIZE = {
  /** /tmp, /var/tmp and every --tmpfs without size=. */
  scratch: "25%",
  /** /run, /dev/shm. */
  small: "64m",
  /** /dev (device nodes and links only) and masks (empty). */
  tiny: "64k",
} as const;

/** Ops that create `path` (inside the new root) and its missing parents, in a tmpfs of the sandbox's own. */
function mountPoint(path: string, type: "directory" | "file"): SetupOp[] {
  const parts = path.split("/").filter(Boolean);
  const ops: SetupOp[] = [];
  for (let i = 1; i < parts.length; i++) {
    const dir = "/" + parts.slice(0, i).join("/");
    ops.push({
      kind: "mkdir",
      path: rel(dir),
      at: IN_NEW_ROOT,
      mode: 0o755,
      ignoreExists: true,
      what: `cannot create directory ${dir}`,
    });
  }
  ops.push({
    kind: type === "directory" ? "mkdir" : "mkfile",
    path: rel(path),
    at: IN_NEW_ROOT,
    mode: type === "directory" ? 0o755 : 0o644,
    ignoreExists: true,
    what: `cannot create mount point ${path}`,
  });
  return ops;
}

/** Within a slot's directory: a single name or a path below it, no symlink, no magic link. */
function beneath(slot: number, xdev = true): At {
  return {
    slot,
    resolve: RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS | (xdev ? 0 : RESOLVE.NO_XDEV),
  };
}

/** (Re)opens the new root (ROOT_SLOT): after it is bound, and after a mimic of `/` covered the old one. */
const OPEN_NEW_ROOT: SetupOp = {
  kind: "openSlot",
  slot: ROOT_SLOT,
  path: NEW,
  at: null,
  flags: O.PATH | O.DIRECTORY,
  what: "cannot open the new root",
};

/** A directory or an empty file `path` in the mimic being built (slot MIMIC_SLOT), made fresh. */
function placeholder(path: string, dir: boolean, what: string): SetupOp {
  return {
    kind: dir ? "mkdir" : "mkfile",
    path,
    at: beneath(MIMIC_SLOT, false),
    mode: dir ? 0o755 : 0o644,
    ignoreExists: false,
    what,
  };
}

/**
 * A mimic (README: Mount points): a tmpfs over `m.path` holding its entries (directories and files bound back from
 * the directory underneath, held open before the tmpfs covers it; symlinks recreated with their targets; sockets,
 * fifos and devices bound like files) and the mount points in `m.create`, then made read-only, nosuid, nodev. The
 * placeholders are made in the tmpfs while it is still detached; names are resolved beneath the mimic's and the
 * parent's descriptors, never following a symlink, so nothing is created or bound outside the sandbox, whatever the
 * host did since validation. An entry gone since is left an empty placeholder.
 */
function mimicOps(m: MimicSpec, forPath: string): SetupOp[] {
  const P = m.path;
  const name = (n: string) => (P === "/" ? `/${n}` : `${P}/${n}`);
  const made = `cannot make the read-only copy of ${P} for the missing mount point ${forPath}`;
  const ops: SetupOp[] = [
    {
      kind: "openSlot",
      slot: LOWER_SLOT,
      path: rel(P),
      at: IN_NEW_ROOT,
      flags: O.PATH | O.DIRECTORY,
      what: `cannot open ${P} (the parent of the missing mount point ${forPath})`,
    },
    {
      kind: "fsmount",
      slot: TREE_SLOT,
      fstype: "tmpfs",
      options: ["source=tmpfs", `mode=${m.mode.toString(8).padStart(4, "0")}`, `size=${TMPFS_SIZE.small}`],
      attrs: NOSUID_NODEV,
      what: made,
    },
    { kind: "openSlot", slot: MIMIC_SLOT, path: ".", at: beneath(TREE_SLOT), flags: O.PATH | O.DIRECTORY, what: made },
  ];
  for (const e of m.entries) {
    const what = `cannot recreate ${name(e.name)} in the read-only copy of ${P}`;
    if (e.type === "symlink") {
      ops.push({ kind: "symlink", target: e.target, path: e.name, at: beneath(MIMIC_SLOT, false), what });
    } else ops.push(placeholder(e.name, e.type === "directory", what));
  }
  for (const c of m.create) {
    ops.push(
      placeholder(
        c.path,
        c.type === "directory",
        `cannot create mount point ${name(c.path)} in the read-only copy of ${P}`,
      ),
    );
  }
  ops.push({ kind: "moveMount", from: TREE_SLOT, path: ".", at: beneath(LOWER_SLOT), what: made });
  for (const e of m.entries) {
    if (e.type === "symlink") continue;
    const what = `cannot bind ${
      name(e.name)
    } back into the read-only copy of ${P} (has it changed since nsbox started?)`;
    ops.push(
      // The entry underneath (with what is mounted on it), never through a symlink put there since.
      {
        kind: "openTree",
        slot: TREE_SLOT,
        path: e.name,
        at: beneath(LOWER_SLOT),
        recursive: true,
        ignoreMissing: true,
        what,
      },
      { kind: "moveMount", from: TREE_SLOT, path: e.name, at: beneath(MIMIC_SLOT, false), ignoreMissing: true, what },
    );
  }
  ops.push(
    {
      kind: "mountSetattr",
      path: "",
      at: { slot: MIMIC_SLOT, resolve: 0 },
      set: READ_ONLY,
      clear: 0,
      recursive: false,
      what: `cannot make the copy of ${P} read-only`,
    },
    { kind: "closeSlot", slot: MIMIC_SLOT, what: made },
    { kind: "closeSlot", slot: LOWER_SLOT, what: made },
  );
  if (P === "/") {
    // The root slot holds the root underneath the mimic: open the top again.
    ops.push(OPEN_NEW_ROOT);
  }
  return ops;
}

/**
 * The mount points validation decided on (spec.mountPoints), consumed in the plan's order: {@linkcode MountPoints.at}
 * gives the ops of the next one, which must be for `path`.
 */
class MountPoints {
  #next = 0;
  constructor(readonly points: readonly MountPointSpec[]) {}

  /** The ops that make the mount point of the next mount, at `path`. */
  at(path: string, type: "directory" | "file"): SetupOp[] {
    const p = this.points[this.#next++];
    if (p === undefined || p.path !== path) {
      throw new Error(`the spec's mount points do not match the plan at ${path} (found ${p?.path ?? "none"})`);
    }
    if (p.how === "exists" || p.how === "absent") return [];
    if (p.how === "mimic") return mimicOps(p.mimic, path);
    const ops: SetupOp[] = [];
    p.names.forEach((_, i) => {
      const dir = join(p.parent, p.names.slice(0, i + 1));
      const last = i === p.names.length - 1;
      ops.push({
        kind: last && type === "file" ? "mkfile" : "mkdir",
        path: rel(dir),
        at: IN_NEW_ROOT,
        mode: last && type === "file" ? 0o644 : 0o755,
        ignoreExists: true,
        what: last ? `cannot create mount point ${path}` : `cannot create directory ${dir}`,
      });
    });
    return ops;
  }

  /** Whether the next mount point, at `path`, is an optional one the root lacks (then it is consumed). */
  absent(path: string): boolean {
    const p = this.points[this.#next];
    if (p?.path === path && p.how === "absent") {
      this.#next++;
      return true;
    }
    return false;
  }

  /** Checks that every mount point was used. */
  done() {
    if (this.#next !== this.points.length) throw new Error("the spec has mount points the plan did not use");
  }
}

function join(parent: string, names: readonly string[]): string {
  return (parent === "/" ? "" : parent) + "/" + names.join("/");
}

/** Attaches the mount in the tree slot at `path` inside the new root. */
function attach(path: string, what: string, ignoreMissing = false): SetupOp {
  return {
    kind: "moveMount",
    from: TREE_SLOT,
    path: rel(path),
    at: IN_NEW_ROOT,
    ...(ignoreMissing && { ignoreMissing }),
    what,
  };
}

/** A new filesystem (tmpfs, proc, devpts, cgroup2) at `path` inside the new root. */
function newFs(
  fstype: string,
  path: string,
  options: readonly string[],
  attrs: number,
  what: string,
  ignoreMissing = false,
): SetupOp[] {
  return [
    { kind: "fsmount", slot: TREE_SLOT, fstype, options: [`source=${fstype}`, ...options], attrs, what },
    attach(path, what, ignoreMissing),
  ];
}

function tmpfs(path: string, mode: string, size: string, attrs: number, what = `cannot mount a tmpfs on ${path}`) {
  return newFs("tmpfs", path, [`mode=${mode}`, `size=${size}`], attrs, what);
}

/**
 * A recursive bind of `source` (from `from`) at `path` inside the new root:
 * the tree is cloned from a descriptor, given its attributes while still
 * detached (it is never visible without them), then attached.
 */
function bind(
  from: At | null,
  source: string,
  path: string,
  attrs: number,
  what: string,
  ignoreMissing = false,
): SetupOp[] {
  const miss = ignoreMissing ? { ignoreMissing } : {};
  const ops: SetupOp[] = [
    { kind: "openTree", slot: TREE_SLOT, path: source, at: from, recursive: true, ...miss, what },
  ];
  if (attrs !== 0) {
    ops.push({
      kind: "mountSetattr",
      path: "",
      at: { slot: TREE_SLOT, resolve: 0 },
      set: attrs,
      clear: 0,
      recursive: true,
      ...miss,
      what,
    });
  }
  ops.push(attach(path, what, ignoreMissing));
  return ops;
}

/** A bind of a canonical host path. */
function hostBind(hostPath: string, path: string, attrs: number, what = `cannot bind ${hostPath} on ${path}`) {
  return bind(IN_OLD_ROOT, rel(hostPath), path, attrs, what);
}

const NOSUID_NODEV = MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV;
const READ_ONLY = MOUNT_ATTR.RDONLY | NOSUID_NODEV;

/** Files in /proc hidden behind /dev/null, as Docker and podman do. */
export const PROC_MASKED_FILES = [
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/sysrq-trigger",
] as const;
/** Directories in /proc hidden behind an empty read-only tmpfs. */
export const PROC_MASKED_DIRS = ["/proc/acpi", "/proc/asound", "/proc/scsi"] as const;
/** Directories in /proc made read-only. */
export const PROC_READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"] as const;

/** An empty, read-only tmpfs over `path` (skipped when `path` is missing). */
function emptyCover(path: string, what: string): SetupOp[] {
  return newFs(
    "tmpfs",
    path,
    ["mode=0555", `size=${TMPFS_SIZE.tiny}`],
    READ_ONLY | MOUNT_ATTR.NOEXEC,
    what,
    true,
  );
}

function procMaskOps(): SetupOp[] {
  const ops: SetupOp[] = [];
  for (const f of PROC_MASKED_FILES) {
    ops.push(...bind(IN_OLD_ROOT, "dev/null", f, 0, `cannot mask ${f}`, true));
  }
  for (const d of PROC_MASKED_DIRS) ops.push(...emptyCover(d, `cannot mask ${d}`));
  for (const d of PROC_READ_ONLY) {
    ops.push(...bind(IN_NEW_ROOT, rel(d), d, READ_ONLY, `cannot bind ${d} read-only`, true));
  }
  return ops;
}

function devOps(): SetupOp[] {
  const ops: SetupOp[] = [
    ...tmpfs("/dev", "0755", TMPFS_SIZE.tiny, MOUNT_ATTR.NOSUID | MOUNT_ATTR.NOEXEC, "cannot mount a tmpfs on /dev"),
  ];
  for (const dev of DEVICES) {
    // The device nodes keep their devices: no nodev on these binds.
    ops.push(
      ...mountPoint(`/dev/${dev}`, "file"),
      ...hostBind(`/dev/${dev}`, `/dev/${dev}`, MOUNT_ATTR.NOSUID, `cannot bind device /dev/${dev}`),
    );
  }
  for (const [target, name] of DEV_LINKS) {
    ops.push({ kind: "symlink", target, path: `dev/${name}`, at: IN_NEW_ROOT, what: `cannot create /dev/${name}` });
  }
  ops.push(
    ...mountPoint("/dev/pts", "directory"),
    ...newFs(
      "devpts",
      "/dev/pts",
      ["newinstance", "ptmxmode=0666", "mode=620"],
      MOUNT_ATTR.NOSUID | MOUNT_ATTR.NOEXEC,
      "cannot mount devpts on /dev/pts",
    ),
    ...mountPoint("/dev/shm", "directory"),
    ...tmpfs("/dev/shm", "1777", TMPFS_SIZE.small, NOSUID_NODEV),
  );
  return ops;
}

function filesystemOps(spec: SandboxSpec): SetupOp[] {
  const ops: SetupOp[] = [
    {
      kind: "mount",
      source: null,
      target: "/",
      fstype: null,
      flags: MS.REC | MS.PRIVATE,
      data: null,
      what: "cannot make the mount namespace private",
    },
    {
      kind: "mount",
      source: "tmpfs",
      target: BASE,
      fstype: "tmpfs",
      flags: MS.NOSUID | MS.NODEV,
      data: `mode=0755,size=${TMPFS_SIZE.small}`,
      what: "cannot mount the staging tmpfs",
    },
    { kind: "chdir", path: BASE, fallback: null, what: "cannot enter the staging tmpfs" },
    { kind: "mkdir", path: BASE + NEW, mode: 0o755, ignoreExists: false, what: "cannot create the new root" },
    {
      kind: "mount",
      source: BASE + NEW,
      target: BASE + NEW,
      fstype: null,
      flags: MS.BIND | MS.REC,
      data: null,
      what: "cannot bind the new root",
    },
    { kind: "mkdir", path: BASE + OLD, mode: 0o755, ignoreExists: false, what: "cannot create the old root" },
    { kind: "pivotRoot", newRoot: BASE, putOld: BASE + OLD, what: "cannot pivot into the staging tmpfs" },
    { kind: "chdir", path: "/", fallback: null, what: "cannot enter the staging root" },
    {
      kind: "openSlot",
      slot: OLD_SLOT,
      path: OLD,
      at: null,
      flags: O.PATH | O.DIRECTORY,
      what: "cannot open the host's root",
    },
  ];

  // the root: the host's, or --rootfs, read-only, nosuid, nodev
  const root = spec.rootfs ?? "/";
  ops.push(
    ...bind(IN_OLD_ROOT, rel(root), "", READ_ONLY, `cannot bind ${root} as the root`).map((op) =>
      op.kind === "moveMount" ? { ...op, path: NEW, at: null } : op
    ),
    OPEN_NEW_ROOT,
  );

  // Mount points: there already, or made inside the sandbox (README: Mount points).
  const points = new MountPoints(spec.mountPoints);

  // /proc: a fresh one for a new PID namespace; the host's otherwise (--share pid, --proc=host)
  ops.push(...points.at("/proc", "directory"));
  if (spec.share.includes("pid")) {
    ops.push(...hostBind("/proc", "/proc", NOSUID_NODEV | MOUNT_ATTR.NOEXEC, "cannot bind the host's /proc"));
  } else {
    ops.push(...newFs("proc", "/proc", [], NOSUID_NODEV | MOUNT_ATTR.NOEXEC, "cannot mount proc on /proc"));
  }
  ops.push(...procMaskOps());
  ops.push(...points.at("/dev", "directory"), ...devOps());
  ops.push(...points.at("/tmp", "directory"), ...tmpfs("/tmp", "1777", TMPFS_SIZE.scratch, NOSUID_NODEV));
  // The host's /run holds the sockets that lead out of any sandbox (the D-Bus
  // session and system buses, systemd's, docker.sock), and connect() needs no
  // write access to the filesystem: a fresh, empty /run instead, and a
  // private /var/tmp like /tmp (skipped where a --rootfs lacks it).
  ops.push(
    ...points.at("/run", "directory"),
    ...tmpfs("/run", "0755", TMPFS_SIZE.small, NOSUID_NODEV),
  );
  if (!points.absent("/var/tmp")) {
    ops.push(...points.at("/var/tmp", "directory"), ...tmpfs("/var/tmp", "1777", TMPFS_SIZE.scratch, NOSUID_NODEV));
  }
  const runtimeDir = spec.env.XDG_RUNTIME_DIR;
  if (runtimeDir && normalizedUnderRun(runtimeDir)) {
    // An empty runtime directory of the sandbox's own where the environment says it is.
    const made = mountPoint(runtimeDir, "directory");
    const last = made.pop()!;
    ops.push(...made, { ...last, mode: 0o700, what: `cannot create ${runtimeDir}` } as SetupOp);
  }
  if (spec.network.hostResolvConf) {
    // --net=host on a host whose resolv.conf lives in /run (systemd-resolved): the same file, read-only.
    const f = spec.network.hostResolvConf;
    ops.push(...mountPoint(f, "file"), ...hostBind(f, f, READ_ONLY));
  }
  if (spec.limits !== null) {
    // The sandbox's own cgroup (its namespace root), limits readable, read-only.
    // The host's cgroup2 mount is there already, and the kernel refuses to
    // stack the same superblock on itself (EBUSY): a tmpfs goes in between.
    ops.push(
      ...points.at("/sys/fs/cgroup", "directory"),
      ...tmpfs("/sys/fs/cgroup", "0755", TMPFS_SIZE.tiny, NOSUID_NODEV | MOUNT_ATTR.NOEXEC),
      ...newFs(
        "cgroup2",
        "/sys/fs/cgroup",
        [],
        READ_ONLY | MOUNT_ATTR.NOEXEC,
        "cannot mount cgroup2 on /sys/fs/cgroup",
      ),
    );
  }

  if (spec.network.dns) {
    // A resolv.conf naming the user-mode stack's DNS forwarder; the host's is untouched.
    const { nameserver, target } = spec.network.dns;
    ops.push(
      {
        kind: "writeFile",
        path: "/resolv.conf",
        data: spec.network.mode === "filtered"
          ? "# written by nsbox: no DNS inside (--allow-host): programs reach hosts by name through the proxy\n" +
            `# in HTTP_PROXY, HTTPS_PROXY and ALL_PROXY; a lookup here is refused at once\nnameserver ${nameserver}\n`
          : `# written by nsbox: DNS through ${spec.network.mode}\nnameserver ${nameserver}\n`,
        mode: 0o644,
        what: "cannot write the sandbox's resolv.conf",
      },
      ...points.at(target, "file"),
      ...bind(null, "/resolv.conf", target, READ_ONLY, `cannot bind the sandbox's resolv.conf on ${target}`),
    );
  }
  for (const m of spec.mounts) {
    if (m.kind === "tmpfs") {
      const mode = (m.mode ?? 0o755).toString(8).padStart(4, "0");
      ops.push(
        ...points.at(m.destination, "directory"),
        ...tmpfs(m.destination, mode, m.size === null ? TMPFS_SIZE.scratch : String(m.size), NOSUID_NODEV),
      );
    } else {
      ops.push(
        ...points.at(m.destination, m.sourceType),
        // --dev-bind: device nodes stay usable (nosuid still), as for the minimal /dev's
        ...hostBind(m.source, m.destination, m.devices ? MOUNT_ATTR.NOSUID : m.readOnly ? READ_ONLY : NOSUID_NODEV),
      );
    }
  }
  points.done();
  // nsbox's own directories (its records, configuration, caches), wherever
  // the root or a bind shows them: an empty read-only tmpfs over each.
  for (const path of spec.covered) ops.push(...emptyCover(path, `cannot cover ${path}`));
  // --hide, wherever the root or a bind shows a hidden path, over everything else: a directory gets an
  // empty read-only tmpfs, a file an empty read-only file (one, written to the staging root).
  if (spec.hidden.some((h) => h.type === "file")) {
    ops.push({
      kind: "writeFile",
      path: "/hidden",
      data: "",
      mode: 0o444,
      what: "cannot write the empty file for --hide",
    });
  }
  for (const h of spec.hidden) {
    const what = `cannot hide ${h.path}`;
    ops.push(
      ...(h.type === "directory" ? emptyCover(h.path, what) : bind(null, "/hidden", h.path, READ_ONLY, what, true)),
    );
  }
  ops.push(
    { kind: "closeSlot", slot: ROOT_SLOT, what: "cannot close the new root" },
    { kind: "closeSlot", slot: OLD_SLOT, what: "cannot close the host's root" },
  );
  return ops;
}

/**
 * The last ops before the command runs, for `run` and `exec` alike:
 * no_new_privs, the command's capabilities (the bounding set keeps only
 * them; a command that is not uid 0 inside keeps them across execve as
 * ambient capabilities), the seccomp filter (with an OCI profile: nsbox's
 * base rules, then the profile), and close-on-exec for every inherited
 * descriptor above stdio.
 */
export function commandOps(spec: SandboxSpec): SetupOp[] {
  const ops: SetupOp[] = [];
  ops.push({ kind: "prctl", option: PR.SET_NO_NEW_PRIVS, arg2: 1, arg3: 0, what: "cannot set no_new_privs" });
  const caps = spec.identity.capabilities;
  const dropped = Array.from({ length: CAP_LAST + 1 }, (_, i) => i).filter((c) => !caps.includes(c));
  if (dropped.length > 0) {
    ops.push({ kind: "capbsetDrop", caps: dropped, what: "cannot drop from the capability bounding set" });
  }
  ops.push({
    kind: "capset",
    effective: caps,
    permitted: caps,
    inheritable: caps,
    clearAmbient: true,
    what: "cannot set the command's capabilities",
  });
  if (spec.identity.mode === "user") {
    for (const cap of caps) {
      ops.push({
        kind: "prctl",
        option: PR.CAP_AMBIENT,
        arg2: PR.CAP_AMBIENT_RAISE,
        arg3: cap,
        what: `cannot raise ambient capability ${cap}`,
      });
    }
  }
  const { mode, arch, profile, allowUserns } = spec.seccomp;
  if (mode === "profile" && profile && arch !== null) {
    // nsbox's base rules first (the profile may refuse seccomp(2) itself),
    // then the profile; the kernel keeps the stricter answer of the two
    // (buildBaseFilter() in seccomp.ts).
    ops.push(
      {
        kind: "seccomp",
        program: buildBaseFilter(arch, { allowUserns }),
        what: "cannot install nsbox's seccomp rules",
      },
      {
        kind: "seccomp",
        program: buildProfileFilter(arch, profile),
        what: `cannot install the seccomp profile ${profile.source}`,
      },
    );
  } else if (mode !== "unconfined" && arch !== null) {
    ops.push({
      kind: "seccomp",
      program: buildSeccompFilter(arch, { allowUserns }),
      what: "cannot install the seccomp filter",
    });
  }
  // What the caller had closed stays closed (nsbox's runtime put /dev/null there).
  for (const fd of spec.closedStdio ?? []) ops.push({ kind: "close", fd, what: `cannot close descriptor ${fd}` });
  ops.push({ kind: "cloexecFrom", fd: 3, what: "cannot close inherited file descriptors" });
  return ops;
}

/** Builds the child's plan for `spec`. */
export function buildPlan(spec: SandboxSpec): ChildPlan {
  const shared = new Set(spec.share);
  // The cgroup namespace is made by the child's first op, after the parent
  // has placed it in its cgroup: so the sandbox sees that cgroup as its root.
  let cloneFlags = CLONE.NEWUSER | CLONE.NEWNS;
  if (!shared.has("pid")) cloneFlags |= CLONE.NEWPID;
  if (!shared.has("ipc")) cloneFlags |= CLONE.NEWIPC;
  if (!shared.has("net")) cloneFlags |= CLONE.NEWNET;

  const ops: SetupOp[] = [
    { kind: "unshare", flags: CLONE.NEWCGROUP, what: "cannot create the cgroup namespace" },
    ...filesystemOps(spec),
  ];
  if (!shared.has("net")) ops.push({ kind: "linkUp", name: "lo", what: "cannot bring up the loopback interface" });
  if (spec.network.egress) {
    // The egress proxy's socket, made here (in the sandbox's network namespace) and passed out to nsbox, which
    // fills in `via`: the one way out of a sandbox without a route.
    const { port } = spec.network.egress;
    ops.push({
      kind: "listenSend",
      address: "127.0.0.1",
      port,
      backlog: 128,
      via: -1,
      what: `cannot listen on 127.0.0.1:${port} for the egress proxy`,
    });
  }
  ops.push(
    { kind: "umount", path: OLD, flags: MNT_DETACH, what: "cannot detach the host's root" },
    { kind: "chdir", path: NEW, fallback: null, what: "cannot enter the new root" },
    { kind: "pivotRoot", newRoot: ".", putOld: ".", what: "cannot pivot into the new root" },
    { kind: "umount", path: ".", flags: MNT_DETACH, what: "cannot detach the staging root" },
    {
      kind: "chdir",
      path: spec.cwd.path,
      fallback: spec.cwd.required ? null : "/",
      what: `cannot change directory to ${spec.cwd.path}`,
    },
  );
  // The command runs in a user namespace nested in the one that built the
  // mounts: in its copy of the mount namespace they are all locked, so not
  // even --root can remount the root writable or unmount a mask. The UTS
  // namespace is made there too, so --root may set the hostname.
  const idMaps = idMapPlan(spec.identity);
  ops.push({
    kind: "nestUserns",
    uidMap: nestedMapText(idMaps.uid),
    gidMap: nestedMapText(idMaps.gid),
    setgroups: idMaps.setgroups === "deny" ? "deny" : null,
    flags: CLONE.NEWNS | (shared.has("uts") ? 0 : CLONE.NEWUTS),
    selfMap: idMaps.uid.length === 1 && idMaps.gid.length === 1,
    what: "cannot create the sandbox's inner user namespace",
  });
  if (spec.hostname !== null) {
    ops.push({ kind: "sethostname", name: spec.hostname, what: `cannot set the hostname to ${spec.hostname}` });
  }
  if (shared.has("pid") && spec.init === "reaper") {
    ops.push({ kind: "prctl", option: PR.SET_CHILD_SUBREAPER, arg2: 1, arg3: 0, what: "cannot become a subreaper" });
  }
  ops.push(...commandOps(spec));

  const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  return {
    cloneFlags,
    idMaps,
    ops,
    exec: {
      file: spec.command[0] ?? "",
      argv: spec.command,
      env,
      searchPath: spec.env.PATH ?? DEFAULT_PATH,
    },
    init: spec.init,
    forwardSignals: FORWARDED_SIGNALS.map((s) => SIGNALS[s]!),
    pdeathsig: SIGNALS.SIGKILL!,
    holdExit: spec.limits !== null && spec.init === "reaper",
    terminal: spec.terminal,
    killOrphans: shared.has("pid") && spec.init === "reaper",
  };
}
