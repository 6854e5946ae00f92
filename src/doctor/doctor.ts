/**
 * `nsbox doctor`: what nsbox needs on this host, one check a line, each with
 * what to change. The checks read the host only through {@linkcode DoctorFacts},
 * so that tests can hand them fake hosts; `realDoctorFacts()` (facts.ts) is
 * the real one. The last check runs `true` in a default sandbox: it decides
 * the exit status, the others explain it.
 *
 * @module
 */
import { cgroup2Root, cgroupOf, isUnifiedOnly } from "../cgroup/fs.ts";
import { DELEGATE_HINT, USER_BUS_HINT, userBusPresent } from "../cgroup/manager.ts";
import { parseSubIds } from "../spec/host.ts";
import { userNamespaceSysctlHint } from "../spawn/idmap_writer.ts";

/** ok: nothing to do; warn: an optional feature (limits, --net, --map-users) will not work; fail: `nsbox run` will not. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One line of `nsbox doctor`. */
export interface Check {
  /** Short name: "kernel", "user namespaces", ... */
  readonly name: string;
  readonly status: CheckStatus;
  /** What was found. */
  readonly message: string;
  /** What to change; null when nothing needs to. */
  readonly hint: string | null;
}

/** What a path is (`stat`, following symlinks). */
export interface PathStat {
  readonly kind: "file" | "directory" | "socket" | "char" | "other";
  /** Permission bits with setuid/setgid (st_mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
}

/** Everything the checks read from the host. */
export interface DoctorFacts {
  readonly uid: number;
  readonly gid: number;
  readonly userName: string | null;
  /** uname -r. */
  readonly kernelRelease: string;
  /** As Deno names it: "x86_64", "aarch64". */
  readonly arch: string;
  readonly env: Readonly<Record<string, string>>;
  /** The program the user runs as nsbox (named in an AppArmor profile). */
  readonly execPath: string;
  /** A file's text, or null when it cannot be read. */
  readText(path: string): string | null;
  /** What `path` is, or null when it does not exist. */
  stat(path: string): PathStat | null;
  /** Whether the caller can open `path` for reading and writing. */
  canOpenReadWrite(path: string): boolean;
  /** The path of `program` on PATH (or in /usr/sbin, /sbin), or null. */
  which(program: string): string | null;
  /** The first line `program --version` prints, or null. */
  versionOf(program: string): string | null;
  /** The installed version of a distribution package, or null. */
  packageVersion(name: string): string | null;
  /** The kernel's Landlock ABI version, or the errno of landlock_create_ruleset. */
  landlockAbi(): number | { readonly errno: number };
  /** Runs `true` in a default sandbox (`nsbox run -- true`). */
  tryRun(): Promise<
    { readonly ok: true } | { readonly ok: false; readonly message: string; readonly hint: string | null }
  >;
}

/** The result of all checks: `ok` when a default `nsbox run` works here. */
export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

const ok = (name: string, message: string): Check => ({ name, status: "ok", message, hint: null });
const warn = (name: string, message: string, hint: string | null): Check => ({ name, status: "warn", message, hint });
const fail = (name: string, message: string, hint: string | null): Check => ({ name, status: "fail", message, hint });

/** The oldest kernel nsbox runs on (clone3 with CLONE_PIDFD, close_range, mount_setattr). */
export const MIN_KERNEL: readonly [number, number] = [5, 12];

function sysctl(facts: DoctorFacts, name: string): string | null {
  return facts.readText(`/proc/sys/${name.replaceAll(".", "/")}`)?.trim() ?? null;
}

/** The kernel release and architecture. */
export function checkKernel(facts: DoctorFacts): Check {
  const m = /^(\d+)\.(\d+)/.exec(facts.kernelRelease);
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  const old = major < MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor < MIN_KERNEL[1]);
  if (old) {
    return fail(
      "kernel",
      `Linux ${facts.kernelRelease}: nsbox needs ${MIN_KERNEL.join(".")} or newer (clone3, close_range, mount_setattr)`,
      "upgrade the kernel",
    );
  }
  if (facts.arch !== "x86_64" && facts.arch !== "aarch64") {
    return fail("kernel", `Linux ${facts.kernelRelease} on ${facts.arch}: nsbox runs on x86_64 and aarch64`, null);
  }
  return ok("kernel", `Linux ${facts.kernelRelease} (${facts.arch})`);
}

/** An AppArmor profile that lets `exe` create user namespaces. */
export function appArmorProfile(exe: string): string {
  return `abi <abi/4.0>, include <tunables/global> profile nsbox ${exe} flags=(unconfined) { userns, }`;
}

/** Unprivileged user namespaces: the sysctls of Debian, of every kernel, and Ubuntu's AppArmor restriction. */
export function checkUserNamespaces(facts: DoctorFacts): Check {
  const name = "user namespaces";
  const max = sysctl(facts, "user.max_user_namespaces");
  if (max === null) {
    return fail(name, "the kernel has no user namespaces (no /proc/sys/user/max_user_namespaces)", "CONFIG_USER_NS=y");
  }
  const blocked = userNamespaceSysctlHint((path) => facts.readText(path)?.trim() ?? null);
  if (blocked !== null) {
    const [what, ...fix] = blocked.split(": ");
    let hint = fix.join(": ");
    if (sysctl(facts, "kernel.apparmor_restrict_unprivileged_userns") === "1") {
      hint = `write /etc/apparmor.d/nsbox: ${appArmorProfile(facts.execPath)}; then ` +
        "`sudo apparmor_parser -r /etc/apparmor.d/nsbox`; or `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`";
    }
    return fail(name, what!, hint);
  }
  const clone = sysctl(facts, "kernel.unprivileged_userns_clone");
  return ok(
    name,
    `unprivileged ones allowed (user.max_user_namespaces=${max}${
      clone ? `, kernel.unprivileged_userns_clone=${clone}` : ""
    })`,
  );
}

/** Seccomp: nsbox installs a filter on every sandbox's command. */
export function checkSeccomp(facts: DoctorFacts): Check {
  const status = facts.readText("/proc/self/status") ?? "";
  const mode = /^Seccomp:\s*(\d)/m.exec(status)?.[1];
  if (mode === undefined) {
    return fail(
      "seccomp",
      "the kernel has no seccomp (no Seccomp: line in /proc/self/status): nsbox's filter cannot be installed",
      "a kernel with CONFIG_SECCOMP_FILTER=y; or `nsbox run --seccomp=unconfined` (no filter at all)",
    );
  }
  if (mode === "2") {
    const n = /^Seccomp_filters:\s*(\d+)/m.exec(status)?.[1];
    return ok(
      "seccomp",
      `available; nsbox itself already runs under ${n ? `${n} filter${n === "1" ? "" : "s"}` : "a filter"} ` +
        "(a container's or a sandbox's), which binds its sandboxes too",
    );
  }
  return ok("seccomp", "available");
}

/** Where nsbox runs: a container runtime, by its marks. */
export function containerKind(facts: DoctorFacts): string | null {
  if (facts.stat("/.dockerenv")) return "Docker";
  if (facts.stat("/run/.containerenv")) return "podman";
  const init = facts.readText("/proc/1/cgroup") ?? "";
  if (/kubepods/.test(init)) return "Kubernetes";
  if (/\bdocker\b|docker-/.test(init)) return "Docker";
  if (/libpod/.test(init)) return "podman";
  if (/\blxc\b|lxc\.payload/.test(init)) return "LXC";
  if (facts.env.container) return facts.env.container;
  return null;
}

/** Mounts over paths below /proc (a container's masks), which make the kernel refuse a fresh /proc. */
export function maskedProcPaths(mountinfo: string): string[] {
  const masked: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const mountPoint = line.split(" - ")[0]?.split(" ")[4];
    if (!mountPoint || !mountPoint.startsWith("/proc/")) continue;
    // systemd's binfmt_misc automount sits on an empty directory: the kernel allows a fresh /proc beside it
    if (mountPoint === "/proc/sys/fs/binfmt_misc") continue;
    masked.push(mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return [...new Set(masked)];
}

/** Whether nsbox runs inside a container, and what that blocks. */
export function checkContainer(facts: DoctorFacts): Check {
  const name = "container";
  const kind = containerKind(facts);
  const masked = maskedProcPaths(facts.readText("/proc/self/mountinfo") ?? "");
  if (masked.length > 0) {
    const where = kind ? `inside a ${kind} container` : "inside a container or sandbox";
    const shown = masked.slice(0, 4).join(", ") + (masked.length > 4 ? `, ... (${masked.length} in all)` : "");
    return fail(
      name,
      `${where}: /proc has masked paths (${shown}), so the kernel refuses a fresh /proc for a sandbox`,
      "start the container with /proc unmasked: `docker run --security-opt systempaths=unconfined`, " +
        "`podman run --security-opt unmask=ALL`, Kubernetes `securityContext.procMount: Unmasked` " +
        "(Docker's default seccomp and AppArmor profiles also refuse new namespaces: " +
        "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`); " +
        "or run nsbox with `--proc=host` (the existing /proc and the host's PID namespace: weaker, see README)",
    );
  }
  if (kind) return ok(name, `inside a ${kind} container; /proc is not masked`);
  return ok(name, "not inside a container");
}

/** cgroup v2 (for limits): a pure unified hierarchy, or not. */
export function checkCgroupV2(facts: DoctorFacts): Check {
  const name = "cgroup v2";
  const root = cgroup2Root(facts.readText("/proc/self/mountinfo") ?? "");
  const own = facts.readText("/proc/self/cgroup") ?? "";
  const v1 = own.split("\n").map((l) => l.split(":")[1]).filter((c): c is string => !!c && !c.startsWith("name="));
  const limits = "--mem, --swap, --cpus, --pids and --io-weight are refused (runs without them work)";
  const bootHint = "boot with systemd.unified_cgroup_hierarchy=1 (the default since systemd 247)";
  if (root === null) return warn(name, `no cgroup v2 mounted: ${limits}`, bootHint);
  if (!isUnifiedOnly(own)) {
    return warn(
      name,
      `a hybrid layout: cgroup v1 controllers are bound (${v1.join(", ")}), cgroup v2 at ${root} has none: ${limits}`,
      bootHint,
    );
  }
  return ok(name, `pure cgroup v2 at ${root}`);
}

const LIMIT_CONTROLLERS: ReadonlyArray<[controller: string, flags: string]> = [
  ["memory", "--mem, --swap"],
  ["cpu", "--cpus"],
  ["pids", "--pids"],
  ["io", "--io-weight"],
];

/** The controllers delegated to the user: those of the user's systemd manager, or of nsbox's own cgroup. */
export function checkControllers(facts: DoctorFacts): Check | null {
  const name = "cgroup controllers";
  const root = cgroup2Root(facts.readText("/proc/self/mountinfo") ?? "");
  const own = facts.readText("/proc/self/cgroup") ?? "";
  if (root === null || !isUnifiedOnly(own)) return null; // the cgroup v2 check says why
  let dir: string;
  let whose: string;
  if (userBusPresent(facts.env, (p) => facts.stat(p)?.kind === "socket")) {
    dir = `${root}/user.slice/user-${facts.uid}.slice/user@${facts.uid}.service`;
    whose = "delegated by systemd";
  } else {
    const path = cgroupOf("self", own);
    const procs = path === null ? null : facts.stat(`${root}${path}/cgroup.procs`);
    if (path === null || procs === null || procs.uid !== facts.uid) {
      return warn(
        name,
        "no cgroup to put limits in: no user bus and nsbox's own cgroup is not the user's",
        USER_BUS_HINT,
      );
    }
    dir = `${root}${path}`;
    whose = `of nsbox's own cgroup ${path}`;
  }
  const text = facts.readText(`${dir}/cgroup.controllers`);
  if (text === null) return warn(name, `cannot read ${dir}/cgroup.controllers`, USER_BUS_HINT);
  const have = text.trim().split(/\s+/).filter(Boolean);
  const missing = LIMIT_CONTROLLERS.filter(([c]) => !have.includes(c));
  const listed = `${have.join(" ") || "none"} (${whose})`;
  if (missing.length === 0) return ok(name, listed);
  const refused = missing.map(([c, f]) => `${f} (${c})`).join(", ");
  const message = `${listed}; refused for want of a controller: ${refused}`;
  // memory, cpu and pids are what systemd delegates by default; io is optional
  if (missing.some(([c]) => c !== "io")) return warn(name, message, DELEGATE_HINT);
  return { name, status: "ok", message, hint: DELEGATE_HINT };
}

/** The systemd user bus, through which nsbox asks for a cgroup. */
export function checkUserBus(facts: DoctorFacts): Check {
  const name = "user bus";
  if (facts.env.DBUS_SESSION_BUS_ADDRESS) {
    return ok(name, `DBUS_SESSION_BUS_ADDRESS=${facts.env.DBUS_SESSION_BUS_ADDRESS}`);
  }
  const runtime = facts.env.XDG_RUNTIME_DIR;
  if (runtime && userBusPresent(facts.env, (p) => facts.stat(p)?.kind === "socket")) return ok(name, `${runtime}/bus`);
  return warn(
    name,
    runtime ? `no socket at ${runtime}/bus: limits need a systemd user session` : "XDG_RUNTIME_DIR is not set: " +
      "limits need a systemd user session",
    USER_BUS_HINT,
  );
}

function helperVersion(facts: DoctorFacts, program: string, pkg: string): string | null {
  const path = facts.which(program);
  if (path === null) return null;
  const line = facts.versionOf(program)?.trim() ?? "";
  const version = /\d[\w.~+-]*/.exec(line.replace(new RegExp(`^${program}\\s*(version)?\\s*`, "i"), ""))?.[0];
  if (version && !/unknown/i.test(line)) return `${program} ${version}`;
  const packaged = facts.packageVersion(pkg);
  return packaged ? `${program} (package ${pkg} ${packaged})` : `${program} (version unknown)`;
}

/** pasta and slirp4netns, for `--net`. */
export function checkNetworkHelpers(facts: DoctorFacts): Check {
  const name = "network helpers";
  const found = [helperVersion(facts, "pasta", "passt"), helperVersion(facts, "slirp4netns", "slirp4netns")];
  const have = found.filter((x): x is string => x !== null);
  if (have.length === 0) {
    return warn(name, "neither pasta nor slirp4netns is installed: --net is refused", "install passt (or slirp4netns)");
  }
  const used = found[0] ? "pasta" : "slirp4netns";
  return ok(name, `${have.join(", ")}; --net uses ${used}`);
}

/** /dev/net/tun, which pasta and slirp4netns open. */
export function checkTun(facts: DoctorFacts): Check {
  const name = "/dev/net/tun";
  const st = facts.stat("/dev/net/tun");
  if (st === null || st.kind !== "char") {
    return warn(name, "missing: --net cannot work", "`sudo modprobe tun`; in a container: `--device /dev/net/tun`");
  }
  if (!facts.canOpenReadWrite("/dev/net/tun")) {
    return warn(name, "cannot be opened for reading and writing: --net cannot work", "`sudo chmod 0666 /dev/net/tun`");
  }
  return ok(name, "usable");
}

/** Subordinate ids and newuidmap/newgidmap, for `--map-users`. */
export function checkSubIds(facts: DoctorFacts): Check {
  const name = "subordinate ids";
  const ranges = (["uid", "gid"] as const).map((kind) => {
    const text = facts.readText(`/etc/sub${kind}`);
    const r = text === null ? null : parseSubIds(text, facts.userName, kind === "uid" ? facts.uid : facts.gid);
    return r ? `sub${kind} ${r.start}+${r.count}` : null;
  });
  const tools = ["newuidmap", "newgidmap"].map((t) => {
    const path = facts.which(t);
    const st = path === null ? null : facts.stat(path);
    return { t, path, setuid: st !== null && (st.mode & 0o4000) !== 0 };
  });
  const problems: string[] = [];
  const who = facts.userName ?? String(facts.uid);
  if (!ranges[0]) problems.push(`no range for ${who} in /etc/subuid`);
  if (!ranges[1]) problems.push(`no range for ${who} in /etc/subgid`);
  for (const { t, path } of tools) if (path === null) problems.push(`${t} is not installed`);
  const notSetuid = tools.filter((x) => x.path !== null && !x.setuid).map((x) => x.t);
  const note = notSetuid.length ? ` (${notSetuid.join(", ")} not setuid: they need file capabilities)` : "";
  if (problems.length) {
    const hints: string[] = [];
    if (!ranges[0] || !ranges[1]) {
      hints.push(`\`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${who}\``);
    }
    if (tools.some((x) => x.path === null)) hints.push("install the uidmap package");
    return warn(name, `${problems.join(", ")}: --map-users is refused${note}`, hints.join("; "));
  }
  return ok(name, `${ranges.join(", ")}; newuidmap, newgidmap installed${note}`);
}

const ERRNO_TEXT: Readonly<Record<number, string>> = { 38: "not in this kernel", 95: "disabled at boot (lsm=)" };

/** Landlock, reported for completeness: nsbox does not need it. */
export function checkLandlock(facts: DoctorFacts): Check {
  const abi = facts.landlockAbi();
  if (typeof abi === "number") return ok("landlock", `ABI ${abi} (nsbox does not need it)`);
  return ok("landlock", `unavailable: ${ERRNO_TEXT[abi.errno] ?? `errno ${abi.errno}`} (nsbox does not need it)`);
}

/** Runs every check, the sandbox last. */
export async function runDoctor(facts: DoctorFacts): Promise<DoctorReport> {
  const checks: Check[] = [
    checkKernel(facts),
    checkUserNamespaces(facts),
    checkSeccomp(facts),
    checkContainer(facts),
    checkCgroupV2(facts),
    ...[checkControllers(facts)].filter((c): c is Check => c !== null),
    checkUserBus(facts),
    checkNetworkHelpers(facts),
    checkTun(facts),
    checkSubIds(facts),
    checkLandlock(facts),
  ];
  const tried = await facts.tryRun();
  checks.push(
    tried.ok
      ? ok("sandbox", "`nsbox run -- true` works")
      : fail("sandbox", `\`nsbox run -- true\` fails: ${tried.message}`, tried.hint),
  );
  return { ok: tried.ok, checks };
}

/** The report as text, one line a check: status, name, what was found and what to change. */
export function doctorText(report: DoctorReport): string {
  const label: Record<CheckStatus, string> = { ok: "ok  ", warn: "warn", fail: "FAIL" };
  return report.checks.map((c) => `${label[c.status]}  ${c.name}: ${c.message}${c.hint ? ` -- fix: ${c.hint}` : ""}`)
    .join("\n");
}
