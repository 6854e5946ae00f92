/**
 * A classic-BPF interpreter for seccomp programs, for the filter tests: the
 * instructions nsbox emits (LD W ABS, ALU AND K, JA, JEQ/JGT/JGE/JSET K,
 * RET K), run on a seccomp_data built from a call.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BpfInsn } from "../../src/plan/seccomp.ts";

const LD_W_ABS = 0x20, AND_K = 0x54, JA = 0x05, JEQ_K = 0x15, JGT_K = 0x25, JGE_K = 0x35, JSET_K = 0x45, RET_K = 0x06;
const SECCOMP_DATA_SIZE = 64;

/** One syscall as the filter sees it. */
export interface Call {
  readonly nr: number;
  readonly arch: number;
  readonly args?: readonly bigint[];
  readonly ip?: bigint;
}

/** struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }, little-endian. */
export function seccompData(call: Call): DataView {
  const view = new DataView(new ArrayBuffer(SECCOMP_DATA_SIZE));
  view.setUint32(0, call.nr >>> 0, true);
  view.setUint32(4, call.arch >>> 0, true);
  view.setBigUint64(8, call.ip ?? 0x7f0000001234n, true);
  (call.args ?? []).forEach((a, i) => view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true));
  return view;
}

/** Runs `prog` on `call` and returns the filter's decision (the RET value). */
export function decide(prog: readonly BpfInsn[], call: Call): number {
  const data = seccompData(call);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= prog.length; steps++) {
    assert.ok(pc >= 0 && pc < prog.length, `pc ${pc} left the program (length ${prog.length})`);
    const [code, jt, jf, k] = prog[pc]!;
    const K = k >>> 0;
    switch (code) {
      case LD_W_ABS:
        assert.ok(K % 4 === 0 && K + 4 <= SECCOMP_DATA_SIZE, `bad load offset ${K} at ${pc}`);
        a = data.getUint32(K, true);
        pc += 1;
        break;
      case AND_K:
        a = (a & K) >>> 0;
        pc += 1;
        break;
      case JA:
        pc += 1 + K;
        break;
      case JEQ_K:
        pc += 1 + (a === K ? jt : jf);
        break;
      case JGT_K:
        pc += 1 + (a > K ? jt : jf);
        break;
      case JGE_K:
        pc += 1 + (a >= K ? jt : jf);
        break;
      case JSET_K:
        pc += 1 + ((a & K) !== 0 ? jt : jf);
        break;
      case RET_K:
        return K;
      default:
        assert.fail(`unknown BPF opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  assert.fail("the program loops");
}

/**
 * Runs every filter of a stack on `call` and returns what the kernel would
 * act on (kernel/seccomp.c, seccomp_run_filters()): the result whose action,
 * read as a signed 32-bit number, is lowest (KILL_PROCESS < KILL_THREAD <
 * TRAP < ERRNO < USER_NOTIF < TRACE < LOG < ALLOW); on a tie, the newest
 * filter's (the last installed, last in `stack`), whose data (errno) is kept.
 */
export function decideStack(stack: ReadonlyArray<readonly BpfInsn[]>, call: Call): number {
  let best: number | null = null;
  for (let i = stack.length - 1; i >= 0; i--) { // newest first, as the kernel walks them
    const r = decide(stack[i]!, call);
    if (best === null || ((r & 0xffff0000) | 0) < ((best & 0xffff0000) | 0)) best = r;
  }
  assert.ok(best !== null, "an empty filter stack");
  return best;
}
