/**
 * main.ts starts the bundled CLI (dist/bundle/nsbox.js) only while every
 * module it was built from is exactly as recorded in dist/bundle/inputs.json,
 * and the source modules otherwise. Checked on a copy of main.ts in a
 * temporary tree whose "bundle" and "source" say which one ran.
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

/** A tree with main.ts, a source CLI and a current bundle of it. */
async function fakeTree(): Promise<string> {
  const tree = await Deno.makeTempDir({ prefix: "nsbox-entry-test-" });
  Deno.copyFileSync(`${ROOT}/main.ts`, `${tree}/main.ts`);
  Deno.mkdirSync(`${tree}/src/cli`, { recursive: true });
  Deno.mkdirSync(`${tree}/dist/bundle`, { recursive: true });
  const cli = (which: string) => `export function main(args) { console.log("${which}", ...args); return 0; }\n`;
  Deno.writeTextFileSync(`${tree}/src/cli/main.ts`, cli("source"));
  Deno.writeTextFileSync(`${tree}/src/other.ts`, "export const x = 1;\n");
  Deno.writeTextFileSync(`${tree}/dist/bundle/nsbox.js`, cli("bundle"));
  const manifest = {
    bundle: stamp(tree, "dist/bundle/nsbox.js"),
    inputs: [stamp(tree, "src/cli/main.ts"), stamp(tree, "src/other.ts")],
  };
  Deno.writeTextFileSync(`${tree}/dist/bundle/inputs.json`, JSON.stringify(manifest));
  return tree;
}

/** Which CLI `tree`'s main.ts started ("bundle" or "source"), with its arguments. */
async function started(tree: string, env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-config", `${tree}/main.ts`, "a1"],
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

Deno.test("the bundle's record, where one was built, lists every module of the CLI and keeps the helper a file", async () => {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${ROOT}/dist/bundle/inputs.json`);
  } catch {
    return; // not built here (scripts/lib/env.sh builds it): main.ts runs the source
  }
  const manifest = JSON.parse(text) as { bundle: Stamp; inputs: Stamp[] };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "src/cli/main.ts"],
    cwd: ROOT,
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: { specifier: string; kind: string }[] };
  const recorded = new Set(manifest.inputs.map(([p]) => p));
  const modules = info.modules.filter((m) => m.kind === "esm").map((m) => m.specifier.slice(`file://${ROOT}/`.length));
  assert.ok(modules.length > 20);
  for (const m of modules) assert.ok(recorded.has(m), `${m} is not among the bundle's recorded inputs`);
  assert.ok(recorded.has("deno.json"));
  const bundle = Deno.readTextFileSync(`${ROOT}/${manifest.bundle[0]}`);
  for (const f of ["libnsbox_helper.so", "nsbox-init"]) {
    assert.ok(bundle.includes(`"../../ffi/build/${f}"`), `the bundle does not import ffi/build/${f} as a file`);
  }
});
