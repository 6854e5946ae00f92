/**
 * The exit report: how a sandbox ended, as an exit status, a JSON object,
 * and the lines nsbox prints.
 *
 * @module
 */
import { errnoName, EXIT, NsboxError, OsError, UsageError } from "../errors.ts";
import type { ChildPlan } from "../plan/ops.ts";
import { signalName } from "../plan/linux.ts";
import { STEP } from "../spawn/abi.ts";
import type { Outcome } from "../supervise/supervise.ts";

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

/** The result for an outcome; throws the matching error for a failure. */
export function outcomeResult(plan: ChildPlan, outcome: Outcome, wallMs: number): RunResult {
  switch (outcome.kind) {
    case "failed":
      throw failureError(plan, outcome.step, outcome.errno);
    case "exited":
      return { exitCode: outcome.code, code: outcome.code, signal: null, wallMs };
    case "signaled":
      return { exitCode: 128 + outcome.signal, code: null, signal: signalName(outcome.signal), wallMs };
  }
}

/** The lines nsbox prints on stderr for an error (without the "nsbox: " prefix). */
export function errorLines(e: NsboxError): string[] {
  const lines = e instanceof UsageError ? [...e.problems] : [e.message];
  if (e.hint) lines.push(`hint: ${e.hint}`);
  return lines;
}

/** The `--json` report of a run. */
export function jsonReport(result: RunResult | null, error: NsboxError | null): Record<string, unknown> {
  if (error) {
    return {
      exit_code: error.exitCode,
      error: {
        message: error instanceof UsageError ? error.problems : error.message,
        ...(error instanceof OsError ? { errno: errnoName(error.errno) } : {}),
        ...(error.hint ? { hint: error.hint } : {}),
      },
    };
  }
  return {
    exit_code: result!.exitCode,
    code: result!.code,
    signal: result!.signal,
    wall_ms: Math.round(result!.wallMs * 1000) / 1000,
  };
}
