/**
 * Supervision of a released child, in two parts:
 *
 * 1. {@linkcode awaitStart}: until the command runs, nsbox's TypeScript
 *    forwards signals and reads the child's reports (a set-up failure is
 *    reported by TypeScript, with the plan at hand to say which step failed).
 *    Skipped when nothing is left for TypeScript once the command runs
 *    (src/run.ts): the supervisor then reads the reports too, and the CLI's
 *    says a failure from TypeScript's templates (failureTemplates()), the
 *    library's reports it in its result;
 * 2. {@linkcode prepareExec} / {@linkcode childSupervisor}: the native
 *    supervisor (ffi/nsbox_supervise.c) takes over: the CLI execs it in its
 *    own place (same pid, a few pages instead of Deno's heap), the library
 *    starts it as a child and reads its result from a pipe. It forwards
 *    signals, does the terminal job control, waits for PID 1, and replays the
 *    teardown ops TypeScript decided, filling numbers into TypeScript's
 *    templates.
 *
 * @module
 */
import { cString, getLibc } from "../../ffi/libc.ts";
import {
  decodeMessage,
  decodeSupervisorResult,
  encodeSupervisorConfig,
  MSG_SIZE,
  patchSupervisorConfig,
  type SupervisorConfig,
  type SupervisorResult,
  SV_RESULT_SIZE,
} from "../spawn/abi.ts";
import { type Ended, waitPidfd } from "../spawn/wait.ts";
import type { Child } from "../spawn/spawn.ts";
import { getHelper, getStaticInit, sealedMemfd } from "../spawn/embedded.ts";
import { startDaemon } from "../spawn/daemon.ts";
import { check, NsboxError, OsError } from "../errors.ts";
import { SIGNALS } from "../linux.ts";

/** How the sandbox ended. */
export type Outcome = Ended | { readonly kind: "failed"; readonly step: number; readonly errno: number };

/**
 * Forwards `signals` (names) to the child's pidfd until the returned function
 * is called. Terminal signals (Ctrl-C's SIGINT, SIGQUIT, SIGWINCH, SIGHUP) are
 * forwarded too: the command is never in nsbox's process group (it has a
 * group or a session of its own), so when the terminal signals nsbox's group
 * the command got no copy of its own. PID 1, in nsbox's group, drops the
 * terminal's copy (SI_KERNEL) and passes on nsbox's.
 */
export function forwardSignals(child: Child, signals: readonly string[]): () => void {
  const libc = getLibc();
  const listeners: Array<[Deno.Signal, () => void]> = [];
  for (const name of signals) {
    const sig = SIGNALS[name]!;
    const listener = () => {
      libc.pidfd_send_signal(child.pidfd, sig, null, 0);
    };
    Deno.addSignalListener(name as Deno.Signal, listener);
    listeners.push([name as Deno.Signal, listener]);
  }
  return () => {
    for (const [name, l] of listeners.splice(0)) Deno.removeSignalListener(name, l);
  };
}

/**
 * The same from a C signal handler (the CLI, which execs the supervisor in
 * its place without another event-loop turn: a JavaScript listener would
 * never see a signal that came last). The handlers stay: the exec replaces
 * them.
 */
export async function forwardSignalsNatively(child: Child, signals: readonly number[]): Promise<() => void> {
  const helper = await getHelper();
  const r = helper.nsbox_forward_signals(child.pidfd, signals.reduce((m, s) => m | (1n << BigInt(s - 1)), 0n));
  if (r < 0) throw new OsError("cannot forward signals to the sandbox", -r);
  return () => {};
}

/** Whether the command runs, or how the sandbox ended before it did. */
export type Start = { readonly kind: "started"; readonly nsPid: number } | {
  readonly kind: "ended";
  readonly outcome: Outcome;
};

/**
 * Reads the child's reports until the command runs (NSBOX_MSG_STARTED; with
 * `commandIsPid1`, end of file: the exec closed the pipe). When it never
 * does — a set-up step failed, or PID 1 died — waits for the child, closes
 * its descriptors and says how it ended.
 */
export async function awaitStart(child: Child, commandIsPid1: boolean): Promise<Start> {
  const libc = getLibc();
  const buf = new Uint8Array(MSG_SIZE);
  let error: { step: number; errno: number } | null = null;
  for (;;) {
    const n = await libc.read(child.msgFd, buf, BigInt(MSG_SIZE));
    if (n !== BigInt(MSG_SIZE)) {
      if (commandIsPid1 && !error) return { kind: "started", nsPid: 1 };
      break; // PID 1 is gone
    }
    const m = decodeMessage(buf);
    if (m.kind === "started" && !error) return { kind: "started", nsPid: m.nsPid };
    if (m.kind === "error") error ??= { step: m.step, errno: m.errno };
    if (m.kind === "exit") break; // not before STARTED: a confused child, ended below
  }
  if (child.holdFd !== null) libc.close(child.holdFd);
  const waited = await waitPidfd(child.pidfd);
  libc.close(child.msgFd);
  libc.close(child.pidfd);
  return { kind: "ended", outcome: error ? { kind: "failed", ...error } : waited };
}

/** The descriptors of a sandbox the supervisor takes over, as they are in this process. */
export interface Handed {
  readonly child: Child;
  /** The log pipe's read end (detached), or null. */
  readonly logRd: number | null;
  /** The record's directory, or null. */
  readonly recordFd: number | null;
  /** Descriptors the ops name (pidfds of helpers, a user namespace), to be passed on. */
  readonly opFds: readonly number[];
}

/** The config without its descriptors: {@linkcode prepareExec} and {@linkcode childSupervisor} fill them in. */
export type SupervisorPlan = Omit<SupervisorConfig, "pidfd" | "msgFd" | "holdFd" | "logRd" | "recordFd" | "pid">;

const SIGCONT = 18, SIGKILL = 9, F_DUPFD_CLOEXEC = 1030, WNOHANG = 1;

/** Renumbers the descriptors of the ops with `map`. */
function mapOps(ops: SupervisorConfig["ops"], map: (fd: number) => number): SupervisorConfig["ops"] {
  return ops.map((op) => {
    switch (op.kind) {
      case "sweep":
        return { ...op, usernsFd: map(op.usernsFd) };
      case "stopHelper":
        return { ...op, pidfd: map(op.pidfd) };
      case "readEgress":
        return { ...op, fd: map(op.fd) };
      default:
        return op;
    }
  });
}

/**
 * Makes sure the native supervisor can be started (its memfd exists), before
 * anything is spawned: a sandbox nsbox could not supervise is never started.
 */
export async function ensureSupervisor(): Promise<void> {
  if (await getStaticInit() < 0) {
    throw new NsboxError("cannot start nsbox's supervisor: no executable memfd can be made on this host", {
      hint: "vm.memfd_noexec=2 forbids executable memfds; nsbox needs 0 or 1",
    });
  }
}

/** The native supervisor, laid out and ready to be exec'd once the command runs ({@linkcode prepareExec}). */
export interface PreparedExec {
  /**
   * Execs it in this process's place with what is known only now. Returns
   * only by throwing, when the exec failed (the sandbox is then still this
   * process's to clean up).
   */
  exec(commandNsPid: number, elapsedUs: number): never;
}

/**
 * Prepares the exec of the native supervisor in this process's place (the
 * CLI): it keeps the pid, so PID 1 and the network helpers stay its children
 * and die with it. Done while the child sets itself up, so that the exec
 * follows the command's start at once.
 */
export async function prepareExec(h: Handed, plan: SupervisorPlan): Promise<PreparedExec> {
  const exe = await getStaticInit();
  const helper = await getHelper();
  if (exe < 0) throw new NsboxError("cannot start nsbox's supervisor: its memfd could not be made");
  const { child } = h;
  const bytes = encodeSupervisorConfig({
    ...plan,
    pid: child.pid,
    pidfd: child.pidfd,
    msgFd: child.msgFd,
    holdFd: child.holdFd ?? -1,
    logRd: h.logRd ?? -1,
    recordFd: h.recordFd ?? -1,
  });
  // Blocked across the exec: pending ones reach the supervisor's signalfd (forwardSignalsNatively's handler
  // forwards those that reach another thread meanwhile).
  const block = [...plan.forwardSignals, SIGCONT].reduce((m, s) => m | (1n << BigInt(s - 1)), 0n);
  return {
    exec(commandNsPid, elapsedUs) {
      patchSupervisorConfig(bytes, commandNsPid, elapsedUs);
      const cfgFd = sealedMemfd("nsbox-supervise", bytes);
      const keep = [child.pidfd, child.msgFd, child.holdFd, h.logRd, h.recordFd, ...h.opFds, cfgFd].filter((
        fd,
      ): fd is number => fd !== null && fd >= 0);
      const argv = cStringArray(["nsbox-supervise", String(cfgFd)]);
      const r = helper.nsbox_exec_supervisor(
        exe,
        argv.array,
        new Uint8Array(new Int32Array(keep).buffer),
        keep.length,
        block,
      );
      getLibc().close(cfgFd);
      throw new OsError("cannot start nsbox's supervisor", -r);
    },
  };
}

/**
 * Starts the native supervisor as a child (the library: this process cannot
 * be exec'd away) and resolves with its result once it has done its work.
 * This process keeps forwarding the signals it gets (the supervisor drops
 * its copies) and reaps PID 1 and the helpers after it.
 */
export async function childSupervisor(
  h: Handed,
  plan: SupervisorPlan,
  helpers: readonly number[],
): Promise<SupervisorResult> {
  const libc = getLibc();
  const exe = await getStaticInit();
  if (exe < 0) throw new NsboxError("cannot start nsbox's supervisor: its memfd could not be made");
  const { child } = h;
  const fds = new Int32Array(2);
  check(libc.pipe2(new Uint8Array(fds.buffer), 0o2000000), "cannot create the supervisor's result pipe");
  const [resultRd, resultWr] = [fds[0]!, fds[1]!];
  const passed = [child.pidfd, child.msgFd, child.holdFd, h.logRd, h.recordFd, ...h.opFds, resultWr].filter((
    fd,
  ): fd is number => fd !== null && fd >= 0);
  // Numbered above every descriptor passed (base..cfgTo), so no dup2 overwrites one not yet moved; the
  // config's memfd, made after the numbering, is moved above that range first.
  let cfgFd = -1;
  let sup;
  try {
    const base = Math.max(2, ...passed) + 1;
    const to = new Map(passed.map((fd, i) => [fd, base + i]));
    const map = (fd: number | null) => fd === null || fd < 0 ? -1 : to.get(fd)!;
    const config: SupervisorConfig = {
      ...plan,
      forwardSignals: [], // this process forwards them (it is the one they are sent to)
      pid: child.pid,
      pidfd: map(child.pidfd),
      msgFd: map(child.msgFd),
      holdFd: map(child.holdFd),
      logRd: map(h.logRd),
      recordFd: map(h.recordFd),
      ops: [...mapOps(plan.ops, map), { kind: "result", fd: map(resultWr) }],
    };
    const cfgTo = base + passed.length;
    const sealed = sealedMemfd("nsbox-supervise", encodeSupervisorConfig(config));
    cfgFd = libc.fcntl(sealed, F_DUPFD_CLOEXEC, cfgTo + 2); // cfgTo + 1: the supervisor's own executable
    libc.close(sealed);
    check(cfgFd, "cannot pass the supervisor its configuration");
    sup = await startDaemon(["nsbox-supervise", String(cfgTo)], {
      // passed on like the rest: the static binary that sets the child up must still have it to exec it
      exec: `/proc/self/fd/${cfgTo + 1}`,
      stdio: "inherit",
      passFds: [...passed.map((fd) => [fd, to.get(fd)!] as const), [cfgFd, cfgTo], [exe, cfgTo + 1]],
    });
  } finally {
    if (cfgFd >= 0) libc.close(cfgFd);
    libc.close(resultWr);
  }
  // PID 1 waits for the hold pipe to close: the supervisor's copy is the one that counts.
  if (child.holdFd !== null) libc.close(child.holdFd);
  const buf = new Uint8Array(SV_RESULT_SIZE);
  let got = 0;
  while (got < SV_RESULT_SIZE) {
    const n = Number(await libc.read(resultRd, buf.subarray(got), BigInt(SV_RESULT_SIZE - got)));
    if (n <= 0) break;
    got += n;
  }
  libc.close(resultRd);
  await waitPidfd(sup.pidfd);
  libc.close(sup.pidfd);
  // Ended (the supervisor saw them end): reap them. PID 1 with its resource usage (the command's included),
  // which only its parent can have: a zombie's pid is not reused, so wait4 by pid is safe.
  const ru = new BigInt64Array(18); // struct rusage: 2 timevals, then 14 longs
  const status = new Int32Array(1);
  if (got < SV_RESULT_SIZE) {
    // It died without doing its work: end the sandbox and its helpers here, so that nothing is left.
    for (const pidfd of [child.pidfd, ...helpers]) libc.pidfd_send_signal(pidfd, SIGKILL, null, 0);
  }
  const reaped = libc.wait4(child.pid, new Uint8Array(status.buffer), WNOHANG, new Uint8Array(ru.buffer)) === child.pid;
  if (!reaped) await waitPidfd(child.pidfd);
  for (const pidfd of helpers) await waitPidfd(pidfd);
  for (const fd of [child.pidfd, child.msgFd, h.logRd, h.recordFd, ...h.opFds]) {
    if (fd !== null && fd >= 0) libc.close(fd);
  }
  if (got < SV_RESULT_SIZE) throw new NsboxError("nsbox's supervisor ended without a result");
  const result = decodeSupervisorResult(buf);
  // The command's usage came from its init; with --as-pid-1 only PID 1's own times can say (its peak counts
  // this process's memory: it was started vfork-style).
  if (plan.stats !== "rusage" || !reaped || result.stats !== "none") return result;
  const us = (sec: bigint, usec: bigint) => Number(sec) * 1_000_000 + Number(usec);
  return {
    ...result,
    stats: "rusage",
    cpuUserUs: us(ru[0]!, ru[1]!),
    cpuSystemUs: us(ru[2]!, ru[3]!),
    memoryPeak: null,
  };
}

/** A NULL-terminated `char *[]` and the buffers it points into (keep them referenced). */
function cStringArray(items: readonly string[]): { array: Uint8Array<ArrayBuffer>; keep: Uint8Array[] } {
  const keep = items.map((s) => cString(s));
  const ptrs = new BigUint64Array(items.length + 1);
  keep.forEach((b, i) => ptrs[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b))));
  return { array: new Uint8Array(ptrs.buffer), keep };
}
