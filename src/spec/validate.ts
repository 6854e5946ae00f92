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
import type { LimitsSpec, MountSpec, NetworkSpec, SandboxSpec, SubIdRange } from "./spec.ts";
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
    options.root ? "root" : "user",
    capNumbers("--cap-add", options.capAdd ?? []),
    dropAll ? "all" : capNumbers("--cap-drop", drops),
  );

  // filesystem
  let rootfs: string | null = null;
  if (options.rootfs !== undefined) {
    const info = host.inspect(absoluteFrom(host.cwd, options.rootfs));
    if (info.kind === "missing") problems.push(`--rootfs: cannot use ${quote(options.rootfs)}: ${info.reason}.`);
    else if (info.kind !== "directory") problems.push(`--rootfs: ${quote(options.rootfs)} is not a directory.`);
    else rootfs = info.realPath === "/" ? null : info.realPath;
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
    const flag = m.readOnly ? "--ro-bind" : "--bind";
    const info = host.inspect(absoluteFrom(host.cwd, m.source));
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
    if (info.kind !== "missing" && dst !== null && dst !== "/" && kernelOwned === null) {
      mounts.push({
        kind: "bind",
        source: info.realPath,
        destination: dst,
        readOnly: m.readOnly ?? false,
        sourceType: info.kind,
      });
    }
  }

  const covered = coveredPaths(host.privateDirs, rootfs, mounts, problems);

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
      mode: options.root ? "root" : "user",
      hostUid: host.uid,
      hostGid: host.gid,
      capabilities,
      subUids,
      subGids,
    },
    hostname,
    rootfs,
    mounts,
    covered,
    init: options.asPid1 ? "none" : "reaper",
    terminal: host.terminal,
    closedStdio: host.closedStdio,
    network,
    seccomp: { mode: seccompMode, profile, allowUserns: options.allowUserns ?? false, arch },
    limits,
    timeout,
  };
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
        const flag = m.readOnly ? "--ro-bind" : "--bind";
        problems.push(
          `${flag}: ${quote(m.source)} is inside nsbox's own directory ${dir} (records, configuration, caches).`,
        );
      } else shown(m.source, m.destination);
    }
  }
  return covered;
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
    if (publish.length > 0) {
      problems.push(
        "--publish: cannot be used with --allow-host yet (a published port would need a route into the sandbox).",
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
