/**
 * nsbox's controlling terminal: which mode nsbox runs in (foreground,
 * background, none), who owns the terminal, giving it away and taking it
 * back, stopping nsbox like a shell job, and saving and restoring the
 * terminal's state around a sandbox.
 *
 * @module
 */
import { getLibc } from "./libc.ts";

const SIG_BLOCK = 0, SIG_SETMASK = 2, SIGTTOU = 22, SIGTSTP = 20, SIGCONT = 18;

// <asm-generic/ioctls.h>, the same on x86_64 and aarch64
const TCGETS = 0x5401, TCSETS = 0x5402, TIOCNXCL = 0x540d, TIOCSETD = 0x5423, TIOCGETD = 0x5424;
const TIOCGEXCL = 0x80045440; // _IOR('T', 0x40, int)
/** sizeof(struct termios) of the kernel (36), rounded up. */
const TERMIOS_SIZE = 64;

/** The first of fds 0, 1, 2 that is nsbox's controlling terminal (tcgetpgrp succeeds on it), or -1. */
export function terminalFd(): number {
  const libc = getLibc();
  for (const fd of [0, 1, 2]) {
    if (libc.isatty(fd) === 1 && libc.tcgetpgrp(fd) >= 0) return fd;
  }
  return -1;
}

/** The terminal's foreground process group, or -1 without a controlling terminal. */
export function foregroundGroup(): number {
  const fd = terminalFd();
  return fd < 0 ? -1 : getLibc().tcgetpgrp(fd);
}

/**
 * nsbox's relation to its controlling terminal: its process group is the
 * foreground one, a background one, or there is no controlling terminal
 * among fds 0-2 (src/spec/spec.ts TerminalMode says what each means).
 */
export function terminalMode(): "foreground" | "background" | "none" {
  const fg = foregroundGroup();
  if (fg < 0) return "none";
  return fg === getLibc().getpgrp() ? "foreground" : "background";
}

/** Whether our process group is the foreground group of our terminal. */
export function isForegroundOfTerminal(): boolean {
  const fg = foregroundGroup();
  return fg >= 0 && fg === getLibc().getpgrp();
}

/** Runs `f` with SIGTTOU blocked on this thread, so a background group may change the terminal. */
function withoutSigttou<T>(f: () => T): T {
  const libc = getLibc();
  const set = new BigUint64Array(16), old = new BigUint64Array(16);
  set[0] = 1n << BigInt(SIGTTOU - 1);
  libc.pthread_sigmask(SIG_BLOCK, new Uint8Array(set.buffer), new Uint8Array(old.buffer));
  try {
    return f();
  } finally {
    libc.pthread_sigmask(SIG_SETMASK, new Uint8Array(old.buffer), new Uint8Array(set.buffer));
  }
}

/** tcsetpgrp with SIGTTOU blocked, so a background group may call it; true on success. */
export function giveTerminal(pgrp: number): boolean {
  const fd = terminalFd();
  if (fd < 0) return false;
  return withoutSigttou(() => getLibc().tcsetpgrp(fd, pgrp)) === 0;
}

/** Takes the terminal back for nsbox's own process group. */
export function reclaimTerminal(): boolean {
  return giveTerminal(getLibc().getpgrp());
}

/**
 * The command stopped (Ctrl-Z) while nsbox was the terminal's foreground
 * job: take the terminal back and stop nsbox's own group, so the caller's
 * shell sees a stopped job. Once it is continued, give the terminal back to
 * the command's group if nsbox was brought to the foreground (`fg`, not
 * `bg`), and continue the command. Returns whether the command has the terminal.
 */
export function stopLikeAJob(commandPgrp: number): boolean {
  const libc = getLibc();
  reclaimTerminal();
  libc.kill(0, SIGTSTP); // returns once the shell has sent SIGCONT
  const handed = isForegroundOfTerminal() && giveTerminal(commandPgrp);
  libc.kill(-commandPgrp, SIGCONT);
  return handed;
}

/** The state of nsbox's terminal when the sandbox started. */
export interface SavedTerminal {
  /** The descriptor it is on (fd 0, 1 or 2). */
  readonly fd: number;
  /** The kernel's struct termios (TCGETS). */
  readonly termios: Uint8Array<ArrayBuffer>;
  /** The line discipline (TIOCGETD). */
  readonly ldisc: number;
  /** Whether the terminal was in exclusive mode (TIOCGEXCL; false when the kernel cannot say). */
  readonly exclusive: boolean;
}

function getInt(fd: number, request: number): number | null {
  const v = new Int32Array(1);
  return getLibc().ioctl_ptr(fd, BigInt(request), new Uint8Array(v.buffer)) === 0 ? v[0]! : null;
}

/** Saves the state of nsbox's controlling terminal, or null when it has none. */
export function saveTerminal(): SavedTerminal | null {
  const fd = terminalFd();
  if (fd < 0) return null;
  const libc = getLibc();
  const termios = new Uint8Array(TERMIOS_SIZE);
  if (libc.ioctl_ptr(fd, BigInt(TCGETS), termios) !== 0) return null;
  const ldisc = getInt(fd, TIOCGETD);
  if (ldisc === null) return null;
  return { fd, termios, ldisc, exclusive: getInt(fd, TIOCGEXCL) === 1 };
}

/**
 * Puts the terminal's line discipline back when the sandbox changed it
 * (another one, such as N_NULL, leaves the caller's terminal dead; it also
 * fails TCGETS, and so isatty(), until it is back: call this first), and
 * clears exclusive mode (TIOCEXCL: every later open of the terminal fails
 * with EBUSY) unless it was set before. Neither depends on who is in the
 * terminal's foreground. SIGTTOU is blocked meanwhile.
 */
export function restoreLineDiscipline(saved: SavedTerminal) {
  const libc = getLibc();
  withoutSigttou(() => {
    const ldisc = getInt(saved.fd, TIOCGETD);
    if (ldisc !== null && ldisc !== saved.ldisc) {
      const v = new Int32Array([saved.ldisc]);
      libc.ioctl_ptr(saved.fd, BigInt(TIOCSETD), new Uint8Array(v.buffer));
    }
    if (!saved.exclusive) libc.ioctl_ptr(saved.fd, BigInt(TIOCNXCL), new Uint8Array(4));
  });
}

/**
 * Puts back the terminal's termios settings (a raw or no-echo terminal left
 * by the sandbox): only while nsbox is the terminal's foreground job, or they
 * belong to the caller's shell. SIGTTOU is blocked meanwhile.
 */
export function restoreTermios(saved: SavedTerminal) {
  withoutSigttou(() => getLibc().ioctl_ptr(saved.fd, BigInt(TCSETS), saved.termios));
}
