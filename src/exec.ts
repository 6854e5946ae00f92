/**
 * {@linkcode exec}: run a command in a running sandbox — find it in the
 * store, plan the joining (src/plan/exec_plan.ts), spawn, supervise.
 *
 * @module
 */
import { NsboxError, UsageError } from "./errors.ts";
import { buildExecPlan } from "./plan/exec_plan.ts";
import { FORWARDED_SIGNALS } from "./plan/plan.ts";
import { endTemplate, outcomeResult, type RunResult, stopHintTemplate } from "./report/report.ts";
import { spawnChild } from "./spawn/spawn.ts";
import type { EnvEdit } from "./spec/options.ts";
import { type HostFacts, realHost } from "./spec/host.ts";
import { normalizeAbsolute, resolveUser } from "./spec/validate.ts";
import { insideIds, type SandboxSpec } from "./spec/spec.ts";
import { idMapPlan, isMapped } from "./plan/idmap.ts";
import { verifyLive } from "./state/live.ts";
import { type SandboxState, Store } from "./state/store.ts";
import {
  awaitStart,
  childSupervisor,
  ensureSupervisor,
  forwardSignals,
  forwardSignalsNatively,
  prepareExec,
  type SupervisorPlan,
} from "./supervise/supervise.ts";
import { signalNames } from "./linux.ts";
import { saveTerminal } from "../ffi/terminal.ts";

/** Options of {@linkcode exec}, mirroring `nsbox exec`'s flags. */
export interface ExecOptions {
  readonly name: string;
  readonly command: readonly string[];
  /** `--chdir`. */
  readonly chdir?: string;
  /** `--setenv`, `--unsetenv`, in order, applied to the sandbox's environment. */
  readonly envEdits?: readonly EnvEdit[];
  /** `--root`: refuse unless the sandbox runs as uid 0. */
  readonly root?: boolean;
  /**
   * `--user UID[:GID]`: run as this uid and gid inside (numbers, or names in the sandbox root's /etc/passwd and
   * /etc/group; without GID: the user's group there, else the sandbox's gid). Refused unless the sandbox maps both.
   */
  readonly user?: string;
}

/** Seams and modes of {@linkcode exec}. */
export interface ExecDeps {
  readonly store?: Store;
  readonly host?: HostFacts;
  /** As `RunDeps.supervisor` of run(): "exec" (the CLI) replaces this process once the command runs. */
  readonly supervisor?: "exec" | "child";
  /** What nsbox prints on stderr when the command ended (`--json`). */
  readonly report?: { readonly json: boolean; readonly stats: boolean };
  /** Called once the command runs, before the supervisor takes over (`nsbox exec --detach`). */
  readonly onStarted?: () => void;
}

/**
 * The uid and gid `nsbox exec --user` asks for in the sandbox of `spec`, checked to be mapped there; null
 * without `--user`. Throws a one-line UsageError otherwise.
 */
export function execIds(
  spec: SandboxSpec,
  name: string,
  user: string | undefined,
  host: HostFacts,
): { uid: number; gid: number; setgroups: boolean } | null {
  if (user === undefined) return null;
  const problems: string[] = [];
  const own = insideIds(spec.identity);
  const ids = resolveUser(user, spec.rootfs, host, problems, own.gid);
  if (ids === null) throw new UsageError(problems);
  const maps = idMapPlan(spec.identity);
  const more = spec.identity.subUids === null ? "; a sandbox started with --map-users maps more" : "";
  const mapped = (lines: typeof maps.uid) =>
    lines.map((l) => l.count === 1 ? l.inside : `${l.inside}-${l.inside + l.count - 1}`).join(", ");
  if (!isMapped(maps.uid, ids.uid)) {
    problems.push(
      `--user: uid ${ids.uid} is not mapped in the sandbox '${name}' (it maps ${mapped(maps.uid)}${more}).`,
    );
  } else if (!isMapped(maps.gid, ids.gid)) {
    problems.push(
      `--user: gid ${ids.gid} is not mapped in the sandbox '${name}' (it maps ${mapped(maps.gid)}${more}).`,
    );
  }
  if (problems.length) throw new UsageError(problems);
  return { ...ids, setgroups: maps.setgroups === "allow" };
}

function highestOpenFd(): number {
  let max = 2;
  for (const e of Deno.readDirSync("/proc/self/fd")) max = Math.max(max, Number(e.name) || 0);
  return max;
}

/**
 * Runs a command in the running sandbox `options.name`, with stdio
 * inherited, and resolves when it ends (as {@linkcode run} does).
 */
export async function exec(options: ExecOptions, deps: ExecDeps = {}): Promise<RunResult> {
  const problems: string[] = [];
  if (options.command.length === 0) problems.push("No command given: expected `nsbox exec NAME -- CMD [ARGS...]`.");
  if (options.chdir !== undefined && normalizeAbsolute(options.chdir) === null) {
    problems.push(`--chdir: expected an absolute path without '..', got '${options.chdir}'.`);
  }
  if (problems.length) throw new UsageError(problems);

  const { state } = (deps.store ?? new Store()).find(options.name);
  const spec = state.spec;
  if (options.root && spec.identity.mode !== "root") {
    throw new UsageError([`--root: the sandbox '${options.name}' was not started with --root.`]);
  }
  // Never join what an unchecked record names: the command found must be the sandbox's, in the namespaces
  // recorded, sharing what the spec shares, in the recorded cgroup (src/state/live.ts).
  const live = verifyLive(state, "not joining it", { forExec: true });
  if (live === null) throw new NsboxError(`the sandbox '${options.name}' has no command running to join`);
  const host = deps.host ?? realHost();
  const ids = execIds(spec, options.name, options.user, host);
  const cmd = live.commandPid;
  const env: Record<string, string> = { ...spec.env };
  for (const e of options.envEdits ?? []) {
    if (e.kind === "set") env[e.name] = e.value;
    else delete env[e.name];
  }
  const terminal = host.terminal;
  const plan = buildExecPlan(
    spec,
    cmd,
    { command: options.command, chdir: options.chdir, env, ids: ids ?? undefined },
    {
      fdBase: highestOpenFd() + 16,
      terminal,
    },
  );
  await ensureSupervisor();
  const started = performance.now();
  // Before the command can touch the terminal; restored when it ends.
  const savedTerminal = terminal === "none" ? null : saveTerminal();
  const child = await spawnChild(plan, {
    beforeRelease: (pid) => {
      if (live.cgroup) Deno.writeTextFileSync(`${live.cgroup}/cgroup.procs`, String(pid), { create: false });
    },
  });
  const stopForwarding = deps.supervisor === "exec"
    ? await forwardSignalsNatively(child, plan.forwardSignals)
    : forwardSignals(child, FORWARDED_SIGNALS);
  try {
    const supervisorPlan: SupervisorPlan = {
      terminal,
      commandIsPid1: false,
      commandNsPid: 0, // filled in once the command runs
      stats: "none",
      statsPath: null,
      log: null,
      elapsedUs: 0, // likewise
      forwardSignals: plan.forwardSignals,
      savedTerminal,
      mac: null,
      stopHint: stopHintTemplate(Deno.pid, terminal === "background"),
      signalNames: signalNames(),
      ops: deps.report
        ? [{ kind: "report", fd: 2, template: endTemplate({ ...deps.report, limits: null, source: "none" }) }]
        : [],
    };
    const handing = { child, logRd: null, recordFd: null, opFds: [] };
    // Laid out while the child joins the sandbox, so that the exec follows the command's start at once.
    const prepared = deps.supervisor === "exec" ? await prepareExec(handing, supervisorPlan) : null;
    const start = await awaitStart(child, false);
    if (start.kind === "ended") {
      // The sandbox ended while this joined it (a kill racing the exec): said as when it had ended before.
      if (start.outcome.kind === "failed" && endedMeanwhile(state)) {
        throw new NsboxError(`the sandbox '${options.name}' has no command running to join`);
      }
      return outcomeResult(plan, start.outcome, { wallMs: performance.now() - started, stats: null, limits: null });
    }
    const elapsedUs = (performance.now() - started) * 1000;
    deps.onStarted?.();
    prepared?.exec(start.nsPid, elapsedUs);
    const r = await childSupervisor(handing, { ...supervisorPlan, commandNsPid: start.nsPid, elapsedUs }, []);
    return outcomeResult(plan, r.ended, { wallMs: r.wallUs / 1000, stats: null, limits: null });
  } finally {
    stopForwarding();
  }
}

/** Whether the sandbox `state` records has no command running any more (a mismatch found now is not that). */
function endedMeanwhile(state: SandboxState): boolean {
  try {
    return verifyLive(state, "", { forExec: true }) === null;
  } catch {
    return false;
  }
}
