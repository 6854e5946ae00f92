/**
 * {@linkcode run}: the whole pipeline — options → spec → plan → spawn →
 * supervise → result. The CLI and library callers both come through here;
 * {@linkcode runSpec} is the same from an already validated spec (a detached
 * sandbox's supervisor gets one from its parent).
 *
 * @module
 */
import type { RunOptions } from "./spec/options.ts";
import type { SandboxSpec } from "./spec/spec.ts";
import { type HostFacts, realHost } from "./spec/host.ts";
import { validate } from "./spec/validate.ts";
import { buildPlan, FORWARDED_SIGNALS } from "./plan/plan.ts";
import { spawnChild } from "./spawn/spawn.ts";
import { supervise } from "./supervise/supervise.ts";
import { outcomeResult, type RunResult, type RunStats } from "./report/report.ts";
import type { SandboxCgroup } from "./cgroup/manager.ts";
import { getLibc } from "../ffi/libc.ts";
import { saveTerminal } from "../ffi/terminal.ts";
import type { NetworkHandle } from "./net/network.ts";
import { generateName, namespaceIds, processStart, type SandboxDir, type SandboxState, Store } from "./state/store.ts";
import { EXIT, NsboxError } from "./errors.ts";
import type { Sweeper } from "./supervise/sweep.ts";
import type { LogPipe, LogPump } from "./supervise/log_pump.ts";

/** Seams for tests and embedders. */
export interface RunDeps {
  /** The host as validation sees it (default: the real one). */
  readonly host?: HostFacts;
  /** The state store (default: the caller's, under $XDG_RUNTIME_DIR/nsbox). */
  readonly store?: Store;
  /** The sandbox's name, for {@linkcode runSpec} (default: a generated one; {@linkcode run} takes `options.name`). */
  readonly name?: string;
  /** A directory already claimed for this sandbox (a detached sandbox's supervisor gets it from its parent). */
  readonly claimed?: SandboxDir;
  /** The sandbox runs detached: its record and log outlive it until `nsbox rm`. */
  readonly detached?: boolean;
  /**
   * The sandbox's stdout and stderr go to this log, held to `cap` bytes (the
   * newest kept); nsbox's own stdout and stderr must already be that file.
   */
  readonly log?: { readonly path: string; readonly cap: number };
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
  return await runSpec(validate(options, deps.host ?? realHost()), { ...deps, name: options.name ?? deps.name });
}

/**
 * {@linkcode run} from a spec that {@linkcode validate} made (on this host,
 * for this caller): plan → spawn → supervise → result. The name is
 * `deps.claimed`'s, else `deps.name`, else a generated one.
 */
export async function runSpec(spec: SandboxSpec, deps: RunDeps = {}): Promise<RunResult> {
  let plan = buildPlan(spec);
  // Decided before anything is spawned: a host that cannot enforce the limits is an error, never a silent run.
  // Cgroups and networking load only when asked for: most runs need neither.
  const cgroups = spec.limits ? await import("./cgroup/manager.ts") : null;
  const route = spec.limits ? cgroups!.routeFor(spec.limits) : null;
  const net = spec.network.mode === "pasta" || spec.network.mode === "slirp4netns"
    ? await import("./net/network.ts")
    : null;
  // Only a sandbox in the host's PID namespace needs sweeping up after.
  const sweeping = spec.share.includes("pid") ? await import("./supervise/sweep.ts") : null;
  const store = deps.store ?? new Store();
  const dir = deps.claimed ?? store.reserve(deps.name ?? generateName());
  const name = dir.name;
  let state: SandboxState | null = null;
  let cgroup: SandboxCgroup | null = null;
  let network: NetworkHandle | null = null;
  let stats: RunStats | null = null;
  let sweeper: Sweeper | null = null;
  let logPipe: LogPipe | null = null;
  let logPump: LogPump | null = null;
  const started = performance.now();
  // Before the command can touch the terminal; restored when it ends.
  const savedTerminal = spec.terminal === "none" ? null : saveTerminal();
  try {
    if (deps.log) {
      logPipe = (await import("./supervise/log_pump.ts")).logPipe(deps.log.path, deps.log.cap);
      plan = { ...plan, ops: [...logPipe.ops, ...plan.ops] }; // first: the error steps count them
    }
    const child = await spawnChild(plan, {
      beforeRelease: async (pid) => {
        if (route && spec.limits) {
          cgroup = cgroups!.placeInCgroup(route, name, pid, spec.limits, spec.command.join(" "));
        }
        // Without a PID namespace nothing dies with PID 1: hold the sandbox to sweep up after it.
        if (sweeping) sweeper = sweeping.holdSandbox(pid);
        network = net ? await net.startNetwork(spec.network, pid) : null;
        const cg = cgroup as SandboxCgroup | null;
        state = {
          version: 1,
          name,
          pid,
          pidStart: processStart(pid) ?? 0,
          supervisorPid: Deno.pid,
          supervisorStart: processStart(Deno.pid) ?? undefined,
          commandNsPid: null, // until the command was executed
          namespaces: namespaceIds(pid),
          cgroup: cg?.path ?? null,
          unit: cg?.unit ?? null,
          detached: deps.detached ?? false,
          started: new Date().toISOString(),
          spec,
        };
      },
    });
    logPump = logPipe?.start() ?? null;
    logPipe = null;
    // Written while the child sets itself up, not before it may start; not awaited before supervise(),
    // which must catch the signals sent to nsbox from the moment the command runs.
    const recorded = state ? dir.write(state) : null;
    recorded?.catch(() => {}); // awaited below
    const outcome = await supervise(child, FORWARDED_SIGNALS, {
      terminal: spec.terminal,
      savedTerminal,
      commandIsPid1: spec.init === "none",
      onCommandStarted: (nsPid) => {
        if (spec.init !== "none") (cgroup as SandboxCgroup | null)?.adoptInit(child.pid);
        const s = state as SandboxState | null;
        if (s && s.commandNsPid !== nsPid) dir.write(state = { ...s, commandNsPid: nsPid }).catch(() => {});
      },
      onCommandExit: () => {
        const cg = cgroup as SandboxCgroup | null;
        stats = cg ? { source: "cgroup", ...msStats(cg.stats()) } : null;
      },
    });
    await (sweeper as Sweeper | null)?.sweep(cgroup);
    await (logPump as LogPump | null)?.finish();
    await recorded;
    stats ??= cgroup ? null : childrenUsage();
    const result = outcomeResult(plan, outcome, { wallMs: performance.now() - started, stats, limits: spec.limits });
    if (deps.detached) await dir.writeExit(result.exitCode);
    return result;
  } catch (e) {
    if (deps.detached) await dir.writeExit(e instanceof NsboxError ? e.exitCode : EXIT.NSBOX);
    throw e;
  } finally {
    (logPipe as LogPipe | null)?.close(); // never started: the spawn failed
    await (sweeper as Sweeper | null)?.sweep(cgroup); // nothing left behind, on any way out
    (sweeper as Sweeper | null)?.close();
    await (logPump as LogPump | null)?.finish();
    await (network as NetworkHandle | null)?.stop();
    await (cgroup as SandboxCgroup | null)?.destroy();
    if (!deps.detached) dir.remove();
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
