import assert from "node:assert/strict";
import { type ResolvedProfile, resolveProfile } from "../../src/spec/seccomp_profile.ts";
import { buildBaseFilter, buildProfileFilter } from "../../src/plan/seccomp.ts";
import type { SeccompArch } from "../../src/linux.ts";
import { AARCH64_SYSCALLS, X86_64_SYSCALLS } from "../../src/spec/syscall_table.ts";
import { decide, decideStack } from "./_bpf.ts";
import { fakeHost, runOptions } from "./_fake_host.ts";
import { validate } from "../../src/spec/validate.ts";
import { buildPlan } from "../../src/plan/plan.ts";
import { PR } from "../../src/linux.ts";

const AUDIT: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
const ALLOW = 0x7fff0000, KILL_PROCESS = 0x80000000, KILL_THREAD = 0, TRAP = 0x00030000, LOG = 0x7ffc0000;
const errno = (e: number) => (0x00050000 | e) >>> 0;
const TABLE: Record<SeccompArch, Readonly<Record<string, number>>> = {
  x86_64: X86_64_SYSCALLS,
  aarch64: AARCH64_SYSCALLS,
};

function resolve(doc: unknown, opts: { arch?: SeccompArch; caps?: number[]; kernel?: string } = {}) {
  const problems: string[] = [];
  const profile = resolveProfile(JSON.stringify(doc), "p.json", {
    arch: opts.arch ?? "x86_64",
    capabilities: opts.caps ?? [],
    kernel: opts.kernel ?? "6.1.0-13-amd64",
  }, problems);
  return { profile, problems };
}

function must(doc: unknown, opts: Parameters<typeof resolve>[1] = {}): ResolvedProfile {
  const { profile, problems } = resolve(doc, opts);
  assert.deepEqual(problems, []);
  assert.ok(profile);
  return profile;
}

function run(arch: SeccompArch, profile: ResolvedProfile, name: string, ...args: bigint[]): number {
  return decide(buildProfileFilter(arch, profile), { nr: TABLE[arch][name]!, arch: AUDIT[arch], args });
}

Deno.test("syscall_table has both architectures' well-known numbers", () => {
  assert.equal(X86_64_SYSCALLS.read, 0);
  assert.equal(X86_64_SYSCALLS.openat, 257);
  assert.equal(X86_64_SYSCALLS.clone3, 435);
  assert.equal(AARCH64_SYSCALLS.openat, 56);
  assert.equal(AARCH64_SYSCALLS.newfstatat, 79);
  assert.equal(AARCH64_SYSCALLS.open, undefined, "arm64 has no open(2)");
  assert.ok(Object.keys(X86_64_SYSCALLS).length > 350 && Object.keys(AARCH64_SYSCALLS).length > 290);
});

Deno.test("resolveProfile() and buildProfileFilter(): a default-deny allow list", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    const p = must({
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 38,
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
      syscalls: [{ names: ["read", "write", "exit_group", "no_such_call"], action: "SCMP_ACT_ALLOW" }],
    }, { arch });
    assert.deepEqual(p.unknownNames, ["no_such_call"]);
    assert.equal(run(arch, p, "read"), ALLOW);
    assert.equal(run(arch, p, "write"), ALLOW);
    assert.equal(run(arch, p, "openat"), errno(38));
    assert.equal(decide(buildProfileFilter(arch, p), { nr: 0, arch: 0x40000003 }), KILL_PROCESS, "another ABI");
  }
});

Deno.test("buildProfileFilter() compares 64-bit arguments with every SCMP_CMP op", () => {
  const rule = (op: string, value: number, valueTwo = 0) => ({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{
      names: ["personality"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 13,
      args: [{ index: 0, value, valueTwo, op }],
    }],
  });
  const big = 0x1_0000_0005;
  const cases: Array<[string, number, number, Array<[bigint, boolean]>]> = [
    ["SCMP_CMP_EQ", 8, 0, [[8n, true], [9n, false], [0x1_0000_0008n, false]]],
    ["SCMP_CMP_NE", 8, 0, [[8n, false], [9n, true], [0x1_0000_0008n, true]]],
    ["SCMP_CMP_GT", big, 0, [[BigInt(big) + 1n, true], [BigInt(big), false], [5n, false], [0x2_0000_0000n, true]]],
    ["SCMP_CMP_GE", big, 0, [[BigInt(big), true], [BigInt(big) - 1n, false], [0x2_0000_0000n, true], [6n, false]]],
    ["SCMP_CMP_LT", big, 0, [[BigInt(big) - 1n, true], [BigInt(big), false], [7n, true], [0x2_0000_0000n, false]]],
    ["SCMP_CMP_LE", big, 0, [[BigInt(big), true], [BigInt(big) + 1n, false], [0n, true]]],
    ["SCMP_CMP_MASKED_EQ", 0xff00, 0x1200, [[0x12ffn, true], [0x1300n, false], [0xffff_0000_1234n, true]]],
  ];
  for (const [op, value, two, checks] of cases) {
    const p = must(rule(op, value, two));
    for (const [arg, refused] of checks) {
      assert.equal(run("x86_64", p, "personality", arg), refused ? errno(13) : ALLOW, `${op} ${value} vs ${arg}`);
    }
  }
});

Deno.test("buildProfileFilter(): rules for one syscall are tried in order, several args must all hold", () => {
  const p = must({
    defaultAction: "SCMP_ACT_KILL_PROCESS",
    syscalls: [
      {
        names: ["socket"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 2, op: "SCMP_CMP_EQ" }, { index: 1, value: 1, op: "SCMP_CMP_EQ" }],
      },
      { names: ["socket"], action: "SCMP_ACT_ERRNO", errnoRet: 97, args: [{ index: 0, value: 16, op: "SCMP_CMP_EQ" }] },
      { names: ["getpid"], action: "SCMP_ACT_LOG" },
      { names: ["kill"], action: "SCMP_ACT_TRAP" },
      { names: ["tkill"], action: "SCMP_ACT_KILL" },
    ],
  });
  assert.equal(run("x86_64", p, "socket", 2n, 1n), ALLOW, "AF_INET, SOCK_STREAM");
  assert.equal(run("x86_64", p, "socket", 2n, 2n), KILL_PROCESS, "AF_INET, SOCK_DGRAM: no rule matches");
  assert.equal(run("x86_64", p, "socket", 16n, 3n), errno(97), "AF_NETLINK");
  assert.equal(run("x86_64", p, "getpid"), LOG);
  assert.equal(run("x86_64", p, "kill"), TRAP);
  assert.equal(run("x86_64", p, "tkill"), KILL_THREAD);
  assert.equal(run("x86_64", p, "read"), KILL_PROCESS);
});

Deno.test("resolveProfile() applies includes and excludes on caps, arches and minKernel", () => {
  const doc = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["umount2"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["read"], action: "SCMP_ACT_ALLOW", includes: { arches: ["arm64"] } },
      { names: ["write"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "6.5" } },
      { names: ["close"], action: "SCMP_ACT_ALLOW", excludes: { arches: ["amd64"] } },
    ],
  };
  const names = (p: ResolvedProfile) => p.rules.map((r) => r.name).sort();
  assert.deepEqual(names(must(doc)), ["umount2"]);
  assert.deepEqual(names(must(doc, { caps: [21], kernel: "6.8.0" })), ["mount", "write"]);
  assert.deepEqual(names(must(doc, { arch: "aarch64" })), ["close", "read", "umount2"]);
});

Deno.test("resolveProfile() reports every defect, naming --seccomp and the file", () => {
  const { profile, problems } = resolve({
    defaultAction: "SCMP_ACT_TRACE",
    architectures: ["SCMP_ARCH_PPC64LE"],
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_NOTIFY" },
      { action: "SCMP_ACT_ALLOW" },
      { names: ["write"], action: "SCMP_ACT_ALLOW", args: [{ index: 7, value: 1, op: "SCMP_CMP_EQ" }] },
      { names: ["close"], action: "SCMP_ACT_BOGUS" },
    ],
  });
  assert.equal(profile, null);
  assert.deepEqual(problems, [
    "--seccomp: p.json: defaultAction: SCMP_ACT_TRACE is not supported (nsbox has no tracer or notification listener).",
    "--seccomp: p.json: it does not cover x86_64 (architectures: SCMP_ARCH_PPC64LE).",
    "--seccomp: p.json: syscalls[0]: SCMP_ACT_NOTIFY is not supported (nsbox has no tracer or notification listener).",
    "--seccomp: p.json: syscalls[1]: expected names, a list of syscall names.",
    "--seccomp: p.json: syscalls[2].args[0]: expected {index 0-5, value, valueTwo, op SCMP_CMP_*}.",
    '--seccomp: p.json: syscalls[3]: unknown action "SCMP_ACT_BOGUS".',
  ]);
  const notJson: string[] = [];
  assert.equal(resolveProfile("{", "x.json", { arch: "x86_64", capabilities: [], kernel: "6.1" }, notJson), null);
  assert.match(notJson[0]!, /^--seccomp: x\.json: not JSON/);
});

Deno.test("validate() and buildPlan() use an OCI profile from --seccomp FILE", () => {
  const profile = JSON.stringify({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  });
  const host = fakeHost({ files: { "/home/user/p.json": profile } });
  const spec = validate(runOptions(["--seccomp", "p.json", "sh"]), host);
  assert.equal(spec.seccomp.mode, "profile");
  assert.equal(spec.seccomp.profile?.rules[0]?.name, "mkdir");
  const op = buildPlan(spec).ops.findLast((o) => o.kind === "seccomp");
  assert.ok(op?.kind === "seccomp");
  assert.equal(op.what, "cannot install the seccomp profile p.json");
  assert.equal(decide(op.program, { nr: 83, arch: AUDIT.x86_64 }), errno(1), "mkdir refused");
  assert.equal(decide(op.program, { nr: 0, arch: AUDIT.x86_64 }), ALLOW);
  assert.throws(
    () => validate(runOptions(["--seccomp", "missing.json", "sh"]), host),
    /--seccomp: expected default, unconfined or a readable OCI profile, got 'missing\.json'\./,
  );
});

Deno.test("buildProfileFilter() handles a profile the size of podman's (long jumps stay valid)", () => {
  const names = Object.keys(X86_64_SYSCALLS).slice(0, 320);
  const p = must({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names, action: "SCMP_ACT_ALLOW" },
      ...names.slice(0, 40).map((n) => ({
        names: [n],
        action: "SCMP_ACT_ERRNO",
        args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 1, value: 2, op: "SCMP_CMP_LE" }],
      })),
    ],
  });
  const prog = buildProfileFilter("x86_64", p);
  assert.ok(prog.length < 4096, `${prog.length} instructions`);
  for (const n of names.slice(0, 40)) assert.equal(run("x86_64", p, n, 1n, 1n), ALLOW, `${n}: the first rule wins`);
  assert.equal(run("x86_64", p, names[300]!), ALLOW);
  assert.equal(run("x86_64", p, "io_uring_setup"), errno(1));
});

// ------------------------------------------------ nsbox's base rules on top of a profile

/** The profile fixture of the escape tests: shaped like podman's default, it allows TIOCSTI, keyctl and unshare. */
const CONTAINER_DEFAULT = Deno.readTextFileSync(
  new URL("../security/fixtures/container-default.json", import.meta.url),
);
const TIOCSTI = 0x5412, TIOCSETD = 0x5423, TIOCEXCL = 0x540c, TCGETS = 0x5401, CLONE_NEWUSER = 0x10000000;

function seccompOps(args: string[]) {
  const host = fakeHost({ files: { "/home/user/p.json": CONTAINER_DEFAULT } });
  const ops = buildPlan(validate(runOptions(args), host)).ops;
  const nnp = ops.findIndex((o) => o.kind === "prctl" && o.option === PR.SET_NO_NEW_PRIVS);
  return { ops: ops.flatMap((o, i) => o.kind === "seccomp" ? [{ ...o, at: i }] : []), nnp };
}

Deno.test("buildPlan() with --seccomp FILE installs nsbox's base rules first, then the profile", () => {
  for (const allowUserns of [false, true]) {
    const flags = allowUserns ? ["--allow-userns"] : [];
    const { ops, nnp } = seccompOps(["--seccomp", "p.json", ...flags, "sh"]);
    assert.equal(ops.length, 2);
    const [base, profile] = ops as [typeof ops[0], typeof ops[0]];
    assert.ok(nnp >= 0 && nnp < base.at && base.at < profile.at);
    assert.equal(base.what, "cannot install nsbox's seccomp rules");
    assert.equal(profile.what, "cannot install the seccomp profile p.json");
    assert.deepEqual(base.program, buildBaseFilter("x86_64", { allowUserns }));
  }
  assert.equal(seccompOps(["sh"]).ops.length, 1, "the default filter alone");
  assert.equal(seccompOps(["--seccomp", "default", "sh"]).ops[0]?.what, "cannot install the seccomp filter");
  assert.equal(seccompOps(["--seccomp=unconfined", "sh"]).ops.length, 0, "unconfined: no filter at all");
});

Deno.test("a container profile alone allows TIOCSTI, keyctl and user namespaces; with nsbox's base rules it does not", () => {
  const { ops } = seccompOps(["--seccomp", "p.json", "sh"]);
  const stack = ops.map((o) => o.program);
  const profileOnly = [stack[1]!];
  const t = X86_64_SYSCALLS;
  const at = (name: string, ...args: bigint[]) => ({ nr: t[name]!, arch: AUDIT.x86_64, args });
  const attacks: Array<[string, ReturnType<typeof at>, number]> = [
    ["TIOCSTI", at("ioctl", 0n, BigInt(TIOCSTI)), errno(1)],
    ["TIOCSTI, high bits", at("ioctl", 0n, 0xffffffff00000000n | BigInt(TIOCSTI)), errno(1)],
    ["TIOCSETD", at("ioctl", 0n, BigInt(TIOCSETD)), errno(1)],
    ["TIOCEXCL", at("ioctl", 0n, BigInt(TIOCEXCL)), errno(1)],
    ["keyctl", at("keyctl", 0n, 0xfffffffdn), errno(1)],
    ["add_key", at("add_key"), errno(1)],
    ["request_key", at("request_key"), errno(1)],
    ["unshare(CLONE_NEWUSER)", at("unshare", BigInt(CLONE_NEWUSER)), errno(1)],
    ["clone(CLONE_NEWUSER)", at("clone", BigInt(CLONE_NEWUSER | 17)), errno(1)],
    ["clone3", at("clone3", 0x7ffd0000n, 88n), errno(38)],
  ];
  for (const [what, c, refused] of attacks) {
    assert.equal(decideStack(profileOnly, c), ALLOW, `${what}: the profile alone allows it`);
    assert.equal(decideStack(stack, c), refused, `${what}: refused on top of the profile`);
  }
  // the profile's own refusals and allowances stand
  assert.equal(decideStack(stack, at("ioctl", 0n, BigInt(TCGETS))), ALLOW);
  assert.equal(decideStack(stack, at("read")), ALLOW);
  assert.equal(decideStack(stack, at("unshare", 0x20000n)), ALLOW, "unshare(CLONE_NEWNS)");
  assert.equal(decideStack(stack, at("kexec_load")), errno(1));
  assert.equal(decideStack(stack, at("io_uring_setup")), errno(38), "the profile's default action");
  assert.equal(decideStack(stack, { nr: 0, arch: 0x40000003 }), KILL_PROCESS, "another ABI");
});

Deno.test("decideStack() follows the kernel: the strictest action wins, the newest filter's errno on a tie", () => {
  const ret = (k: number) => [[0x06, 0, 0, k >>> 0] as const];
  const c = { nr: 0, arch: AUDIT.x86_64 };
  assert.equal(decideStack([ret(errno(1)), ret(ALLOW)], c), errno(1));
  assert.equal(decideStack([ret(ALLOW), ret(errno(1))], c), errno(1));
  assert.equal(decideStack([ret(LOG), ret(ALLOW)], c), LOG);
  assert.equal(decideStack([ret(errno(1)), ret(TRAP)], c), TRAP);
  assert.equal(decideStack([ret(KILL_THREAD), ret(errno(1))], c), KILL_THREAD);
  assert.equal(decideStack([ret(KILL_THREAD), ret(KILL_PROCESS)], c), KILL_PROCESS);
  assert.equal(decideStack([ret(errno(1)), ret(errno(38))], c), errno(38), "the newest filter's errno");
});
