/**
 * Builds nsbox's bundled entries, each one JavaScript file with everything
 * its entry imports (the lazily imported modules included):
 * `dist/bundle/nsbox.js`, the whole CLI (src/cli/main.ts), and
 * `dist/bundle/run.js`, what `nsbox run` needs (src/cli/run_entry.ts: ~70 KB
 * less for V8 to load on every run); and `dist/bundle/inputs.json`, what each
 * was built from. main.ts starts a bundle only while every input is exactly
 * as it was then (same size and modification time), and the source modules
 * otherwise; see main.ts.
 *
 *     deno run -A scripts/bundle.ts
 *
 * One module instead of ~30 saves Deno reading, hashing and instantiating
 * each on every start (about 5 ms of a 40 ms `nsbox run -- true`). The C
 * helper and nsbox-init stay bytes imports of ffi/build/ (external to the
 * bundle): inlined, the bundler would turn their bytes into a decode loop
 * that costs more than the bundle saves. Their specifiers are relative
 * (`../../ffi/build/...` from src/spawn/), which is why the bundle lives two
 * directories deep.
 *
 * @module
 */
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const OUT_DIR = `${ROOT}/dist/bundle`;
/** The bundles: name in inputs.json → [entry module, output file]. */
const BUNDLES = { cli: ["src/cli/main.ts", "nsbox.js"], run: ["src/cli/run_entry.ts", "run.js"] } as const;
type BundleName = keyof typeof BUNDLES;
const EXTERNAL = ["../../ffi/build/libnsbox_helper.so", "../../ffi/build/nsbox-init"];

/** What main.ts checks before it starts a bundle (keep in step with main.ts): each bundle's record. */
export type BundleManifest = Record<BundleName, BundleRecord>;

/** One bundle's record. */
export interface BundleRecord {
  /** The bundle itself: path relative to the checkout, mtime (ms) and size. */
  readonly bundle: readonly [path: string, mtimeMs: number, size: number];
  /** Every source module it was built from, and deno.json, as [path, mtimeMs, size]. */
  readonly inputs: ReadonlyArray<readonly [path: string, mtimeMs: number, size: number]>;
}

async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdin: "null" }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) throw new Error(`deno ${args.join(" ")} failed: ${err}`);
  return new TextDecoder().decode(out.stdout);
}

function stamp(rel: string): [string, number, number] {
  const st = Deno.statSync(`${ROOT}/${rel}`);
  return [rel, st.mtime!.getTime(), st.size];
}

/** The local source modules of `entry`'s graph (dynamic imports included), relative to the checkout. */
async function inputs(entry: string): Promise<string[]> {
  const info = JSON.parse(await run(["info", "--json", entry])) as {
    modules: { specifier: string; kind: string }[];
  };
  const prefix = `file://${ROOT}/`;
  const files = info.modules.filter((m) => m.kind === "esm" && m.specifier.startsWith(prefix))
    .map((m) => decodeURIComponent(m.specifier.slice(prefix.length)));
  if (!files.includes(entry)) throw new Error(`deno info did not list ${entry}`);
  return [...files, "deno.json"].sort();
}

/** Bundles `entry` into `out`; returns the inputs' stamps. Throws when the inputs changed meanwhile. */
async function bundle(entry: string, out: string): Promise<BundleRecord["inputs"]> {
  const before = (await inputs(entry)).map(stamp);
  const tmp = `${OUT_DIR}/.${out}.${Deno.pid}`;
  const externals = EXTERNAL.flatMap((e) => ["--external", e]);
  // Minified: V8 compiles and Deno hashes half the text (import 2.4 ms instead of 4.3); the source map makes an
  // internal error's stack trace readable again (read only when one is printed).
  await run([
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--format",
    "esm",
    "--minify",
    "--sourcemap",
    "linked",
    ...externals,
    "-o",
    tmp,
    entry,
  ]);
  const text = Deno.readTextFileSync(tmp);
  for (const e of EXTERNAL) {
    if (!text.includes(`"${e}"`)) {
      Deno.removeSync(tmp);
      throw new Error(`${out} does not import ${e} as a file: the helper bytes would not stay a bytes import`);
    }
  }
  // Inputs changed while bundling: the bundle may mix old and new; let the next build make a consistent one.
  const after = (await inputs(entry)).map(stamp);
  if (JSON.stringify(before) !== JSON.stringify(after)) {
    Deno.removeSync(tmp);
    throw new Error("the sources changed while bundling; run it again");
  }
  // The map is named after the temporary file; the bundle's last line points at it.
  Deno.renameSync(`${tmp}.map`, `${OUT_DIR}/${out}.map`);
  Deno.writeTextFileSync(tmp, text.replace(/sourceMappingURL=\S+\s*$/, `sourceMappingURL=${out}.map\n`));
  Deno.renameSync(tmp, `${OUT_DIR}/${out}`);
  console.error(`bundled ${after.length - 1} modules into dist/bundle/${out} (${(text.length / 1024).toFixed(0)} KB)`);
  return after;
}

if (import.meta.main) {
  Deno.mkdirSync(OUT_DIR, { recursive: true });
  const manifest: Partial<BundleManifest> = {};
  for (const [name, [entry, out]] of Object.entries(BUNDLES) as [BundleName, (typeof BUNDLES)[BundleName]][]) {
    const recorded = await bundle(entry, out);
    manifest[name] = { bundle: stamp(`dist/bundle/${out}`), inputs: recorded };
  }
  Deno.writeTextFileSync(`${OUT_DIR}/.inputs.${Deno.pid}.json`, JSON.stringify(manifest) + "\n");
  Deno.renameSync(`${OUT_DIR}/.inputs.${Deno.pid}.json`, `${OUT_DIR}/inputs.json`);
}
