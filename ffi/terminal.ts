/**
 * The terminal dance of a foreground sandbox: who owns the terminal, giving
 * it away and taking it back, and stopping nsbox like a shell job.
 *
 * @module
 */
import { getLibc } from "./libc.ts";

const SIG_BLOCK = 0, SIG_SETMASK = 2, SIGTTOU = 22, SIGTSTP = 20, SIGCONT = 18;

/** The first of fds 0, 1, 2 that is a terminal, or -1. */
export function terminalFd(): number {
  const libc = getLibc();
  for (const fd of [0, 1, 2]) if (libc.isatty(fd) === 1) return fd;
  return -1;
}

/** Whether our process group is the foreground group of our terminal. */
export function isForegroundOfTerminal(): boolean {
  const fd = terminalFd();
  if (fd < 0) return false;
  const libc = getLibc();
  return libc.tcgetpgrp(fd) === libc.getpgrp();
}

/** tcsetpgrp with SIGTTOU blocked, so a background group may call it; true on success. */
export function giveTerminal(pgrp: number): boolean {
  const fd = terminalFd();
  if (fd < 0) return false;
  const libc = getLibc();
  const set = new BigUint64Array(16), old = new BigUint64Array(16);
  set[0] = 1n << BigInt(SIGTTOU - 1);
  libc.pthread_sigmask(SIG_BLOCK, new Uint8Array(set.buffer), new Uint8Array(old.buffer));
  const r = libc.tcsetpgrp(fd, pgrp);
  libc.pthread_sigmask(SIG_SETMASK, new Uint8Array(old.buffer), new Uint8Array(set.buffer));
  return r === 0;
}

/** Takes the terminal back for nsbox's own process group. */
export function reclaimTerminal(): boolean {
  return giveTerminal(getLibc().getpgrp());
}

/**
 * The command stopped (Ctrl-Z): take the terminal back and stop nsbox's own
 * group, so the caller's shell sees a stopped job; once it is continued
 * (`fg`), give the terminal back to the command's group and continue it.
 */
export function stopLikeAJob(commandPgrp: number) {
  const libc = getLibc();
  reclaimTerminal();
  libc.kill(0, SIGTSTP); // returns once the shell has sent SIGCONT
  giveTerminal(commandPgrp);
  libc.kill(-commandPgrp, SIGCONT);
}
