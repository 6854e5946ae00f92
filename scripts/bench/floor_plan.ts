/**
 * Prepares the floor contender of `deno task bench` (scripts/bench/floor.ts):
 * the child plan nsbox itself would spawn for `nsbox run -- true` on this
 * host, for this user — parsed, validated, planned and encoded by nsbox's own
 * code — written to OUT (the encoded plan) and OUT.json (its id maps).
 *
 *     deno run -A scripts/bench/floor_plan.ts OUT
 *
 * @module
 */
import { parseArgs } from "../../src/cli/parse.ts";
import { RUN } from "../../src/cli/flags.ts";
import { runOptionsFromArgs } from "../../src/cli/run_command.ts";
import { realHost } from "../../src/spec/host.ts";
import { validate } from "../../src/spec/validate.ts";
import { buildPlan } from "../../src/plan/plan.ts";
import { callerFds, encodePlan } from "../../src/spawn/abi.ts";
import { mapText } from "../../src/spawn/idmap_writer.ts";

/** What floor.ts needs besides the encoded plan: the id maps to write, as the kernel takes them. */
export interface FloorMaps {
  readonly uidMap: string;
  readonly gidMap: string;
  readonly setgroups: string;
}

if (import.meta.main) {
  const out = Deno.args[0];
  if (!out) throw new Error("usage: floor_plan.ts OUT");
  const host = realHost();
  const plan = buildPlan(validate(runOptionsFromArgs(parseArgs(RUN, ["--", "true"]), host), host));
  // The floor writes the id maps itself and passes no descriptors: what a plain `run -- true` needs.
  if (plan.idMaps.writer !== "kernel") throw new Error(`the plan's id maps need ${plan.idMaps.writer}, not the kernel`);
  if (callerFds(plan).length) throw new Error("the plan uses the caller's descriptors");
  const maps: FloorMaps = {
    uidMap: mapText(plan.idMaps.uid),
    gidMap: mapText(plan.idMaps.gid),
    setgroups: plan.idMaps.setgroups,
  };
  Deno.writeFileSync(out, encodePlan(plan));
  Deno.writeTextFileSync(`${out}.json`, JSON.stringify(maps));
}
