/**
 * {@linkcode run}: the whole pipeline — options → spec → plan → spawn →
 * supervise → result. The CLI and library callers both come through here.
 *
 * @module
 */
import type { RunOptions } from "./spec/options.ts";
import { type HostFacts, realHost } from "./spec/host.ts";
import { validate } from "./spec/validate.ts";
import { buildPlan, FORWARDED_SIGNALS } from "./plan/plan.ts";
import { spawnChild } from "./spawn/spawn.ts";
import { supervise } from "./supervise/supervise.ts";
import { outcomeResult, type RunResult, type RunStats } from "./report/report.ts";
import { placeInCgroup, routeFor, type SandboxCgroup } from "./cgroup/manager.ts";
import { getLibc } from "../ffi/libc.ts";
import { type NetworkHandle, startNetwork } from "./net/network.ts";

/** Seams for tests and embedders. */
export interface RunDeps {
  /** The host as validation sees it (default: the real one). */
  readonly host?: HostFacts;
}

/** A short random name for a sandbox (its scope is `nsbox-NAME.scope`). */
export function generateName(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const RUSAGE_CHILDREN = -1;

/** getrusage(RUSAGE_CHILDREN): what nsbox's waited-for children used. */
function childrenUsage(): RunStats {
  const ru = new BigInt64Array(18); // struct rusage: 2 timevals, then 14 longs
  getLibc().getrusage(RUSAGE_CHILDREN, new Uint8Array(ru.buffer));
  const ms = (sec: bigint, usec: bigint) => Number(sec) * 1000 + Number(usec) / 1000;
  return {
    source: "rusage",
    cpuUserMs: ms(ru[0]!, ru[1]!),
    cpuSystemMs: ms(ru[2]!, ru[3]!),
    memoryPeak: Number(ru[4]!) * 1024, // ru_maxrss, KiB
    pidsPeak: null,
    oomKills: 0,
  };
}

/**
 * Runs a command in a new sandbox, with stdio inherited, and resolves when it
 * ends. Rejects with an {@linkcode NsboxError} when the sandbox cannot be set
 * up or the command cannot be executed (its `exitCode` is 125, 126 or 127).
 *
 * @example
 * ```ts ignore
 * import { run } from "./mod.ts";
 * const result = await run({ command: ["sh", "-c", "echo $$"], asPid1: true });
 * console.log(result.exitCode); // 0, after the sandbox printed 1
 * ```
 */
export async function run(options: RunOptions, deps: RunDeps = {}): Promise<RunResult> {
  const spec = validate(options, deps.host ?? realHost());
  const plan = buildPlan(spec);
  // Decided before anything is spawned: a host that cannot enforce the limits is an error, never a silent run.
  const route = spec.limits ? routeFor(spec.limits) : null;
  const name = generateName();
  let cgroup: SandboxCgroup | null = null;
  let network: NetworkHandle | null = null;
  let stats: RunStats | null = null;
  const started = performance.now();
  try {
    const child = await spawnChild(plan, {
      beforeRelease: async (pid) => {
        if (route && spec.limits) {
          cgroup = placeInCgroup(route, name, pid, spec.limits, spec.command.join(" "));
        }
        network = await startNetwork(spec.network, pid);
      },
    });
    const outcome = await supervise(child, FORWARDED_SIGNALS, {
      foreground: plan.foreground,
      onCommandStarted: () => (cgroup as SandboxCgroup | null)?.adoptInit(child.pid),
      onCommandExit: () => {
        const cg = cgroup as SandboxCgroup | null;
        stats = cg ? { source: "cgroup", ...msStats(cg.stats()) } : null;
      },
    });
    stats ??= cgroup ? null : childrenUsage();
    return outcomeResult(plan, outcome, { wallMs: performance.now() - started, stats, limits: spec.limits });
  } finally {
    await (network as NetworkHandle | null)?.stop();
    await (cgroup as SandboxCgroup | null)?.destroy();
  }
}

function msStats(s: ReturnType<SandboxCgroup["stats"]>): Omit<RunStats, "source"> {
  return {
    cpuUserMs: s.cpuUserUsec === null ? null : s.cpuUserUsec / 1000,
    cpuSystemMs: s.cpuSystemUsec === null ? null : s.cpuSystemUsec / 1000,
    memoryPeak: s.memoryPeak,
    pidsPeak: s.pidsPeak,
    oomKills: s.oomKills,
  };
}
