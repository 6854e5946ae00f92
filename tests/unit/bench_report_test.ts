/**
 * The marked sections of docs/benchmarks.md (scripts/bench/report.ts): the soak writes its own, and
 * `deno task bench`, which rewrites the page whole, keeps it.
 */
import assert from "node:assert/strict";
import { keepSections, markedSection, replaceSection, verdict } from "../../scripts/bench/report.ts";
import type { ContenderId, Measured, MeasureResult } from "../../scripts/bench/measure.ts";

const PAGE = "# Benchmarks\n\n## Start-up\n\nfigures\n\n## Machine\n\n- CPUs: 2\n";

Deno.test("bench report: a new marked section goes before ## Machine, and replaces itself the next time", () => {
  const once = replaceSection(PAGE, "soak", "## Soak\n\nrun 1");
  assert.equal(
    once,
    "# Benchmarks\n\n## Start-up\n\nfigures\n\n<!-- soak:begin -->\n## Soak\n\nrun 1\n<!-- soak:end -->\n\n" +
      "## Machine\n\n- CPUs: 2\n",
  );
  const twice = replaceSection(once, "soak", "## Soak\n\nrun $& 2\n\n");
  assert.equal(twice, once.replace("run 1", () => "run $& 2"), "replaced in place, the body taken literally");
  assert.equal(markedSection(twice, "soak"), "<!-- soak:begin -->\n## Soak\n\nrun $& 2\n<!-- soak:end -->");
});

Deno.test("bench report: a page without ## Machine gets the section at its end", () => {
  assert.equal(replaceSection("# B\n\n", "soak", "x"), "# B\n\n<!-- soak:begin -->\nx\n<!-- soak:end -->\n");
  assert.equal(markedSection("# B\n", "soak"), null);
});

Deno.test("bench report: rewriting the page keeps the soak's section of the previous page", () => {
  const previous = replaceSection(PAGE.replace("figures", "old figures"), "soak", "## Soak\n\nsoak figures");
  const fresh = PAGE.replace("figures", "new figures");
  const kept = keepSections(previous, fresh);
  assert.ok(kept.includes("new figures") && !kept.includes("old figures"));
  assert.equal(markedSection(kept, "soak"), markedSection(previous, "soak"));
  assert.equal(keepSections(null, fresh), fresh, "no previous page: nothing to keep");
  assert.equal(keepSections(PAGE, fresh), fresh, "a previous page without the section: nothing to keep");
});

/** A contender whose runs took `ms` plus a small spread (so its bootstrap interval is narrow). */
function contender(id: ContenderId, ms: number): Measured {
  const times = Array.from({ length: 60 }, (_, i) => (ms + ((i % 7) - 3) * 0.05) / 1000);
  return {
    id,
    name: id,
    command: id,
    timing: { median: ms, mean: ms, stddev: 0.1, min: ms - 0.15, max: ms + 0.15, user: 0, system: 0, times },
    rssKiB: null,
  };
}

function startup(...measured: Measured[]): MeasureResult {
  return { user: "u", uid: 1001, denoDir: "d", hyperfine: "h", measured, skipped: [], notes: [] };
}

Deno.test("bench report: the floor contender says whether the repeated target is within reach of the design", () => {
  const out = verdict(startup(contender("nsbox", 34), contender("empty-deno", 17), contender("floor", 23.8)));
  assert.match(out, /Floor .*= \*\*1\.40×\*\* \(medians 23\.8 vs 17\.0 ms/);
  assert.match(out, /above the 1\.3× target by itself: no implementation of this design meets that target here/);
  const reachable = verdict(startup(contender("nsbox", 34), contender("empty-deno", 17), contender("floor", 19)));
  assert.match(reachable, /Floor .*= \*\*1\.12×\*\*.*: 3\.1 ms under the 1\.3× target\./);
  const close = verdict(startup(contender("nsbox", 34), contender("empty-deno", 17), contender("floor", 22.1)));
  assert.match(close, /too close to the 1\.3× target to tell/);
  assert.doesNotMatch(verdict(startup(contender("nsbox", 34), contender("empty-deno", 17))), /Floor/);
});
