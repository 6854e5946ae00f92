/**
 * Waiting for a process nsbox started, through its pidfd (no pid reuse
 * races): the one place that knows waitid's P_PIDFD and siginfo layout.
 *
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";

const P_PIDFD = 3, WEXITED = 4, WNOHANG = 1;
const CLD_EXITED = 1;

/** How a process ended: its exit code, or the signal that killed it. */
export type Ended = { readonly kind: "exited"; readonly code: number } | {
  readonly kind: "signaled";
  readonly signal: number;
};

/**
 * Decodes a wait(2) status word (what the sandbox's PID 1 reports for the command).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(decodeWaitStatus(3 << 8), { kind: "exited", code: 3 });
 * assert.deepEqual(decodeWaitStatus(9), { kind: "signaled", signal: 9 });
 * ```
 */
export function decodeWaitStatus(status: number): Ended {
  const sig = status & 0x7f;
  if (sig === 0) return { kind: "exited", code: (status >> 8) & 0xff };
  return { kind: "signaled", signal: sig };
}

/** si_code, si_pid and si_status of a siginfo_t filled by waitid. */
function ended(info: Uint8Array): Ended {
  const view = new DataView(info.buffer, info.byteOffset);
  const code = view.getInt32(8, true), status = view.getInt32(24, true);
  return code === CLD_EXITED ? { kind: "exited", code: status } : { kind: "signaled", signal: status };
}

/** Waits (on a worker thread) until the process of `pidfd` has ended, and reaps it. */
export async function waitPidfd(pidfd: number): Promise<Ended> {
  const info = new Uint8Array(128);
  while (await getLibc().waitid(P_PIDFD, pidfd, info, WEXITED) !== 0) {
    // EINTR on the worker thread: wait again
  }
  return ended(info);
}

/** Reaps the process of `pidfd` if it has ended, without waiting: how it ended, or null while it runs. */
export function reapNow(pidfd: number): Ended | null {
  const info = new Uint8Array(128);
  const r = getLibc().waitid_now(P_PIDFD, pidfd, info, WEXITED | WNOHANG);
  // si_pid is set only when a process was reaped
  return r === 0 && new DataView(info.buffer).getInt32(16, true) !== 0 ? ended(info) : null;
}
