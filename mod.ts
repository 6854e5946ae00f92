/**
 * nsbox as a library: run commands in rootless Linux sandboxes from Deno.
 *
 * @example
 * ```ts ignore
 * import { run } from "./mod.ts";
 * const { exitCode } = await run({ command: ["id", "-u"], root: true });
 * ```
 *
 * @module
 */
export { run, type RunDeps, runSpec } from "./src/run.ts";
export { exec, type ExecOptions } from "./src/exec.ts";
export { killSandbox, listSandboxes, type SandboxInfo } from "./src/state/lifecycle.ts";
export type {
  EnvEdit,
  LimitOptions,
  MountOption,
  NetMode,
  PublishOption,
  RunOptions,
  ShareableNamespace,
} from "./src/spec/options.ts";
export { SHAREABLE_NAMESPACES } from "./src/spec/options.ts";
export type { IdentitySpec, MountSpec, SandboxSpec } from "./src/spec/spec.ts";
export type { RunResult, RunStats } from "./src/report/report.ts";
export { EXIT, NsboxError, OsError, UsageError } from "./src/errors.ts";
export { VERSION } from "./src/version.ts";
export { validate } from "./src/spec/validate.ts";
export { buildPlan } from "./src/plan/plan.ts";
export type { ChildPlan, SetupOp } from "./src/plan/ops.ts";
