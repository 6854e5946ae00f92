/**
 * cgroup v2 through its filesystem: where the hierarchy is, which cgroup a
 * process is in, limits, controllers and statistics.
 *
 * @module
 */
import type { LimitsSpec } from "../spec/spec.ts";
import { readText } from "../spec/host.ts";

/** Statistics read from a sandbox's cgroup before it goes away. */
export interface CgroupStats {
  /** memory.peak, bytes (Linux 5.19+). */
  readonly memoryPeak: number | null;
  /** pids.peak (newer kernels only). */
  readonly pidsPeak: number | null;
  /** cpu.stat user_usec and system_usec. */
  readonly cpuUserUsec: number | null;
  readonly cpuSystemUsec: number | null;
  /** memory.events oom_kill: processes the OOM killer killed. */
  readonly oomKills: number;
}

/** The controllers a set of limits needs. */
export function controllersFor(limits: LimitsSpec): string[] {
  const c: string[] = [];
  if (limits.memoryMax !== null || limits.swapMax !== null) c.push("memory");
  if (limits.cpus !== null) c.push("cpu");
  if (limits.pidsMax !== null) c.push("pids");
  if (limits.ioWeight !== null) c.push("io");
  return c;
}

/** The CFS period nsbox writes with cpu.max, in microseconds. */
export const CPU_PERIOD_USEC = 100_000;

/** The interface files and values that express `limits`. */
export function limitFiles(limits: LimitsSpec): Array<[file: string, value: string]> {
  const files: Array<[string, string]> = [];
  if (limits.memoryMax !== null) {
    files.push(["memory.max", String(limits.memoryMax)]);
    // An OOM kill takes the whole sandbox, as systemd's OOMPolicy=stop would:
    // half a build or half a stress run is not a useful survivor.
    files.push(["memory.oom.group", "1"]);
  }
  if (limits.swapMax !== null) files.push(["memory.swap.max", String(limits.swapMax)]);
  if (limits.cpus !== null) {
    files.push(["cpu.max", `${Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_USEC))} ${CPU_PERIOD_USEC}`]);
  }
  if (limits.pidsMax !== null) files.push(["pids.max", String(limits.pidsMax)]);
  if (limits.ioWeight !== null) files.push(["io.weight", `default ${limits.ioWeight}`]);
  return files;
}

/** The mount point of the cgroup v2 hierarchy, when it is the unified one at /sys/fs/cgroup or elsewhere. */
export function cgroup2Root(mountinfo = readText("/proc/self/mountinfo") ?? ""): string | null {
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post || !post.startsWith("cgroup2 ")) continue;
    const mountPoint = pre.split(" ")[4];
    // mountinfo escapes space, tab, newline and backslash as octal
    if (mountPoint) return mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return null;
}

/** Where nsbox records cgroups: the cgroup v2 hierarchy's usual mount point. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/** A cgroup path as nsbox records it: normalised, absolute, under /sys/fs/cgroup; else null. */
export function normalCgroupPath(path: string): string | null {
  if (!path.startsWith(`${CGROUP_ROOT}/`)) return null;
  const parts = path.slice(CGROUP_ROOT.length + 1).split("/");
  if (parts.some((p) => p === "" || p === "." || p === ".." || p.includes("\0"))) return null;
  return path;
}

/** The id of cgroup `dir` (its directory's inode number, never reused while the system runs), or undefined. */
export function cgroupIdOf(dir: string): number | undefined {
  try {
    return Deno.statSync(dir).ino ?? undefined;
  } catch {
    return undefined;
  }
}

/** The cgroup v2 path of a process ("/user.slice/..."), from /proc/PID/cgroup. */
export function cgroupOf(pid: number | "self", text = readText(`/proc/${pid}/cgroup`) ?? ""): string | null {
  for (const line of text.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3);
  }
  return null;
}

/** Whether the host uses only cgroup v2 (no v1 controllers bound). */
export function isUnifiedOnly(text = readText("/proc/self/cgroup") ?? ""): boolean {
  const lines = text.split("\n").filter(Boolean);
  return lines.length === 1 && lines[0]!.startsWith("0::");
}

/** The controllers available in cgroup `dir`. */
export function availableControllers(dir: string): string[] {
  return (readText(`${dir}/cgroup.controllers`) ?? "").trim().split(/\s+/).filter(Boolean);
}

/** Enables `controllers` for the children of `dir`. */
export function enableControllers(dir: string, controllers: readonly string[]) {
  if (controllers.length === 0) return;
  Deno.writeTextFileSync(`${dir}/cgroup.subtree_control`, controllers.map((c) => `+${c}`).join(" "));
}

/** Writes `limits` into cgroup `dir`. */
export function writeLimits(dir: string, limits: LimitsSpec) {
  for (const [file, value] of limitFiles(limits)) Deno.writeTextFileSync(`${dir}/${file}`, value);
}

function keyed(text: string | null, key: string): number | null {
  if (text === null) return null;
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : null;
}

function single(text: string | null): number | null {
  if (text === null) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

/** Reads the statistics of cgroup `dir`. */
export function readStats(dir: string): CgroupStats {
  const cpu = readText(`${dir}/cpu.stat`);
  return {
    memoryPeak: single(readText(`${dir}/memory.peak`)),
    pidsPeak: single(readText(`${dir}/pids.peak`)),
    cpuUserUsec: keyed(cpu, "user_usec"),
    cpuSystemUsec: keyed(cpu, "system_usec"),
    oomKills: keyed(readText(`${dir}/memory.events`), "oom_kill") ?? 0,
  };
}

/** Kills what is left in cgroup `dir` (cgroup.kill, Linux 5.14+) and removes it. */
export async function removeCgroup(dir: string): Promise<void> {
  try {
    Deno.writeTextFileSync(`${dir}/cgroup.kill`, "1");
  } catch {
    // no cgroup.kill, or already gone
  }
  // Processes killed by cgroup.kill (a fork loop's 50, a large heap) may take a while to exit on a slow
  // machine; the directory is busy until the last one has. Give them up to 5 s, checking often at first.
  const deadline = performance.now() + 5000;
  for (let wait = 2;; wait = Math.min(wait * 2, 50)) {
    try {
      Deno.removeSync(dir);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      if (!(e instanceof Deno.errors.Busy) && !/EBUSY|os error 16/.test(String(e))) return;
    }
    if (performance.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
