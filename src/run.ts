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
import {
  awaitStart,
  childSupervisor,
  ensureSupervisor,
  forwardSignals,
  forwardSignalsNatively,
  type Handed,
  prepareExec,
  type SupervisorPlan,
} from "./supervise/supervise.ts";
import {
  endTemplate,
  failureTemplates,
  outcomeResult,
  type RunResult,
  type RunStats,
  stopHintTemplate,
} from "./report/report.ts";
import type { SandboxCgroup } from "./cgroup/manager.ts";
import { cgroupIdOf } from "./cgroup/fs.ts";
import { cString, getLibc } from "../ffi/libc.ts";
import {
  isForegroundOfTerminal,
  reclaimTerminal,
  restoreLineDiscipline,
  restoreTermios,
  type SavedTerminal,
  saveTerminal,
} from "../ffi/terminal.ts";
import type { NetworkHandle } from "./net/network.ts";
import type { EgressChannel, EgressHandle } from "./net/egress.ts";
import type { RelayHandle } from "./net/publish.ts";
import {
  generateName,
  namespaceIds,
  processStart,
  type RecordedHelper,
  type SandboxDir,
  type SandboxState,
  Store,
} from "./state/store.ts";
import { check, errnoTable, EXIT, NsboxError } from "./errors.ts";
import type { Sweeper } from "./supervise/sweep.ts";
import type { LogPipe } from "./supervise/log_pump.ts";
import type { SupervisorOp, SupervisorResult } from "./spawn/abi.ts";
import { signalNames, SIGNALS } from "./linux.ts";
import { waitPidfd } from "./spawn/wait.ts";
import { faultPoint } from "./spawn/fault.ts";

const O_RDONLY = 0, O_DIRECTORY = 0o200000, O_CLOEXEC = 0o2000000;

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
  /**
   * How the native supervisor takes over once the command runs: "child"
   * (default: a child process, whose result this resolves with) or "exec"
   * (in this process's place, as the CLI does: `run` then never returns for
   * a command that ran; the supervisor exits with its status).
   */
  readonly supervisor?: "exec" | "child";
  /** What nsbox prints on stderr when the command ended (`--json`, `--stats`; the OOM line always). */
  readonly report?: { readonly json: boolean; readonly stats: boolean };
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
    memoryPeak: null, // ru_maxrss counts nsbox's own memory: children start vfork-style
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

/** The RunResult of what the native supervisor reported. */
function resultOf(plan: ReturnType<typeof buildPlan>, r: SupervisorResult, limits: SandboxSpec["limits"]): RunResult {
  const ms = (us: number | null) => us === null ? null : us / 1000;
  const stats: RunStats | null = r.stats === "none" ? null : {
    source: r.stats,
    cpuUserMs: ms(r.cpuUserUs),
    cpuSystemMs: ms(r.cpuSystemUs),
    memoryPeak: r.memoryPeak,
    pidsPeak: r.pidsPeak,
    oomKills: r.oomKills,
  };
  return outcomeResult(plan, r.ended, { wallMs: r.wallUs / 1000, stats, limits, timedOut: r.timedOut });
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
  const egressNet = spec.network.mode === "filtered" ? await import("./net/egress.ts") : null;
  // Ports published into a filtered sandbox go through nsbox's relay, not pasta.
  const relayNet = egressNet && spec.network.publish.length > 0 ? await import("./net/publish.ts") : null;
  // Only a sandbox in the host's PID namespace needs sweeping up after.
  const sweeping = spec.share.includes("pid") ? await import("./supervise/sweep.ts") : null;
  await ensureSupervisor();
  const store = deps.store ?? new Store();
  const dir = deps.claimed ?? store.reserve(deps.name ?? generateName());
  if (deps.claimed) dir.claimOwnership(); // this process sets it up now (its parent may go)
  const name = dir.name;
  let state: SandboxState | null = null;
  let cgroup: SandboxCgroup | null = null;
  let network: NetworkHandle | null = null;
  let sweeper: Sweeper | null = null;
  let logPipe: LogPipe | null = null;
  let channel: EgressChannel | null = null;
  let egress: EgressHandle | null = null;
  let published: number[] | null = null;
  let relay: RelayHandle | null = null;
  let recordFd = -1;
  let recorded: Promise<void> | null = null;
  // Once the native supervisor has taken over, the clean-up below is its.
  let handed = false;
  let stopForwarding = () => {};
  const started = performance.now();
  // Before the command can touch the terminal; restored when it ends.
  const savedTerminal = spec.terminal === "none" ? null : saveTerminal();
  try {
    // The host's ports first: one that is taken is an error before anything is started.
    if (relayNet) published = relayNet.listenPublished(spec.network.publish);
    if (deps.log) {
      logPipe = (await import("./supervise/log_pump.ts")).logPipe();
      plan = { ...plan, ops: [...logPipe.ops, ...plan.ops] }; // first: the error steps count them
    }
    if (egressNet) plan = (channel = egressNet.egressChannel(plan)).plan;
    const child = await spawnChild(plan, {
      beforeRelease: async (pid) => {
        if (route && spec.limits) {
          cgroup = cgroups!.placeInCgroup(route, name, pid, spec.limits, spec.command.join(" "));
        }
        await faultPoint("after-cgroup");
        // Without a PID namespace nothing dies with PID 1: hold the sandbox to sweep up after it.
        if (sweeping) sweeper = sweeping.holdSandbox(pid);
        network = net ? await net.startNetwork(spec.network, pid, dir.path) : null;
        await faultPoint("after-net");
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
          cgroupId: cg ? cgroupIdOf(cg.path) : undefined,
          detached: deps.detached ?? false,
          started: new Date().toISOString(),
          spec,
          helpers: recordedHelpers([(network as NetworkHandle | null)?.pid]),
        };
        // Without a PID namespace, what the command starts outlives nsbox and its PID 1 if nsbox is killed: the
        // record must exist before the command can run, so that the next nsbox (the stale-record clean-up, `nsbox
        // gc`) finds and ends it. It says the command has not run yet (commandNsPid null) until it has.
        if (sweeping) await dir.write(state);
      },
    });
    (logPipe as LogPipe | null)?.closeWriteEnd();
    if (channel) {
      // The proxy's socket comes once the child has made it (or nothing, when it failed before: awaitStart says why).
      const listenFd = await (channel as EgressChannel).receive();
      if (listenFd !== null) {
        egress = await egressNet!.startEgress(spec.network, listenFd);
        const fds = published;
        published = null; // the relay's now (closed here whatever happens)
        if (relayNet && fds) relay = await relayNet.startRelay(spec.network.publish, fds, child.pid);
      }
    }
    stopForwarding = deps.supervisor === "exec"
      ? await forwardSignalsNatively(child, plan.forwardSignals)
      : forwardSignals(child, FORWARDED_SIGNALS);
    const cg = cgroup as SandboxCgroup | null;
    const net_ = network as NetworkHandle | null, sw = sweeper as Sweeper | null;
    const eg = egress as EgressHandle | null, rl = relay as RelayHandle | null;
    if (state && eg) {
      state = { ...(state as SandboxState), helpers: recordedHelpers([net_?.pid, eg.pid, rl?.pid]) };
    }
    const detached = deps.detached ?? false;
    // While the child sets itself up (a few ms nsbox would only wait): the record, and the supervisor's
    // config. The command's pid inside is known in advance with a PID namespace of its own (nsbox-init's first
    // child is 2) or --as-pid-1 (1); a detached run's parent waits for the record as the sign that the command
    // was executed, so that one is written only then.
    const predicted = spec.init === "none" ? 1 : spec.share.includes("pid") ? null : 2;
    if (state && predicted !== null && !detached) {
      recorded = dir.write(state = { ...(state as SandboxState), commandNsPid: predicted });
      recorded.catch(() => {}); // awaited below
    }
    if (state) {
      recordFd = check(
        getLibc().open(cString(dir.path), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0),
        "cannot open the sandbox's record",
      );
    }
    const report = deps.report;
    // The sandbox goes to the native supervisor at once, while the child sets itself up (the CLI's exec then
    // overlaps that: ~1 ms), when nothing is left for TypeScript once the command runs: the command's pid inside
    // is known in advance (for the record), no cgroup needs PID 1 moved out of the command's way, and it is no
    // detached run (whose parent takes the record as the sign that the command was executed). A failure before
    // the command ran is then the supervisor's to report: the CLI's in failureTemplates()' words, the library's
    // in its result (failureError(), as awaitStart() would have it).
    const early = predicted !== null && !detached && cg === null && state !== null &&
      (deps.supervisor !== "exec" || report !== undefined);
    const source = cg ? "cgroup" : "rusage";
    const exitRecord = detached && state ? dir.exitRecordTemplate(state) : null;
    const ops: SupervisorOp[] = [
      ...(sw ? [sw.teardown(cg)] : []),
      ...(deps.log ? [{ kind: "finishLog", graceMs: 2000 } as const] : []),
      // the proxy writes its report when stopped: before the end report, which includes it
      ...(eg?.teardown() ?? []),
      ...(report && (report.json || !detached)
        ? [
          {
            kind: "report",
            fd: 2,
            template: endTemplate({
              ...report,
              limits: spec.limits,
              source,
              timeoutMs: spec.timeout?.ms,
              egress: eg !== null,
            }),
          } as const,
        ]
        : []),
      ...(deps.log ? [{ kind: "trimLog" } as const] : []),
      ...(exitRecord
        ? [
          { kind: "exitRecord", file: exitRecord.file, body: exitRecord.body, text: exitRecord.text } as const,
          { kind: "removeFile", path: "state.json" } as const,
        ]
        : []),
      ...(net_?.teardown() ?? []),
      ...(rl?.teardown() ?? []),
      ...(cg?.teardown() ?? []),
      ...(detached ? [] : [{ kind: "removeDir", path: dir.path } as const]),
    ];
    const supervisorPlan: SupervisorPlan = {
      terminal: spec.terminal,
      commandIsPid1: spec.init === "none",
      commandNsPid: 0, // filled in once the command runs
      stats: source,
      statsPath: cg?.path ?? null,
      log: deps.log ?? null,
      elapsedUs: 0, // likewise
      forwardSignals: plan.forwardSignals,
      savedTerminal: savedTerminal && {
        fd: savedTerminal.fd,
        ldisc: savedTerminal.ldisc,
        exclusive: savedTerminal.exclusive,
        termios: savedTerminal.termios,
      },
      mac: exitRecord && { key: exitRecord.key, prefix: exitRecord.prefix },
      stopHint: stopHintTemplate(Deno.pid, spec.terminal === "background"),
      signalNames: signalNames(),
      ops,
      timeout: spec.timeout,
      failures: early && deps.supervisor === "exec"
        ? {
          rules: failureTemplates(plan, report!.json),
          stepWhats: plan.ops.map((op) => op.what),
          errnos: errnoTable(),
        }
        : null,
    };
    const handing: Handed = {
      child,
      logRd: (logPipe as LogPipe | null)?.readEnd ?? null,
      recordFd: recordFd >= 0 ? recordFd : null,
      opFds: [
        ...(sw ? [sw.fd] : []),
        ...(net_ ? [net_.pidfd, ...net_.holds] : []),
        ...(eg ? [eg.pidfd, eg.reportFd] : []),
        ...(rl ? [rl.pidfd] : []),
      ],
    };
    const prepared = deps.supervisor === "exec" ? await prepareExec(handing, supervisorPlan) : null;
    /** The CLI's handover: returns only by throwing (the sandbox ended, to be cleaned up here). */
    const execSupervisor = async (nsPid: number) => {
      handed = true; // if the exec fails, the error below says so and the sandbox is cleaned up here
      try {
        prepared!.exec(nsPid, (performance.now() - started) * 1000);
      } catch (e) {
        handed = false; // the sandbox is still this process's: end it, and clean up below
        getLibc().pidfd_send_signal(child.pidfd, SIGNALS.SIGKILL!, null, 0);
        await waitPidfd(child.pidfd);
        throw e;
      }
    };
    let nsPid: number; // the command's, inside
    if (early) {
      await faultPoint("before-record");
      await recorded; // with the pid inside it predicted
      await faultPoint("after-start");
      if (prepared) await execSupervisor(predicted!);
      nsPid = predicted!;
    } else {
      const start = await awaitStart(child, spec.init === "none");
      if (start.kind === "ended") {
        stopForwarding();
        restoreTerminalAfterFailure(spec.terminal, savedTerminal);
        await (sweeper as Sweeper | null)?.sweep(cg);
        const stats = cg ? null : childrenUsage();
        const result = outcomeResult(plan, start.outcome, {
          wallMs: performance.now() - started,
          stats,
          limits: spec.limits,
        });
        await recorded?.catch(() => {}); // before the record is removed (finally) or ends (below)
        if (deps.detached) await dir.writeExit(result.exitCode, { signal: result.signal });
        return result;
      }
      if (spec.init !== "none") cg?.adoptInit(child.pid);
      await faultPoint("before-record");
      // The record says where the command is: `ps`, `kill` and `exec` find it.
      if (state && (recorded === null || start.nsPid !== predicted)) {
        await recorded?.catch(() => {});
        recorded = dir.write(state = { ...(state as SandboxState), commandNsPid: start.nsPid });
      }
      await recorded;
      await faultPoint("after-start");
      if (prepared) await execSupervisor(start.nsPid);
      nsPid = start.nsPid;
    }
    const elapsedUs = (performance.now() - started) * 1000;
    handed = true;
    logPipe = null; // the supervisor's now
    try {
      const r = await childSupervisor(
        handing,
        { ...supervisorPlan, commandNsPid: nsPid, elapsedUs },
        [...(net_ ? [net_.pidfd] : []), ...(eg ? [eg.pidfd] : []), ...(rl ? [rl.pidfd] : [])],
      );
      const result = resultOf(plan, r, spec.limits);
      return eg ? { ...result, egress: eg.readReport() } : result;
    } finally {
      stopForwarding();
      sw?.close();
    }
  } catch (e) {
    if (deps.detached && !handed) await dir.writeExit(e instanceof NsboxError ? e.exitCode : EXIT.NSBOX);
    throw e;
  } finally {
    stopForwarding();
    if (!handed) {
      await (recorded as Promise<void> | null)?.catch(() => {}); // a write in flight would bring the record back
      (logPipe as LogPipe | null)?.close();
      await (sweeper as Sweeper | null)?.sweep(cgroup); // nothing left behind, on any way out
      (sweeper as Sweeper | null)?.close();
      await (network as NetworkHandle | null)?.stop();
      await (egress as EgressHandle | null)?.stop();
      await (relay as RelayHandle | null)?.stop();
      (channel as EgressChannel | null)?.close();
      await (cgroup as SandboxCgroup | null)?.destroy();
      if (!deps.detached) dir.remove();
    }
    if (recordFd >= 0 && !handed) getLibc().close(recordFd);
    for (const fd of (published as number[] | null) ?? []) getLibc().close(fd); // no relay took them
  }
}

/** The helper processes `pids` as a record lists them (pid, start time, name), for a stale-record clean-up. */
function recordedHelpers(pids: ReadonlyArray<number | undefined>): RecordedHelper[] {
  const out: RecordedHelper[] = [];
  for (const pid of pids) {
    if (pid === undefined) continue;
    const start = processStart(pid);
    let comm = "";
    try {
      comm = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
    } catch {
      continue; // gone already
    }
    if (start !== null) out.push({ pid, start, comm });
  }
  return out;
}

/**
 * The command never ran (a set-up step failed, or PID 1 died): when nsbox
 * had the terminal, the command's group may have taken it; take it back, and
 * its settings.
 */
function restoreTerminalAfterFailure(terminal: SandboxSpec["terminal"], saved: SavedTerminal | null) {
  if (terminal === "none") return;
  if (saved) restoreLineDiscipline(saved);
  if (terminal === "foreground") {
    reclaimTerminal();
    if (saved && isForegroundOfTerminal()) restoreTermios(saved);
  }
}
