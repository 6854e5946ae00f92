/**
 * Supervises a released child: forwards signals to it, reads its reports,
 * waits on its pidfd, and says how it ended.
 *
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";
import { decodeMessage, MSG_SIZE } from "../spawn/abi.ts";
import { commandPid } from "../procfs.ts";
import { decodeWaitStatus, type Ended, waitPidfd } from "../spawn/wait.ts";
import type { Child } from "../spawn/spawn.ts";
import { SIGNALS } from "../linux.ts";
import {
  foregroundGroup,
  giveTerminal,
  isForegroundOfTerminal,
  reclaimTerminal,
  restoreLineDiscipline,
  restoreTermios,
  type SavedTerminal,
  stopLikeAJob,
} from "../../ffi/terminal.ts";
import type { TerminalMode } from "../spec/spec.ts";

/** How the sandbox ended. */
export type Outcome = Ended | { readonly kind: "failed"; readonly step: number; readonly errno: number };

/**
 * Forwards `names` to the child's pidfd until the returned function is called.
 *
 * Terminal signals (Ctrl-C's SIGINT, SIGQUIT, SIGWINCH, SIGHUP) are forwarded
 * too: the command is never in nsbox's process group (it has a group or a
 * session of its own, see TerminalMode), so when the terminal signals nsbox's
 * group (nsbox is its foreground group: before the command took the terminal,
 * or after `fg` until nsbox hands it over) the command got no copy of its own.
 * When the command's group is the foreground group, the terminal signals it
 * directly and nsbox gets nothing; whatever nsbox gets then was sent to nsbox
 * (`kill -INT`) and is the command's too. PID 1, in nsbox's group, drops the
 * terminal's copy (SI_KERNEL) and passes on nsbox's.
 */
export function forwardSignals(child: Child, names: readonly string[]): () => void {
  const libc = getLibc();
  const listeners: Array<[Deno.Signal, () => void]> = [];
  for (const name of names) {
    const sig = SIGNALS[name]!;
    const listener = () => {
      libc.pidfd_send_signal(child.pidfd, sig, null, 0);
    };
    Deno.addSignalListener(name as Deno.Signal, listener);
    listeners.push([name as Deno.Signal, listener]);
  }
  return () => {
    for (const [name, l] of listeners) Deno.removeSignalListener(name, l);
  };
}

interface Reports {
  error: { step: number; errno: number } | null;
  exitStatus: number | null;
}

/** Hooks into supervision. */
export interface SuperviseHooks {
  /**
   * Called when the command has exited while the sandbox still exists (PID 1
   * holds on, see ChildPlan.holdExit); or after the wait when nothing holds.
   */
  onCommandExit?(): void | Promise<void>;
  /** The command runs: PID 1 has forked it (`nsPid` is its pid inside), or, with --as-pid-1, it was executed (1). */
  onCommandStarted?(nsPid: number): void;
  /** The command is PID 1 itself (--as-pid-1). */
  commandIsPid1?: boolean;
  /** nsbox's terminal mode, as the command was started with it (default "none"). */
  terminal?: TerminalMode;
  /** The terminal's state saved before the child was spawned: restored at the end. */
  savedTerminal?: SavedTerminal | null;
}

interface ReportHandlers {
  onExit(): Promise<void>;
  onStop(signal: number): void;
  onStarted(nsPid: number): void;
  /** End of file without an error means the command runs as PID 1 (no init to say so). */
  readonly eofIsStart: boolean;
}

async function readReports(fd: number, on: ReportHandlers): Promise<Reports> {
  const libc = getLibc();
  const buf = new Uint8Array(MSG_SIZE);
  const reports: Reports = { error: null, exitStatus: null };
  for (;;) {
    const n = await libc.read(fd, buf, BigInt(MSG_SIZE));
    if (n !== BigInt(MSG_SIZE)) {
      // end of file (or a torn record: the child is gone)
      if (on.eofIsStart && !reports.error) on.onStarted(1);
      break;
    }
    const m = decodeMessage(buf);
    if (m.kind === "error") reports.error ??= { step: m.step, errno: m.errno };
    else if (m.kind === "stopped") on.onStop(m.signal);
    else if (m.kind === "started") on.onStarted(m.nsPid);
    else if (m.kind === "exit") {
      reports.exitStatus = m.status;
      await on.onExit();
    }
  }
  return reports;
}

const SIGCONT = 18, SIGTTIN = 21, SIGTTOU = 22;

/**
 * Waits for the child and its reports, forwarding `signals` meanwhile; closes
 * the child's descriptors. A setup or exec failure wins over the exit status.
 */
export async function supervise(
  child: Child,
  signals: readonly string[],
  hooks: SuperviseHooks = {},
): Promise<Outcome> {
  const libc = getLibc();
  const terminal = hooks.terminal ?? "none";
  const stop = forwardSignals(child, signals);
  let holdFd = child.holdFd;
  let exitSeen = false;
  let commandNsPid = 0;
  // The command's process group: its host pid, as it has a group or a
  // session of its own. Found on first need (a walk of /proc).
  let commandGroup: number | null = null;
  const findCommandGroup = (): number | null => {
    if (commandGroup !== null || exitSeen) return commandGroup;
    if (hooks.commandIsPid1) return commandGroup = child.pid;
    return commandGroup = commandNsPid > 0 ? commandPid(child.pid, commandNsPid) : null;
  };
  // nsbox is the terminal's foreground job: its own group or the command's has the terminal.
  const foregroundJob = () => {
    const fg = foregroundGroup();
    return fg >= 0 && (fg === libc.getpgrp() || fg === findCommandGroup());
  };
  // Whether the sandbox has the terminal (so nsbox takes it back at the end):
  // from the start in the foreground; once handed over after `fg`; no
  // longer after a stop continued with `bg`.
  let ownsTerminal = terminal === "foreground";
  let commandStopped = false;
  const handOver = (pgrp: number) => {
    if (giveTerminal(pgrp)) ownsTerminal = true;
    if (commandStopped) commandStopped = false, libc.kill(-pgrp, SIGCONT);
  };
  let hinted = false;
  const onStop = (signal: number) => {
    const pgrp = findCommandGroup();
    if (pgrp === null) return;
    commandStopped = true;
    // It wants the terminal (SIGTTIN, SIGTTOU), which nsbox's group holds
    // (a `fg` not yet handed over): hand it over rather than stop.
    if ((signal === SIGTTIN || signal === SIGTTOU) && isForegroundOfTerminal()) return handOver(pgrp);
    if (foregroundJob()) {
      commandStopped = false;
      ownsTerminal = stopLikeAJob(pgrp);
      return;
    }
    // Not the terminal's foreground job (no terminal at all, or in the
    // background): stopping nsbox's group would stop the caller (a script
    // and its other jobs). Leave the command stopped and say how to go on.
    if (hinted) return;
    hinted = true;
    const name = Object.keys(SIGNALS).find((n) => SIGNALS[n] === signal) ?? `signal ${signal}`;
    const fg = terminal === "background" ? " (or bring nsbox to the foreground: fg)" : "";
    const text = `nsbox: the command stopped (${name}); resume it with: kill -CONT ${Deno.pid}${fg}\n`;
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  };
  // SIGCONT: the shell's `fg` or `bg`, or a `kill -CONT` after the hint. When
  // nsbox is now the terminal's foreground group (`fg`), hand the terminal to
  // the command's group; continue that group in every case.
  const onContinue = () => {
    const pgrp = findCommandGroup();
    if (pgrp === null || exitSeen) return;
    if (terminal !== "none" && isForegroundOfTerminal() && giveTerminal(pgrp)) ownsTerminal = true;
    commandStopped = false;
    libc.kill(-pgrp, SIGCONT);
  };
  Deno.addSignalListener("SIGCONT", onContinue);
  // bash's `fg` of a running job (nsbox started with `&`) gives nsbox's group
  // the terminal without a SIGCONT: notice it by looking, and hand over.
  const poll = terminal === "none" ? undefined : setInterval(() => {
    if (exitSeen || !isForegroundOfTerminal()) return;
    const pgrp = findCommandGroup();
    if (pgrp !== null) handOver(pgrp);
  }, 100);
  const onExit = async () => {
    exitSeen = true;
    try {
      await hooks.onCommandExit?.();
    } catch {
      // statistics are best effort; the sandbox must still be let go
    }
    if (holdFd !== null) libc.close(holdFd), holdFd = null; // lets PID 1 exit
  };
  try {
    const [reports, waited] = await Promise.all([
      readReports(child.msgFd, {
        onExit,
        onStop,
        onStarted: (nsPid) => {
          commandNsPid = nsPid;
          hooks.onCommandStarted?.(nsPid);
        },
        eofIsStart: hooks.commandIsPid1 ?? false,
      }),
      waitPidfd(child.pidfd),
    ]);
    if (!exitSeen) await onExit();
    if (reports.error) return { kind: "failed", ...reports.error };
    if (reports.exitStatus !== null) return decodeWaitStatus(reports.exitStatus);
    return waited;
  } finally {
    stop();
    Deno.removeSignalListener("SIGCONT", onContinue);
    // Not clearInterval(undefined): Deno's first call to it costs ~5 ms (measured), which most runs need not pay.
    if (poll !== undefined) clearInterval(poll);
    if (terminal !== "none") {
      const saved = hooks.savedTerminal;
      if (saved) restoreLineDiscipline(saved);
      // Take the terminal back when the sandbox has it (not after a `bg`:
      // the caller's shell has it then), and its settings with it.
      if (ownsTerminal || foregroundJob()) {
        reclaimTerminal();
        if (saved && isForegroundOfTerminal()) restoreTermios(saved);
      }
    }
    if (holdFd !== null) libc.close(holdFd);
    libc.close(child.msgFd);
    libc.close(child.pidfd);
  }
}
