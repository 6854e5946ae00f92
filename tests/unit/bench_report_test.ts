/**
 * The marked sections of docs/benchmarks.md (scripts/bench/report.ts): the soak writes its own, and
 * `deno task bench`, which rewrites the page whole, keeps it.
 */
import assert from "node:assert/strict";
import { keepSections, markedSection, replaceSection } from "../../scripts/bench/report.ts";

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
