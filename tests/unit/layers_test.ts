/**
 * Dependencies point down the pipeline (README: How it works). Each rule
 * names a directory and the places its modules must not import from; the
 * test reads every module's import and export-from specifiers.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** Relative specifiers imported by `file` (a path from the repository root), resolved to repository paths. */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(new URL(file, ROOT));
  const specs = [...text.matchAll(/^\s*(?:import|export)\b[^"';]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!);
  specs.push(...[...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]!));
  return specs.filter((s) => s.startsWith(".")).map((s) =>
    new URL(s, new URL(file, ROOT)).pathname.slice(ROOT.pathname.length)
  );
}

function modules(dir: string): string[] {
  return [...Deno.readDirSync(new URL(dir, ROOT))].filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => `${dir}${e.name}`);
}

const RULES: ReadonlyArray<{ dir: string; forbidden: readonly string[]; why: string }> = [
  {
    dir: "ffi/",
    forbidden: ["src/", "main.ts", "mod.ts"],
    why: "the FFI tables and the C helper's loader know nothing of nsbox's stages",
  },
  {
    dir: "src/spec/",
    forbidden: ["src/plan/", "src/state/", "src/net/", "src/spawn/", "src/supervise/", "src/cgroup/", "src/cli/"],
    why: "the spec is the validated input of every later stage",
  },
  {
    dir: "src/plan/",
    forbidden: ["src/state/", "src/net/", "src/spawn/", "src/supervise/", "src/cgroup/", "src/cli/", "ffi/"],
    why: "planning is pure: no FFI, no host state",
  },
  {
    dir: "src/",
    forbidden: ["src/cli/", "main.ts"],
    why: "only the command line knows the command line (src/cli/ itself excepted)",
  },
];

for (const rule of RULES) {
  Deno.test(`layers: ${rule.dir} imports nothing from ${rule.forbidden.join(", ")} (${rule.why})`, () => {
    const bad: string[] = [];
    for (const file of modules(rule.dir)) {
      if (file.startsWith("src/cli/")) continue;
      for (const target of importsOf(file)) {
        if (rule.forbidden.some((f) => target.startsWith(f))) bad.push(`${file} -> ${target}`);
      }
    }
    assert.deepEqual(bad, []);
  });
}

Deno.test("layers: the neutral modules (src/linux.ts, src/dirs.ts, src/procfs.ts, src/errors.ts) import no stage", () => {
  const bad: string[] = [];
  for (const file of ["src/linux.ts", "src/dirs.ts", "src/procfs.ts", "src/errors.ts"]) {
    for (const target of importsOf(file)) if (target.startsWith("src/")) bad.push(`${file} -> ${target}`);
  }
  assert.deepEqual(bad, []);
});

Deno.test("layers: the import reader sees static, multi-line and dynamic imports (the rules above are not vacuous)", () => {
  const run = importsOf("src/run.ts");
  assert.ok(run.includes("src/spec/validate.ts"), run.join());
  assert.ok(run.includes("src/cgroup/manager.ts"), run.join()); // `await import(...)`
  assert.ok(importsOf("src/plan/plan.ts").includes("src/linux.ts"));
});
