/**
 * {@linkcode validate}: options + host facts → {@linkcode SandboxSpec}, or a
 * {@linkcode UsageError} listing every problem at once.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { HostFacts } from "./host.ts";
import { seccompArch } from "../linux.ts";
import { type ResolvedProfile, resolveProfile } from "./seccomp_profile.ts";
import { capabilityNumber, capabilitySet } from "./capabilities.ts";
import {
  DEFAULT_KILL_AFTER_MS,
  NAME_RE,
  NET_MODES,
  type RunOptions,
  SHAREABLE_NAMESPACES,
  type ShareableNamespace,
} from "./options.ts";
import type {
  HiddenPath,
  LimitsSpec,
  MountPointSpec,
  MountSpec,
  NetworkSpec,
  SandboxSpec,
  SubIdRange,
} from "./spec.ts";
import { MountTree } from "./mount_points.ts";
import { projectHomesDir } from "../dirs.ts";
import { formatPublish, type PublishSpec } from "./publish.ts";
import { EGRESS_PROXY_PORT, type EgressPattern, parseAllowHost, proxyEnv } from "./egress.ts";

/** The hostname a sandbox gets unless told otherwise. */
export const DEFAULT_HOSTNAME = "nsbox";

const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;
const ENV_NAME_RE = /^[^=\0]+$/;

/** Quotes a value for a message: `'value'`. */
export function quote(value: string): string {
  return `'${value}'`;
}

/**
 * Normalises an absolute path: collapses `//` and `.`, refuses `..`.
 * Returns null when `path` is not absolute or contains `..` or NUL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(normalizeAbsolute("/a//b/./c/"), "/a/b/c");
 * ```
 */
export function normalizeAbsolute(path: string): string | null {
  if (!path.startsWith("/") || path.includes("\0")) return null;
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return null;
    parts.push(p);
  }
  return "/" + parts.join("/");
}

function absoluteFrom(cwd: string, path: string): string {
  return path.startsWith("/") ? path : `${cwd.replace(/\/$/, "")}/${path}`;
}

/** `path` made absolute from `cwd`, with `.` and `..` resolved lexically (no symlinks followed). */
function lexicalAbsolute(cwd: string, path: string): string {
  const parts: string[] = [];
  for (const p of absoluteFrom(cwd, path).split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return "/" + parts.join("/");
}

/**
 * Destinations nsbox mounts itself, from the kernel, and nothing may cover
 * or go below: the sandbox's fresh procfs and its devpts.
 */
export const KERNEL_OWNED_DESTINATIONS = ["/proc", "/dev/pts"] as const;

/**
 * The problem with mounting on `dst` (normalised), when it is or is below one
 * of {@linkcode KERNEL_OWNED_DESTINATIONS}; otherwise null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(kernelOwnedProblem("--bind", "/proc/self")!, /\/proc\/self/);
 * assert.equal(kernelOwnedProblem("--bind", "/process"), null);
 * ```
 */
export function kernelOwnedProblem(flag: string, dst: string): string | null {
  const owner = KERNEL_OWNED_DESTINATIONS.find((d) => dst === d || dst.startsWith(`${d}/`));
  if (owner === undefined) return null;
  const what = owner === "/proc" ? "the sandbox's own procfs" : "the sandbox's own devpts (its terminals)";
  return `${flag}: cannot mount on ${dst}: ${owner} is ${what}, mounted by nsbox; choose another destination.`;
}

/** Checks `options` against the host and returns the sandbox's spec. */
export function validate(options: RunOptions, host: HostFacts): SandboxSpec {
  const problems: string[] = [];

  // command
  const command = [...options.command];
  if (command.length === 0 || command[0] === "") {
    problems.push("No command given: expected `nsbox run [OPTIONS] -- CMD [ARGS...]`.");
  }
  if (command.some((a) => a.includes("\0"))) problems.push("The command contains a NUL byte.");

  if (options.name !== undefined && !NAME_RE.test(options.name)) {
    problems.push(
      `--name: expected 1 to 63 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit, got ${
        quote(options.name)
      }.`,
    );
  }

  // namespaces
  const share: ShareableNamespace[] = [];
  for (const ns of options.share ?? []) {
    if (!(SHAREABLE_NAMESPACES as readonly string[]).includes(ns)) {
      problems.push(`--share: expected one of ${SHAREABLE_NAMESPACES.join(", ")}, got ${quote(ns)}.`);
    } else if (!share.includes(ns)) share.push(ns);
  }

  if (options.proc !== undefined && options.proc !== "new" && options.proc !== "host") {
    problems.push(`--proc: expected new or host, got ${quote(String(options.proc))}.`);
  } else if (options.proc === "host" && !share.includes("pid")) share.push("pid");
  else if (options.proc === "new" && share.includes("pid")) {
    problems.push("--proc=new: cannot be used with --share pid (which binds the host's /proc).");
  }

  const network = validateNetwork(options, share, rootfsOf(options, host), host, problems);
  if (network.mode === "host" && !share.includes("net")) share.push("net");

  // hostname
  let hostname: string | null = DEFAULT_HOSTNAME;
  if (share.includes("uts")) {
    if (options.hostname !== undefined) problems.push("--hostname: cannot be used with --share uts.");
    hostname = null;
  } else if (options.hostname !== undefined) {
    if (!HOSTNAME_RE.test(options.hostname)) {
      problems.push(
        `--hostname: expected 1 to 63 letters, digits, '-' or '.', starting with a letter or digit, got ${
          quote(options.hostname)
        }.`,
      );
    }
    hostname = options.hostname;
  }

  // identity
  let subUids: SubIdRange | null = null, subGids: SubIdRange | null = null;
  if (options.mapUsers) {
    subUids = host.subIds("uid");
    subGids = host.subIds("gid");
    const who = host.userName ?? String(host.uid);
    if (!subUids) problems.push(`--map-users: /etc/subuid has no range for ${quote(who)}.`);
    if (!subGids) problems.push(`--map-users: /etc/subgid has no range for ${quote(who)}.`);
    for (const tool of ["newuidmap", "newgidmap"]) {
      if (!host.hasProgram(tool)) problems.push(`--map-users: ${tool} is not installed (Debian package uidmap).`);
    }
  }

  const rootfsDir = rootfsOf(options, host);
  const user = options.user === undefined ? null : resolveUser(options.user, rootfsDir, host, problems);
  if (user !== null && options.root) {
    problems.push("--user: cannot be used with --root (--user 0 is uid 0 with --root's capabilities).");
  }
  const asRoot = options.root === true || user?.uid === 0;

  const capNumbers = (flag: string, names: readonly string[]) =>
    names.flatMap((n) => {
      const num = capabilityNumber(n);
      if (num === null) {
        problems.push(`${flag}: expected a capability name such as NET_ADMIN or CAP_SYS_ADMIN, got ${quote(n)}.`);
      }
      return num === null ? [] : [num];
    });
  const drops = options.capDrop ?? [];
  const dropAll = drops.some((d) => d.toUpperCase() === "ALL");
  const capabilities = capabilitySet(
    asRoot ? "root" : "user",
    capNumbers("--cap-add", options.capAdd ?? []),
    dropAll ? "all" : capNumbers("--cap-drop", drops),
  );

  // filesystem
  let rootfs: string | null = null;
  let rootfsOk = true;
  if (options.rootfs !== undefined) {
    rootfsOk = false;
    const info = host.inspect(absoluteFrom(host.cwd, options.rootfs));
    if (info.kind === "missing") problems.push(`--rootfs: cannot use ${quote(options.rootfs)}: ${info.reason}.`);
    else if (info.kind !== "directory") problems.push(`--rootfs: ${quote(options.rootfs)} is not a directory.`);
    else {
      rootfs = info.realPath === "/" ? null : info.realPath;
      rootfsOk = true;
    }
  }

  const mounts: MountSpec[] = [];
  for (const m of options.mounts ?? []) {
    if (m.kind === "tmpfs") {
      const dst = normalizeAbsolute(m.destination);
      if (dst === null || dst === "/") {
        problems.push(`--tmpfs: expected an absolute path other than / without '..', got ${quote(m.destination)}.`);
      }
      const kernelOwned = dst === null ? null : kernelOwnedProblem("--tmpfs", dst);
      if (kernelOwned) problems.push(kernelOwned);
      const size = m.size ?? null, mode = m.mode ?? null;
      if (size !== null && (!Number.isSafeInteger(size) || size < 4096)) {
        problems.push(`--tmpfs: expected a size of at least 4K for ${m.destination}, got ${quote(String(size))}.`);
      }
      if (mode !== null && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
        problems.push(`--tmpfs: expected an octal mode such as 0700 for ${m.destination}, got ${quote(String(mode))}.`);
      }
      if (dst !== null && dst !== "/" && kernelOwned === null) {
        mounts.push({ kind: "tmpfs", destination: dst, size, mode });
      }
      continue;
    }
    const flag = bindFlag(m);
    const info = host.inspect(absoluteFrom(host.cwd, m.source));
    // --bind-try, --ro-bind-try: a source that is not there is skipped (as bubblewrap's); other failures are not
    if (m.optional && info.kind === "missing" && info.reason === "No such file or directory") continue;
    // Without a destination, the source's own path (as written, made absolute).
    const rawDst = m.destination ?? lexicalAbsolute(host.cwd, m.source);
    const dst = normalizeAbsolute(rawDst);
    if (info.kind === "missing") {
      problems.push(
        info.reason === "No such file or directory"
          ? `${flag}: no such source path ${quote(m.source)} (to bind on ${rawDst}).`
          : `${flag}: cannot bind ${m.source} on ${rawDst}: ${info.reason}.`,
      );
    }
    const kernelOwned = dst === null ? null : kernelOwnedProblem(flag, dst);
    if (kernelOwned) problems.push(kernelOwned);
    if (dst === null || dst === "/") {
      problems.push(
        `${flag}: expected an absolute destination other than / without '..', got ${quote(rawDst)}` +
          (dst === "/" ? " (use --rootfs to replace /)." : "."),
      );
    }
    const notDevices = m.devices === true && info.kind === "file" && info.device !== true;
    if (notDevices) {
      problems.push(
        `${flag}: ${quote(m.source)} is neither a device node nor a directory (use --bind for a plain file).`,
      );
    }
    if (info.kind !== "missing" && dst !== null && dst !== "/" && kernelOwned === null && !notDevices) {
      mounts.push({
        kind: "bind",
        source: info.realPath,
        destination: dst,
        readOnly: m.readOnly ?? false,
        ...(m.devices && { devices: true }),
        sourceType: info.kind,
      });
    }
  }

  const covered = coveredPaths(host.privateDirs, rootfs, mounts, problems, () => projectHomesRoot(host));
  const hidden = hiddenPaths(hideTargets(options.hide ?? [], host, share, problems), rootfs, mounts, problems);

  // working directory
  let cwd: SandboxSpec["cwd"] = { path: host.cwd, required: false };
  if (options.chdir !== undefined) {
    const path = normalizeAbsolute(options.chdir);
    if (path === null) problems.push(`--chdir: expected an absolute path without '..', got ${quote(options.chdir)}.`);
    else cwd = { path, required: true };
  }

  // environment
  const env: Record<string, string> = options.clearEnv ? {} : { ...host.env };
  // Filtered egress: the proxy's variables, before the caller's edits (which may change them).
  if (network.egress) Object.assign(env, proxyEnv(network.egress.port));
  for (const edit of options.envEdits ?? []) {
    const flag = edit.kind === "set" ? "--setenv" : "--unsetenv";
    if (!ENV_NAME_RE.test(edit.name)) {
      problems.push(`${flag}: expected a variable name without '=', got ${quote(edit.name)}.`);
      continue;
    }
    if (edit.kind === "set") {
      if (edit.value.includes("\0")) problems.push(`--setenv: the value of ${edit.name} contains a NUL byte.`);
      env[edit.name] = edit.value;
    } else delete env[edit.name];
  }

  const limits = validateLimits(options.limits, problems);
  const timeout = validateTimeout(options, problems);
  const mountPoints = rootfsOk ? validateMountPoints(rootfs, mounts, network, limits !== null, host, problems) : [];

  const seccompArg = options.seccomp ?? "default";
  const arch = seccompArch(host.arch);
  const seccompMode = seccompArg === "default" || seccompArg === "unconfined" ? seccompArg : "profile";
  let profile: ResolvedProfile | null = null;
  if (seccompMode !== "unconfined" && arch === null) {
    problems.push(`--seccomp: nsbox has no syscall table for ${host.arch}: use --seccomp=unconfined.`);
  } else if (seccompMode === "profile") {
    const text = host.readText(absoluteFrom(host.cwd, seccompArg));
    if (text === null) {
      problems.push(`--seccomp: expected default, unconfined or a readable OCI profile, got ${quote(seccompArg)}.`);
    } else {
      profile = resolveProfile(text, seccompArg, { arch: arch!, capabilities, kernel: host.kernelRelease }, problems);
    }
  }

  if (problems.length > 0) throw new UsageError(problems);
  return {
    command,
    env,
    cwd,
    share,
    identity: {
      mode: asRoot ? "root" : "user",
      hostUid: host.uid,
      hostGid: host.gid,
      uid: user?.uid ?? (asRoot ? 0 : host.uid),
      gid: user?.gid ?? (asRoot ? 0 : host.gid),
      capabilities,
      subUids,
      subGids,
    },
    hostname,
    rootfs,
    mounts,
    mountPoints,
    covered,
    hidden,
    init: options.asPid1 ? "none" : "reaper",
    terminal: host.terminal,
    closedStdio: host.closedStdio,
    network,
    seccomp: { mode: seccompMode, profile, allowUserns: options.allowUserns ?? false, arch },
    limits,
    timeout,
  };
}

/**
 * The mount points of the plan's mounts, in the plan's order (src/plan/plan.ts filesystemOps): the sandbox's /proc,
 * /dev, /tmp, /run, /var/tmp (only where the root has it), its cgroup with limits, resolv.conf with a user-mode network,
 * then the caller's mounts. What is missing is made inside the sandbox, never on the host (src/spec/mount_points.ts).
 */
function validateMountPoints(
  rootfs: string | null,
  mounts: readonly MountSpec[],
  network: NetworkSpec,
  limited: boolean,
  host: HostFacts,
  problems: string[],
): MountPointSpec[] {
  const tree = new MountTree(rootfs ?? "/", host, problems);
  const points: MountPointSpec[] = [];
  const rootFlag = rootfs === null ? "the root" : "--rootfs";
  const need = (path: string, type: "directory" | "file", flag: string) => {
    const r = tree.need(path, type, flag);
    points.push(r.spec);
    return r.resolved;
  };
  tree.mounted(need("/proc", "directory", rootFlag), "kernel");
  for (const dir of ["/dev", "/tmp", "/run"]) tree.mounted(need(dir, "directory", rootFlag), "scratch");
  const varTmp = tree.existing("/var/tmp");
  points.push({ path: "/var/tmp", how: varTmp === null ? "absent" : "exists" });
  if (varTmp !== null) tree.mounted(varTmp, "scratch");
  if (limited) tree.mounted(need("/sys/fs/cgroup", "directory", rootFlag), "kernel");
  if (network.dns) need(network.dns.target, "file", rootFlag);
  for (const m of mounts) {
    if (m.kind === "tmpfs") tree.mounted(need(m.destination, "directory", "--tmpfs"), "scratch");
    else tree.mounted(need(m.destination, m.sourceType, m.readOnly ? "--ro-bind" : "--bind"), { source: m.source });
  }
  return points;
}

/** The flag a bind came from, for messages. */
function bindFlag(m: { readOnly?: boolean; optional?: boolean; devices?: boolean }): string {
  if (m.devices) return "--dev-bind";
  return `${m.readOnly ? "--ro-bind" : "--bind"}${m.optional ? "-try" : ""}`;
}

/** The largest uid or gid a user namespace can map (2^32-2; 2^32-1 is the kernel's "no id"). */
export const MAX_ID = 4294967294;

/** The text of `path` in the sandbox's root (`rootfs`, or the host's /), or null; never through a link leading out. */
function rootText(rootfs: string | null, path: string, host: HostFacts): string | null {
  if (rootfs === null) return host.readText(path);
  const info = host.inspect(rootfs + path);
  if (info.kind !== "file" || !info.realPath.startsWith(rootfs + "/")) return null;
  return host.readText(info.realPath);
}

/** Finds the entry of `/etc/passwd` or `/etc/group` text whose name (field 0) or id (field 2) is `key`. */
function dbEntry(text: string | null, key: string, by: "name" | "id"): string[] | null {
  for (const line of (text ?? "").split("\n")) {
    const f = line.split(":");
    if (f.length >= 4 && f[by === "name" ? 0 : 2] === key) return f;
  }
  return null;
}

/**
 * `--user UID[:GID]` (numbers or names): the uid and gid inside. Names are looked up in the sandbox's root
 * (`--rootfs`, or the host's /): its /etc/passwd and /etc/group. Without GID: the user's group in that
 * /etc/passwd, or `defaultGid` (0 for `run`, as docker and podman do). Adds problems.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { HostFacts } from "./host.ts";
 * const host = { readText: () => "web:x:33:44::/:/bin/sh\n" } as unknown as HostFacts;
 * assert.deepEqual(resolveUser("web", null, host, []), { uid: 33, gid: 44 });
 * assert.deepEqual(resolveUser("1000:5", null, host, []), { uid: 1000, gid: 5 });
 * ```
 */
export function resolveUser(
  text: string,
  rootfs: string | null,
  host: HostFacts,
  problems: string[],
  defaultGid = 0,
): { uid: number; gid: number } | null {
  const parts = text.split(":");
  const expected = `--user: expected UID[:GID], numbers from 0 to ${MAX_ID} or names, got ${quote(text)}.`;
  if (parts.length > 2 || parts.some((p) => p === "" || p.includes("\0"))) {
    problems.push(expected);
    return null;
  }
  const where = rootfs === null ? "" : ` of ${rootfs}`;
  const numeric = (p: string) => /^[0-9]+$/.test(p);
  const id = (p: string): number | null => {
    const n = Number(p);
    return Number.isSafeInteger(n) && n <= MAX_ID ? n : null;
  };
  const [u, g] = parts as [string, string?];
  let passwd: string | null | undefined;
  const passwdText = () => passwd === undefined ? (passwd = rootText(rootfs, "/etc/passwd", host)) : passwd;
  let uid: number | null, entry: string[] | null;
  if (numeric(u)) {
    uid = id(u);
    if (uid === null) problems.push(expected);
    entry = g === undefined && uid !== null ? dbEntry(passwdText(), String(uid), "id") : null;
  } else {
    entry = dbEntry(passwdText(), u, "name");
    uid = entry === null ? null : id(entry[2]!);
    if (entry === null) {
      problems.push(`--user: no user ${quote(u)} in /etc/passwd${where}: give a number (e.g. --user 1000).`);
    } else if (uid === null) problems.push(`--user: the uid of ${quote(u)} in /etc/passwd${where} is not valid.`);
  }
  let gid: number | null = null;
  if (g === undefined) gid = entry === null ? defaultGid : id(entry[3]!) ?? defaultGid;
  else if (numeric(g)) {
    gid = id(g);
    if (gid === null) problems.push(expected);
  } else {
    const group = dbEntry(rootText(rootfs, "/etc/group", host), g, "name");
    gid = group === null ? null : id(group[2]!);
    if (gid === null) {
      problems.push(`--user: no group ${quote(g)} in /etc/group${where}: give a number (e.g. --user 1000:1000).`);
    }
  }
  return uid === null || gid === null ? null : { uid, gid };
}

function validateTimeout(options: RunOptions, problems: string[]): SandboxSpec["timeout"] {
  const { timeout, killAfter } = options;
  const positive = (n: number | undefined) => n === undefined || (Number.isSafeInteger(n) && n > 0);
  if (!positive(timeout)) problems.push(`--timeout: expected a positive duration such as 30s or 5m, got ${timeout}.`);
  if (!positive(killAfter)) problems.push(`--kill-after: expected a positive duration such as 5s, got ${killAfter}.`);
  if (killAfter !== undefined && timeout === undefined) {
    problems.push("--kill-after: only with --timeout (how long after its SIGTERM the command gets SIGKILL).");
  }
  return timeout === undefined ? null : { ms: timeout, killAfterMs: killAfter ?? DEFAULT_KILL_AFTER_MS };
}

/** Whether `path` is `dir` or below it (both canonical). */
function within(path: string, dir: string): boolean {
  return path === dir || dir === "/" || path.startsWith(dir + "/");
}

/**
 * Where the sandbox's root or binds would show one of nsbox's own
 * directories (`privateDirs`, canonical host paths): the paths inside to
 * cover. A bind or `--rootfs` from inside one of them is refused: it would
 * show nothing but what must stay hidden.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const binds = [{ kind: "bind", source: "/tmp", destination: "/t", readOnly: false, sourceType: "directory" }] as const;
 * assert.deepEqual(coveredPaths(["/tmp/nsbox-1000"], null, binds, []), ["/tmp/nsbox-1000", "/t/nsbox-1000"]);
 * ```
 */
export function coveredPaths(
  privateDirs: readonly string[],
  rootfs: string | null,
  mounts: readonly MountSpec[],
  problems: string[],
  projectHomes: () => string | null = () => null,
): string[] {
  const covered: string[] = [];
  const add = (p: string) => {
    if (!covered.includes(p)) covered.push(p);
  };
  for (const dir of privateDirs) {
    const shown = (source: string, destination: string) =>
      within(dir, source)
        ? add(destination.replace(/\/$/, "") + dir.slice(source === "/" ? 0 : source.length))
        : undefined;
    if (rootfs === null) add(dir);
    else if (within(rootfs, dir)) {
      problems.push(
        `--rootfs: ${quote(rootfs)} is inside nsbox's own directory ${dir} (records, configuration, caches).`,
      );
    } else shown(rootfs, "/");
    for (const m of mounts) {
      if (m.kind !== "bind") continue;
      if (within(m.source, dir)) {
        // A project's own home (`--profile build`) lies in the cache directory and shows nothing else of it.
        const homes = projectHomes();
        if (homes !== null && m.source.startsWith(homes + "/")) continue;
        const flag = m.readOnly ? "--ro-bind" : "--bind";
        problems.push(
          `${flag}: ${quote(m.source)} is inside nsbox's own directory ${dir} (records, configuration, caches).`,
        );
      } else shown(m.source, m.destination);
    }
  }
  return covered;
}

/** The canonical directory of the per-project homes (`--profile build`), when it exists. */
function projectHomesRoot(host: HostFacts): string | null {
  const dir = projectHomesDir(host.env);
  if (dir === null) return null;
  const info = host.inspect(dir);
  return info.kind === "directory" ? info.realPath : null;
}

/** A `--hide` path as the host has it: canonical, and whether it is a directory. */
export interface HideTarget {
  readonly source: string;
  readonly type: "directory" | "file";
}

/**
 * The `--hide` paths that exist, canonical (`~` expanded from HOME, relative paths from the current
 * directory); missing ones are ignored. Adds problems: `/`, `~` without HOME, and `--share pid` (the
 * host's /proc would show them through /proc/PID/root of the caller's other processes).
 */
export function hideTargets(
  paths: readonly string[],
  host: HostFacts,
  share: readonly ShareableNamespace[],
  problems: string[],
): HideTarget[] {
  const targets: HideTarget[] = [];
  const home = host.env.HOME;
  for (const raw of paths) {
    let path = raw;
    if (raw === "~" || raw.startsWith("~/")) {
      if (!home || !home.startsWith("/")) {
        problems.push(`--hide: cannot expand ${quote(raw)}: HOME is not an absolute path.`);
        continue;
      }
      path = home.replace(/\/+$/, "") + raw.slice(1);
    }
    if (path === "" || path.includes("\0")) {
      problems.push(`--hide: expected a path, got ${quote(raw)}.`);
      continue;
    }
    const info = host.inspect(lexicalAbsolute(host.cwd, path));
    if (info.kind === "missing") continue; // nothing there: nothing to hide
    if (info.realPath === "/") {
      problems.push(`--hide: cannot hide / (${quote(raw)}): use --rootfs for another root.`);
      continue;
    }
    if (!targets.some((t) => t.source === info.realPath)) targets.push({ source: info.realPath, type: info.kind });
  }
  if (targets.length > 0 && share.includes("pid")) {
    problems.push(
      "--hide: cannot be used with --share pid (the host's /proc shows your other processes' view of the hidden paths).",
    );
  }
  return targets;
}

/**
 * Where the sandbox's root or binds would show a hidden host path: the paths inside to cover, after every
 * mount. A bind or `--rootfs` from inside a hidden path is refused: it would show what must stay hidden.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const binds = [{ kind: "bind", source: "/home/u", destination: "/h", readOnly: false, sourceType: "directory" }] as const;
 * assert.deepEqual(hiddenPaths([{ source: "/home/u/.ssh", type: "directory" }], null, binds, []), [
 *   { path: "/home/u/.ssh", type: "directory" },
 *   { path: "/h/.ssh", type: "directory" },
 * ]);
 * ```
 */
export function hiddenPaths(
  targets: readonly HideTarget[],
  rootfs: string | null,
  mounts: readonly MountSpec[],
  problems: string[],
): HiddenPath[] {
  const hidden: HiddenPath[] = [];
  const add = (path: string, type: HiddenPath["type"]) => {
    if (!hidden.some((h) => h.path === path)) hidden.push({ path, type });
  };
  for (const { source: h, type } of targets) {
    const shown = (source: string, destination: string) => {
      if (within(h, source)) add(destination.replace(/\/$/, "") + h.slice(source === "/" ? 0 : source.length), type);
    };
    if (rootfs === null) add(h, type);
    else if (within(rootfs, h)) problems.push(`--rootfs: ${quote(rootfs)} is inside the hidden path ${h} (--hide).`);
    else shown(rootfs, "/");
    for (const m of mounts) {
      if (m.kind !== "bind") continue;
      if (within(m.source, h)) {
        const flag = m.readOnly ? "--ro-bind" : "--bind";
        problems.push(`${flag}: ${quote(m.source)} is inside the hidden path ${h} (--hide).`);
      } else shown(m.source, m.destination);
    }
  }
  return hidden;
}

/** Where pasta and slirp4netns answer DNS inside the sandbox. */
export const NAMESERVERS = { pasta: "169.254.1.1", slirp4netns: "10.0.2.3" } as const;

function rootfsOf(options: RunOptions, host: HostFacts): string | null {
  if (options.rootfs === undefined) return null;
  const info = host.inspect(absoluteFrom(host.cwd, options.rootfs));
  return info.kind === "directory" && info.realPath !== "/" ? info.realPath : null;
}

/** Where the generated resolv.conf goes inside: /etc/resolv.conf, or the file its symlink names. */
function resolvTarget(rootfs: string | null, host: HostFacts): string {
  const info = host.inspect(`${rootfs ?? ""}/etc/resolv.conf`);
  if (info.kind !== "file") return "/etc/resolv.conf";
  if (rootfs === null) return info.realPath;
  return info.realPath.startsWith(rootfs + "/") ? info.realPath.slice(rootfs.length) : "/etc/resolv.conf";
}

function validateNetwork(
  options: RunOptions,
  share: readonly ShareableNamespace[],
  rootfs: string | null,
  host: HostFacts,
  problems: string[],
): NetworkSpec {
  let mode: NetworkSpec["mode"] = share.includes("net") ? "host" : "none";
  const asked = options.net ?? "none";
  if (!(NET_MODES as readonly string[]).includes(asked)) {
    problems.push(`--net: expected one of pasta, slirp4netns, host, got ${quote(String(asked))}.`);
  } else if (asked !== "none") {
    if (share.includes("net") && asked !== "host") {
      problems.push(
        `--net: ${asked === "auto" ? "" : `${quote(asked)} `}cannot be used with --share net (the host's network).`,
      );
    }
    if (asked === "host") mode = "host";
    else if (asked === "auto") {
      if (host.hasProgram("pasta")) mode = "pasta";
      else if (host.hasProgram("slirp4netns")) mode = "slirp4netns";
      else problems.push("--net: neither pasta nor slirp4netns is installed: install passt (or slirp4netns).");
    } else {
      if (!host.hasProgram(asked)) {
        problems.push(`--net=${asked}: ${asked} is not installed: install ${asked === "pasta" ? "passt" : asked}.`);
      }
      mode = asked;
    }
  }
  const publish: PublishSpec[] = [];
  for (const p of options.publish ?? []) {
    const spec: PublishSpec = {
      hostIp: p.hostIp ?? "127.0.0.1",
      hostPort: p.hostPort,
      port: p.port,
      protocol: p.protocol ?? "tcp",
    };
    const ok = [spec.hostPort, spec.port].every((n) => Number.isInteger(n) && n >= 1 && n <= 65535) &&
      (spec.protocol === "tcp" || spec.protocol === "udp");
    if (!ok) {
      problems.push(`--publish: expected ports from 1 to 65535 and tcp or udp, got ${quote(formatPublish(spec))}.`);
    } else publish.push(spec);
  }
  const egress = validateEgress(options, share, problems);
  if (egress) {
    if (asked !== "none" && (NET_MODES as readonly string[]).includes(asked)) {
      problems.push(
        `--allow-host: cannot be used with ${
          asked === "auto" ? "--net" : `--net=${asked}`
        }: filtered egress goes through nsbox's proxy alone (drop --net).`,
      );
    }
    // published through nsbox's relay (src/net/publish.ts), which forwards TCP connections only
    for (const p of publish.filter((p) => p.protocol === "udp")) {
      problems.push(
        `--publish ${formatPublish(p)}: UDP cannot be published with --allow-host (nsbox's relay forwards TCP only).`,
      );
    }
    if (options.allowHostLoopback) {
      problems.push(
        "--allow-host-loopback: cannot be used with --allow-host: name the address instead " +
          "(e.g. --allow-host 127.0.0.1:8080).",
      );
    }
    mode = "filtered";
  }
  const userMode = mode === "pasta" || mode === "slirp4netns";
  if (publish.length > 0 && !userMode && !egress) problems.push("--publish: needs --net (pasta or slirp4netns).");
  if (options.allowHostLoopback && !userMode && !egress) {
    problems.push("--allow-host-loopback: needs --net (pasta or slirp4netns).");
  }
  const hostResolv = mode === "host" && rootfs === null ? resolvTarget(null, host) : null;
  return {
    mode,
    publish,
    allowHostLoopback: options.allowHostLoopback ?? false,
    hostResolvConf: hostResolv !== null && hostResolv.startsWith("/run/") ? hostResolv : null,
    dns: userMode
      ? { nameserver: NAMESERVERS[mode as "pasta"], target: resolvTarget(rootfs, host) }
      // no resolver inside: names go to the proxy; a lookup gets "connection refused" at once
      : egress
      ? { nameserver: NO_NAMESERVER, target: resolvTarget(rootfs, host) }
      : null,
    egress,
  };
}

/** The nameserver a filtered sandbox's resolv.conf names: its own loopback, where nothing answers. */
export const NO_NAMESERVER = "127.0.0.1";

/** `--allow-host`: the parsed patterns and the proxy's port, or null without the flag. */
function validateEgress(
  options: RunOptions,
  share: readonly ShareableNamespace[],
  problems: string[],
): NetworkSpec["egress"] {
  const texts = options.allowHosts ?? [];
  if (texts.length === 0) return null;
  const allow: EgressPattern[] = [];
  for (const t of texts) {
    const p = parseAllowHost(t);
    if (typeof p === "string") problems.push(p);
    else allow.push(p);
  }
  if (share.includes("net")) {
    problems.push("--allow-host: cannot be used with --share net (the host's network has routes out).");
  }
  return { allow, port: EGRESS_PROXY_PORT };
}

function validateLimits(l: RunOptions["limits"], problems: string[]): LimitsSpec | null {
  if (!l || Object.values(l).every((v) => v === undefined)) return null;
  const whole = (flag: string, v: number | undefined, min: number, max: number, what: string): number | null => {
    if (v === undefined) return null;
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      problems.push(`${flag}: expected ${what}, got ${quote(String(v))}.`);
      return null;
    }
    return v;
  };
  const MIB = 1024 * 1024;
  const memoryMax = whole(
    "--mem",
    l.memory,
    MIB,
    Number.MAX_SAFE_INTEGER,
    "a size of at least 1M (e.g. 64M, 1.5G)",
  );
  const swapMax = whole("--swap", l.swap, 0, Number.MAX_SAFE_INTEGER, "a size (e.g. 0, 100M, 1G)");
  let cpus: number | null = null;
  if (l.cpus !== undefined) {
    if (!Number.isFinite(l.cpus) || l.cpus < 0.01 || l.cpus > 4096) {
      problems.push(`--cpus: expected a number of CPUs from 0.01 up (e.g. 0.5, 2), got ${quote(String(l.cpus))}.`);
    } else cpus = l.cpus;
  }
  const pidsMax = whole("--pids", l.pids, 1, 4194304, "a whole number of processes from 1 up");
  const ioWeight = whole("--io-weight", l.ioWeight, 1, 10000, "a whole number from 1 to 10000");
  return {
    memoryMax,
    // with a memory cap and nothing said of swap, swap is capped too: otherwise the cap is not real
    swapMax: swapMax ?? (memoryMax !== null ? 0 : null),
    cpus,
    pidsMax,
    ioWeight,
  };
}
