/**
 * Linux constants the plan is written in (x86_64 and aarch64 agree on all).
 *
 * @module
 */

/** clone3 namespace flags. */
export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

/** mount(2) flags. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  BIND: 0x1000,
  REC: 0x4000,
  PRIVATE: 0x40000,
} as const;

/** mount_setattr(2) attributes and flags. */
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;
/** AT_RECURSIVE for mount_setattr and open_tree. */
export const AT_RECURSIVE = 0x8000;
/** open_tree(2): a detached copy of the tree. */
export const OPEN_TREE_CLONE = 0x1;
/** openat2(2) RESOLVE_* flags. */
export const RESOLVE = { NO_XDEV: 0x1, NO_MAGICLINKS: 0x2, NO_SYMLINKS: 0x4, BENEATH: 0x8, IN_ROOT: 0x10 } as const;
/** open(2) flags the plan uses. */
export const O = { RDONLY: 0, DIRECTORY: 0o200000, PATH: 0o10000000 } as const;
/** umount2 flag. */
export const MNT_DETACH = 0x2;

/** prctl options. */
export const PR = {
  SET_PDEATHSIG: 1,
  SET_CHILD_SUBREAPER: 36,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
} as const;

/** Highest capability number the plan drops (CAP_CHECKPOINT_RESTORE = 40). */
export const CAP_LAST = 40;

/** Signal numbers (x86_64/aarch64 share them). */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** The name of signal `n`, e.g. `signalName(9)` is `"SIGKILL"`. */
export function signalName(n: number): string {
  for (const [name, num] of Object.entries(SIGNALS)) if (num === n) return name;
  return n >= 34 && n <= 64 ? `SIGRTMIN+${n - 34}` : `signal ${n}`;
}

/** Signal names by number (index 0 unused), e.g. for the native supervisor's templates. */
export function signalNames(): string[] {
  // One pass over SIGNALS: this runs cold on every start, where 64 calls of signalName() cost milliseconds.
  const names: string[] = [""];
  for (let n = 1; n <= 64; n++) names.push(n >= 34 ? `SIGRTMIN+${n - 34}` : `signal ${n}`);
  for (const name in SIGNALS) names[SIGNALS[name]!] = name; // numbers are unique, all within 1..31
  return names;
}

/** Architectures nsbox has syscall tables (and seccomp filters) for. */
export type SeccompArch = "x86_64" | "aarch64";

/** The architecture nsbox runs on, as its syscall tables name it (from Deno's name); null when it has none. */
export function seccompArch(denoArch: string): SeccompArch | null {
  return denoArch === "x86_64" ? "x86_64" : denoArch === "aarch64" ? "aarch64" : null;
}
