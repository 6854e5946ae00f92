/**
 * The command-line front: argv → subcommand → options → {@linkcode run} →
 * exit status. Prints errors as `nsbox: ...` lines, never stack traces.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { COMMANDS, COMPLETIONS, RUN } from "./flags.ts";
import { has, parseArgs, type Parsed } from "./parse.ts";
import { type RareRun, reportError, runCommand } from "./run_entry.ts";

/** `run --help`, `--profile` and `--detach`, which the run entry leaves to the whole CLI. */
const RARE_RUN: RareRun = {
  async expand(parsed: Parsed): Promise<Parsed | number> {
    if (has(parsed, "help")) {
      console.log((await import("./help.ts")).commandHelp(RUN));
      return 0;
    }
    if (!has(parsed, "profile")) return parsed;
    const { applyProfile, realProfileHost } = await import("./profile.ts");
    return applyProfile(parsed, realProfileHost());
  },
  async detach(parsed: Parsed): Promise<number> {
    return await (await import("./lifecycle_commands.ts")).detachRun(parsed);
  },
};

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
        return await runCommand(rest, RARE_RUN);
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
    return reportError(e);
  }
}
