/**
 * The fault-injection seam of the test build: with a C helper built with
 * `NSBOX_FAULTS=1` (scripts/test.sh does; a release never), the environment
 * variable `NSBOX_FAULT=STEP[:SIGNAL]` makes nsbox send itself SIGNAL
 * (default SIGKILL) at STEP of its start-up, so that the tests can prove
 * nothing is left whenever nsbox is killed. The native supervisor has the
 * same seam for `after-exit` (ffi/nsbox_supervise.c). Anywhere else the
 * variable is ignored.
 *
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";
import { getHelper } from "./embedded.ts";
import { SIGNALS } from "../linux.ts";

/** The steps, in the order a run passes them. */
export const FAULT_STEPS = [
  "after-clone", // the parent, right after the clone
  "after-maps", // the id maps written
  "after-cgroup", // the child placed in its cgroup (or where that would be)
  "after-net", // the network helper started
  "before-release", // just before the child is released to run its set-up
  "before-record", // the command runs; its record may not say so yet (with --share pid it exists already)
  "after-start", // the command runs, before the native supervisor takes over
  "after-exit", // in the native supervisor: the command ended, before the teardown
] as const;

/** A step of {@linkcode FAULT_STEPS}. */
export type FaultStep = typeof FAULT_STEPS[number];

/** Dies at `step` when the test build asks for it (see the module's comment); otherwise returns at once. */
export async function faultPoint(step: FaultStep): Promise<void> {
  const want = Deno.env.get("NSBOX_FAULT");
  if (!want) return;
  const [name, sig = "KILL"] = want.split(":");
  if (name !== step) return;
  if ((await getHelper()).nsbox_fault_injection() !== 1) return; // not the test build: never
  const signal = SIGNALS[sig.startsWith("SIG") ? sig : `SIG${sig}`] ?? SIGNALS.SIGKILL!;
  getLibc().kill(Deno.pid, signal);
  // A handled signal (forwarded to the sandbox) returns here; nsbox then goes on as it would.
}
