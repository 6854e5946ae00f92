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
import { outcomeResult, type RunResult } from "./report/report.ts";

/** Seams for tests and embedders. */
export interface RunDeps {
  /** The host as validation sees it (default: the real one). */
  readonly host?: HostFacts;
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
  const started = performance.now();
  const child = await spawnChild(plan);
  const outcome = await supervise(child, FORWARDED_SIGNALS);
  return outcomeResult(plan, outcome, performance.now() - started);
}
