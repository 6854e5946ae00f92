/**
 * Supervises a released child: forwards signals to it, reads its reports,
 * waits on its pidfd, and says how it ended.
 *
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";
import { MSG, MSG_SIZE } from "../spawn/abi.ts";
import type { Child } from "../spawn/spawn.ts";
import { SIGNALS } from "../plan/linux.ts";
import { reclaimTerminal, stopLikeAJob } from "../../ffi/terminal.ts";

/** How the sandbox ended. */
export type Outcome =
  | { readonly kind: "exited"; readonly code: number }
  | { readonly kind: "signaled"; readonly signal: number }
  | { readonly kind: "failed"; readonly step: number; readonly errno: number };

/** Decodes a wait(2) status word. */
export function decodeWaitStatus(status: number): Outcome {
  const sig = status & 0x7f;
  if (sig === 0) return { kind: "exited", code: (status >> 8) & 0xff };
  return { kind: "signaled", signal: sig };
}

/**
 * Signals a terminal also sends to its whole foreground process group. When
 * nsbox is in that group, the command (same group) got its own copy and
 * forwarding would deliver it twice.
 */
const TERMINAL_SIGNALS = new Set(["SIGINT", "SIGQUIT", "SIGWINCH", "SIGHUP"]);

function inForeground(): boolean {
  const libc = getLibc();
  const own = libc.getpgrp();
  for (const fd of [0, 1, 2]) {
    const fg = libc.tcgetpgrp(fd);
    if (fg >= 0) return fg === own;
  }
  return false;
}

/** Forwards `names` to the child's pidfd until the returned function is called. */
export function forwardSignals(child: Child, names: readonly string[]): () => void {
  const libc = getLibc();
  const listeners: Array<[Deno.Signal, () => void]> = [];
  for (const name of names) {
    const sig = SIGNALS[name]!;
    const listener = () => {
      if (TERMINAL_SIGNALS.has(name) && inForeground()) return;
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
  /** The command was given the terminal: take it back at the end. */
  foreground?: boolean;
}

/**
 * The pid (in nsbox's namespace) of the sandbox's command, a child of PID 1.
 * PID 1 is not dumpable (its task children lists are closed to us), so
 * look for the process whose parent it is and whose pid inside is `nsPid`.
 */
export function commandPid(initPid: number, nsPid: number): number | null {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${e.name}/status`);
      const ppid = /^PPid:\s+(\d+)$/m.exec(status)?.[1];
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1);
      if (Number(ppid) === initPid && Number(nspid) === nsPid) return Number(e.name);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return null;
}

interface ReportHandlers {
  onExit(): Promise<void>;
  onStop(): void;
  onStarted(nsPid: number): void;
  /** End of file without an error means the command runs as PID 1 (no init to say so). */
  readonly eofIsStart: boolean;
}

async function readReports(fd: number, on: ReportHandlers): Promise<Reports> {
  const libc = getLibc();
  const buf = new Uint8Array(MSG_SIZE);
  const view = new DataView(buf.buffer);
  const reports: Reports = { error: null, exitStatus: null };
  for (;;) {
    const n = await libc.read(fd, buf, BigInt(MSG_SIZE));
    if (n !== BigInt(MSG_SIZE)) {
      // end of file (or a torn record: the child is gone)
      if (on.eofIsStart && !reports.error) on.onStarted(1);
      break;
    }
    const kind = view.getInt32(0, true);
    if (kind === MSG.ERROR) reports.error ??= { step: view.getInt32(4, true), errno: view.getInt32(8, true) };
    else if (kind === MSG.STOPPED) on.onStop();
    else if (kind === MSG.STARTED) on.onStarted(view.getInt32(12, true));
    else if (kind === MSG.EXIT) {
      reports.exitStatus = view.getInt32(12, true);
      await on.onExit();
    }
  }
  return reports;
}

const P_PIDFD = 3, WEXITED = 4;
const CLD_EXITED = 1;

async function waitChild(pidfd: number): Promise<Outcome> {
  const libc = getLibc();
  const info = new Uint8Array(128);
  for (;;) {
    const r = await libc.waitid(P_PIDFD, pidfd, info, WEXITED);
    if (r === 0) break;
    // EINTR on the worker thread: wait again
  }
  const view = new DataView(info.buffer);
  const code = view.getInt32(8, true);
  const status = view.getInt32(24, true);
  return code === CLD_EXITED ? { kind: "exited", code: status } : { kind: "signaled", signal: status };
}

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
  const stop = forwardSignals(child, signals);
  let holdFd = child.holdFd;
  let exitSeen = false;
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
    let commandNsPid = 0;
    const onStop = () => {
      const cmd = commandPid(child.pid, commandNsPid);
      if (cmd !== null) stopLikeAJob(cmd); // its process group is its own pid
    };
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
      waitChild(child.pidfd),
    ]);
    if (!exitSeen) await onExit();
    if (reports.error) return { kind: "failed", ...reports.error };
    if (reports.exitStatus !== null) return decodeWaitStatus(reports.exitStatus);
    return waited;
  } finally {
    stop();
    if (hooks.foreground) reclaimTerminal();
    if (holdFd !== null) libc.close(holdFd);
    libc.close(child.msgFd);
    libc.close(child.pidfd);
  }
}
