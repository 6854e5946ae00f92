/**
 * buildSeccompFilter() tests: the filter is run through a small classic-BPF
 * interpreter on hand-made seccomp_data, so what is checked is its decisions,
 * not its layout. Syscall numbers are written out here independently of
 * src/plan/seccomp.ts (from arch/x86/entry/syscalls/syscall_64.tbl and
 * include/uapi/asm-generic/unistd.h), so a wrong number there shows up.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  BASE_DENIED,
  type BpfInsn,
  buildBaseFilter,
  buildSeccompFilter,
  DENIED,
  TTY_IOCTLS,
} from "../../src/plan/seccomp.ts";
import { type SeccompArch, seccompArch } from "../../src/linux.ts";
import { type Call, decide } from "./_bpf.ts";

const EPERM = 1, ENOSYS = 38;
const RET_ALLOW = 0x7fff0000, RET_KILL_PROCESS = 0x80000000, RET_ERRNO = 0x00050000;
const errno = (e: number) => (RET_ERRNO | e) >>> 0;

const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
const AUDIT_ARCH_I386 = 0x40000003, AUDIT_ARCH_ARM = 0x40000028;
const X32_SYSCALL_BIT = 0x40000000;
const CLONE_NEWUSER = 0x10000000, CLONE_NEWNS = 0x00020000, SIGCHLD = 17;
/** What glibc's pthread_create passes to clone. */
const CLONE_THREAD_FLAGS = 0x003d0f00;
const TCGETS = 0x5401, TIOCGWINSZ = 0x5413, TIOCSTI = 0x5412, TIOCLINUX = 0x541c;
const TIOCEXCL = 0x540c, TIOCNXCL = 0x540d, TIOCSCTTY = 0x540e, TIOCSETD = 0x5423, TIOCGETD = 0x5424;
/** The terminal ioctls every nsbox filter refuses (include/uapi/asm-generic/ioctls.h). */
const REFUSED_IOCTLS = [TIOCSTI, TIOCLINUX, TIOCSETD, TIOCEXCL];
/** Terminal ioctls that stay allowed: a sandbox's own pty needs TIOCSCTTY; reading is harmless. */
const ALLOWED_IOCTLS = [TCGETS, TIOCGWINSZ, TIOCSCTTY, TIOCNXCL, TIOCGETD];

/** Syscall numbers per architecture (undefined: the architecture has no such call). */
const NR: Record<string, Partial<Record<SeccompArch, number>>> = {
  read: { x86_64: 0, aarch64: 63 },
  write: { x86_64: 1, aarch64: 64 },
  openat: { x86_64: 257, aarch64: 56 },
  ioctl: { x86_64: 16, aarch64: 29 },
  clone: { x86_64: 56, aarch64: 220 },
  clone3: { x86_64: 435, aarch64: 435 },
  unshare: { x86_64: 272, aarch64: 97 },
  execve: { x86_64: 59, aarch64: 221 },
  rt_sigaction: { x86_64: 13, aarch64: 134 },
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

/** The errno each refused syscall must get (README, "Seccomp filter"). */
const EXPECTED_DENIED: Record<string, number> = {
  keyctl: EPERM,
  add_key: EPERM,
  request_key: EPERM,
  bpf: EPERM,
  perf_event_open: EPERM,
  userfaultfd: EPERM,
  kexec_load: EPERM,
  kexec_file_load: EPERM,
  init_module: EPERM,
  finit_module: EPERM,
  delete_module: EPERM,
  open_by_handle_at: EPERM,
  reboot: EPERM,
  swapon: EPERM,
  swapoff: EPERM,
  acct: EPERM,
  quotactl: EPERM,
  quotactl_fd: EPERM,
  vhangup: EPERM,
  fanotify_init: EPERM,
  io_uring_setup: ENOSYS,
  io_uring_enter: ENOSYS,
  io_uring_register: ENOSYS,
  lookup_dcookie: ENOSYS,
  nfsservctl: ENOSYS,
  uselib: ENOSYS,
  ustat: ENOSYS,
  sysfs: ENOSYS,
  _sysctl: ENOSYS,
  create_module: ENOSYS,
  get_kernel_syms: ENOSYS,
  query_module: ENOSYS,
  afs_syscall: ENOSYS,
  vserver: ENOSYS,
};

const ARCHES: readonly SeccompArch[] = ["x86_64", "aarch64"];
const LD_W_ABS = 0x20, JEQ_K = 0x15, JGE_K = 0x35, JSET_K = 0x45, RET_K = 0x06;
const SECCOMP_DATA_SIZE = 64;
const BPF_MAXINSNS = 4096;

function nr(name: string, arch: SeccompArch): number {
  const n = NR[name]?.[arch];
  assert.ok(n !== undefined, `no ${arch} number for ${name}`);
  return n;
}

const filters = (allowUserns: boolean) =>
  ARCHES.map((arch) => [arch, buildSeccompFilter(arch, { allowUserns })] as const);

function call(arch: SeccompArch, name: string, ...args: Array<number | bigint>): Call {
  return { nr: nr(name, arch), arch: AUDIT_ARCH[arch], args: args.map((x) => BigInt(x)) };
}

Deno.test("the test's BPF interpreter follows classic BPF semantics", () => {
  // A = arch; if A >= 0x80000000 goto +1 else goto +2; ret 1; ret 2 ... then A = args[0] low; jset 0x10 → ret 3 : ret 4
  const prog: BpfInsn[] = [
    [LD_W_ABS, 0, 0, 4],
    [JGE_K, 0, 1, 0x80000000],
    [RET_K, 0, 0, 1],
    [LD_W_ABS, 0, 0, 16],
    [JSET_K, 0, 1, 0x10],
    [RET_K, 0, 0, 3],
    [JEQ_K, 1, 0, 0xffffffee],
    [RET_K, 0, 0, 4],
    [RET_K, 0, 0, 0xffffffff],
  ];
  assert.equal(decide(prog, { nr: 0, arch: 0xc000003e }), 1);
  assert.equal(decide(prog, { nr: 0, arch: 1, args: [0x10n] }), 3);
  assert.equal(decide(prog, { nr: 0, arch: 1, args: [0xffffffff00000000n] }), 4);
  assert.equal(decide(prog, { nr: 0, arch: 1, args: [0xffffffeen] }), 0xffffffff);
  assert.throws(() => decide([[JEQ_K, 5, 5, 0], [RET_K, 0, 0, 0]], { nr: 0, arch: 0 }), /left the program/);
  assert.throws(() => decide([[LD_W_ABS, 0, 0, 64], [RET_K, 0, 0, 0]], { nr: 0, arch: 0 }), /bad load offset/);
});

Deno.test("seccompArch() knows x86_64 and aarch64 only", () => {
  assert.equal(seccompArch("x86_64"), "x86_64");
  assert.equal(seccompArch("aarch64"), "aarch64");
  for (const other of ["arm", "riscv64", "x86", "i686", "s390x", ""]) assert.equal(seccompArch(other), null, other);
});

Deno.test("buildSeccompFilter() makes a program the kernel accepts: known opcodes, jumps inside, RET last", () => {
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of filters(allowUserns)) {
      const where = `${arch} allowUserns=${allowUserns}`;
      assert.ok(prog.length > 0 && prog.length < BPF_MAXINSNS, `${where}: length ${prog.length}`);
      assert.equal(prog.at(-1)![0], RET_K, `${where}: the last instruction is not a RET`);
      prog.forEach(([code, jt, jf, k], pc) => {
        assert.ok([LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K].includes(code), `${where}: opcode ${code} at ${pc}`);
        assert.ok(Number.isInteger(k) && k >= 0 && k <= 0xffffffff, `${where}: k ${k} at ${pc}`);
        for (const off of [jt, jf]) {
          assert.ok(Number.isInteger(off) && off >= 0 && off <= 255, `${where}: jump offset ${off} at ${pc}`);
        }
        if (code === JEQ_K || code === JGE_K || code === JSET_K) {
          assert.ok(pc + 1 + jt < prog.length, `${where}: jt of ${pc} jumps out`);
          assert.ok(pc + 1 + jf < prog.length, `${where}: jf of ${pc} jumps out`);
        } else if (code === LD_W_ABS) {
          assert.ok(pc + 1 < prog.length, `${where}: falls off the end after ${pc}`);
          assert.ok(k % 4 === 0 && k + 4 <= SECCOMP_DATA_SIZE, `${where}: load offset ${k} at ${pc}`);
        } else {
          assert.deepEqual([jt, jf], [0, 0], `${where}: RET with jump offsets at ${pc}`);
        }
      });
    }
  }
});

Deno.test("buildSeccompFilter() starts by checking the architecture", () => {
  for (const [arch, prog] of filters(false)) {
    assert.deepEqual(prog[0], [LD_W_ABS, 0, 0, 4], arch);
    assert.equal(prog[1]![0], JEQ_K, arch);
    assert.equal(prog[1]![3], AUDIT_ARCH[arch], arch);
  }
});

Deno.test("buildSeccompFilter() allows ordinary syscalls", () => {
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of filters(allowUserns)) {
      for (const name of ["read", "write", "openat", "execve", "rt_sigaction"]) {
        assert.equal(decide(prog, call(arch, name, 3, 0, 0)), RET_ALLOW, `${arch} ${name}`);
      }
      assert.equal(decide(prog, call(arch, "clone", CLONE_THREAD_FLAGS, 0, 0)), RET_ALLOW, `${arch} clone (thread)`);
      assert.equal(decide(prog, call(arch, "clone", SIGCHLD, 0)), RET_ALLOW, `${arch} clone (fork)`);
      assert.equal(decide(prog, call(arch, "unshare", CLONE_NEWNS)), RET_ALLOW, `${arch} unshare(CLONE_NEWNS)`);
      assert.equal(decide(prog, call(arch, "ioctl", 0, TCGETS, 0)), RET_ALLOW, `${arch} ioctl TCGETS`);
      assert.equal(decide(prog, call(arch, "ioctl", 1, TIOCGWINSZ, 0)), RET_ALLOW, `${arch} ioctl TIOCGWINSZ`);
    }
  }
});

Deno.test("buildSeccompFilter() refuses each DENIED syscall with its errno", () => {
  assert.deepEqual(Object.fromEntries(DENIED), EXPECTED_DENIED);
  assert.equal(new Set(DENIED.map(([name]) => name)).size, DENIED.length, "DENIED has duplicates");
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of filters(allowUserns)) {
      for (const [name, e] of DENIED) {
        const n = NR[name]?.[arch];
        assert.ok(NR[name]?.x86_64 !== undefined, `the test has no number for ${name}`);
        if (n === undefined) continue; // the architecture never had it
        assert.equal(decide(prog, call(arch, name, 0, 0, 0)), errno(e), `${arch} ${name}`);
      }
    }
  }
});

Deno.test("buildSeccompFilter() allows every other syscall number, whatever x86_64's numbers mean", () => {
  const special = new Set(["ioctl", "clone", "clone3", "unshare"]);
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of filters(allowUserns)) {
      const refused = new Map<number, string>();
      for (const [name, n] of Object.entries(NR)) {
        const x = n[arch];
        if (x !== undefined && (name in EXPECTED_DENIED || special.has(name))) refused.set(x, name);
      }
      for (let n = 0; n < 600; n++) {
        if (refused.has(n)) continue;
        assert.equal(
          decide(prog, { nr: n, arch: AUDIT_ARCH[arch], args: [0n, 0n, 0n] }),
          RET_ALLOW,
          `${arch} syscall ${n} (allowUserns=${allowUserns})`,
        );
      }
    }
  }
});

/** Checks the terminal ioctl verdicts of a filter (nsbox's default one, or its base rules). */
function checkTtyIoctls(arch: SeccompArch, prog: readonly BpfInsn[], where: string) {
  for (const req of REFUSED_IOCTLS) {
    const hex = req.toString(16);
    assert.equal(decide(prog, call(arch, "ioctl", 0, req, 0)), errno(EPERM), `${where}: ioctl 0x${hex}`);
    const high = 0xffffffff00000000n | BigInt(req);
    assert.equal(decide(prog, call(arch, "ioctl", 0, high, 0)), errno(EPERM), `${where}: ioctl 0x${high.toString(16)}`);
    const oneHigh = 0x100000000n | BigInt(req);
    assert.equal(decide(prog, call(arch, "ioctl", 5, oneHigh, 0)), errno(EPERM), `${where}: ioctl 1<<32|0x${hex}`);
    // a request whose high bits look like the refused one is not it
    assert.equal(decide(prog, call(arch, "ioctl", 0, BigInt(req) << 32n, 0)), RET_ALLOW, `${where}: 0x${hex}<<32`);
  }
  for (const req of ALLOWED_IOCTLS) {
    assert.equal(decide(prog, call(arch, "ioctl", 0, req, 0)), RET_ALLOW, `${where}: ioctl 0x${req.toString(16)}`);
    const high = 0xffffffff00000000n | BigInt(req);
    assert.equal(decide(prog, call(arch, "ioctl", 0, high, 0)), RET_ALLOW, `${where}: ioctl 0x${high.toString(16)}`);
  }
  // only the request argument counts, not the descriptor or the pointer
  assert.equal(decide(prog, call(arch, "ioctl", TIOCSTI, TCGETS, TIOCSETD)), RET_ALLOW, where);
}

Deno.test("TTY_IOCTLS names TIOCSTI, TIOCLINUX, TIOCSETD and TIOCEXCL with the kernel's numbers", () => {
  assert.deepEqual(Object.fromEntries(TTY_IOCTLS), {
    TIOCSTI: 0x5412,
    TIOCLINUX: 0x541c,
    TIOCSETD: 0x5423,
    TIOCEXCL: 0x540c,
  });
});

Deno.test("buildSeccompFilter() refuses TIOCSTI, TIOCLINUX, TIOCSETD, TIOCEXCL with EPERM on the low 32 bits only", () => {
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of filters(allowUserns)) checkTtyIoctls(arch, prog, `${arch} allowUserns=${allowUserns}`);
  }
});

Deno.test("buildSeccompFilter() refuses new user namespaces with EPERM unless allowUserns", () => {
  for (const [arch, prog] of filters(false)) {
    assert.equal(decide(prog, call(arch, "clone", CLONE_NEWUSER | SIGCHLD, 0)), errno(EPERM), `${arch} clone`);
    assert.equal(decide(prog, call(arch, "clone", 0xffffffff, 0)), errno(EPERM), `${arch} clone(all flags)`);
    assert.equal(decide(prog, call(arch, "unshare", CLONE_NEWUSER)), errno(EPERM), `${arch} unshare`);
    assert.equal(decide(prog, call(arch, "unshare", CLONE_NEWUSER | CLONE_NEWNS)), errno(EPERM), `${arch} unshare`);
    // flags in the high half are not CLONE_NEWUSER
    assert.equal(decide(prog, call(arch, "unshare", BigInt(CLONE_NEWUSER) << 32n)), RET_ALLOW, arch);
  }
  for (const [arch, prog] of filters(true)) {
    assert.equal(decide(prog, call(arch, "clone", CLONE_NEWUSER | SIGCHLD, 0)), RET_ALLOW, `${arch} clone`);
    assert.equal(decide(prog, call(arch, "unshare", CLONE_NEWUSER | CLONE_NEWNS)), RET_ALLOW, `${arch} unshare`);
  }
});

Deno.test("buildSeccompFilter() answers clone3 with ENOSYS unless allowUserns", () => {
  for (const [arch, prog] of filters(false)) {
    assert.equal(decide(prog, call(arch, "clone3", 0x7ffd0000, 88)), errno(ENOSYS), arch);
  }
  for (const [arch, prog] of filters(true)) {
    assert.equal(decide(prog, call(arch, "clone3", 0x7ffd0000, 88)), RET_ALLOW, arch);
  }
});

Deno.test("buildSeccompFilter() kills a process that calls through another ABI", () => {
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of filters(allowUserns)) {
      const other = arch === "x86_64" ? AUDIT_ARCH.aarch64 : AUDIT_ARCH.x86_64;
      for (const foreign of [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, other, 0]) {
        for (const name of ["read", "write", "keyctl"]) {
          assert.equal(
            decide(prog, { nr: nr(name, arch), arch: foreign, args: [0n] }),
            RET_KILL_PROCESS,
            `${arch}: ${name} with arch 0x${foreign.toString(16)}`,
          );
        }
      }
    }
  }
});

Deno.test("buildSeccompFilter() answers x32 syscalls on x86_64 with ENOSYS", () => {
  for (const allowUserns of [false, true]) {
    const prog = buildSeccompFilter("x86_64", { allowUserns });
    for (const n of [0, 1, 16, 56, 257, 512, 514, 0x3fffffff]) {
      assert.equal(
        decide(prog, { nr: (n | X32_SYSCALL_BIT) >>> 0, arch: AUDIT_ARCH.x86_64, args: [0n, BigInt(TCGETS)] }),
        errno(ENOSYS),
        `x32 syscall ${n}`,
      );
    }
    // numbers above the x32 bit are not syscalls either (the kernel would say ENOSYS)
    assert.equal(decide(prog, { nr: 0xffffffff, arch: AUDIT_ARCH.x86_64 }), errno(ENOSYS));
  }
});

Deno.test("buildSeccompFilter() ignores the instruction pointer and unused arguments", () => {
  for (const [arch, prog] of filters(false)) {
    for (const ip of [0n, 0xffffffffffffffffn, 0x5412n]) {
      const args = [0xffffffffffffffffn, 0n, 0xffffffffffffffffn, 0xffffffffffffffffn, 1n, 2n];
      assert.equal(decide(prog, { nr: nr("read", arch), arch: AUDIT_ARCH[arch], ip, args }), RET_ALLOW, arch);
    }
  }
});

Deno.test("buildSeccompFilter() is deterministic, and shorter with allowUserns", () => {
  for (const arch of ARCHES) {
    assert.deepEqual(
      buildSeccompFilter(arch, { allowUserns: false }),
      buildSeccompFilter(arch, { allowUserns: false }),
    );
    const strict = buildSeccompFilter(arch, { allowUserns: false });
    const loose = buildSeccompFilter(arch, { allowUserns: true });
    assert.ok(loose.length < strict.length, arch);
  }
});

// ------------------------------------------------ nsbox's base rules (under an OCI profile)

const baseFilters = (allowUserns: boolean) =>
  ARCHES.map((arch) => [arch, buildBaseFilter(arch, { allowUserns })] as const);

Deno.test("buildBaseFilter() keeps the keyrings: keyctl, add_key, request_key get EPERM", () => {
  assert.deepEqual(BASE_DENIED, [["keyctl", EPERM], ["add_key", EPERM], ["request_key", EPERM]]);
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of baseFilters(allowUserns)) {
      for (const name of ["keyctl", "add_key", "request_key"]) {
        assert.equal(decide(prog, call(arch, name, 0, -3, 0)), errno(EPERM), `${arch} ${name}`);
      }
    }
  }
});

Deno.test("buildBaseFilter() refuses the terminal ioctls like the default filter", () => {
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of baseFilters(allowUserns)) checkTtyIoctls(arch, prog, `base ${arch} ${allowUserns}`);
  }
});

Deno.test("buildBaseFilter() refuses new user namespaces unless allowUserns (clone, unshare EPERM; clone3 ENOSYS)", () => {
  for (const [arch, prog] of baseFilters(false)) {
    assert.equal(decide(prog, call(arch, "clone", CLONE_NEWUSER | SIGCHLD, 0)), errno(EPERM), `${arch} clone`);
    assert.equal(decide(prog, call(arch, "unshare", CLONE_NEWUSER)), errno(EPERM), `${arch} unshare`);
    assert.equal(decide(prog, call(arch, "clone3", 0x7ffd0000, 88)), errno(ENOSYS), `${arch} clone3`);
    assert.equal(decide(prog, call(arch, "clone", CLONE_THREAD_FLAGS, 0)), RET_ALLOW, `${arch} thread`);
    assert.equal(decide(prog, call(arch, "unshare", CLONE_NEWNS)), RET_ALLOW, `${arch} unshare(NEWNS)`);
  }
  for (const [arch, prog] of baseFilters(true)) {
    assert.equal(decide(prog, call(arch, "clone", CLONE_NEWUSER | SIGCHLD, 0)), RET_ALLOW, `${arch} clone`);
    assert.equal(decide(prog, call(arch, "unshare", CLONE_NEWUSER)), RET_ALLOW, `${arch} unshare`);
    assert.equal(decide(prog, call(arch, "clone3", 0x7ffd0000, 88)), RET_ALLOW, `${arch} clone3`);
  }
});

Deno.test("buildBaseFilter() leaves everything else to the profile, and checks the architecture", () => {
  const kept = new Set(["keyctl", "add_key", "request_key", "ioctl", "clone", "clone3", "unshare"]);
  for (const allowUserns of [false, true]) {
    for (const [arch, prog] of baseFilters(allowUserns)) {
      const refused = new Set<number>();
      for (const name of kept) refused.add(nr(name, arch));
      for (let n = 0; n < 600; n++) {
        if (refused.has(n)) continue;
        assert.equal(decide(prog, { nr: n, arch: AUDIT_ARCH[arch], args: [0n, 0n] }), RET_ALLOW, `${arch} ${n}`);
      }
      // what the default filter refuses besides the keyrings is the profile's business
      for (const name of ["bpf", "perf_event_open", "io_uring_setup", "reboot"]) {
        assert.equal(decide(prog, call(arch, name, 0)), RET_ALLOW, `${arch} ${name}`);
      }
      assert.equal(decide(prog, { nr: nr("read", arch), arch: AUDIT_ARCH_I386 }), RET_KILL_PROCESS, arch);
      if (arch === "x86_64") {
        assert.equal(decide(prog, { nr: 0x40000000 | 250, arch: AUDIT_ARCH.x86_64 }), errno(ENOSYS), "x32 keyctl");
      }
    }
  }
});

Deno.test("buildBaseFilter() and buildSeccompFilter() share their code: the base is the default minus DENIED", () => {
  for (const arch of ARCHES) {
    for (const allowUserns of [false, true]) {
      const full = buildSeccompFilter(arch, { allowUserns }), base = buildBaseFilter(arch, { allowUserns });
      const deniedHere = DENIED.filter(([name]) => NR[name]?.[arch] !== undefined).length;
      const baseHere = BASE_DENIED.length;
      assert.equal(full.length - base.length, 2 * (deniedHere - baseHere), `${arch} ${allowUserns}`);
    }
  }
});
