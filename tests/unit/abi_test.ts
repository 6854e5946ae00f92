/**
 * encodePlan() against ffi/nsbox_helper.h. The header is read and parsed here
 * (version, enums, #defines, struct layouts) so that the TypeScript mirror and
 * the C ABI cannot drift apart unnoticed.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  ABI_VERSION,
  callerFds,
  decodeSupervisorResult,
  encodePlan,
  encodeSupervisorConfig,
  MSG,
  MSG_SIZE,
  OP,
  PLAN,
  RESULT_SIZE,
  STEP,
  type SupervisorConfig,
  SV_ANY_STEP,
  SV_CONFIG_SIZE,
  SV_FAIL_SIZE,
  SV_MAX_CONFIG,
  SV_MAX_EGRESS,
  SV_OP,
  SV_OP_SIZE,
  SV_RESULT_SIZE,
  SV_STATS,
} from "../../src/spawn/abi.ts";
import { buildPlan } from "../../src/plan/plan.ts";
import { AT_RECURSIVE, OPEN_TREE_CLONE } from "../../src/linux.ts";
import type { ChildPlan, SetupOp } from "../../src/plan/ops.ts";
import { EXIT } from "../../src/errors.ts";
import { validate } from "../../src/spec/validate.ts";
import { fakeHost, runOptions } from "./_fake_host.ts";

// ---------------------------------------------------------------------------
// The header, parsed

const HEADER = Deno.readTextFileSync(new URL("../../ffi/nsbox_helper.h", import.meta.url));
const CODE = HEADER.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

/** `#define NAME value` → number (handles `0x1u`, `(-1)`). */
function define(name: string): number {
  const m = CODE.match(new RegExp(`^#define\\s+${name}\\s+\\(?\\s*(-?(?:0x[0-9a-fA-F]+|\\d+))[uU]?\\s*\\)?\\s*$`, "m"));
  assert.ok(m, `#define ${name} not found in nsbox_helper.h`);
  return Number(m[1]);
}

/** `enum NAME { PREFIX_X = n, ... }` → { X: n }. */
function cEnum(name: string, prefix: string): Record<string, number> {
  const m = CODE.match(new RegExp(`enum\\s+${name}\\s*\\{([^}]*)\\}`));
  assert.ok(m, `enum ${name} not found in nsbox_helper.h`);
  const out: Record<string, number> = {};
  for (const item of m[1]!.split(",").map((s) => s.trim()).filter(Boolean)) {
    const e = item.match(new RegExp(`^${prefix}(\\w+)\\s*=\\s*(-?\\d+)$`));
    assert.ok(e, `enum ${name}: cannot parse ${JSON.stringify(item)} (every entry needs an explicit value)`);
    out[e[1]!] = Number(e[2]);
  }
  return out;
}

/** `struct NAME { ... }` → field offsets (natural alignment) and size. */
function cStruct(name: string): { offsets: Record<string, number>; size: number } {
  const m = CODE.match(new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`));
  assert.ok(m, `struct ${name} not found in nsbox_helper.h`);
  const sizes: Record<string, number> = { uint8_t: 1, uint32_t: 4, int32_t: 4, uint64_t: 8, int64_t: 8 };
  const offsets: Record<string, number> = {};
  let at = 0, align = 1;
  for (const decl of m[1]!.split(";").map((s) => s.trim()).filter(Boolean)) {
    const d = decl.match(/^(\w+)\s+(.+)$/);
    assert.ok(d, `struct ${name}: cannot parse ${JSON.stringify(decl)}`);
    const size = sizes[d[1]!];
    assert.ok(size, `struct ${name}: unknown type ${d[1]}`);
    for (const field of d[2]!.split(",").map((s) => s.trim())) {
      const array = field.match(/^(\w+)\[(\d+)\]$/); // uint8_t name[N]
      at = Math.ceil(at / size) * size;
      offsets[array ? array[1]! : field] = at;
      at += size * (array ? Number(array[2]) : 1);
      align = Math.max(align, size);
    }
  }
  return { offsets, size: Math.ceil(at / align) * align };
}

const PLAN_STRUCT = cStruct("nsbox_plan");
const OP_STRUCT = cStruct("nsbox_op");

Deno.test("ABI_VERSION equals NSBOX_ABI_VERSION in nsbox_helper.h", () => {
  assert.equal(ABI_VERSION, define("NSBOX_ABI_VERSION"));
});

Deno.test("OP equals enum nsbox_op_kind in nsbox_helper.h", () => {
  const header = cEnum("nsbox_op_kind", "NSBOX_OP_");
  assert.ok(Object.keys(header).length >= 16);
  assert.deepEqual({ ...OP }, header);
});

Deno.test("STEP, MSG and the exit codes equal nsbox_helper.h", () => {
  assert.deepEqual({ ...STEP }, {
    SYNC: define("NSBOX_STEP_SYNC"),
    EXEC: define("NSBOX_STEP_EXEC"),
    INIT: define("NSBOX_STEP_INIT"),
  });
  assert.deepEqual({ ...MSG }, cEnum("nsbox_msg_kind", "NSBOX_MSG_"));
  assert.equal(EXIT.NSBOX, define("NSBOX_EXIT_SETUP"));
  assert.equal(EXIT.CANNOT_EXEC, define("NSBOX_EXIT_CANNOT_EXEC"));
  assert.equal(EXIT.NOT_FOUND, define("NSBOX_EXIT_NOT_FOUND"));
  assert.deepEqual(cEnum("nsbox_init_mode", "NSBOX_INIT_"), { NONE: 0, REAPER: 1 });
});

Deno.test("PLAN equals the NSBOX_PLAN_* flags in nsbox_helper.h", () => {
  const header: Record<string, number> = {};
  for (const m of CODE.matchAll(/^#define\s+NSBOX_PLAN_(\w+)\s/gm)) header[m[1]!] = define(`NSBOX_PLAN_${m[1]}`);
  assert.ok(Object.keys(header).length > 0);
  assert.deepEqual({ ...PLAN }, header);
});

Deno.test("struct layouts in nsbox_helper.h have the sizes and offsets abi.ts writes", () => {
  assert.equal(PLAN_STRUCT.size, 88);
  assert.deepEqual(PLAN_STRUCT.offsets, {
    abi_version: 0,
    op_count: 4,
    clone_flags: 8,
    ops: 16,
    file: 24,
    argv: 32,
    envp: 40,
    search_path: 48,
    forward_signals: 56,
    pdeathsig: 64,
    init_mode: 68,
    cgroup_fd: 72,
    flags: 76,
    reloc_count: 80,
    relocs: 84,
  });
  assert.equal(OP_STRUCT.size, 72);
  assert.deepEqual(OP_STRUCT.offsets, {
    kind: 0,
    flags: 4,
    a: 8,
    b: 16,
    c: 24,
    d: 32,
    n1: 40,
    n2: 48,
    n3: 56,
    dir: 64,
    resolve: 68,
  });
  assert.equal(cStruct("nsbox_msg").size, MSG_SIZE);
  assert.deepEqual(cStruct("nsbox_msg").offsets, { kind: 0, step: 4, err: 8, value: 12 });
  assert.equal(cStruct("nsbox_spawn_result").size, RESULT_SIZE);
});

// ---------------------------------------------------------------------------
// Reading an encoded plan back

class Decoded {
  readonly view: DataView;
  readonly base: bigint;
  /** Where pointer fields were read (to check against the relocation table). */
  readonly pointers = new Set<number>();
  constructor(readonly buf: Uint8Array<ArrayBuffer>) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.base = 0n; // position-independent: pointer fields hold offsets
  }
  /** The offsets the plan's relocation table lists. */
  relocs(): Set<number> {
    const count = this.u32(80), at = this.u32(84);
    assert.ok(at + 4 * count <= this.buf.length, "the relocation table runs off the buffer");
    return new Set(Array.from({ length: count }, (_, i) => this.u32(at + 4 * i)));
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  i32(at: number): number {
    return this.view.getInt32(at, true);
  }
  u64(at: number): bigint {
    return this.view.getBigUint64(at, true);
  }
  /** The buffer offset a pointer field points to (null for NULL); fails when it points outside. */
  ptr(at: number, align = 1): number | null {
    const p = this.u64(at);
    if (p === 0n) return null;
    assert.ok(p >= this.base && p < this.base + BigInt(this.buf.length), `pointer at ${at} points outside the buffer`);
    const off = Number(p - this.base);
    assert.equal(off % align, 0, `pointer at ${at} is not ${align}-aligned`);
    this.pointers.add(at);
    return off;
  }
  /** The NUL-terminated string at offset `off`. */
  cstr(off: number): string {
    const end = this.buf.indexOf(0, off);
    assert.ok(end >= 0, `string at ${off} has no NUL inside the buffer`);
    return new TextDecoder().decode(this.buf.subarray(off, end));
  }
  /** The string a pointer field points to, or null for NULL. */
  str(at: number): string | null {
    const off = this.ptr(at);
    return off === null ? null : this.cstr(off);
  }
  /** A NULL-terminated `char *const *` array. */
  strings(at: number): string[] {
    const arr = this.ptr(at, 8);
    assert.ok(arr !== null, `array pointer at ${at} is NULL`);
    const out: string[] = [];
    for (let i = 0;; i++) {
      assert.ok(arr + i * 8 + 8 <= this.buf.length, "array runs off the buffer without a NULL");
      const s = this.ptr(arr + i * 8);
      if (s === null) return out;
      out.push(this.cstr(s));
    }
  }
}

const P = PLAN_STRUCT.offsets as Record<string, number>;

function plan(args: string[]): ChildPlan {
  const host = fakeHost({
    env: { PATH: "/usr/bin:/bin", HOME: "/home/user", "ÜNI": "cödé ✓" },
    paths: { "/srv/root/etc": "directory" },
  });
  return buildPlan(validate(runOptions(args), host));
}

const mask = (bits: readonly number[]) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);

interface RawOp {
  kind: number;
  flags: number;
  a: string | null;
  b: string | null;
  c: string | null;
  d: string | null;
  n1: bigint;
  n2: bigint;
  n3: bigint;
  dir: number;
  resolve: number;
}

const IGNORE_EXISTS = define("NSBOX_OPF_IGNORE_EXISTS");
const CLEAR_AMBIENT = define("NSBOX_OPF_CLEAR_AMBIENT");
const IGNORE_MISSING = define("NSBOX_OPF_IGNORE_MISSING");
const SELF_MAP = define("NSBOX_OPF_SELF_MAP");

/** What the header says an op's fields hold, with NSBOX_OPF_IGNORE_MISSING for any op that may be missing. */
function expectedOp(op: SetupOp): RawOp {
  const r = expectedFields(op);
  if ("ignoreMissing" in op && op.ignoreMissing) r.flags |= IGNORE_MISSING;
  const at = "at" in op ? op.at ?? null : null;
  return { ...r, dir: at ? at.slot : -1, resolve: at ? at.resolve : 0 };
}

/** What the header says an op's fields hold (the comments of enum nsbox_op_kind). */
function expectedFields(op: SetupOp): RawOp {
  const r: RawOp = {
    kind: 0,
    flags: 0,
    a: null,
    b: null,
    c: null,
    d: null,
    n1: 0n,
    n2: 0n,
    n3: 0n,
    dir: -1,
    resolve: 0,
  };
  switch (op.kind) {
    case "mount":
      return { ...r, kind: OP.MOUNT, a: op.source, b: op.target, c: op.fstype, d: op.data, n1: BigInt(op.flags) };
    case "mountSetattr":
      return {
        ...r,
        kind: OP.MOUNT_SETATTR,
        b: op.path,
        n1: BigInt(op.set),
        n2: BigInt(op.clear),
        n3: op.recursive ? BigInt(AT_RECURSIVE) : 0n,
      };
    case "umount":
      return { ...r, kind: OP.UMOUNT, b: op.path, n1: BigInt(op.flags) };
    case "mkdir":
    case "mkfile":
      return {
        ...r,
        kind: op.kind === "mkdir" ? OP.MKDIR : OP.MKFILE,
        flags: op.ignoreExists ? IGNORE_EXISTS : 0,
        b: op.path,
        n1: BigInt(op.mode),
      };
    case "symlink":
      return { ...r, kind: OP.SYMLINK, a: op.target, b: op.path };
    case "pivotRoot":
      return { ...r, kind: OP.PIVOT_ROOT, a: op.newRoot, b: op.putOld };
    case "chdir":
      return { ...r, kind: OP.CHDIR, a: op.fallback, b: op.path };
    case "sethostname":
      return { ...r, kind: OP.SETHOSTNAME, a: op.name };
    case "prctl":
      return { ...r, kind: OP.PRCTL, n1: BigInt(op.option), n2: BigInt(op.arg2), n3: BigInt(op.arg3) };
    case "capbsetDrop":
      return { ...r, kind: OP.CAPBSET_DROP, n1: mask(op.caps) };
    case "capset":
      return {
        ...r,
        kind: OP.CAPSET,
        flags: op.clearAmbient ? CLEAR_AMBIENT : 0,
        n1: mask(op.effective),
        n2: mask(op.permitted),
        n3: mask(op.inheritable),
      };
    case "cloexecFrom":
      return { ...r, kind: OP.CLOEXEC_FROM, n1: BigInt(op.fd) };
    case "linkUp":
      return { ...r, kind: OP.LINK_UP, a: op.name };
    case "unshare":
      return { ...r, kind: OP.UNSHARE, n1: BigInt(op.flags) };
    case "listenSend":
      // a: the sockaddr (checked by checkEncoding), n1: its length, n2: the unix socket, n3: the backlog
      return {
        ...r,
        kind: OP.LISTEN_SEND,
        a: "<sockaddr>",
        n1: BigInt(op.address.includes(":") ? 28 : 16),
        n2: BigInt(op.via),
        n3: BigInt(op.backlog),
      };
    case "nestUserns":
      return {
        ...r,
        kind: OP.NEST_USERNS,
        flags: r.flags | (op.selfMap ? SELF_MAP : 0),
        a: op.uidMap,
        b: op.gidMap,
        c: op.setgroups,
        n1: BigInt(op.flags),
      };
    case "writeFile":
      return {
        ...r,
        kind: OP.WRITE_FILE,
        a: op.data,
        b: op.path,
        n1: BigInt(new TextEncoder().encode(op.data).length),
        n2: BigInt(op.mode),
      };
    case "dup2":
      return { ...r, kind: OP.DUP2, n1: BigInt(op.from), n2: BigInt(op.to) };
    case "open":
      return { ...r, kind: OP.OPEN, b: op.path, n1: BigInt(op.flags), n2: BigInt(op.mode), n3: BigInt(op.fd) };
    case "setns":
      return { ...r, kind: OP.SETNS, n1: BigInt(op.fd), n2: BigInt(op.nstype) };
    case "nsParent":
      return { ...r, kind: OP.NS_PARENT, n1: BigInt(op.fd), n3: BigInt(op.to) };
    case "close":
      return { ...r, kind: OP.CLOSE, n1: BigInt(op.fd) };
    case "setsid":
      return { ...r, kind: OP.SETSID };
    case "setIds":
      return { ...r, kind: OP.SETIDS, flags: op.setgroups ? 0x10 : 0, n1: BigInt(op.uid), n2: BigInt(op.gid) };
    case "openSlot":
      return { ...r, kind: OP.OPEN_SLOT, b: op.path, n1: BigInt(op.flags), n3: BigInt(op.slot) };
    case "closeSlot":
      return { ...r, kind: OP.CLOSE_SLOT, n1: BigInt(op.slot) };
    case "openTree":
      return {
        ...r,
        kind: OP.OPEN_TREE,
        b: op.path,
        n1: BigInt(OPEN_TREE_CLONE | (op.recursive ? AT_RECURSIVE : 0)),
        n3: BigInt(op.slot),
      };
    case "fsmount":
      // c: "key=value" strings one after the other, ended by an empty one
      return {
        ...r,
        kind: OP.FSMOUNT,
        a: op.fstype,
        c: op.options.join("\0"),
        n1: BigInt(op.attrs),
        n3: BigInt(op.slot),
      };
    case "moveMount":
      return { ...r, kind: OP.MOVE_MOUNT, b: op.path, n1: BigInt(op.from) };
    case "seccomp":
      // a: the program (checked by checkEncoding), n1: its length, n2: seccomp flags
      return { ...r, kind: OP.SECCOMP, a: "<program>", n1: BigInt(op.program.length) };
    default: {
      const unknown: never = op;
      throw new Error(`abi_test does not know op ${JSON.stringify(unknown)}: add it to expectedOp()`);
    }
  }
}

/** The `struct sock_filter` array of a seccomp op: {u16 code, u8 jt, u8 jf, u32 k}, n1 of them. */
function readProgram(d: Decoded, at: number): Array<[number, number, number, number]> {
  const o = OP_STRUCT.offsets as Record<string, number>;
  const prog = d.ptr(at + o.a!, 8);
  assert.ok(prog !== null, "seccomp op without a program");
  const n = Number(d.u64(at + o.n1!));
  assert.ok(prog + 8 * n <= d.buf.length, "seccomp program runs off the buffer");
  return Array.from({ length: n }, (_, i) => {
    const x = prog + 8 * i;
    return [d.view.getUint16(x, true), d.view.getUint8(x + 2), d.view.getUint8(x + 3), d.view.getUint32(x + 4, true)];
  });
}

/** The address (IPv4 dotted, IPv6 in full lower-case groups) and port of a listenSend op's sockaddr (n1 bytes). */
function readSockaddr(d: Decoded, at: number): [string, number] {
  const o = OP_STRUCT.offsets as Record<string, number>;
  const len = Number(d.u64(at + o.n1!));
  const p = d.ptr(at + o.a!, 1);
  assert.ok(p !== null && p + len <= d.buf.length, "sockaddr runs off the buffer");
  const family = d.view.getUint16(p, true), port = d.view.getUint16(p + 2, false);
  if (family === 2) {
    assert.equal(len, 16);
    return [Array.from({ length: 4 }, (_, i) => d.view.getUint8(p + 4 + i)).join("."), port];
  }
  assert.equal(family, 10);
  assert.equal(len, 28);
  const groups = Array.from({ length: 8 }, (_, i) => d.view.getUint16(p + 8 + 2 * i, false).toString(16));
  return [groups.join(":"), port];
}

/** An IPv6 literal in full (8 groups, no leading zeros); an IPv4 one as is. */
function expandAddress(a: string): string {
  if (!a.includes(":")) return a;
  const [head, tail] = a.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [], t = tail ? tail.split(":") : [];
  const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t];
  return all.map((g) => parseInt(g, 16).toString(16)).join(":");
}

/** The strings at a pointer field, one after the other until an empty one (NSBOX_OP_FSMOUNT's c), joined by NUL. */
function stringList(d: Decoded, field: number): string | null {
  let off = d.ptr(field);
  if (off === null) return null;
  const items: string[] = [];
  for (;;) {
    const s = d.cstr(off);
    if (s === "") return items.join("\0");
    items.push(s);
    off += new TextEncoder().encode(s).length + 1;
  }
}

function readOp(d: Decoded, at: number, aIsString = true): RawOp {
  const o = OP_STRUCT.offsets as Record<string, number>;
  const kind = d.u32(at + o.kind!);
  return {
    kind,
    flags: d.u32(at + o.flags!),
    a: aIsString ? d.str(at + o.a!) : null,
    b: d.str(at + o.b!),
    c: kind === OP.FSMOUNT ? stringList(d, at + o.c!) : d.str(at + o.c!),
    d: d.str(at + o.d!),
    n1: d.u64(at + o.n1!),
    n2: d.u64(at + o.n2!),
    n3: d.u64(at + o.n3!),
    dir: d.i32(at + o.dir!),
    resolve: d.u32(at + o.resolve!),
  };
}

/** The NSBOX_PLAN_* flag of `p.terminal`, from the header. */
function terminalFlag(p: ChildPlan): number {
  if (p.terminal === "foreground") return define("NSBOX_PLAN_FOREGROUND");
  if (p.terminal === "background") return define("NSBOX_PLAN_OWN_GROUP");
  if (p.terminal === "none") return define("NSBOX_PLAN_OWN_SESSION");
  return 0;
}

/** struct nsbox_plan.flags for `p`, from the header's NSBOX_PLAN_* values. */
function planFlags(p: ChildPlan): number {
  return (p.holdExit ? define("NSBOX_PLAN_HOLD_EXIT") : 0) | terminalFlag(p) |
    (p.killOrphans ? define("NSBOX_PLAN_KILL_ORPHANS") : 0);
}

/** Checks every field of an encoded plan against `plan`. */
function checkEncoding(p: ChildPlan, cgroupFd?: number) {
  const buf = cgroupFd === undefined ? encodePlan(p) : encodePlan(p, cgroupFd);
  const d = new Decoded(buf);
  assert.ok(buf.length >= PLAN_STRUCT.size);
  assert.equal(d.u32(P.abi_version!), ABI_VERSION);
  assert.equal(d.u32(P.op_count!), p.ops.length);
  assert.equal(d.u64(P.clone_flags!), BigInt(p.cloneFlags));
  const ops = d.ptr(P.ops!, 8);
  assert.ok(ops !== null && ops >= PLAN_STRUCT.size, "ops overlap the plan");
  assert.ok(ops + p.ops.length * OP_STRUCT.size <= buf.length, "ops run off the buffer");
  p.ops.forEach((op, i) => {
    const at = ops + i * OP_STRUCT.size;
    if (op.kind === "seccomp") {
      assert.deepEqual(readProgram(d, at), op.program, `op ${i}: seccomp program`);
      assert.deepEqual({ ...readOp(d, at, false), a: "<program>" }, expectedOp(op), `op ${i}: seccomp`);
      return;
    }
    if (op.kind === "listenSend") {
      assert.deepEqual(readSockaddr(d, at), [expandAddress(op.address), op.port], `op ${i}: sockaddr`);
      assert.deepEqual({ ...readOp(d, at, false), a: "<sockaddr>" }, expectedOp(op), `op ${i}: listenSend`);
      return;
    }
    assert.deepEqual(readOp(d, at), expectedOp(op), `op ${i}: ${JSON.stringify(op)}`);
  });
  assert.equal(d.str(P.file!), p.exec.file);
  assert.deepEqual(d.strings(P.argv!), p.exec.argv);
  assert.deepEqual(d.strings(P.envp!), p.exec.env);
  assert.equal(d.str(P.search_path!), p.exec.searchPath);
  assert.equal(d.u64(P.forward_signals!), mask(p.forwardSignals.map((s) => s - 1)));
  assert.equal(d.i32(P.pdeathsig!), p.pdeathsig);
  assert.equal(d.i32(P.init_mode!), p.init === "reaper" ? 1 : 0);
  assert.equal(d.i32(P.cgroup_fd!), cgroupFd ?? -1);
  assert.equal(d.u32(P.flags!), planFlags(p));
  // every pointer field read above is one the static nsbox-init relocates, and nothing else is
  const relocs = d.relocs();
  for (const at of d.pointers) assert.ok(relocs.has(at), `pointer field at ${at} is not in the relocation table`);
  for (const at of relocs) {
    assert.equal(at % 8, 0, `relocation ${at} is not 8-aligned`);
    assert.ok(d.u64(at) < BigInt(buf.length), `relocation ${at} holds ${d.u64(at)}, outside the plan`);
  }
  return d;
}

Deno.test("encodePlan() writes the header fields at their offsets", () => {
  const p = plan(["sh", "-c", "echo hi"]);
  const d = new Decoded(encodePlan(p));
  assert.equal(d.u32(0), ABI_VERSION);
  assert.equal(d.u32(4), p.ops.length);
  assert.equal(d.u64(8), BigInt(p.cloneFlags));
  for (const at of [16, 24, 32, 40, 48]) assert.notEqual(d.ptr(at), null, `pointer at ${at}`);
  assert.equal(d.cstr(d.ptr(24)!), "sh");
  assert.equal(d.cstr(d.ptr(48)!), "/usr/bin:/bin");
  assert.equal(d.i32(64), 9);
  assert.equal(d.i32(68), 1);
  assert.equal(d.i32(72), -1);
});

Deno.test("encodePlan() encodes every op of representative plans as the header describes", () => {
  for (
    const args of [
      ["sh"],
      ["--root", "--hostname", "x", "id"],
      ["--share", "net,uts,pid", "sh"],
      [
        "--rootfs",
        "/srv/root",
        "--bind",
        "/etc/hosts:/etc/hosts",
        "--ro-bind",
        "/home/user/src:/src",
        "--tmpfs",
        "/t",
        "sh",
      ],
      ["--as-pid-1", "--clearenv", "sh"],
    ]
  ) checkEncoding(plan(args));
});

Deno.test("encodePlan() lays out listenSend's sockaddr_in and sockaddr_in6, the unix socket and the backlog", () => {
  const p = plan(["sh"]);
  const listen = (address: string, port: number, via: number): ChildPlan["ops"][number] => ({
    kind: "listenSend",
    address,
    port,
    backlog: 128,
    via,
    what: "x",
  });
  checkEncoding({
    ...p,
    ops: [listen("127.0.0.1", 3128, 9), listen("::1", 3128, 9), listen("fd00:ec2::254", 65535, 12), ...p.ops],
  });
});

Deno.test("encodePlan() NULL-terminates argv and envp, also when empty", () => {
  const p = plan(["--clearenv", "env", "a b", ""]);
  const d = checkEncoding(p);
  assert.deepEqual(d.strings(32), ["env", "a b", ""]);
  assert.deepEqual(d.strings(40), []);
  const envp = d.ptr(40, 8)!;
  assert.equal(d.u64(envp), 0n);
});

Deno.test("encodePlan() writes UTF-8 strings", () => {
  const d = checkEncoding(plan(["echo", "héllo ✓"]));
  assert.deepEqual(d.strings(32), ["echo", "héllo ✓"]);
  assert.ok(d.strings(40).includes("ÜNI=cödé ✓"));
});

Deno.test("encodePlan() sets bit N-1 of forward_signals for signal N", () => {
  const p = plan(["sh"]);
  const d = checkEncoding({ ...p, forwardSignals: [1, 15, 28, 64] });
  assert.equal(d.u64(56), (1n << 0n) | (1n << 14n) | (1n << 27n) | (1n << 63n));
  assert.equal(new Decoded(encodePlan({ ...p, forwardSignals: [] })).u64(56), 0n);
});

Deno.test("encodePlan() writes pdeathsig, init_mode, cgroup_fd and flags", () => {
  const p: ChildPlan = { ...plan(["sh"]), holdExit: false, terminal: "inherit", killOrphans: false };
  const d = checkEncoding({ ...p, pdeathsig: 15, init: "none" }, 7);
  assert.equal(d.i32(64), 15);
  assert.equal(d.i32(68), 0);
  assert.equal(d.i32(72), 7);
  assert.equal(d.u32(76), 0);
  assert.equal(checkEncoding(p).i32(68), 1);
  assert.equal(checkEncoding({ ...p, holdExit: true }).u32(76), 0x1);
  assert.equal(checkEncoding({ ...p, terminal: "foreground" }).u32(76), 0x2);
  assert.equal(checkEncoding({ ...p, terminal: "background" }).u32(76), 0x8);
  assert.equal(checkEncoding({ ...p, terminal: "none" }).u32(76), 0x10);
  assert.equal(checkEncoding({ ...p, killOrphans: true }).u32(76), 0x4);
  assert.equal(checkEncoding({ ...p, holdExit: true, terminal: "foreground", killOrphans: true }).u32(76), 0x7);
});

Deno.test("encodePlan() writes cgroup_fd, and a relocation table for every pointer field (position-independent)", () => {
  const p = { ...plan(["sh", "-c", "echo hi"]), init: "reaper" as const };
  assert.equal(checkEncoding(p, 7).i32(72), 7);
  const d = checkEncoding(p);
  // ops, file, argv, envp, search_path, and each argv/envp entry, at least
  assert.ok(d.relocs().size >= 5 + 3 + p.exec.env.length, String(d.relocs().size));
});

Deno.test("callerFds() lists the descriptors of the caller's that the ops use, above 2", () => {
  const p: ChildPlan = {
    ...plan(["sh"]),
    ops: [
      { kind: "dup2", from: 9, to: 1, what: "w" },
      { kind: "dup2", from: 1, to: 2, what: "w" },
      { kind: "close", fd: 12, what: "w" },
      { kind: "close", fd: 9, what: "w" },
      { kind: "setns", fd: 30, nstype: 0, what: "w" },
    ],
  };
  assert.deepEqual(callerFds(p), [9, 12, 30]);
  const listen: SetupOp = { kind: "listenSend", address: "127.0.0.1", port: 3128, backlog: 64, via: 17, what: "w" };
  assert.deepEqual(callerFds({ ...p, ops: [listen] }), [17]);
});

Deno.test("encodePlan() lays out ops of 72 bytes with kind codes and flags", () => {
  const base = plan(["sh"]);
  const ops: SetupOp[] = [
    { kind: "mkdir", path: "/a", mode: 0o700, ignoreExists: true, what: "w" },
    { kind: "mkfile", path: "/b", mode: 0o600, ignoreExists: false, what: "w" },
    {
      kind: "capset",
      effective: [0, 21],
      permitted: [0, 21, 40],
      inheritable: [63],
      clearAmbient: false,
      what: "w",
    },
    { kind: "capset", effective: [], permitted: [], inheritable: [], clearAmbient: true, what: "w" },
    { kind: "capbsetDrop", caps: [0, 1, 40], what: "w" },
    { kind: "chdir", path: "/x", fallback: null, what: "w" },
    { kind: "chdir", path: "/x", fallback: "/", what: "w" },
    { kind: "mountSetattr", path: "/m", set: 1, clear: 2, recursive: false, what: "w" },
    { kind: "mountSetattr", path: "/m", set: 1, clear: 0, recursive: true, ignoreMissing: true, what: "w" },
    { kind: "symlink", target: "pts/ptmx", path: "/dev/ptmx", what: "w" },
    { kind: "dup2", from: 5, to: 1, what: "w" },
    { kind: "open", path: "/dev/null", flags: 0o2, mode: 0o644, fd: 0, what: "w" },
    {
      kind: "nestUserns",
      uidMap: "0 1000 1\n",
      gidMap: "0 1000 1\n",
      setgroups: "deny",
      flags: 0x20000,
      selfMap: true,
      what: "w",
    },
    { kind: "seccomp", program: [[0x20, 0, 0, 4], [0x06, 0, 0, 0x7fff0000]], what: "w" },
    { kind: "writeFile", path: "/etc/hostname", data: "héllo\n", mode: 0o644, what: "w" },
    { kind: "setns", fd: 1001, nstype: 0x40000000, what: "w" },
    { kind: "nsParent", fd: 1000, to: 1007, what: "w" },
    { kind: "close", fd: 1003, what: "w" },
    { kind: "setsid", what: "w" },
    { kind: "openSlot", slot: 1, path: "/oldroot", at: null, flags: 0o10200000, what: "w" },
    { kind: "openTree", slot: 2, path: "home/u", at: { slot: 1, resolve: 6 }, recursive: true, what: "w" },
    { kind: "fsmount", slot: 2, fstype: "tmpfs", options: ["mode=1777", "size=25%"], attrs: 6, what: "w" },
    { kind: "moveMount", from: 2, path: "tmp", at: { slot: 0, resolve: 0x12 }, ignoreMissing: true, what: "w" },
    { kind: "closeSlot", slot: 1, what: "w" },
    { kind: "mkdir", path: "a/b", at: { slot: 0, resolve: 0x12 }, mode: 0o755, ignoreExists: true, what: "w" },
    { kind: "setIds", uid: 4294967294, gid: 7, setgroups: true, what: "w" },
    { kind: "setIds", uid: 0, gid: 0, setgroups: false, what: "w" },
  ];
  const d = checkEncoding({ ...base, ops });
  const at = d.ptr(16, 8)!;
  const SZ = OP_STRUCT.size;
  const raw = (i: number) => readOp(d, at + i * SZ);
  assert.equal(d.u32(at + 0 * SZ), 4); // MKDIR
  assert.equal(d.u32(at + 0 * SZ + 4), 1); // IGNORE_EXISTS
  assert.equal(d.u64(at + 0 * SZ + 40), 0o700n);
  assert.equal(d.i32(at + 0 * SZ + 64), -1); // dir: none
  assert.equal(d.u32(at + 1 * SZ), 5); // MKFILE
  assert.equal(d.u32(at + 1 * SZ + 4), 0);
  assert.deepEqual(raw(2), { ...raw(2), kind: 12, flags: 0, n1: 0x200001n, n2: 0x10000200001n, n3: 1n << 63n });
  assert.deepEqual([raw(3).kind, raw(3).flags, raw(3).n1, raw(3).n2, raw(3).n3], [12, 2, 0n, 0n, 0n]);
  assert.deepEqual([raw(4).kind, raw(4).n1], [11, 0x10000000003n]);
  assert.deepEqual([raw(5).kind, raw(5).a, raw(5).b], [8, null, "/x"]);
  assert.deepEqual([raw(6).a, raw(6).b], ["/", "/x"]);
  assert.deepEqual([raw(7).kind, raw(7).b, raw(7).n1, raw(7).n2, raw(7).n3], [2, "/m", 1n, 2n, 0n]);
  assert.equal(raw(8).n3, 0x8000n);
  assert.equal(raw(8).flags, 4); // IGNORE_MISSING
  assert.equal(raw(7).flags, 0);
  assert.deepEqual([raw(9).kind, raw(9).a, raw(9).b], [6, "pts/ptmx", "/dev/ptmx"]);
  assert.deepEqual([raw(10).kind, raw(10).n1, raw(10).n2], [19, 5n, 1n]);
  assert.deepEqual([raw(11).kind, raw(11).b, raw(11).n1, raw(11).n2, raw(11).n3], [20, "/dev/null", 2n, 0o644n, 0n]);
  assert.deepEqual([raw(12).kind, raw(12).a, raw(12).b, raw(12).c, raw(12).n1], [
    18,
    "0 1000 1\n",
    "0 1000 1\n",
    "deny",
    0x20000n,
  ]);
  assert.equal(d.u32(at + 13 * SZ), 14); // SECCOMP
  assert.deepEqual(readProgram(d, at + 13 * SZ), [[0x20, 0, 0, 4], [0x06, 0, 0, 0x7fff0000]]);
  // write_file: n1 is the length in bytes, not in UTF-16 units
  assert.deepEqual([raw(14).kind, raw(14).a, raw(14).b, raw(14).n1, raw(14).n2], [
    15,
    "héllo\n",
    "/etc/hostname",
    7n,
    0o644n,
  ]);
  // struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
  const prog = d.ptr(at + 13 * SZ + 8, 8)!;
  assert.deepEqual([...d.buf.subarray(prog + 8, prog + 16)], [0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f]);
  assert.deepEqual([raw(19).kind, raw(19).b, raw(19).n1, raw(19).n3, raw(19).dir], [
    25,
    "/oldroot",
    0o10200000n,
    1n,
    -1,
  ]);
  assert.deepEqual([raw(20).kind, raw(20).b, raw(20).n1, raw(20).n3, raw(20).dir, raw(20).resolve], [
    27,
    "home/u",
    0x8001n,
    2n,
    1,
    6,
  ]);
  assert.deepEqual([raw(21).kind, raw(21).a, raw(21).c, raw(21).n1, raw(21).n3], [
    28,
    "tmpfs",
    "mode=1777\0size=25%",
    6n,
    2n,
  ]);
  assert.deepEqual([raw(22).kind, raw(22).b, raw(22).n1, raw(22).flags, raw(22).dir, raw(22).resolve], [
    29,
    "tmp",
    2n,
    4,
    0,
    0x12,
  ]);
  assert.deepEqual([raw(23).kind, raw(23).n1], [26, 1n]);
  assert.deepEqual([raw(24).kind, raw(24).b, raw(24).dir, raw(24).resolve], [4, "a/b", 0, 0x12]);
  assert.deepEqual([raw(25).kind, raw(25).flags, raw(25).n1, raw(25).n2], [30, 0x10, 4294967294n, 7n]); // SETIDS
  assert.deepEqual([raw(26).kind, raw(26).flags, raw(26).n1, raw(26).n2], [30, 0, 0n, 0n]);
});

Deno.test("encodePlan() keeps pointers inside a buffer grown past its first 4096 bytes", () => {
  const args = Array.from({ length: 150 }, (_, i) => ["--tmpfs", `/scratch/dir-${i}/sub`]).flat();
  const p = plan([...args, "sh"]);
  const buf = encodePlan(p);
  assert.ok(buf.length > 16384, `buffer of ${buf.length} bytes`);
  checkEncoding(p);
});

Deno.test("encodePlan() encodes an empty op list", () => {
  const d = checkEncoding({ ...plan(["sh"]), ops: [] });
  assert.equal(d.u32(4), 0);
});

// ---------------------------------------------------------------------------
// The native supervisor's config and result

const SV_CONFIG = cStruct("nsbox_sv_config"), SV_OP_STRUCT = cStruct("nsbox_sv_op");
const SV_RESULT = cStruct("nsbox_sv_result"), SV_FAIL = cStruct("nsbox_sv_fail");

const CONFIG: SupervisorConfig = {
  terminal: "background",
  commandIsPid1: true,
  pid: 4242,
  pidfd: 7,
  msgFd: 8,
  holdFd: 9,
  commandNsPid: 2,
  logRd: 10,
  recordFd: 11,
  stats: "cgroup",
  statsPath: "/sys/fs/cgroup/x/sandbox",
  log: { path: "/run/user/1/nsbox/a/log", cap: 65536 },
  elapsedUs: 12345.6,
  forwardSignals: [1, 15],
  savedTerminal: { fd: 0, ldisc: 0, exclusive: true, termios: new Uint8Array(36).fill(7) },
  mac: { key: new Uint8Array(32).fill(1), prefix: new TextEncoder().encode("ctx\0exit\0a\0") },
  stopHint: "stopped ({signum})\n",
  signalNames: ["", "SIGHUP"],
  ops: [
    { kind: "sweep", usernsFd: 12, cgroups: ["/cg/a", "/cg/b"] },
    { kind: "finishLog", graceMs: 2000 },
    { kind: "report", fd: 2, template: "{exit}\n" },
    { kind: "exitRecord", file: "exit.json", body: "B", text: "T" },
    { kind: "stopHelper", pidfd: 13, graceMs: 1000, ended: "pasta ended\n" },
    { kind: "removeCgroup", path: "/cg/a", waitMs: 5000 },
    { kind: "writeFile", path: "/cg/procs", text: "0" },
    { kind: "removeDir", path: "/run/user/1/nsbox/a" },
    { kind: "trimLog" },
    { kind: "result", fd: 14 },
    { kind: "removeFile", path: "state.json" },
    { kind: "readEgress", fd: 15, cap: 4096 },
    { kind: "stopHelper", pidfd: 16, graceMs: 500 },
  ],
  timeout: { ms: 2500, killAfterMs: 10000 },
};

Deno.test("the supervisor's structs in nsbox_helper.h have the sizes abi.ts writes and reads", () => {
  assert.equal(SV_CONFIG.size, SV_CONFIG_SIZE);
  assert.equal(SV_OP_STRUCT.size, SV_OP_SIZE);
  assert.equal(SV_RESULT.size, SV_RESULT_SIZE);
  assert.equal(SV_FAIL.size, SV_FAIL_SIZE);
  assert.match(CODE, /^#define\s+NSBOX_SV_ANY_STEP\s+INT32_MIN\b/m);
  assert.equal(SV_ANY_STEP, -(2 ** 31));
  const max = CODE.match(/#define\s+NSBOX_SV_MAX_CONFIG\s+\((\d+)\s*\*\s*(\d+)\)/);
  assert.ok(max, "NSBOX_SV_MAX_CONFIG");
  const egress = CODE.match(/#define\s+NSBOX_SV_MAX_EGRESS\s+\((\d+)\s*\*\s*(\d+)\)/);
  assert.ok(egress, "NSBOX_SV_MAX_EGRESS");
  assert.equal(SV_MAX_EGRESS, Number(egress[1]) * Number(egress[2]));
  assert.equal(SV_MAX_CONFIG, Number(max[1]) * Number(max[2]));
});

Deno.test("SV_OP and SV_STATS equal the header's enum nsbox_sv_op_kind and NSBOX_STATS_*", () => {
  const header = cEnum("nsbox_sv_op_kind", "NSBOX_SV_");
  const camel = (s: string) => s.toLowerCase().replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  assert.deepEqual(Object.fromEntries(Object.entries(header).map(([k, v]) => [camel(k), v])), { ...SV_OP });
  assert.deepEqual({ ...SV_STATS }, {
    none: define("NSBOX_STATS_NONE"),
    cgroup: define("NSBOX_STATS_CGROUP"),
    rusage: define("NSBOX_STATS_RUSAGE"),
  });
});

Deno.test("encodeSupervisorConfig() writes each field at the header's offset, strings and ops by offset", () => {
  const bytes = encodeSupervisorConfig(CONFIG);
  const v = new DataView(bytes.buffer);
  const o = SV_CONFIG.offsets;
  const at = (f: string) => o[f]!;
  const cstr = (off: number) => {
    assert.ok(off > 0 && off < bytes.length, `offset ${off}`);
    return new TextDecoder().decode(bytes.subarray(off, bytes.indexOf(0, off)));
  };
  assert.equal(v.getUint32(at("abi_version"), true), ABI_VERSION);
  assert.equal(v.getUint32(at("size"), true), bytes.length);
  assert.equal(v.getUint32(at("flags"), true), define("NSBOX_SV_COMMAND_IS_PID1") | define("NSBOX_SV_SAVED_TERMINAL"));
  assert.equal(v.getInt32(at("terminal"), true), define("NSBOX_TERMINAL_BACKGROUND"));
  assert.deepEqual(
    ["pid", "pidfd", "msg_fd", "hold_fd", "command_ns_pid", "log_rd", "record_fd"].map((f) => v.getInt32(at(f), true)),
    [4242, 7, 8, 9, 2, 10, 11],
  );
  assert.equal(v.getInt32(at("stats"), true), define("NSBOX_STATS_CGROUP"));
  assert.equal(v.getBigInt64(at("log_cap"), true), 65536n);
  assert.equal(v.getBigInt64(at("elapsed_us"), true), 12346n);
  assert.equal(v.getBigUint64(at("forward_signals"), true), (1n << 0n) | (1n << 14n));
  assert.deepEqual([v.getInt32(at("saved_fd"), true), v.getInt32(at("saved_exclusive"), true)], [0, 1]);
  assert.equal(v.getUint32(at("saved_termios_len"), true), 36);
  assert.equal(bytes[at("saved_termios") + 35], 7);
  assert.equal(cstr(v.getUint32(at("stats_path"), true)), "/sys/fs/cgroup/x/sandbox");
  assert.equal(cstr(v.getUint32(at("log_path"), true)), "/run/user/1/nsbox/a/log");
  const key = v.getUint32(at("key"), true);
  assert.deepEqual([...bytes.subarray(key, key + 32)], Array(32).fill(1));
  const prefix = v.getUint32(at("mac_prefix"), true);
  assert.equal(v.getUint32(at("mac_prefix_len"), true), 11);
  assert.equal(new TextDecoder().decode(bytes.subarray(prefix, prefix + 11)), "ctx\0exit\0a\0");
  assert.equal(cstr(v.getUint32(at("stop_hint"), true)), "stopped ({signum})\n");
  const names = v.getUint32(at("signal_names"), true);
  assert.equal(cstr(names), ""); // 0 unused
  assert.equal(cstr(names + 1), "SIGHUP");
  assert.equal(v.getUint32(at("op_count"), true), CONFIG.ops.length);
  const ops = v.getUint32(at("ops"), true);
  assert.equal(ops % 8, 0);
  const op = (i: number, f: string) => ops + i * SV_OP_SIZE + SV_OP_STRUCT.offsets[f]!;
  CONFIG.ops.forEach((o, i) => assert.equal(v.getInt32(op(i, "kind"), true), SV_OP[o.kind]));
  assert.equal(v.getInt32(op(0, "fd"), true), 12);
  assert.deepEqual([cstr(v.getUint32(op(0, "a"), true)), cstr(v.getUint32(op(0, "b"), true))], ["/cg/a", "/cg/b"]);
  assert.equal(v.getBigInt64(op(1, "arg"), true), 2000n);
  assert.equal(cstr(v.getUint32(op(2, "a"), true)), "{exit}\n");
  assert.deepEqual([3, 4].map((i) => v.getInt32(op(i, "fd"), true)), [-1, 13]);
  assert.deepEqual(["a", "b", "c"].map((f) => cstr(v.getUint32(op(3, f), true))), ["exit.json", "B", "T"]);
  assert.equal(v.getUint32(op(8, "a"), true), 0); // trimLog: no string
  assert.equal(cstr(v.getUint32(op(10, "a"), true)), "state.json");
  assert.deepEqual([v.getInt32(op(11, "fd"), true), v.getBigInt64(op(11, "arg"), true)], [15, 4096n]);
  assert.equal(cstr(v.getUint32(op(4, "a"), true)), "pasta ended\n"); // stopHelper: said if it ends early
  assert.equal(v.getUint32(op(12, "a"), true), 0); // stopHelper without `ended`: not watched
  assert.equal(bytes[bytes.length - 1], 0, "the config ends with a NUL (the supervisor relies on it)");
  assert.equal(v.getBigInt64(at("timeout_us"), true), 2_500_000n);
  assert.equal(v.getBigInt64(at("kill_after_us"), true), 10_000_000n);
});

Deno.test("encodeSupervisorConfig() writes the failure rules and their tables at the header's offsets", () => {
  const none = new DataView(encodeSupervisorConfig(CONFIG).buffer);
  for (const f of ["fail_count", "fails", "step_whats", "step_what_count", "errnos", "errno_count"]) {
    assert.equal(none.getUint32(SV_CONFIG.offsets[f]!, true), 0, `${f} without failures`);
  }
  const bytes = encodeSupervisorConfig({
    ...CONFIG,
    failures: {
      rules: [
        { step: STEP.EXEC, errno: 2, exitCode: 127, text: "not found\n" },
        { step: "any", errno: null, exitCode: 125, text: "{step_what}: {errno_text}\n" },
      ],
      stepWhats: ["cannot mount /proc", "", "cannot bind /a\0b"],
      errnos: [["", ""], ["EPERM", "Operation not permitted"]],
    },
  });
  const v = new DataView(bytes.buffer);
  const at = (f: string) => v.getUint32(SV_CONFIG.offsets[f]!, true);
  const cstr = (off: number) => new TextDecoder().decode(bytes.subarray(off, bytes.indexOf(0, off)));
  /** The n-th of the NUL-separated strings at `off`, as the supervisor's nth() finds it. */
  const nth = (off: number, n: number) => {
    let p = off;
    for (; n > 0; n--) p = bytes.indexOf(0, p) + 1;
    return cstr(p);
  };
  assert.equal(at("fail_count"), 2);
  const rules = at("fails");
  assert.equal(rules % 4, 0);
  const rule = (i: number, f: string) => rules + i * SV_FAIL_SIZE + SV_FAIL.offsets[f]!;
  assert.deepEqual(
    [0, 1].map((i) => [v.getInt32(rule(i, "step"), true), v.getInt32(rule(i, "err"), true)]),
    [[STEP.EXEC, 2], [SV_ANY_STEP, -1]],
  );
  assert.deepEqual([0, 1].map((i) => v.getInt32(rule(i, "exit_code"), true)), [127, 125]);
  assert.equal(cstr(v.getUint32(rule(1, "text"), true)), "{step_what}: {errno_text}\n");
  assert.equal(at("step_what_count"), 3);
  assert.deepEqual([0, 1, 2].map((i) => nth(at("step_whats"), i)), ["cannot mount /proc", "", "cannot bind /ab"]);
  assert.equal(at("errno_count"), 2);
  assert.deepEqual([0, 1, 2, 3].map((i) => nth(at("errnos"), i)), ["", "", "EPERM", "Operation not permitted"]);
});

Deno.test("decodeSupervisorResult() reads the header's struct nsbox_sv_result; -1 is unknown", () => {
  const buf = new Uint8Array(SV_RESULT_SIZE);
  const v = new DataView(buf.buffer);
  const o = SV_RESULT.offsets;
  v.setInt32(o.kind!, 2, true), v.setInt32(o.value!, 9, true), v.setInt32(o.stats!, SV_STATS.cgroup, true);
  v.setInt32(o.timed_out!, 1, true);
  v.setBigInt64(o.wall_us!, 1500n, true), v.setBigInt64(o.cpu_user_us!, -1n, true);
  v.setBigInt64(o.cpu_system_us!, 20n, true), v.setBigInt64(o.memory_peak!, 4096n, true);
  v.setBigInt64(o.pids_peak!, -1n, true), v.setBigInt64(o.oom_kills!, 1n, true);
  assert.deepEqual(decodeSupervisorResult(buf), {
    ended: { kind: "signaled", signal: 9 },
    stats: "cgroup",
    timedOut: true,
    wallUs: 1500,
    cpuUserUs: null,
    cpuSystemUs: 20,
    memoryPeak: 4096,
    pidsPeak: null,
    oomKills: 1,
  });
  v.setInt32(o.kind!, 3, true), v.setInt32(o.value!, 13, true), v.setInt32(o.step!, 4, true);
  assert.deepEqual(decodeSupervisorResult(buf).ended, { kind: "failed", step: 4, errno: 13 });
});

Deno.test("encodePlan() writes 64-bit numbers as their two's complement, small, large and negative alike", () => {
  const values = [0, 1, 0xffffffff, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, -1, -2, -(2 ** 31)];
  const ops: SetupOp[] = [];
  for (let i = 0; i < values.length; i += 3) {
    const [a = 0, b = 0, c = 0] = values.slice(i, i + 3);
    ops.push({ kind: "prctl", option: a, arg2: b, arg3: c, what: "test" });
  }
  const p: ChildPlan = { ...plan(["true"]), ops, cloneFlags: 2 ** 40 + 0x10000000 };
  const d = new Decoded(encodePlan(p));
  const at = Number(d.ptr(P.ops!));
  const read = ops.flatMap((_, i) => {
    const r = readOp(d, at + i * OP_STRUCT.size, false);
    return [r.n1, r.n2, r.n3];
  }).slice(0, values.length);
  assert.deepEqual(read, values.map((v) => BigInt.asUintN(64, BigInt(v))));
  assert.equal(d.u64(P.clone_flags!), BigInt(2 ** 40 + 0x10000000));
  assert.throws(
    () => encodePlan({ ...p, ops: [{ kind: "prctl", option: 0.5, arg2: 0, arg3: 0, what: "test" }] }),
    RangeError,
  );
});
