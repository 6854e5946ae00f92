/**
 * nsbox's command-line entry point: `nsbox run [OPTIONS] -- CMD [ARGS...]`.
 *
 * It starts the bundled CLI (dist/bundle/nsbox.js, made by
 * scripts/bundle.ts) when that bundle is current — every source module it
 * was built from still has the size and modification time recorded in
 * dist/bundle/inputs.json — and src/cli/main.ts otherwise (no bundle, an
 * edited source, `NSBOX_NO_BUNDLE=1`). Both are imported through a computed
 * specifier, so that Deno does not read the other's modules at start-up;
 * `deno compile` therefore names src/cli/main.ts with `--include`
 * (scripts/compile.sh).
 *
 * @module
 */

/** The bundle's URL when it is current, else null. Never throws. */
function currentBundle(root: URL): string | null {
  try {
    if (Deno.env.get("NSBOX_NO_BUNDLE")) return null;
    const dir = root.pathname;
    const manifest = JSON.parse(Deno.readTextFileSync(`${dir}dist/bundle/inputs.json`)) as {
      bundle: [string, number, number];
      inputs: [string, number, number][];
    };
    for (const [path, mtime, size] of [manifest.bundle, ...manifest.inputs]) {
      const st = Deno.statSync(dir + path);
      if (st.size !== size || st.mtime?.getTime() !== mtime) return null;
    }
    return new URL(manifest.bundle[0], root).href;
  } catch {
    return null;
  }
}

const entry = currentBundle(new URL("./", import.meta.url)) ?? "./src/cli/main.ts";
const { main } = await import(entry) as typeof import("./src/cli/main.ts");
Deno.exit(await main(Deno.args));
