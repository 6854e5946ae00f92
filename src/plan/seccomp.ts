/**
 * nsbox's seccomp filters, assembled as classic BPF in TypeScript and
 * installed by the C helper as the last setup ops (after no_new_privs).
 *
 * The default filter refuses what a sandbox never needs and what has been a
 * door out of one: the kernel keyring, bpf, perf_event_open, userfaultfd,
 * kexec, module loading, open_by_handle_at, reboot, swap, acct, io_uring,
 * obsolete calls, the terminal ioctls TIOCSTI/TIOCLINUX (keystrokes pushed
 * into the caller's terminal: CVE-2017-5226, CVE-2019-10063, CVE-2023-28100)
 * and TIOCSETD/TIOCEXCL (a line discipline or exclusive mode that leaves the
 * caller's terminal dead after exit), all compared on the low 32 bits as the
 * kernel reads the request, and, unless allowed, new user namespaces. Like
 * podman and Flatpak: EPERM for what exists but is refused, ENOSYS where a
 * fallback should kick in (clone3, whose flags a filter cannot read, so glibc
 * falls back to clone; io_uring; calls the kernel no longer has). Syscalls of
 * another ABI (i386, x32) are refused as a whole.
 *
 * With `--seccomp FILE` the OCI profile is compiled by buildProfileFilter()
 * and installed after nsbox's base rules (buildBaseFilter(): the terminal
 * ioctls, the keyring, user namespaces), which Docker's and podman's profiles
 * let through because they assume their own pty and keyring. Both filters run
 * on every syscall and the kernel keeps the most restrictive answer (see
 * buildBaseFilter()), so a profile can add refusals but not lift nsbox's.
 *
 * @module
 */

import type { SeccompArch } from "../linux.ts";
import type { ArgComparison, ResolvedProfile, SeccompAction, SyscallRule } from "../spec/seccomp_profile.ts";

/** One BPF instruction: [code, jt, jf, k]. */
export type BpfInsn = readonly [code: number, jt: number, jf: number, k: number];

/** Architectures nsbox has syscall tables for. */

/** What the filter lets through beyond the default. */
export interface SeccompPolicy {
  /** Allow creating user namespaces inside (`--allow-userns`). */
  readonly allowUserns: boolean;
}

const EPERM = 1, ENOSYS = 38;
const LD_W_ABS = 0x20, JEQ_K = 0x15, JGE_K = 0x35, JSET_K = 0x45, RET_K = 0x06;
const RET_ALLOW = 0x7fff0000, RET_KILL_PROCESS = 0x80000000, RET_ERRNO = 0x00050000;
const OFF_NR = 0, OFF_ARCH = 4;
const argLow = (i: number) => 16 + 8 * i; // seccomp_data.args[i], low 32 bits (little-endian)
const CLONE_NEWUSER = 0x10000000;
const TIOCEXCL = 0x540c, TIOCSTI = 0x5412, TIOCSETD = 0x5423, TIOCLINUX = 0x541c;
const X32_SYSCALL_BIT = 0x40000000;

const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };

/** Syscall numbers the filter names (undefined: the architecture does not have it). */
const NR: Record<string, Partial<Record<SeccompArch, number>>> = {
  ioctl: { x86_64: 16, aarch64: 29 },
  clone: { x86_64: 56, aarch64: 220 },
  clone3: { x86_64: 435, aarch64: 435 },
  unshare: { x86_64: 272, aarch64: 97 },
  keyctl: { x86_64: 250, aarch64: 219 },
  add_key: { x86_64: 248, aarch64: 217 },
  request_key: { x86_64: 249, aarch64: 218 },
  bpf: { x86_64: 321, aarch64: 280 },
  perf_event_open: { x86_64: 298, aarch64: 241 },
  userfaultfd: { x86_64: 323, aarch64: 282 },
  kexec_load: { x86_64: 246, aarch64: 104 },
  kexec_file_load: { x86_64: 320, aarch64: 294 },
  init_module: { x86_64: 175, aarch64: 105 },
  finit_module: { x86_64: 313, aarch64: 273 },
  delete_module: { x86_64: 176, aarch64: 106 },
  open_by_handle_at: { x86_64: 304, aarch64: 265 },
  reboot: { x86_64: 169, aarch64: 142 },
  swapon: { x86_64: 167, aarch64: 224 },
  swapoff: { x86_64: 168, aarch64: 225 },
  acct: { x86_64: 163, aarch64: 89 },
  quotactl: { x86_64: 179, aarch64: 60 },
  quotactl_fd: { x86_64: 443, aarch64: 443 },
  vhangup: { x86_64: 153, aarch64: 58 },
  fanotify_init: { x86_64: 300, aarch64: 262 },
  io_uring_setup: { x86_64: 425, aarch64: 425 },
  io_uring_enter: { x86_64: 426, aarch64: 426 },
  io_uring_register: { x86_64: 427, aarch64: 427 },
  lookup_dcookie: { x86_64: 212, aarch64: 18 },
  nfsservctl: { x86_64: 180, aarch64: 42 },
  uselib: { x86_64: 134 },
  ustat: { x86_64: 136 },
  sysfs: { x86_64: 139 },
  _sysctl: { x86_64: 156 },
  create_module: { x86_64: 174 },
  get_kernel_syms: { x86_64: 177 },
  query_module: { x86_64: 178 },
  afs_syscall: { x86_64: 183 },
  vserver: { x86_64: 236 },
};

/** Refused outright, with the errno each gets. Documented in README ("Seccomp filter"). */
export const DENIED: ReadonlyArray<readonly [name: string, errno: number]> = [
  ["keyctl", EPERM],
  ["add_key", EPERM],
  ["request_key", EPERM],
  ["bpf", EPERM],
  ["perf_event_open", EPERM],
  ["userfaultfd", EPERM],
  ["kexec_load", EPERM],
  ["kexec_file_load", EPERM],
  ["init_module", EPERM],
  ["finit_module", EPERM],
  ["delete_module", EPERM],
  ["open_by_handle_at", EPERM],
  ["reboot", EPERM],
  ["swapon", EPERM],
  ["swapoff", EPERM],
  ["acct", EPERM],
  ["quotactl", EPERM],
  ["quotactl_fd", EPERM],
  ["vhangup", EPERM],
  ["fanotify_init", EPERM],
  ["io_uring_setup", ENOSYS],
  ["io_uring_enter", ENOSYS],
  ["io_uring_register", ENOSYS],
  ["lookup_dcookie", ENOSYS],
  ["nfsservctl", ENOSYS],
  ["uselib", ENOSYS],
  ["ustat", ENOSYS],
  ["sysfs", ENOSYS],
  ["_sysctl", ENOSYS],
  ["create_module", ENOSYS],
  ["get_kernel_syms", ENOSYS],
  ["query_module", ENOSYS],
  ["afs_syscall", ENOSYS],
  ["vserver", ENOSYS],
];

const ld = (off: number): BpfInsn => [LD_W_ABS, 0, 0, off];
const ret = (k: number): BpfInsn => [RET_K, 0, 0, k >>> 0];
const errno = (e: number) => RET_ERRNO | e;

/**
 * Terminal ioctls refused with EPERM by every nsbox filter, by their request
 * as the kernel reads it (the low 32 bits; TIOCSCTTY stays allowed: a pty the
 * sandbox opens itself needs it). Documented in README ("Seccomp").
 */
export const TTY_IOCTLS: ReadonlyArray<readonly [name: string, request: number]> = [
  ["TIOCSTI", TIOCSTI], // push input into the terminal: run by the caller's shell after exit
  ["TIOCLINUX", TIOCLINUX], // the same through the Linux console (TIOCL_PASTESEL and kin)
  ["TIOCSETD", TIOCSETD], // change the line discipline: the caller's terminal stays dead
  ["TIOCEXCL", TIOCEXCL], // exclusive mode: the caller can no longer open its own terminal
];

/** The part of DENIED that nsbox's base rules keep on top of an OCI profile: the caller's keyrings. */
export const BASE_DENIED: ReadonlyArray<readonly [name: string, errno: number]> = DENIED.filter(([name]) =>
  name === "keyctl" || name === "add_key" || name === "request_key"
);

/**
 * The one assembler of nsbox's own filters: the architecture checks, then
 * `denied` by number, then (unless allowUserns) clone3, then the blocks that
 * look at arguments (the terminal ioctls, CLONE_NEWUSER), else allow.
 */
function assemble(arch: SeccompArch, policy: SeccompPolicy, denied: typeof DENIED): BpfInsn[] {
  const nr = (name: string) => NR[name]?.[arch];
  const p: BpfInsn[] = [
    ld(OFF_ARCH),
    [JEQ_K, 1, 0, AUDIT_ARCH[arch]],
    ret(RET_KILL_PROCESS), // another ABI (i386 on x86_64, arm32 on aarch64)
    ld(OFF_NR),
  ];
  if (arch === "x86_64") p.push([JGE_K, 0, 1, X32_SYSCALL_BIT], ret(errno(ENOSYS)));
  for (const [name, e] of denied) {
    const n = nr(name);
    if (n !== undefined) p.push([JEQ_K, 0, 1, n], ret(errno(e)));
  }
  if (!policy.allowUserns) p.push([JEQ_K, 0, 1, nr("clone3")!], ret(errno(ENOSYS)));
  // Blocks that look at arguments come last: each ends in a return, so the
  // accumulator still holds the syscall number for those that do not match.
  // ioctl: if nr != ioctl skip the block; A = low 32 bits of the request;
  // each match jumps over the remaining comparisons and the ALLOW to EPERM.
  const n = TTY_IOCTLS.length;
  p.push([JEQ_K, 0, n + 3, nr("ioctl")!], ld(argLow(1)));
  TTY_IOCTLS.forEach(([, request], i) => p.push([JEQ_K, n - i, 0, request]));
  p.push(ret(RET_ALLOW), ret(errno(EPERM)));
  if (!policy.allowUserns) {
    for (const name of ["clone", "unshare"]) {
      p.push([JEQ_K, 0, 4, nr(name)!], ld(argLow(0)), [JSET_K, 1, 0, CLONE_NEWUSER], ret(RET_ALLOW), ret(errno(EPERM)));
    }
  }
  p.push(ret(RET_ALLOW));
  return p;
}

/** Builds nsbox's default filter for `arch` under `policy`. */
export function buildSeccompFilter(arch: SeccompArch, policy: SeccompPolicy): BpfInsn[] {
  return assemble(arch, policy, DENIED);
}

/**
 * Builds nsbox's base rules for `arch` under `policy`: the filter installed
 * in addition to an OCI profile (`--seccomp FILE`), before it. The same
 * architecture checks, TTY_IOCTLS, BASE_DENIED and (unless allowUserns) new
 * user namespaces as the default filter; everything else is allowed, left to
 * the profile.
 *
 * Why two filters hold: the kernel runs every filter attached to the task
 * on each syscall (newest first) and keeps the result whose action has the
 * highest precedence, KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > USER_NOTIF
 * > TRACE > LOG > ALLOW (kernel/seccomp.c, seccomp_run_filters(): the lowest
 * `(s32)(ret & SECCOMP_RET_ACTION_FULL)` wins; Documentation/userspace-api/
 * seccomp_filter.rst). So this filter's ERRNO beats a profile's ALLOW, and a
 * profile's KILL or ERRNO beats this filter's ALLOW; for two ERRNOs the
 * newest filter's (the profile's) errno is returned. It goes first because
 * a profile may refuse seccomp(2) itself, after which nothing can be added.
 */
export function buildBaseFilter(arch: SeccompArch, policy: SeccompPolicy): BpfInsn[] {
  return assemble(arch, policy, BASE_DENIED);
}

// ---------------------------------------------------------------- OCI profiles

const JA = 0x05, JGT_K = 0x25, AND_K = 0x54;
const RET_KILL_THREAD = 0x00000000, RET_TRAP = 0x00030000, RET_LOG = 0x7ffc0000;

function actionValue(a: SeccompAction): number {
  switch (a.kind) {
    case "allow":
      return RET_ALLOW;
    case "errno":
      return RET_ERRNO | (a.errno & 0xffff);
    case "kill_process":
      return RET_KILL_PROCESS;
    case "kill_thread":
      return RET_KILL_THREAD;
    case "trap":
      return RET_TRAP;
    case "log":
      return RET_LOG;
  }
}

/** A tiny assembler: instructions whose jumps name labels, resolved forward. */
class Assembler {
  readonly #code: Array<{ insn: [number, number | string, number | string, number] }> = [];
  readonly #labels = new Map<string, number>();
  #next = 0;

  label(): string {
    return `L${this.#next++}`;
  }
  place(label: string) {
    this.#labels.set(label, this.#code.length);
  }
  emit(code: number, jt: number | string, jf: number | string, k: number) {
    this.#code.push({ insn: [code, jt, jf, k >>> 0] });
  }
  /** Resolves labels; conditional jumps must stay within 255 instructions. */
  finish(): BpfInsn[] {
    return this.#code.map(({ insn: [code, jt, jf, k] }, i) => {
      const off = (t: number | string) => {
        if (typeof t === "number") return t;
        const at = this.#labels.get(t);
        if (at === undefined || at <= i) throw new Error(`seccomp: bad jump to ${t}`);
        return at - i - 1;
      };
      if (code === JA) return [code, 0, 0, off(typeof jt === "string" ? jt : k)] as BpfInsn;
      const [t, f] = [off(jt), off(jf)];
      if (t > 255 || f > 255) throw new Error("seccomp: a conditional jump is too long");
      return [code, t, f, k] as BpfInsn;
    });
  }
}

/** Emits a test of one 64-bit argument: on success falls through, on failure jumps to `fail`. */
function emitComparison(as: Assembler, c: ArgComparison, fail: string) {
  const v = BigInt(c.value), two = BigInt(c.valueTwo);
  const hi = (x: bigint) => Number((x >> 32n) & 0xffffffffn), lo = (x: bigint) => Number(x & 0xffffffffn);
  const HI = 20 + 8 * c.index, LO = 16 + 8 * c.index;
  const pass = as.label();
  switch (c.op) {
    case "EQ":
      as.emit(LD_W_ABS, 0, 0, HI), as.emit(JEQ_K, 0, fail, hi(v));
      as.emit(LD_W_ABS, 0, 0, LO), as.emit(JEQ_K, 0, fail, lo(v));
      break;
    case "NE":
      as.emit(LD_W_ABS, 0, 0, HI), as.emit(JEQ_K, 0, pass, hi(v));
      as.emit(LD_W_ABS, 0, 0, LO), as.emit(JEQ_K, fail, 0, lo(v));
      break;
    case "MASKED_EQ": // (arg & value) == valueTwo
      as.emit(LD_W_ABS, 0, 0, HI), as.emit(AND_K, 0, 0, hi(v)), as.emit(JEQ_K, 0, fail, hi(two));
      as.emit(LD_W_ABS, 0, 0, LO), as.emit(AND_K, 0, 0, lo(v)), as.emit(JEQ_K, 0, fail, lo(two));
      break;
    case "GT":
    case "GE":
      as.emit(LD_W_ABS, 0, 0, HI), as.emit(JGT_K, pass, 0, hi(v)), as.emit(JEQ_K, 0, fail, hi(v));
      as.emit(LD_W_ABS, 0, 0, LO), as.emit(c.op === "GT" ? JGT_K : JGE_K, 0, fail, lo(v));
      break;
    case "LT":
    case "LE":
      as.emit(LD_W_ABS, 0, 0, HI), as.emit(JGE_K, 0, pass, hi(v)), as.emit(JEQ_K, 0, fail, hi(v));
      as.emit(LD_W_ABS, 0, 0, LO), as.emit(c.op === "LT" ? JGE_K : JGT_K, fail, 0, lo(v));
      break;
  }
  as.place(pass);
}

/**
 * Compiles a resolved OCI profile for `arch`: the same architecture checks as
 * the default filter, then per syscall its rules in order (the first whose
 * comparisons all hold decides), else the default action.
 */
export function buildProfileFilter(arch: SeccompArch, profile: ResolvedProfile): BpfInsn[] {
  const as = new Assembler();
  const def = actionValue(profile.defaultAction);
  as.emit(LD_W_ABS, 0, 0, OFF_ARCH);
  as.emit(JEQ_K, 1, 0, AUDIT_ARCH[arch]);
  as.emit(RET_K, 0, 0, RET_KILL_PROCESS);
  as.emit(LD_W_ABS, 0, 0, OFF_NR);
  if (arch === "x86_64") as.emit(JGE_K, 0, 1, X32_SYSCALL_BIT), as.emit(RET_K, 0, 0, errno(ENOSYS));
  const byNr = new Map<number, SyscallRule[]>();
  for (const r of profile.rules) byNr.set(r.nr, [...(byNr.get(r.nr) ?? []), r]);
  for (const [nr, rules] of byNr) {
    const next = as.label();
    as.emit(JEQ_K, 1, 0, nr);
    as.emit(JA, next, 0, 0); // another syscall: A still holds its number
    for (const rule of rules) {
      const fail = as.label();
      for (const c of rule.args) emitComparison(as, c, fail);
      as.emit(RET_K, 0, 0, actionValue(rule.action));
      as.place(fail);
    }
    as.emit(RET_K, 0, 0, def);
    as.place(next);
  }
  as.emit(RET_K, 0, 0, def);
  return as.finish();
}
