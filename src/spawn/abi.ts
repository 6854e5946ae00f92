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
export const ABI_VERSION = 4;

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
} as const;

const OPF_IGNORE_EXISTS = 0x1;
const OPF_CLEAR_AMBIENT = 0x2;
const OPF_IGNORE_MISSING = 0x4;
const OPF_SELF_MAP = 0x8;

/** Phases of the child that are not an op (NSBOX_STEP_*). */
export const STEP = { SYNC: -1, EXEC: -2, INIT: -3 } as const;
/** enum nsbox_msg_kind */
export const MSG = { ERROR: 1, EXIT: 2, STOPPED: 3, STARTED: 4 } as const;
/** sizeof(struct nsbox_msg) */
export const MSG_SIZE = 16;

/** One `struct nsbox_msg` from the child, decoded. */
export type ChildMessage =
  | { readonly kind: "error"; readonly step: number; readonly errno: number }
  | { readonly kind: "exit"; readonly status: number }
  | { readonly kind: "stopped"; readonly signal: number }
  | { readonly kind: "started"; readonly nsPid: number }
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

function stringArray(a: Arena, items: readonly string[]): number {
  const at = a.alloc((items.length + 1) * 8);
  items.forEach((s, i) => a.ptr(at + i * 8, a.string(s)));
  a.u64(at + items.length * 8, 0n);
  return at;
}

/**
 * Lays out `plan` as a `struct nsbox_plan` at offset 0 of the returned
 * buffer. The buffer must stay referenced until nsbox_spawn returns.
 * `cgroupFd`: a cgroup directory to clone into; `initFd`: the static
 * nsbox-init PID 1 execs (only with `plan.init` "reaper"); -1 for none.
 */
export function encodePlan(plan: ChildPlan, cgroupFd = -1, initFd = -1): Uint8Array<ArrayBuffer> {
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
  a.i32(p + 80, plan.init === "reaper" ? initFd : -1);
  a.u32(p + 84, 0);
  return a.finish();
}
