/**
 * Spawns the sandbox's first process from a {@linkcode ChildPlan}: the C
 * helper clones it (synchronously, on the main thread: PR_SET_PDEATHSIG
 * follows the creating thread); the parent maps its ids, lets the caller
 * place it (cgroups), then releases it to run its setup ops.
 *
 * @module
 */
import { getHelper, getStaticInit, sealedMemfd } from "./embedded.ts";
import { getLibc } from "../../ffi/libc.ts";
import { NsboxError, OsError } from "../errors.ts";
import type { ChildPlan } from "../plan/ops.ts";
import { ABI_VERSION, callerFds, encodePlan, RESULT_SIZE } from "./abi.ts";
import { userNamespaceHint, writeIdMaps } from "./idmap_writer.ts";
import { waitPidfd } from "./wait.ts";
import { faultPoint } from "./fault.ts";

/** The sandbox's first process, created and released. */
export interface Child {
  /** Its pid in nsbox's PID namespace. */
  readonly pid: number;
  /** A pidfd for waiting and signalling without pid reuse races. */
  readonly pidfd: number;
  /** Read end of the child's report pipe (struct nsbox_msg records). */
  readonly msgFd: number;
  /** With `holdExit`: the sync pipe, closed to let PID 1 exit; otherwise null. */
  readonly holdFd: number | null;
}

/** Hooks between creating the child and releasing it. */
export interface SpawnHooks {
  /** Called after the id maps are written, before the child runs its ops. */
  beforeRelease?(pid: number): Promise<void> | void;
}

const EPERM = 1, EACCES = 13, ENOSPC = 28, EINVAL = 22, EUSERS = 87;

/** Spawns and releases the child described by `plan`. */
export async function spawnChild(plan: ChildPlan, hooks: SpawnHooks = {}): Promise<Child> {
  const helper = await getHelper();
  const libc = getLibc();
  const built = helper.nsbox_abi_version();
  if (built !== ABI_VERSION) {
    throw new NsboxError(`the C helper speaks ABI ${built}, this nsbox ${ABI_VERSION}`, {
      hint: "run `scripts/deno task build`",
    });
  }
  // The child execs the static nsbox-init at once, which maps the plan from a memfd and replays it: no copy of
  // this process's memory is ever made.
  const exe = await getStaticInit();
  if (exe < 0) throw new NsboxError("cannot start a sandbox: no executable memfd can be made on this host");
  const planBytes = encodePlan(plan);
  const planFd = sealedMemfd("nsbox-plan", planBytes);
  const keep = new Int32Array(callerFds(plan));
  const result = new Int32Array(RESULT_SIZE / 4);
  let r: number;
  try {
    r = helper.nsbox_spawn(
      planBytes,
      exe,
      planFd,
      new Uint8Array(keep.buffer),
      keep.length,
      new Uint8Array(result.buffer),
    );
  } finally {
    libc.close(planFd);
  }
  if (r < 0) {
    const err = -r;
    const userns = err === EPERM || err === EACCES || err === ENOSPC || err === EUSERS ||
      (err === EINVAL && (plan.cloneFlags & 0x10000000) !== 0);
    throw new OsError("cannot create the sandbox's namespaces", err, {
      hint: userns ? userNamespaceHint() : undefined,
    });
  }
  const [pid, pidfd, syncFd, msgFd] = result as unknown as [number, number, number, number];

  try {
    await faultPoint("after-clone");
    writeIdMaps(pid, plan.idMaps);
    await faultPoint("after-maps");
    await hooks.beforeRelease?.(pid);
    await faultPoint("before-release");
  } catch (e) {
    // Closing the sync pipe unread makes the child exit; reap it.
    libc.close(syncFd);
    libc.close(msgFd);
    await waitPidfd(pidfd);
    libc.close(pidfd);
    throw e;
  }
  // If the child is already gone this write fails (EPIPE); supervise() then
  // reports how it ended, so the result is not checked here.
  libc.write(syncFd, new Uint8Array([1]), 1n);
  if (plan.holdExit) return { pid, pidfd, msgFd, holdFd: syncFd };
  libc.close(syncFd);
  return { pid, pidfd, msgFd, holdFd: null };
}
