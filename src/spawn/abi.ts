/**
 * Encodes a {@linkcode ChildPlan} into the memory layout of ffi/nsbox_helper.h
 * (`struct nsbox_plan`, its ops and strings) in one buffer. Keep in step with
 * the header: NSBOX_ABI_VERSION guards against a mismatch at run time.
 *
 * @module
 */
import type { ChildPlan, SetupOp } from "../plan/ops.ts";
import { AT_RECURSIVE, OPEN_TREE_CLONE } from "../linux.ts";

/** Must equal NSBOX_ABI_VERSION in ffi/nsbox_helper.h. */
export const ABI_VERSION = 10;

/** enum nsbox_op_kind */
export const OP = {
  MOUNT: 1,
  MOUNT_SETATTR: 2,
  UMOUNT: 3,
  MKDIR: 4,
  MKFILE: 5,
  SYMLINK: 6,
  PIVOT_ROOT: 7,
  CHDIR: 8,
  SETHOSTNAME: 9,
  PRCTL: 10,
  CAPBSET_DROP: 11,
  CAPSET: 12,
  CLOEXEC_FROM: 13,
  SECCOMP: 14,
  WRITE_FILE: 15,
  LINK_UP: 16,
  UNSHARE: 17,
  NEST_USERNS: 18,
  DUP2: 19,
  OPEN: 20,
  SETNS: 21,
  NS_PARENT: 22,
  CLOSE: 23,
  SETSID: 24,
  OPEN_SLOT: 25,
  CLOSE_SLOT: 26,
  OPEN_TREE: 27,
  FSMOUNT: 28,
  MOVE_MOUNT: 29,
  SETIDS: 30,
  LISTEN_SEND: 31,
} as const;

const OPF_IGNORE_EXISTS = 0x1;
const OPF_CLEAR_AMBIENT = 0x2;
const OPF_IGNORE_MISSING = 0x4;
const OPF_SELF_MAP = 0x8;
const OPF_SETGROUPS = 0x10;

/** Phases of the child that are not an op (NSBOX_STEP_*). */
export const STEP = { SYNC: -1, EXEC: -2, INIT: -3 } as const;
/** enum nsbox_msg_kind */
export const MSG = { ERROR: 1, EXIT: 2, STOPPED: 3, STARTED: 4, RUSAGE: 5 } as const;
/** sizeof(struct nsbox_msg) */
export const MSG_SIZE = 16;

/** One `struct nsbox_msg` from the child, decoded. */
export type ChildMessage =
  | { readonly kind: "error"; readonly step: number; readonly errno: number }
  | { readonly kind: "exit"; readonly status: number }
  | { readonly kind: "stopped"; readonly signal: number }
  | { readonly kind: "started"; readonly nsPid: number }
  /** What the command used: `which` 0 user time, 1 system time (in microseconds), 2 peak RSS (KiB). */
  | { readonly kind: "rusage"; readonly which: number; readonly value: number }
  | { readonly kind: "unknown"; readonly code: number };

/**
 * Decodes one message the child wrote on its report pipe (`MSG_SIZE` bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const m = new Int32Array([2, 0, 0, 3 << 8]); // NSBOX_MSG_EXIT, wait status: exited 3
 * assert.deepEqual(decodeMessage(new Uint8Array(m.buffer)), { kind: "exit", status: 768 });
 * ```
 */
export function decodeMessage(buf: Uint8Array): ChildMessage {
  const view = new DataView(buf.buffer, buf.byteOffset, MSG_SIZE);
  const code = view.getInt32(0, true), value = view.getInt32(12, true);
  switch (code) {
    case MSG.ERROR:
      return { kind: "error", step: view.getInt32(4, true), errno: view.getInt32(8, true) };
    case MSG.EXIT:
      return { kind: "exit", status: value };
    case MSG.STOPPED:
      return { kind: "stopped", signal: value };
    case MSG.STARTED:
      return { kind: "started", nsPid: value };
    case MSG.RUSAGE: {
      const which = view.getInt32(4, true);
      return { kind: "rusage", which, value: which === 2 ? value : view.getInt32(8, true) * 1_000_000 + value };
    }
    default:
      return { kind: "unknown", code };
  }
}
/** sizeof(struct nsbox_spawn_result) */
export const RESULT_SIZE = 16;

const PLAN_SIZE = 88;
/** NSBOX_PLAN_* flags. */
export const PLAN = { HOLD_EXIT: 0x1, FOREGROUND: 0x2, KILL_ORPHANS: 0x4, OWN_GROUP: 0x8, OWN_SESSION: 0x10 } as const;

/** The NSBOX_PLAN_* flag that places the command for `terminal` (ChildPlan.terminal). */
const TERMINAL_FLAG = { foreground: PLAN.FOREGROUND, background: PLAN.OWN_GROUP, none: PLAN.OWN_SESSION, inherit: 0 };
const OP_SIZE = 72;

const ENCODER = new TextEncoder();

/** A buffer of C structures whose pointers refer into the buffer itself. */
class Arena {
  #bytes = new Uint8Array(4096);
  #view = new DataView(this.#bytes.buffer);
  #used = 0;
  #fixups: Array<[at: number, target: number]> = [];
  #strings = new Map<string, number>();

  alloc(size: number, align = 8): number {
    const off = (this.#used + align - 1) & ~(align - 1);
    this.#grow(off + size);
    this.#used = off + size;
    return off;
  }

  string(s: string): number {
    const known = this.#strings.get(s);
    if (known !== undefined) return known;
    const bytes = ENCODER.encode(s);
    const off = this.alloc(bytes.length + 1, 1);
    this.#bytes.set(bytes, off);
    this.#strings.set(s, off);
    return off;
  }

  u32(at: number, v: number) {
    this.#view.setUint32(at, v >>> 0, true);
  }
  i32(at: number, v: number) {
    this.#view.setInt32(at, v, true);
  }
  u8(at: number, v: number) {
    this.#view.setUint8(at, v);
  }
  u64(at: number, v: bigint) {
    this.#view.setBigUint64(at, v, true);
  }
  /** struct sock_filter {u16 code; u8 jt; u8 jf; u32 k} at `at`. */
  bpf(at: number, code: number, jt: number, jf: number, k: number) {
    this.#view.setUint16(at, code, true);
    this.#view.setUint8(at + 2, jt);
    this.#view.setUint8(at + 3, jf);
    this.#view.setUint32(at + 4, k >>> 0, true);
  }
  /** A pointer field at `at` to offset `target` (null: NULL). */
  ptr(at: number, target: number | null) {
    if (target === null) this.u64(at, 0n);
    else this.#fixups.push([at, target]);
  }

  /** The bytes as they are, for a layout whose fields hold offsets, not pointers. */
  bytes(): Uint8Array<ArrayBuffer> {
    if (this.#fixups.length) throw new Error("an offset layout has no pointers");
    return this.#bytes.slice(0, this.#used);
  }

  /**
   * The bytes with every pointer field holding its target's offset, and a
   * table of those fields' offsets appended (u32 each): position-independent,
   * for a program that maps the buffer wherever it likes and adds its address
   * (the static nsbox-init's --setup). Returns the buffer and the table's
   * offset and length.
   */
  relocatable(): { bytes: Uint8Array<ArrayBuffer>; relocs: number; count: number } {
    const fixups = this.#fixups.splice(0);
    const relocs = this.alloc(4 * fixups.length, 4);
    fixups.forEach(([at, target], i) => {
      this.u64(at, BigInt(target));
      this.u32(relocs + 4 * i, at);
    });
    return { bytes: this.#bytes.slice(0, this.#used), relocs, count: fixups.length };
  }

  /** Copies into a final buffer and resolves pointers against its address. */
  finish(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.#used);
    out.set(this.#bytes.subarray(0, this.#used));
    const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(out)));
    const view = new DataView(out.buffer);
    for (const [at, target] of this.#fixups) view.setBigUint64(at, base + BigInt(target), true);
    return out;
  }

  #grow(size: number) {
    if (size <= this.#bytes.length) return;
    let n = this.#bytes.length;
    while (n < size) n *= 2;
    const next = new Uint8Array(n);
    next.set(this.#bytes);
    this.#bytes = next;
    this.#view = new DataView(next.buffer);
  }
}

function mask(bits: readonly number[]): bigint {
  return bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);
}

function encodeOp(a: Arena, at: number, op: SetupOp) {
  const str = (field: number, s: string | null) => a.ptr(at + field, s === null ? null : a.string(s));
  const A = 8, B = 16, C = 24, D = 32, N1 = 40, N2 = 48, N3 = 56, DIR = 64, RESOLVE = 68;
  let kind: number, flags = 0;
  const at_ = "at" in op ? op.at ?? null : null;
  a.i32(at + DIR, at_ ? at_.slot : -1);
  a.u32(at + RESOLVE, at_ ? at_.resolve : 0);
  switch (op.kind) {
    case "mount":
      kind = OP.MOUNT;
      str(A, op.source), str(B, op.target), str(C, op.fstype), str(D, op.data);
      a.u64(at + N1, BigInt(op.flags));
      break;
    case "mountSetattr":
      kind = OP.MOUNT_SETATTR;
      str(B, op.path);
      a.u64(at + N1, BigInt(op.set)), a.u64(at + N2, BigInt(op.clear));
      a.u64(at + N3, BigInt(op.recursive ? AT_RECURSIVE : 0));
      break;
    case "umount":
      kind = OP.UMOUNT;
      str(B, op.path), a.u64(at + N1, BigInt(op.flags));
      break;
    case "mkdir":
    case "mkfile":
      kind = op.kind === "mkdir" ? OP.MKDIR : OP.MKFILE;
      str(B, op.path), a.u64(at + N1, BigInt(op.mode));
      if (op.ignoreExists) flags |= OPF_IGNORE_EXISTS;
      break;
    case "symlink":
      kind = OP.SYMLINK;
      str(A, op.target), str(B, op.path);
      break;
    case "pivotRoot":
      kind = OP.PIVOT_ROOT;
      str(A, op.newRoot), str(B, op.putOld);
      break;
    case "chdir":
      kind = OP.CHDIR;
      str(B, op.path), str(A, op.fallback);
      break;
    case "sethostname":
      kind = OP.SETHOSTNAME;
      str(A, op.name);
      break;
    case "prctl":
      kind = OP.PRCTL;
      a.u64(at + N1, BigInt(op.option)), a.u64(at + N2, BigInt(op.arg2)), a.u64(at + N3, BigInt(op.arg3));
      break;
    case "capbsetDrop":
      kind = OP.CAPBSET_DROP;
      a.u64(at + N1, mask(op.caps));
      break;
    case "capset":
      kind = OP.CAPSET;
      a.u64(at + N1, mask(op.effective)), a.u64(at + N2, mask(op.permitted)), a.u64(at + N3, mask(op.inheritable));
      if (op.clearAmbient) flags |= OPF_CLEAR_AMBIENT;
      break;
    case "cloexecFrom":
      kind = OP.CLOEXEC_FROM;
      a.u64(at + N1, BigInt(op.fd));
      break;
    case "linkUp":
      kind = OP.LINK_UP;
      str(A, op.name);
      break;
    case "listenSend": {
      kind = OP.LISTEN_SEND;
      const addr = sockaddr(op.address, op.port);
      const at_ = a.alloc(addr.length);
      addr.forEach((b, i) => a.u8(at_ + i, b));
      a.ptr(at + A, at_);
      a.u64(at + N1, BigInt(addr.length)), a.u64(at + N2, BigInt(op.via)), a.u64(at + N3, BigInt(op.backlog));
      break;
    }
    case "unshare":
      kind = OP.UNSHARE;
      a.u64(at + N1, BigInt(op.flags));
      break;
    case "writeFile":
      kind = OP.WRITE_FILE;
      str(A, op.data), str(B, op.path);
      a.u64(at + N1, BigInt(ENCODER.encode(op.data).length)), a.u64(at + N2, BigInt(op.mode));
      break;
    case "dup2":
      kind = OP.DUP2;
      a.u64(at + N1, BigInt(op.from)), a.u64(at + N2, BigInt(op.to));
      break;
    case "open":
      kind = OP.OPEN;
      str(B, op.path);
      a.u64(at + N1, BigInt(op.flags)), a.u64(at + N2, BigInt(op.mode)), a.u64(at + N3, BigInt(op.fd));
      break;
    case "setns":
      kind = OP.SETNS;
      a.u64(at + N1, BigInt(op.fd)), a.u64(at + N2, BigInt(op.nstype));
      break;
    case "nsParent":
      kind = OP.NS_PARENT;
      a.u64(at + N1, BigInt(op.fd)), a.u64(at + N3, BigInt(op.to));
      break;
    case "close":
      kind = OP.CLOSE;
      a.u64(at + N1, BigInt(op.fd));
      break;
    case "setsid":
      kind = OP.SETSID;
      break;
    case "setIds":
      kind = OP.SETIDS;
      a.u64(at + N1, BigInt(op.uid)), a.u64(at + N2, BigInt(op.gid));
      if (op.setgroups) flags |= OPF_SETGROUPS;
      break;
    case "openSlot":
      kind = OP.OPEN_SLOT;
      str(B, op.path);
      a.u64(at + N1, BigInt(op.flags)), a.u64(at + N3, BigInt(op.slot));
      break;
    case "closeSlot":
      kind = OP.CLOSE_SLOT;
      a.u64(at + N1, BigInt(op.slot));
      break;
    case "openTree":
      kind = OP.OPEN_TREE;
      str(B, op.path);
      a.u64(at + N1, BigInt(OPEN_TREE_CLONE | (op.recursive ? AT_RECURSIVE : 0))), a.u64(at + N3, BigInt(op.slot));
      break;
    case "fsmount":
      kind = OP.FSMOUNT;
      str(A, op.fstype);
      // "k=v\0k\0" and the string's own NUL: the list ends with an empty string
      str(C, op.options.length ? op.options.join("\0") + "\0" : "");
      a.u64(at + N1, BigInt(op.attrs)), a.u64(at + N3, BigInt(op.slot));
      break;
    case "moveMount":
      kind = OP.MOVE_MOUNT;
      str(B, op.path);
      a.u64(at + N1, BigInt(op.from));
      break;
    case "nestUserns":
      kind = OP.NEST_USERNS;
      str(A, op.uidMap), str(B, op.gidMap), str(C, op.setgroups);
      a.u64(at + N1, BigInt(op.flags));
      if (op.selfMap) flags |= OPF_SELF_MAP;
      break;
    case "seccomp": {
      kind = OP.SECCOMP;
      const prog = a.alloc(8 * op.program.length);
      op.program.forEach(([code, jt, jf, k], i) => a.bpf(prog + 8 * i, code, jt, jf, k));
      a.ptr(at + A, prog);
      a.u64(at + N1, BigInt(op.program.length));
      break;
    }
  }
  if ("ignoreMissing" in op && op.ignoreMissing) flags |= OPF_IGNORE_MISSING;
  a.u32(at, kind);
  a.u32(at + 4, flags);
}

/**
 * `struct sockaddr_in` (16 bytes) or `struct sockaddr_in6` (28 bytes) for an IPv4 or IPv6 literal and a port.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual([...sockaddr("127.0.0.1", 3128)], [2, 0, 0x0c, 0x38, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
 * assert.equal(sockaddr("::1", 3128).length, 28);
 * ```
 */
export function sockaddr(address: string, port: number): Uint8Array {
  const v4 = address.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (v4) {
    const b = new Uint8Array(16);
    b[0] = 2; // AF_INET, little-endian u16
    b[2] = port >> 8, b[3] = port & 0xff;
    for (let i = 0; i < 4; i++) b[4 + i] = Number(v4[i + 1]);
    return b;
  }
  const b = new Uint8Array(28);
  b[0] = 10; // AF_INET6
  b[2] = port >> 8, b[3] = port & 0xff;
  b.set(ipv6Bytes(address), 8);
  return b;
}

/** The 16 bytes of an IPv6 literal (`::` shortening allowed, no IPv4 tail); throws on anything else. */
function ipv6Bytes(address: string): Uint8Array {
  const halves = address.split("::");
  if (halves.length > 2) throw new Error(`not an IPv6 address: ${address}`);
  const groups = (s: string) =>
    s === "" ? [] : s.split(":").map((g) => {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) throw new Error(`not an IPv6 address: ${address}`);
      return parseInt(g, 16);
    });
  const head = groups(halves[0]!), tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) throw new Error(`not an IPv6 address: ${address}`);
  const all = [...head, ...new Array(fill).fill(0), ...tail];
  const b = new Uint8Array(16);
  all.forEach((g, i) => (b[2 * i] = g >> 8, b[2 * i + 1] = g & 0xff));
  return b;
}

function stringArray(a: Arena, items: readonly string[]): number {
  const at = a.alloc((items.length + 1) * 8);
  items.forEach((s, i) => a.ptr(at + i * 8, a.string(s)));
  a.u64(at + items.length * 8, 0n);
  return at;
}

/**
 * Lays out `plan` as a position-independent `struct nsbox_plan` at offset 0
 * of the returned buffer: pointer fields hold offsets into the buffer, listed
 * in a relocation table at its end (`relocs`, `reloc_count`), so that the
 * static nsbox-init can map it anywhere (ffi/nsbox_helper.h). `cgroupFd`: a
 * cgroup directory to clone into, or -1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = encodePlan({
 *   cloneFlags: 0, idMaps: { uid: [], gid: [], setgroups: "deny", writer: "none" }, ops: [],
 *   exec: { file: "true", argv: ["true"], env: [], searchPath: "/usr/bin" }, init: "none", forwardSignals: [],
 *   pdeathsig: 9, holdExit: false, terminal: "inherit", killOrphans: false,
 * });
 * const v = new DataView(bytes.buffer);
 * const file = Number(v.getBigUint64(24, true)); // an offset, not an address
 * assert.equal(new TextDecoder().decode(bytes.subarray(file, file + 4)), "true");
 * ```
 */
export function encodePlan(plan: ChildPlan, cgroupFd = -1): Uint8Array<ArrayBuffer> {
  const a = new Arena();
  const p = a.alloc(PLAN_SIZE);
  const ops = a.alloc(OP_SIZE * plan.ops.length);
  plan.ops.forEach((op, i) => encodeOp(a, ops + i * OP_SIZE, op));
  a.u32(p + 0, ABI_VERSION);
  a.u32(p + 4, plan.ops.length);
  a.u64(p + 8, BigInt(plan.cloneFlags));
  a.ptr(p + 16, ops);
  a.ptr(p + 24, a.string(plan.exec.file));
  a.ptr(p + 32, stringArray(a, plan.exec.argv));
  a.ptr(p + 40, stringArray(a, plan.exec.env));
  a.ptr(p + 48, a.string(plan.exec.searchPath));
  a.u64(p + 56, mask(plan.forwardSignals.map((s) => s - 1)));
  a.i32(p + 64, plan.pdeathsig);
  a.i32(p + 68, plan.init === "reaper" ? 1 : 0);
  a.i32(p + 72, cgroupFd);
  a.u32(
    p + 76,
    (plan.holdExit ? PLAN.HOLD_EXIT : 0) | TERMINAL_FLAG[plan.terminal] |
      (plan.killOrphans ? PLAN.KILL_ORPHANS : 0),
  );
  const { bytes, relocs, count } = a.relocatable();
  const v = new DataView(bytes.buffer);
  v.setUint32(p + 80, count, true);
  v.setUint32(p + 84, relocs, true);
  return bytes;
}

/**
 * The descriptors of the caller's that `plan`'s ops use (they must survive
 * the exec of the static nsbox-init that replays them): the sources of dup2,
 * the descriptors closed, joined (setns) or asked for their parent namespace,
 * the unix socket a listening socket is sent through.
 * Standard ones (0-2) always survive.
 */
export function callerFds(plan: ChildPlan): number[] {
  const fds = new Set<number>();
  for (const op of plan.ops) {
    if (op.kind === "dup2") fds.add(op.from);
    else if (op.kind === "close" || op.kind === "setns" || op.kind === "nsParent") fds.add(op.fd);
    else if (op.kind === "listenSend") fds.add(op.via);
  }
  return [...fds].filter((fd) => fd > 2).sort((x, y) => x - y);
}

// ---------------------------------------------------------------- the native supervisor

/** One teardown step of the native supervisor (`struct nsbox_sv_op`), replayed in order after the command ended. */
export type SupervisorOp =
  /** Kill what a sandbox sharing nsbox's PID namespace left: its cgroups, else by user namespace (`usernsFd`). */
  | { readonly kind: "sweep"; readonly usernsFd: number; readonly cgroups: readonly string[] }
  /** Copy what is left in the log pipe, for up to `graceMs`. */
  | { readonly kind: "finishLog"; readonly graceMs: number }
  /** Render `template` to descriptor `fd`. */
  | { readonly kind: "report"; readonly fd: number; readonly template: string }
  /** Write the exit record `file` (in the record directory): body and file templates. */
  | { readonly kind: "exitRecord"; readonly file: string; readonly body: string; readonly text: string }
  /**
   * SIGTERM the helper of `pidfd`, SIGKILL after `graceMs`; reap it. While the command runs the supervisor watches
   * it: if it ends before, `ended` (a template, when given) is rendered to nsbox's stderr, once.
   */
  | { readonly kind: "stopHelper"; readonly pidfd: number; readonly graceMs: number; readonly ended?: string }
  /** cgroup.kill and remove the cgroup `path`, waiting up to `waitMs` while it is busy. */
  | { readonly kind: "removeCgroup"; readonly path: string; readonly waitMs: number }
  /** Write `text` into `path` (best effort). */
  | { readonly kind: "writeFile"; readonly path: string; readonly text: string }
  /** Remove the directory `path` and the files in it. */
  | { readonly kind: "removeDir"; readonly path: string }
  /** Bring the log back under its cap. */
  | { readonly kind: "trimLog" }
  /** Write the outcome (`struct nsbox_sv_result`) to descriptor `fd`. */
  | { readonly kind: "result"; readonly fd: number }
  /** Remove the file `path` (relative: in the record directory). */
  | { readonly kind: "removeFile"; readonly path: string }
  /** Read what a helper wrote into the memfd `fd` (up to `cap` bytes, ending in a newline): the template value `egress`. */
  | { readonly kind: "readEgress"; readonly fd: number; readonly cap: number };

/** NSBOX_SV_MAX_EGRESS: the most a readEgress op reads. */
export const SV_MAX_EGRESS = 1024 * 1024;

/** enum nsbox_sv_op_kind */
export const SV_OP = {
  sweep: 1,
  finishLog: 2,
  report: 3,
  exitRecord: 4,
  stopHelper: 5,
  removeCgroup: 6,
  writeFile: 7,
  removeDir: 8,
  trimLog: 9,
  result: 10,
  removeFile: 11,
  readEgress: 12,
} as const satisfies Record<SupervisorOp["kind"], number>;

/** NSBOX_TERMINAL_* */
const SV_TERMINAL = { none: 0, foreground: 1, background: 2 } as const;
/** NSBOX_STATS_*: where the supervisor reads what the sandbox used. */
export const SV_STATS = { none: 0, cgroup: 1, rusage: 2 } as const;
const SV_COMMAND_IS_PID1 = 0x1, SV_SAVED_TERMINAL = 0x2;
/** sizeof(struct nsbox_sv_config), sizeof(struct nsbox_sv_op), sizeof(struct nsbox_sv_result) */
export const SV_CONFIG_SIZE = 232, SV_OP_SIZE = 32, SV_RESULT_SIZE = 72;
/** sizeof(struct nsbox_sv_fail); NSBOX_SV_ANY_STEP (INT32_MIN) */
export const SV_FAIL_SIZE = 16, SV_ANY_STEP = -2147483648;
/** NSBOX_SV_MAX_CONFIG */
export const SV_MAX_CONFIG = 256 * 1024;

/** What the native supervisor is told (`struct nsbox_sv_config`); descriptors as the supervisor will have them. */
export interface SupervisorConfig {
  readonly terminal: "none" | "foreground" | "background";
  /** --as-pid-1: PID 1 is the command. */
  readonly commandIsPid1: boolean;
  readonly pid: number;
  readonly pidfd: number;
  readonly msgFd: number;
  readonly holdFd: number;
  /** The command's pid inside (from NSBOX_MSG_STARTED). */
  readonly commandNsPid: number;
  readonly logRd: number;
  readonly recordFd: number;
  readonly stats: keyof typeof SV_STATS;
  /** The cgroup directory statistics are read from, for stats "cgroup". */
  readonly statsPath: string | null;
  readonly log: { readonly path: string; readonly cap: number } | null;
  /** Wall time from spawn to the handover, in microseconds. */
  readonly elapsedUs: number;
  /** Signals forwarded to PID 1 (numbers). */
  readonly forwardSignals: readonly number[];
  readonly savedTerminal: {
    readonly fd: number;
    readonly ldisc: number;
    readonly exclusive: boolean;
    readonly termios: Uint8Array;
  } | null;
  /** The records' HMAC key (32 bytes) and what precedes a record's body in the MAC's input. */
  readonly mac: { readonly key: Uint8Array; readonly prefix: Uint8Array } | null;
  /** Template printed when the command stopped while nsbox is not the terminal's foreground job. */
  readonly stopHint: string;
  /** Signal names by number (index 0 unused), for `{signal}`. */
  readonly signalNames: readonly string[];
  readonly ops: readonly SupervisorOp[];
  /** `--timeout`: SIGTERM this long after the spawn, SIGKILL `killAfterMs` later; null: none. */
  readonly timeout?: { readonly ms: number; readonly killAfterMs: number } | null;
  /**
   * Handed over at the release, before the command runs (the CLI): how a failure before then is reported, the first
   * matching rule counting. Null or absent: the result says (the library), or the command ran first.
   */
  readonly failures?: SupervisorFailures | null;
}

/** How a supervisor that took over before the command ran reports a failure (`struct nsbox_sv_fail` and tables). */
export interface SupervisorFailures {
  /** Rules: a STEP.* phase, an op's index or "any" step; an errno or null (any); the exit status; a template. */
  readonly rules: ReadonlyArray<
    { readonly step: number | "any"; readonly errno: number | null; readonly exitCode: number; readonly text: string }
  >;
  /** What each set-up op does, by step: `{step_what}`. */
  readonly stepWhats: readonly string[];
  /** [name, message] by errno from 0 (empty where unknown): `{errno_name}`, `{errno_text}`. */
  readonly errnos: ReadonlyArray<readonly [string, string]>;
}

/**
 * Lays out `config` as a `struct nsbox_sv_config` followed by its ops and
 * strings: offsets, no pointers (the supervisor is another program).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = encodeSupervisorConfig({
 *   terminal: "none", commandIsPid1: false, pid: 10, pidfd: 3, msgFd: 4, holdFd: -1, commandNsPid: 2,
 *   logRd: -1, recordFd: -1, stats: "rusage", statsPath: null, log: null, elapsedUs: 0, forwardSignals: [15],
 *   savedTerminal: null, mac: null, stopHint: "", signalNames: [], ops: [{ kind: "trimLog" }],
 * });
 * const view = new DataView(bytes.buffer);
 * assert.equal(view.getUint32(4, true), bytes.length); // size
 * assert.equal(view.getInt32(16, true), 10); // pid
 * ```
 */
export function encodeSupervisorConfig(c: SupervisorConfig): Uint8Array<ArrayBuffer> {
  const a = new Arena();
  const p = a.alloc(SV_CONFIG_SIZE);
  const ops = a.alloc(SV_OP_SIZE * c.ops.length);
  const str = (s: string | null | undefined) => s === null || s === undefined ? 0 : a.string(s);
  const bytes = (b: Uint8Array) => {
    const at = a.alloc(b.length, 1);
    for (let i = 0; i < b.length; i++) a.u8(at + i, b[i]!);
    return at;
  };
  c.ops.forEach((op, i) => {
    const at = ops + i * SV_OP_SIZE;
    let fd = -1, arg = 0, sa = 0, sb = 0, sc = 0;
    switch (op.kind) {
      case "sweep":
        fd = op.usernsFd, sa = str(op.cgroups[0]), sb = str(op.cgroups[1]);
        break;
      case "finishLog":
        arg = op.graceMs;
        break;
      case "report":
        fd = op.fd, sa = str(op.template);
        break;
      case "exitRecord":
        sa = str(op.file), sb = str(op.body), sc = str(op.text);
        break;
      case "stopHelper":
        fd = op.pidfd, arg = op.graceMs;
        if (op.ended) sa = str(op.ended);
        break;
      case "removeCgroup":
        sa = str(op.path), arg = op.waitMs;
        break;
      case "writeFile":
        sa = str(op.path), sb = str(op.text);
        break;
      case "removeDir":
      case "removeFile":
        sa = str(op.path);
        break;
      case "result":
        fd = op.fd;
        break;
      case "readEgress":
        fd = op.fd, arg = op.cap;
        break;
    }
    a.i32(at, SV_OP[op.kind]);
    a.i32(at + 4, fd);
    a.u64(at + 8, BigInt(arg));
    a.u32(at + 16, sa), a.u32(at + 20, sb), a.u32(at + 24, sc), a.u32(at + 28, 0);
  });
  const t = c.savedTerminal;
  a.u32(p + 0, ABI_VERSION);
  a.u32(p + 8, (c.commandIsPid1 ? SV_COMMAND_IS_PID1 : 0) | (t ? SV_SAVED_TERMINAL : 0));
  a.i32(p + 12, SV_TERMINAL[c.terminal]);
  a.i32(p + 16, c.pid), a.i32(p + 20, c.pidfd), a.i32(p + 24, c.msgFd), a.i32(p + 28, c.holdFd);
  a.i32(p + 32, c.commandNsPid), a.i32(p + 36, c.logRd), a.i32(p + 40, c.recordFd), a.i32(p + 44, SV_STATS[c.stats]);
  a.u64(p + 48, BigInt(c.log?.cap ?? 0));
  a.u64(p + 56, BigInt(Math.max(0, Math.round(c.elapsedUs))));
  a.u64(p + 64, mask(c.forwardSignals.map((s) => s - 1)));
  a.i32(p + 72, t?.fd ?? -1), a.i32(p + 76, t?.ldisc ?? 0), a.i32(p + 80, t?.exclusive ? 1 : 0);
  const termios = t ? t.termios.subarray(0, 64) : new Uint8Array(0);
  a.u32(p + 84, termios.length);
  termios.forEach((b, i) => a.u8(p + 88 + i, b));
  a.u32(p + 152, str(c.statsPath));
  a.u32(p + 156, str(c.log?.path));
  a.u32(p + 160, c.mac ? bytes(c.mac.key) : 0);
  a.u32(p + 164, c.mac ? bytes(c.mac.prefix) : 0);
  a.u32(p + 168, c.mac?.prefix.length ?? 0);
  a.u32(p + 172, str(c.stopHint || null));
  const names = Array.from({ length: 65 }, (_, i) => i === 0 ? "" : c.signalNames[i] ?? "");
  a.u32(p + 176, c.signalNames.length ? str(names.join("\0")) : 0);
  a.u32(p + 180, c.ops.length);
  a.u32(p + 184, ops);
  a.u32(p + 188, 0);
  a.u64(p + 192, BigInt(Math.round((c.timeout?.ms ?? 0) * 1000)));
  a.u64(p + 200, BigInt(Math.round((c.timeout?.killAfterMs ?? 0) * 1000)));
  const f = c.failures;
  if (f) {
    const rules = a.alloc(SV_FAIL_SIZE * f.rules.length, 4);
    f.rules.forEach((r, i) => {
      const at = rules + i * SV_FAIL_SIZE;
      a.i32(at, r.step === "any" ? SV_ANY_STEP : r.step), a.i32(at + 4, r.errno ?? -1);
      a.i32(at + 8, r.exitCode), a.u32(at + 12, str(r.text));
    });
    a.u32(p + 208, f.rules.length), a.u32(p + 212, rules);
    // One string each, NUL-separated: one encoding, not one per op or errno.
    a.u32(p + 216, f.stepWhats.length ? str(f.stepWhats.map((w) => w.replaceAll("\0", "")).join("\0")) : 0);
    a.u32(p + 220, f.stepWhats.length);
    a.u32(p + 224, f.errnos.length ? str(f.errnos.map(([n, m]) => `${n}\0${m}`).join("\0")) : 0);
    a.u32(p + 228, f.errnos.length);
  }
  a.alloc(1, 1); // a last NUL: every string ends inside
  const out = a.bytes();
  new DataView(out.buffer).setUint32(4, out.length, true);
  if (out.length > SV_MAX_CONFIG) {
    throw new RangeError(`the supervisor's configuration is too large (${out.length} bytes)`);
  }
  return out;
}

/**
 * Fills in what is known only once the command runs, in a config that
 * {@linkcode encodeSupervisorConfig} laid out beforehand (while the child
 * was setting itself up): the command's pid inside and the time spent so far.
 */
export function patchSupervisorConfig(bytes: Uint8Array, commandNsPid: number, elapsedUs: number) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, SV_CONFIG_SIZE);
  v.setInt32(32, commandNsPid, true);
  v.setBigUint64(56, BigInt(Math.max(0, Math.round(elapsedUs))), true);
}

/** The outcome the native supervisor reports (`struct nsbox_sv_result`); unknown numbers are null. */
export interface SupervisorResult {
  readonly ended:
    | { readonly kind: "exited"; readonly code: number }
    | { readonly kind: "signaled"; readonly signal: number }
    | { readonly kind: "failed"; readonly step: number; readonly errno: number };
  readonly stats: keyof typeof SV_STATS;
  /** `--timeout` expired (the exit status is 124). */
  readonly timedOut: boolean;
  readonly wallUs: number;
  readonly cpuUserUs: number | null;
  readonly cpuSystemUs: number | null;
  readonly memoryPeak: number | null;
  readonly pidsPeak: number | null;
  readonly oomKills: number;
}

/** Decodes a `struct nsbox_sv_result` (`SV_RESULT_SIZE` bytes). */
export function decodeSupervisorResult(buf: Uint8Array): SupervisorResult {
  const v = new DataView(buf.buffer, buf.byteOffset, SV_RESULT_SIZE);
  const kind = v.getInt32(0, true), value = v.getInt32(4, true);
  const num = (at: number) => {
    const n = Number(v.getBigInt64(at, true));
    return n < 0 ? null : n;
  };
  const stats =
    (Object.keys(SV_STATS) as Array<keyof typeof SV_STATS>).find((k) => SV_STATS[k] === v.getInt32(12, true)) ?? "none";
  return {
    ended: kind === 1
      ? { kind: "exited", code: value }
      : kind === 2
      ? { kind: "signaled", signal: value }
      : { kind: "failed", step: v.getInt32(8, true), errno: value },
    stats,
    timedOut: v.getInt32(16, true) !== 0,
    wallUs: num(24) ?? 0,
    cpuUserUs: num(32),
    cpuSystemUs: num(40),
    memoryPeak: num(48),
    pidsPeak: num(56),
    oomKills: num(64) ?? 0,
  };
}
