/**
 * The exit report: how a sandbox ended, as an exit status, a JSON object,
 * and the lines nsbox prints.
 *
 * @module
 */
import { errnoName, EXIT, NsboxError, OsError, UsageError } from "../errors.ts";
import type { ChildPlan } from "../plan/ops.ts";
import { signalName } from "../linux.ts";
import { STEP } from "../spawn/abi.ts";
import type { Outcome } from "../supervise/supervise.ts";
import type { LimitsSpec } from "../spec/spec.ts";
import { formatSize } from "../spec/units.ts";

/** What the sandbox used, read when the command ended. */
export interface RunStats {
  /** "cgroup": the sandbox's own cgroup; "rusage": getrusage of nsbox's children (no limits asked). */
  readonly source: "cgroup" | "rusage";
  readonly cpuUserMs: number | null;
  readonly cpuSystemMs: number | null;
  /** Peak memory in bytes: the cgroup's memory.peak, or the largest process's max RSS for "rusage". */
  readonly memoryPeak: number | null;
  readonly pidsPeak: number | null;
  /** Processes the OOM killer killed in the sandbox. */
  readonly oomKills: number;
}

/** How a command that ran ended. */
export interface RunResult {
  /** The status nsbox exits with: the command's code, or 128+N for signal N. */
  readonly exitCode: number;
  /** The command's exit code, when it exited. */
  readonly code: number | null;
  /** The signal that killed the command, e.g. "SIGKILL", when one did. */
  readonly signal: string | null;
  /** Wall-clock time from spawn to exit, in milliseconds. */
  readonly wallMs: number;
  /** Whether the command was killed by the OOM killer at the memory limit. */
  readonly oomKilled: boolean;
  /** What the sandbox used, when it could be read. */
  readonly stats: RunStats | null;
  /** The limits the sandbox ran with, or null. */
  readonly limits: LimitsSpec | null;
}

const EPERM = 1, ENOENT = 2, EACCES = 13;

/** Turns a child's failure report into the error nsbox raises. */
export function failureError(plan: ChildPlan, step: number, errno: number): NsboxError {
  if (step === STEP.EXEC) {
    const file = plan.exec.file;
    if (errno === ENOENT) return new NsboxError(`${file}: command not found`, { exitCode: EXIT.NOT_FOUND });
    return new OsError(`cannot execute ${file}`, errno, { exitCode: EXIT.CANNOT_EXEC });
  }
  if (step === STEP.INIT) return new OsError("the sandbox's init cannot start the command", errno);
  if (step === STEP.SYNC) return new OsError("the sandbox did not start", errno);
  const op = plan.ops[step];
  const what = op?.what ?? `setup step ${step} failed`;
  let hint: string | undefined;
  if (op?.kind === "mkdir" || op?.kind === "mkfile") {
    if (errno === 30 || errno === EACCES || errno === EPERM) {
      hint = "mount points must exist in the read-only root: bind a parent directory, or use a --tmpfs above it";
    }
  }
  return new OsError(what, errno, { hint });
}

/** What the run measured besides the outcome. */
export interface Measured {
  readonly wallMs: number;
  readonly stats: RunStats | null;
  readonly limits: LimitsSpec | null;
}

/** The result for an outcome; throws the matching error for a failure. */
export function outcomeResult(plan: ChildPlan, outcome: Outcome, m: Measured): RunResult {
  const base = { wallMs: m.wallMs, stats: m.stats, limits: m.limits };
  switch (outcome.kind) {
    case "failed":
      throw failureError(plan, outcome.step, outcome.errno);
    case "exited":
      return { ...base, exitCode: outcome.code, code: outcome.code, signal: null, oomKilled: false };
    case "signaled":
      return {
        ...base,
        exitCode: 128 + outcome.signal,
        code: null,
        signal: signalName(outcome.signal),
        oomKilled: outcome.signal === 9 && (m.stats?.oomKills ?? 0) > 0,
      };
  }
}

/** The line for a command the OOM killer killed, e.g. "killed: out of memory (limit 100M, peak 100M)". */
export function oomLine(r: RunResult): string | null {
  if (!r.oomKilled) return null;
  const parts: string[] = [];
  if (r.limits?.memoryMax != null) parts.push(`limit ${formatSize(r.limits.memoryMax)}`);
  if (r.stats?.memoryPeak != null) parts.push(`peak ${formatSize(r.stats.memoryPeak)}`);
  return `killed: out of memory${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)} s`;
}

/** The `--stats` line. */
export function statsLine(r: RunResult): string {
  const s = r.stats;
  const parts = [`wall ${seconds(r.wallMs)}`];
  if (s?.cpuUserMs != null && s.cpuSystemMs != null) {
    parts.push(`cpu ${seconds(s.cpuUserMs)} user + ${seconds(s.cpuSystemMs)} system`);
  }
  if (s?.memoryPeak != null) {
    const limit = r.limits?.memoryMax != null ? ` of ${formatSize(r.limits.memoryMax)}` : "";
    parts.push(`memory peak ${formatSize(s.memoryPeak)}${limit}${s.source === "rusage" ? " (largest process)" : ""}`);
  }
  if (s?.pidsPeak != null) {
    parts.push(`pids peak ${s.pidsPeak}${r.limits?.pidsMax != null ? ` of ${r.limits.pidsMax}` : ""}`);
  }
  if (s) parts.push(`OOM kills ${s.oomKills}`);
  return `stats: ${parts.join(", ")}`;
}

/** The lines nsbox prints on stderr for an error (without the "nsbox: " prefix). */
export function errorLines(e: NsboxError): string[] {
  const lines = e instanceof UsageError ? [...e.problems] : [e.message];
  if (e.hint) lines.push(`hint: ${e.hint}`);
  return lines;
}

/**
 * The `--json` report of a run. An error is `{ exit_code, error: { message,
 * problems, errno?, hint? } }`: `message` always a string (several problems
 * joined with "\n"), `problems` always an array of one line each.
 */
export function jsonReport(result: RunResult | null, error: NsboxError | null): Record<string, unknown> {
  if (error) {
    const problems = error instanceof UsageError ? [...error.problems] : [error.message];
    return {
      exit_code: error.exitCode,
      error: {
        message: problems.join("\n"),
        problems,
        ...(error instanceof OsError ? { errno: errnoName(error.errno) } : {}),
        ...(error.hint ? { hint: error.hint } : {}),
      },
    };
  }
  const r = result!;
  const s = r.stats;
  return {
    exit_code: r.exitCode,
    code: r.code,
    signal: r.signal,
    oom_killed: r.oomKilled,
    wall_ms: Math.round(r.wallMs * 1000) / 1000,
    stats: s && {
      source: s.source,
      cpu_user_ms: s.cpuUserMs,
      cpu_system_ms: s.cpuSystemMs,
      memory_peak_bytes: s.memoryPeak,
      pids_peak: s.pidsPeak,
      oom_kills: s.oomKills,
    },
    limits: r.limits && {
      memory_max_bytes: r.limits.memoryMax,
      swap_max_bytes: r.limits.swapMax,
      cpus: r.limits.cpus,
      pids_max: r.limits.pidsMax,
      io_weight: r.limits.ioWeight,
    },
  };
}
