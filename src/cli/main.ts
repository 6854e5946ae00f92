/**
 * The command-line front: argv → subcommand → options → {@linkcode run} →
 * exit status. Prints errors as `nsbox: ...` lines, never stack traces.
 *
 * @module
 */
import { EXIT, NsboxError, UsageError } from "../errors.ts";
import { errorLines, jsonReport, oomLine, type RunResult, statsLine } from "../report/report.ts";
import { run } from "../run.ts";
import { COMMANDS, COMPLETIONS, RUN } from "./flags.ts";
import { has, parseArgs } from "./parse.ts";
import { compatNotes, logSizeFromArgs, runOptionsFromArgs } from "./run_command.ts";
import { realHost } from "../spec/host.ts";

function printError(e: NsboxError) {
  for (const line of errorLines(e)) console.error(`nsbox: ${line}`);
}

/** Whether `--json` is among the options (before `--`), even when the command line does not parse. */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).includes("--json");
}

async function runCommand(args: readonly string[]): Promise<number> {
  const json = wantsJson(args);
  let result: RunResult | null = null;
  try {
    let parsed = parseArgs(RUN, args);
    if (has(parsed, "help")) {
      console.log((await import("./help.ts")).commandHelp(RUN));
      return 0;
    }
    if (has(parsed, "profile")) {
      const { applyProfile, realProfileHost } = await import("./profile.ts");
      parsed = applyProfile(parsed, realProfileHost());
    }
    for (const note of compatNotes(parsed)) console.error(`nsbox: ${note}`);
    if (has(parsed, "detach")) return await (await import("./lifecycle_commands.ts")).detachRun(parsed);
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

async function completionsCommand(args: readonly string[]): Promise<number> {
  const parsed = parseArgs(COMPLETIONS, args);
  if (has(parsed, "help")) {
    console.log((await import("./help.ts")).commandHelp(COMPLETIONS));
    return 0;
  }
  const { SHELLS, completionScript } = await import("./completions.ts");
  const shell = parsed.operands[0];
  if (!SHELLS.includes(shell as typeof SHELLS[number]) || parsed.operands.length !== 1) {
    const got = parsed.operands.length > 1
      ? `'${parsed.operands.join(" ")}'`
      : shell === undefined
      ? "nothing"
      : `'${shell}'`;
    throw new UsageError([`completions: expected a shell name, ${SHELLS.join(", ")}, got ${got}.`]);
  }
  console.log(completionScript(shell as typeof SHELLS[number]).trimEnd());
  return 0;
}

/** `nsbox --version`, `nsbox version`: nsbox's version, Deno's, and the C helper's ABI. */
async function versionCommand(args: readonly string[]): Promise<number> {
  if (args.length) throw new UsageError([`version: takes no arguments, got '${args[0]}'.`]);
  const { VERSION } = await import("../version.ts");
  const { ABI_VERSION } = await import("../spawn/abi.ts");
  console.log(`nsbox ${VERSION}\ndeno ${Deno.version.deno}\nhelper ABI ${ABI_VERSION}`);
  return 0;
}

/** `nsbox help [COMMAND]`: the top-level help, or a command's. */
async function helpCommand(args: readonly string[]): Promise<number> {
  const help = await import("./help.ts");
  if (args.length === 0) {
    console.log(help.mainHelp());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === args[0]);
  if (!cmd || args.length > 1) {
    throw new UsageError([
      `help: expected one command name (${COMMANDS.map((c) => c.name).join(", ")}), got '${args.join(" ")}'.`,
    ]);
  }
  console.log(help.commandHelp(cmd));
  return 0;
}

/** Runs the CLI with `args`; resolves to the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  try {
    const [sub, ...rest] = args;
    switch (sub) {
      case "run":
        return await runCommand(rest);
      case "completions":
        return await completionsCommand(rest);
      case "doctor":
        return await (await import("./doctor_command.ts")).doctorCommand(rest);
      case "ps":
        return (await import("./lifecycle_commands.ts")).psCommand(rest);
      case "exec":
        return await (await import("./lifecycle_commands.ts")).execCommand(rest);
      case "kill":
        return await (await import("./lifecycle_commands.ts")).killCommand(rest);
      case "logs":
        return await (await import("./lifecycle_commands.ts")).logsCommand(rest);
      case "rm":
        return (await import("./lifecycle_commands.ts")).rmCommand(rest);
      case "gc":
        return (await import("./lifecycle_commands.ts")).gcCommand(rest);
      case "__detached-exec": // hidden: what `nsbox exec --detach` starts
        return await (await import("./lifecycle_commands.ts")).detachedExecHelper(rest);
      case "profile":
        return (await import("./profile_command.ts")).profileCommand(rest);
      case "__detached-supervisor": // hidden: what `nsbox run --detach` starts
        return await (await import("./detached_supervisor.ts")).supervisorCommand(rest);
      case "__egress-proxy": // hidden: the egress proxy of a sandbox with --allow-host
        return await (await import("./egress_proxy_command.ts")).egressProxyCommand(rest);
      case "__publish-relay": // hidden: the publish relay of a sandbox with --allow-host and --publish
        return await (await import("./publish_relay_command.ts")).publishRelayCommand(rest);
      case "version":
      case "--version":
        return await versionCommand(rest);
      case "help":
        return await helpCommand(rest);
      case undefined:
      case "--help":
      case "-h":
        return await helpCommand([]);
      default:
        throw new UsageError([
          `'${sub}' is not an nsbox command: expected one of ${COMMANDS.map((c) => c.name).join(", ")}.`,
        ]);
    }
  } catch (e) {
    if (e instanceof NsboxError) {
      printError(e);
      return e.exitCode;
    }
    console.error(`nsbox: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return EXIT.NSBOX;
  }
}
