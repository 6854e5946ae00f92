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
import type { SandboxSpec } from "../spec/spec.ts";
import { idMapPlan, nestedMapText } from "./idmap.ts";
import { CAP_LAST, CLONE, MNT_DETACH, MOUNT_ATTR, MS, PR, SIGNALS } from "./linux.ts";
import type { ChildPlan, SetupOp } from "./ops.ts";
import { buildProfileFilter, buildSeccompFilter } from "./seccomp.ts";

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

/** Ops that create `path` (inside the new root) and its missing parents. */
function mountPoint(path: string, type: "directory" | "file"): SetupOp[] {
  const parts = path.split("/").filter(Boolean);
  const ops: SetupOp[] = [];
  for (let i = 1; i < parts.length; i++) {
    const dir = "/" + parts.slice(0, i).join("/");
    ops.push({
      kind: "mkdir",
      path: NEW + dir,
      mode: 0o755,
      ignoreExists: true,
      what: `cannot create directory ${dir}`,
    });
  }
  ops.push({
    kind: type === "directory" ? "mkdir" : "mkfile",
    path: NEW + path,
    mode: type === "directory" ? 0o755 : 0o644,
    ignoreExists: true,
    what: `cannot create mount point ${path}`,
  });
  return ops;
}

type MountOp = Extract<SetupOp, { kind: "mount" }>;
type SetattrOp = Extract<SetupOp, { kind: "mountSetattr" }>;

function tmpfs(path: string, mode: string, flags: number, what = `cannot mount a tmpfs on ${path}`): MountOp {
  return { kind: "mount", source: "tmpfs", target: NEW + path, fstype: "tmpfs", flags, data: `mode=${mode}`, what };
}

function bind(hostPath: string, path: string, what = `cannot bind ${hostPath} on ${path}`): MountOp {
  return {
    kind: "mount",
    source: OLD + hostPath,
    target: NEW + path,
    fstype: null,
    flags: MS.BIND | MS.REC,
    data: null,
    what,
  };
}

/** Makes the mount at `path` and everything below it read-only ("" is the root). */
function readOnly(path: string): SetattrOp {
  return {
    kind: "mountSetattr",
    path: NEW + path,
    set: MOUNT_ATTR.RDONLY,
    clear: 0,
    recursive: true,
    what: `cannot make ${path || "/"} read-only`,
  };
}

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

function procMaskOps(): SetupOp[] {
  const ops: SetupOp[] = [];
  for (const f of PROC_MASKED_FILES) {
    ops.push({ ...bind("/dev/null", f, `cannot mask ${f}`), ignoreMissing: true });
  }
  for (const d of PROC_MASKED_DIRS) {
    ops.push({
      ...tmpfs(d, "0555", MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY, `cannot mask ${d}`),
      ignoreMissing: true,
    });
  }
  for (const d of PROC_READ_ONLY) {
    ops.push(
      {
        kind: "mount",
        source: NEW + d,
        target: NEW + d,
        fstype: null,
        flags: MS.BIND | MS.REC,
        data: null,
        ignoreMissing: true,
        what: `cannot bind ${d} read-only`,
      },
      { ...readOnly(d), ignoreMissing: true },
    );
  }
  return ops;
}

function devOps(): SetupOp[] {
  const ops: SetupOp[] = [tmpfs("/dev", "0755", MS.NOSUID | MS.NOEXEC, "cannot mount a tmpfs on /dev")];
  for (const dev of DEVICES) {
    ops.push(
      ...mountPoint(`/dev/${dev}`, "file"),
      bind(`/dev/${dev}`, `/dev/${dev}`, `cannot bind device /dev/${dev}`),
    );
  }
  for (const [target, name] of DEV_LINKS) {
    ops.push({ kind: "symlink", target, path: `${NEW}/dev/${name}`, what: `cannot create /dev/${name}` });
  }
  ops.push(
    ...mountPoint("/dev/pts", "directory"),
    {
      kind: "mount",
      source: "devpts",
      target: `${NEW}/dev/pts`,
      fstype: "devpts",
      flags: MS.NOSUID | MS.NOEXEC,
      data: "newinstance,ptmxmode=0666,mode=620",
      what: "cannot mount devpts on /dev/pts",
    },
    ...mountPoint("/dev/shm", "directory"),
    tmpfs("/dev/shm", "1777", MS.NOSUID | MS.NODEV),
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
      data: "mode=0755",
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
  ];

  // the root: the host's, or --rootfs, read-only
  const root = spec.rootfs ?? "/";
  ops.push(bind(root, "", `cannot bind ${root} as the root`), readOnly(""));

  // /proc: a fresh one for a new PID namespace; the host's otherwise
  ops.push(...mountPoint("/proc", "directory"));
  if (spec.share.includes("pid")) ops.push(bind("/proc", "/proc", "cannot bind the host's /proc"));
  else {
    ops.push({
      kind: "mount",
      source: "proc",
      target: `${NEW}/proc`,
      fstype: "proc",
      flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
      data: null,
      what: "cannot mount proc on /proc",
    });
  }
  ops.push(...procMaskOps());
  ops.push(...mountPoint("/dev", "directory"), ...devOps());
  ops.push(...mountPoint("/tmp", "directory"), tmpfs("/tmp", "1777", MS.NOSUID | MS.NODEV));
  // The host's /run holds the sockets that lead out of any sandbox (the D-Bus
  // session and system buses, systemd's, docker.sock), and connect() needs no
  // write access to the filesystem: a fresh, empty /run instead, and a
  // private /var/tmp like /tmp. Skipped where a --rootfs lacks them.
  ops.push(
    { ...tmpfs("/run", "0755", MS.NOSUID | MS.NODEV), ignoreMissing: true },
    { ...tmpfs("/var/tmp", "1777", MS.NOSUID | MS.NODEV), ignoreMissing: true },
  );
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
    ops.push(...mountPoint(f, "file"), bind(f, f), readOnly(f));
  }
  if (spec.limits !== null) {
    // The sandbox's own cgroup (its namespace root), limits readable, read-only.
    // The host's cgroup2 mount is there already, and the kernel refuses to
    // stack the same superblock on itself (EBUSY): a tmpfs goes in between.
    ops.push(
      ...mountPoint("/sys/fs/cgroup", "directory"),
      tmpfs("/sys/fs/cgroup", "0755", MS.NOSUID | MS.NODEV | MS.NOEXEC),
      {
        kind: "mount",
        source: "cgroup2",
        target: `${NEW}/sys/fs/cgroup`,
        fstype: "cgroup2",
        flags: MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY,
        data: null,
        what: "cannot mount cgroup2 on /sys/fs/cgroup",
      },
    );
  }

  if (spec.network.dns) {
    // A resolv.conf naming the user-mode stack's DNS forwarder; the host's is untouched.
    const { nameserver, target } = spec.network.dns;
    ops.push(
      {
        kind: "writeFile",
        path: "/resolv.conf",
        data: `# written by nsbox: DNS through ${spec.network.mode}\nnameserver ${nameserver}\n`,
        mode: 0o644,
        what: "cannot write the sandbox's resolv.conf",
      },
      ...mountPoint(target, "file"),
      {
        kind: "mount",
        source: "/resolv.conf",
        target: NEW + target,
        fstype: null,
        flags: MS.BIND,
        data: null,
        what: `cannot bind the sandbox's resolv.conf on ${target}`,
      },
      readOnly(target),
    );
  }
  for (const m of spec.mounts) {
    if (m.kind === "tmpfs") {
      ops.push(...mountPoint(m.destination, "directory"), tmpfs(m.destination, "0755", MS.NOSUID | MS.NODEV));
    } else {
      ops.push(...mountPoint(m.destination, m.sourceType), bind(m.source, m.destination));
      if (m.readOnly) ops.push(readOnly(m.destination));
    }
  }
  return ops;
}

/**
 * The last ops before the command runs, for `run` and `exec` alike:
 * no_new_privs, the command's capabilities (the bounding set keeps only
 * them; a command that is not uid 0 inside keeps them across execve as
 * ambient capabilities), the seccomp filter, and close-on-exec for every
 * inherited descriptor above stdio.
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
  const { mode, arch, profile } = spec.seccomp;
  if (mode !== "unconfined" && arch !== null) {
    ops.push({
      kind: "seccomp",
      program: mode === "profile" && profile
        ? buildProfileFilter(arch, profile)
        : buildSeccompFilter(arch, { allowUserns: spec.seccomp.allowUserns }),
      what: mode === "profile"
        ? `cannot install the seccomp profile ${profile?.source}`
        : "cannot install the seccomp filter",
    });
  }
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
