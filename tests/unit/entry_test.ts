/**
 * main.ts starts a bundle only while every module it was built from is
 * exactly as recorded in dist/bundle/inputs.json, and the source modules
 * otherwise: `run` from the run bundle (dist/bundle/run.js), which can hand
 * over to the whole CLI, everything else from the whole CLI's
 * (dist/bundle/nsbox.js). Checked on a copy of main.ts in a temporary tree
 * whose "bundle", "run bundle" and "source" say which one ran.
 *
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

type Stamp = [string, number, number];

function stamp(tree: string, rel: string): Stamp {
  const st = Deno.statSync(`${tree}/${rel}`);
  return [rel, st.mtime!.getTime(), st.size];
}

/** A tree with main.ts, a source CLI, a current bundle of it and a current run bundle. */
async function fakeTree(): Promise<string> {
  const tree = await Deno.makeTempDir({ prefix: "nsbox-entry-test-" });
  Deno.copyFileSync(`${ROOT}/main.ts`, `${tree}/main.ts`);
  Deno.mkdirSync(`${tree}/src/cli`, { recursive: true });
  Deno.mkdirSync(`${tree}/dist/bundle`, { recursive: true });
  const cli = (which: string) => `export function main(args) { console.log("${which}", ...args); return 0; }\n`;
  Deno.writeTextFileSync(`${tree}/src/cli/main.ts`, cli("source"));
  Deno.writeTextFileSync(`${tree}/src/cli/run_entry.ts`, "export const y = 1;\n");
  Deno.writeTextFileSync(`${tree}/src/other.ts`, "export const x = 1;\n");
  Deno.writeTextFileSync(`${tree}/dist/bundle/nsbox.js`, cli("bundle"));
  // The run bundle says so for `run`, and hands any other command line to the whole CLI (as the real one does).
  Deno.writeTextFileSync(
    `${tree}/dist/bundle/run.js`,
    'export async function main(args, whole) { if (args[1] !== "--rare") { console.log("run bundle", ...args); ' +
      "return 0; } return await (await whole()).main(args); }\n",
  );
  const manifest = {
    cli: {
      bundle: stamp(tree, "dist/bundle/nsbox.js"),
      inputs: [stamp(tree, "src/cli/main.ts"), stamp(tree, "src/cli/run_entry.ts"), stamp(tree, "src/other.ts")],
    },
    run: {
      bundle: stamp(tree, "dist/bundle/run.js"),
      inputs: [stamp(tree, "src/cli/run_entry.ts"), stamp(tree, "src/other.ts")],
    },
  };
  Deno.writeTextFileSync(`${tree}/dist/bundle/inputs.json`, JSON.stringify(manifest));
  return tree;
}

/** Which CLI `tree`'s main.ts started ("bundle" or "source"), with its arguments. */
async function started(tree: string, env: Record<string, string> = {}, args = ["a1"]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-config", `${tree}/main.ts`, ...args],
    env,
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

async function withTree(fn: (tree: string) => Promise<void>) {
  const tree = await fakeTree();
  try {
    await fn(tree);
  } finally {
    await Deno.remove(tree, { recursive: true });
  }
}

/** Rewrites `path` with `text`, keeping its modification time. */
function rewriteKeepingTime(path: string, text: string) {
  const st = Deno.statSync(path);
  Deno.writeTextFileSync(path, text);
  Deno.utimeSync(path, st.atime!, st.mtime!);
}

Deno.test("main.ts's module graph is main.ts alone: Deno reads no other module at start-up", async () => {
  // A string literal in import() would have Deno read and parse that module's whole graph on every start, run
  // or not (~3.5 ms for src/cli/main.ts's).
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${ROOT}/main.ts`],
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: { specifier: string }[] };
  assert.deepEqual(info.modules.map((m) => m.specifier), [`file://${ROOT}/main.ts`]);
});

Deno.test("main.ts starts a current bundle, passing the arguments on", async () => {
  await withTree(async (tree) => {
    assert.equal(await started(tree), "bundle a1");
  });
});

Deno.test("main.ts starts the source when NSBOX_NO_BUNDLE is set or there is no bundle", async () => {
  await withTree(async (tree) => {
    assert.equal(await started(tree, { NSBOX_NO_BUNDLE: "1" }), "source a1");
    Deno.removeSync(`${tree}/dist/bundle/inputs.json`);
    assert.equal(await started(tree), "source a1");
  });
});

Deno.test("main.ts starts the source once an input's time, size or existence differs from the record", async () => {
  await withTree(async (tree) => {
    const later = new Date(Date.now() + 5000);
    Deno.utimeSync(`${tree}/src/other.ts`, later, later); // touched (or an edit that kept the size)
    assert.equal(await started(tree), "source a1");
  });
  await withTree(async (tree) => {
    rewriteKeepingTime(`${tree}/src/other.ts`, "export const x = 12;\n"); // edited, time put back
    assert.equal(await started(tree), "source a1");
  });
  await withTree(async (tree) => {
    const earlier = new Date(Date.now() - 86_400_000);
    Deno.utimeSync(`${tree}/src/cli/main.ts`, earlier, earlier); // an older copy put in place
    assert.equal(await started(tree), "source a1");
  });
  await withTree(async (tree) => {
    Deno.removeSync(`${tree}/src/other.ts`);
    assert.equal(await started(tree), "source a1");
  });
});

Deno.test("main.ts starts the source when the bundle itself is not the one recorded", async () => {
  await withTree(async (tree) => {
    rewriteKeepingTime(`${tree}/dist/bundle/nsbox.js`, 'export function main() { console.log("other"); return 0; }\n');
    assert.equal(await started(tree), "source a1");
  });
  await withTree(async (tree) => {
    Deno.writeTextFileSync(`${tree}/dist/bundle/inputs.json`, "{not json");
    assert.equal(await started(tree), "source a1");
  });
});

Deno.test("main.ts starts `run` from the run bundle, which hands a rare command line to the whole CLI", async () => {
  await withTree(async (tree) => {
    assert.equal(await started(tree, {}, ["run", "--", "true"]), "run bundle run -- true");
    assert.equal(await started(tree, {}, ["run", "--rare"]), "bundle run --rare");
    assert.equal(await started(tree, {}, ["ps", "run"]), "bundle ps run", "only `run` first is a run");
  });
  await withTree(async (tree) => {
    rewriteKeepingTime(`${tree}/src/cli/run_entry.ts`, "export const y = 22;\n"); // an input of both
    assert.equal(await started(tree, {}, ["run", "--", "true"]), "source run -- true");
  });
  await withTree(async (tree) => {
    const edited = 'export function main(args) { console.log("edited source", ...args); return 0; }\n';
    rewriteKeepingTime(`${tree}/src/cli/main.ts`, edited); // not an input of the run bundle
    assert.equal(await started(tree, {}, ["run", "--", "true"]), "run bundle run -- true");
    assert.equal(await started(tree, {}, ["run", "--rare"]), "edited source run --rare", "the whole CLI: its source");
  });
});

Deno.test("the bundles' records, where they were built, list every module of their entry and keep the helper a file", async () => {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${ROOT}/dist/bundle/inputs.json`);
  } catch {
    return; // not built here (scripts/lib/env.sh builds it): main.ts runs the source
  }
  const manifest = JSON.parse(text) as Record<"cli" | "run", { bundle: Stamp; inputs: Stamp[] }>;
  for (const [name, entry] of [["cli", "src/cli/main.ts"], ["run", "src/cli/run_entry.ts"]] as const) {
    const record = manifest[name];
    assert.ok(record, `inputs.json has no record of the ${name} bundle`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdin: "null",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: { specifier: string; kind: string }[] };
    const recorded = new Set(record.inputs.map(([p]) => p));
    const modules = info.modules.filter((m) => m.kind === "esm").map((m) =>
      m.specifier.slice(`file://${ROOT}/`.length)
    );
    assert.ok(modules.length > 20);
    for (const m of modules) assert.ok(recorded.has(m), `${m} is not among the ${name} bundle's recorded inputs`);
    assert.ok(recorded.has("deno.json"));
    const bundle = Deno.readTextFileSync(`${ROOT}/${record.bundle[0]}`);
    for (const f of ["libnsbox_helper.so", "nsbox-init"]) {
      assert.ok(
        bundle.includes(`"../../ffi/build/${f}"`),
        `the ${name} bundle does not import ffi/build/${f} as a file`,
      );
    }
  }
  // What the run bundle leaves out: the rest of the CLI, reached only through the whole one.
  const run = new Set(manifest.run.inputs.map(([p]) => p));
  for (const m of ["src/cli/main.ts", "src/cli/help.ts", "src/cli/completions.ts", "src/cli/lifecycle_commands.ts"]) {
    assert.ok(!run.has(m), `the run bundle holds ${m}`);
  }
});
