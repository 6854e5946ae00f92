/**
 * `nsbox ps`, `exec`, `kill`, `logs`, `rm`, and `run --detach`.
 *
 * @module
 */
import { EXIT, NsboxError, UsageError } from "../errors.ts";
import { exec } from "../exec.ts";
import { errorLines, jsonReport, type RunResult } from "../report/report.ts";
import { type HostFacts, realHost } from "../spec/host.ts";
import { getLibc } from "../../ffi/libc.ts";
import { SUPERVISOR_COMMAND, writeHandoff } from "./detached_supervisor.ts";
import { validate } from "../spec/validate.ts";
import {
  collectGarbage,
  killSandbox,
  listSandboxes,
  parseSignal,
  printLogs,
  psTable,
  removeSandboxes,
} from "../state/lifecycle.ts";
import { generateName, isAlive, Store } from "../state/store.ts";
import { type Daemon, nsboxCommand, startDaemon } from "../spawn/daemon.ts";
import { waitPidfd } from "../spawn/wait.ts";
import { EXEC, GC, KILL, LOGS, PS, RM } from "./flags.ts";
import { commandHelp } from "./help.ts";
import { has, parseArgs, type Parsed, value } from "./parse.ts";
import { envEditsFromArgs, logSizeFromArgs, runOptionsFromArgs } from "./run_command.ts";

function help(cmd: typeof PS, parsed: Parsed): boolean {
  if (!has(parsed, "help")) return false;
  console.log(commandHelp(cmd));
  return true;
}

/** `nsbox ps`. */
export function psCommand(args: readonly string[]): number {
  const parsed = parseArgs(PS, args);
  if (help(PS, parsed)) return 0;
  if (parsed.operands.length) throw new UsageError([`ps: takes no arguments, got '${parsed.operands[0]}'.`]);
  if (has(parsed, "quiet") && has(parsed, "json")) throw new UsageError(["--quiet: cannot be used with --json."]);
  const rows = listSandboxes({ all: has(parsed, "all") });
  if (has(parsed, "quiet")) { // names only, one a line (docker ps -q): what shell completions ask for
    if (rows.length) console.log(rows.map((r) => r.name).join("\n"));
    return 0;
  }
  console.log(has(parsed, "json") ? JSON.stringify(rows, null, 2) : psTable(rows, has(parsed, "all")));
  return 0;
}

/** The hidden command `nsbox exec --detach` starts: `__detached-exec FD ARGS...` (see {@linkcode detachedExec}). */
export const DETACHED_EXEC_COMMAND = "__detached-exec";

/** `nsbox exec`; `statusFd`: the status pipe of `nsbox exec --detach` (this process is its helper). */
export async function execCommand(args: readonly string[], statusFd?: number): Promise<number> {
  const parsed = parseArgs(EXEC, args);
  if (help(EXEC, parsed)) return 0;
  if (has(parsed, "detach") && statusFd === undefined) return await detachedExec(parsed, args);
  const [name, ...rest] = parsed.operands;
  // `nsbox exec NAME -- CMD`: the name is the first operand, the command follows an optional `--`.
  const command = rest[0] === "--" ? rest.slice(1) : rest;
  if (name === undefined) throw new UsageError(["exec: expected a sandbox name (see nsbox ps)."]);
  const problems: string[] = [];
  const envEdits = envEditsFromArgs(parsed, problems);
  if (has(parsed, "user") && has(parsed, "root")) {
    problems.push("--user: cannot be used with --root (which only says you expect uid 0).");
  }
  if (problems.length) throw new UsageError(problems);
  const json = has(parsed, "json");
  let result: RunResult;
  try {
    // As `run`: once the command runs this process becomes the native supervisor (it prints --json).
    const options = {
      name,
      command,
      chdir: value(parsed, "chdir"),
      envEdits,
      root: has(parsed, "root"),
      user: value(parsed, "user"),
    };
    result = await exec(options, {
      supervisor: "exec",
      report: { json, stats: false },
      ...(statusFd !== undefined && { onStarted: () => sendStatus(statusFd, { started: true }) }),
    });
  } catch (e) {
    if (json && e instanceof NsboxError) {
      console.error(JSON.stringify(jsonReport(null, e)));
      return e.exitCode;
    }
    throw e;
  }
  if (json) console.error(JSON.stringify(jsonReport(result, null)));
  return result.exitCode;
}

/** What the helper of `nsbox exec --detach` tells its parent: the command runs, or why it does not. */
type ExecStatus = { started: true } | { code: number; lines: string[] };

const statusSent = new Set<number>();

/** Writes `status` as one JSON line on `fd` and closes it (once: later calls do nothing). */
function sendStatus(fd: number, status: ExecStatus): void {
  if (statusSent.has(fd)) return;
  statusSent.add(fd);
  const libc = getLibc();
  const bytes = new TextEncoder().encode(JSON.stringify(status) + "\n");
  libc.write(fd, bytes, BigInt(bytes.length)); // one write, far below PIPE_BUF: all of it or nothing
  libc.close(fd);
}

/**
 * `nsbox __detached-exec FD ARGS...`: `nsbox exec ARGS...` (its `--detach` ignored) with stdio on /dev/null in a
 * session of its own, telling the parent on FD once the command runs, or why it does not (its messages, its
 * exit status). Its supervisor then outlives the parent.
 */
export async function detachedExecHelper(args: readonly string[]): Promise<number> {
  const fd = /^\d{1,9}$/.test(args[0] ?? "") ? Number(args[0]) : -1;
  if (fd < 3) throw new UsageError([`${DETACHED_EXEC_COMMAND}: expected a status descriptor (from nsbox exec -d).`]);
  let code: number;
  try {
    code = await execCommand(args.slice(1), fd);
  } catch (e) {
    if (!(e instanceof NsboxError)) throw e;
    sendStatus(fd, { code: e.exitCode, lines: errorLines(e) });
    return e.exitCode;
  }
  sendStatus(fd, { code, lines: [] }); // it never ran (a failed start is thrown above)
  return code;
}

/**
 * `nsbox exec --detach`: starts `nsbox __detached-exec` (this program again) with stdio on /dev/null, in a
 * session of its own and without a parent-death signal, and waits until it says the command runs (exit 0,
 * nothing printed) or why it does not (its messages here, its status: 125, 126, 127).
 */
async function detachedExec(parsed: Parsed, args: readonly string[]): Promise<number> {
  if (has(parsed, "json")) throw new UsageError(["--json: cannot be used with --detach (there is no end to report)."]);
  const libc = getLibc();
  const fds = new Int32Array(2);
  const O_CLOEXEC = 0o2000000;
  if (libc.pipe2(new Uint8Array(fds.buffer), O_CLOEXEC) < 0) throw new NsboxError("cannot create a pipe");
  const [rd, wr] = [fds[0]!, fds[1]!];
  let text = "";
  let helper: Daemon;
  try {
    try {
      helper = await startDaemon([...nsboxCommand(), DETACHED_EXEC_COMMAND, "3", ...args], {
        detach: true,
        passFds: [[wr, 3]],
      });
    } finally {
      libc.close(wr);
    }
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = Number(await libc.read(rd, buf, BigInt(buf.length)));
      if (n <= 0) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
      if (text.includes("\n")) break;
    }
  } finally {
    libc.close(rd);
  }
  let status: ExecStatus | null = null;
  try {
    status = JSON.parse(text.split("\n")[0]!);
  } catch {
    // it died before saying anything
  }
  if (status !== null && "started" in status) {
    libc.close(helper.pidfd); // it runs on as the command's supervisor, in a session of its own
    return 0;
  }
  await waitPidfd(helper.pidfd); // it ends right after saying why: reaped here, not left to whoever adopts it
  libc.close(helper.pidfd);
  if (status === null) throw new NsboxError("the detached command did not start (nsbox's helper ended)");
  for (const line of status.lines) console.error(`nsbox: ${line}`);
  return status.code;
}

/** `nsbox kill`. */
export async function killCommand(args: readonly string[]): Promise<number> {
  const parsed = parseArgs(KILL, args);
  if (help(KILL, parsed)) return 0;
  const problems: string[] = [];
  const sigText = value(parsed, "signal") ?? "TERM";
  const signal = parseSignal(sigText);
  if (signal === null) {
    problems.push(`--signal: expected a signal name such as TERM or KILL, or a number, got '${sigText}'.`);
  }
  const timeoutText = value(parsed, "timeout") ?? "10";
  const timeout = /^\d+(\.\d+)?$/.test(timeoutText) ? Number(timeoutText) : null;
  if (timeout === null) problems.push(`--timeout: expected a number of seconds, got '${timeoutText}'.`);
  const all = has(parsed, "all");
  if (all && parsed.operands.length) problems.push("--all: cannot be used with sandbox names.");
  if (!all && parsed.operands.length === 0) problems.push("kill: expected sandbox names, or --all.");
  if (problems.length) throw new UsageError(problems);
  const store = new Store();
  const names = all ? listSandboxes({ store }).map((s) => s.name) : parsed.operands;
  if (!all) { for (const n of names) store.find(n); // every name must exist before anything is killed
   }
  await Promise.all(names.map((n) => killSandbox(n, signal!, timeout! * 1000, store)));
  return 0;
}

/** `nsbox logs`. */
export async function logsCommand(args: readonly string[]): Promise<number> {
  const parsed = parseArgs(LOGS, args);
  if (help(LOGS, parsed)) return 0;
  if (parsed.operands.length !== 1) throw new UsageError(["logs: expected one sandbox name."]);
  await printLogs(parsed.operands[0]!, has(parsed, "follow"));
  return 0;
}

/** `nsbox rm`. */
export function rmCommand(args: readonly string[]): number {
  const parsed = parseArgs(RM, args);
  if (help(RM, parsed)) return 0;
  const all = has(parsed, "all");
  if (!all && parsed.operands.length === 0) throw new UsageError(["rm: expected sandbox names, or --all."]);
  removeSandboxes(all ? "all" : parsed.operands);
  return 0;
}

/** `nsbox gc`: what the stale-record clean-up removed and ended, one line each (or JSON). */
export function gcCommand(args: readonly string[]): number {
  const parsed = parseArgs(GC, args);
  if (help(GC, parsed)) return 0;
  if (parsed.operands.length) throw new UsageError([`gc: takes no arguments, got '${parsed.operands[0]}'.`]);
  const collected = collectGarbage();
  if (has(parsed, "json")) console.log(JSON.stringify(collected, null, 2));
  else {
    for (const c of collected) {
      for (const e of c.ended) console.log(`ended ${e}, left by '${c.name}'`);
      console.log(`removed the stale record of '${c.name}'`);
    }
  }
  return 0;
}

/**
 * `nsbox run --detach`: checks the options, claims the name, and starts a
 * supervisor (this program again, in a session of its own, stdout and stderr
 * in the sandbox's log) with the validated spec in a sealed memfd; returns
 * once the sandbox runs, printing its name.
 */
export async function detachRun(parsed: Parsed): Promise<number> {
  const host = realHost();
  const cap = logSizeFromArgs(parsed, true);
  const options = runOptionsFromArgs(parsed, host);
  // Every problem now, not in a log file; for the supervisor's host, which has no terminal
  // (stdin /dev/null, stdout and stderr the log, a session of its own).
  const spec = validate(
    options,
    Object.create(host, { terminal: { value: "none" }, closedStdio: { value: [] } }) as HostFacts,
  );
  const store = new Store();
  const dir = store.reserve(options.name ?? generateName());
  try {
    const fd = writeHandoff({ spec, name: dir.name, log: { path: dir.logFile, cap }, json: has(parsed, "json") });
    let daemon;
    try {
      daemon = await startDaemon([...nsboxCommand(), SUPERVISOR_COMMAND, "3"], {
        detach: true,
        logFile: dir.logFile,
        passFds: [[fd, 3]],
      });
    } finally {
      getLibc().close(fd);
    }
    const deadline = performance.now() + 60_000;
    for (;;) {
      const s = dir.state();
      if (s && isAlive(s) && s.commandNsPid !== null) break; // its command was executed
      // It ran and has ended already (`-d -- true`): its output is in the log, its status in `ps -a`. Only a
      // sandbox whose command ran has a start time in its exit record.
      const ranAndEnded = () => dir.exit()?.started !== undefined;
      if (ranAndEnded()) break;
      if ((daemon.exited() && !ranAndEnded()) || performance.now() > deadline) {
        const log = (() => {
          try {
            return Deno.readTextFileSync(dir.logFile).trim();
          } catch {
            return "";
          }
        })();
        const code = dir.exit()?.exitCode ?? EXIT.NSBOX;
        if (log) console.error(log);
        else console.error(`nsbox: the detached sandbox '${dir.name}' did not start`);
        dir.remove();
        return code;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch (e) {
    dir.remove();
    throw e;
  }
  console.log(dir.name);
  return 0;
}
