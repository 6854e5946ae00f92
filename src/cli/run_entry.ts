/**
 * `nsbox run` from the command line: argv → {@linkcode run} → exit status,
 * with its errors printed as `nsbox: ...` lines (or `--json`), never stack
 * traces.
 *
 * It is an entry of its own too: the run bundle (dist/bundle/run.js, see
 * scripts/bundle.ts) is built from this module, so that the command scripts
 * call in loops loads only what a run needs, not the whole CLI
 * (dist/bundle/nsbox.js, from src/cli/main.ts). What only a few runs need —
 * `--help`, `--profile`, `--detach` — is not part of it: such a command line
 * is handed to the whole CLI, which runs it from the start.
 *
 * @module
 */
import { EXIT, NsboxError } from "../errors.ts";
import { errorLines, jsonReport, oomLine, type RunResult, statsLine } from "../report/report.ts";
import { run } from "../run.ts";
import { RUN } from "./flags.ts";
import { has, parseArgs, type Parsed } from "./parse.ts";
import { compatNotes, logSizeFromArgs, runOptionsFromArgs } from "./run_command.ts";
import { realHost } from "../spec/host.ts";

/** The exit status for an error that reached the top, printed: one-line `nsbox: ...` messages, or an internal error. */
export function reportError(e: unknown): number {
  if (e instanceof NsboxError) {
    for (const line of errorLines(e)) console.error(`nsbox: ${line}`);
    return e.exitCode;
  }
  console.error(`nsbox: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  return EXIT.NSBOX;
}

/** Whether `--json` is among the options (before `--`), even when the command line does not parse. */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).includes("--json");
}

/**
 * What `run` does for `--help` and `--profile` (the parsed command line it
 * goes on with, or its exit status) and `--detach` (the exit status): the
 * whole CLI's own, or "hand the command line over to the whole CLI".
 */
export interface RareRun {
  expand(parsed: Parsed): Promise<Parsed | number>;
  detach(parsed: Parsed): Promise<number>;
}

/** `nsbox run ARGS`, `--help`, `--profile` and `--detach` done by `rare`. */
export async function runCommand(args: readonly string[], rare: RareRun): Promise<number> {
  const json = wantsJson(args);
  let result: RunResult | null = null;
  try {
    let parsed = parseArgs(RUN, args);
    if (has(parsed, "help") || has(parsed, "profile") || has(parsed, "detach")) {
      const expanded = await rare.expand(parsed);
      if (typeof expanded === "number") return expanded;
      parsed = expanded;
    }
    for (const note of compatNotes(parsed)) console.error(`nsbox: ${note}`);
    if (has(parsed, "detach")) return await rare.detach(parsed);
    logSizeFromArgs(parsed, false); // refused without --detach
    // Once the command runs, nsbox's process becomes the native supervisor, which prints the end report and
    // exits with the command's status: `run` returns only when the command never ran.
    const report = { json, stats: has(parsed, "stats") };
    result = await run(runOptionsFromArgs(parsed, realHost()), { supervisor: "exec", report });
    const oom = oomLine(result);
    if (oom && !json) console.error(`nsbox: ${oom}`);
    if (has(parsed, "stats") && !json) console.error(`nsbox: ${statsLine(result)}`);
    return result.exitCode;
  } catch (e) {
    if (json && e instanceof NsboxError) {
      console.error(JSON.stringify(jsonReport(null, e)));
      return e.exitCode;
    }
    throw e;
  } finally {
    if (json && result) console.error(JSON.stringify(jsonReport(result, null)));
  }
}

/** What main.ts loads: a CLI with `main(args)`. */
export interface CliEntry {
  main(args: readonly string[]): Promise<number>;
}

/**
 * The run bundle's entry (main.ts starts it for `nsbox run ...`): `args` is
 * the whole command line, `run` first; `whole` loads the whole CLI, which
 * gets a command line that needs more than this module has.
 */
export async function main(args: readonly string[], whole: () => Promise<CliEntry>): Promise<number> {
  const handOver = async () => await (await whole()).main(args);
  try {
    if (args[0] !== "run") return await handOver();
    return await runCommand(args.slice(1), { expand: handOver, detach: handOver });
  } catch (e) {
    return reportError(e);
  }
}
