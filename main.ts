/**
 * nsbox's command-line entry point: `nsbox run [OPTIONS] -- CMD [ARGS...]`.
 *
 * From a checkout with current bundles (made by scripts/bundle.ts) it starts
 * `nsbox run ...` from the run bundle (dist/bundle/run.js: only what a run
 * needs, from src/cli/run_entry.ts) and every other command from the whole
 * CLI's bundle (dist/bundle/nsbox.js, from src/cli/main.ts), which the run
 * bundle also hands the rare run (`--help`, `--profile`, `--detach`) to. A
 * bundle is current while every source module it was built from still has
 * the size and modification time recorded in dist/bundle/inputs.json;
 * otherwise (no bundle, an edited source, `NSBOX_NO_BUNDLE=1`) the source
 * modules run. All are imported through computed specifiers, so that Deno
 * reads none it does not start; `deno compile` therefore names the bundles
 * and the source entry with `--include` (scripts/compile.sh), and a compiled
 * binary starts the bundles it embeds.
 *
 * @module
 */

/** What main.ts starts: a CLI's `main`. */
interface Cli {
  main(args: readonly string[], whole: () => Promise<Cli>): Promise<number>;
}

/** The URL of bundle `name` ("run" or "cli") when it is current, else null. Never throws. */
function currentBundle(root: URL, name: "run" | "cli"): string | null {
  try {
    if (Deno.env.get("NSBOX_NO_BUNDLE")) return null;
    const dir = root.pathname;
    const manifest = JSON.parse(Deno.readTextFileSync(`${dir}dist/bundle/inputs.json`)) as Record<string, {
      bundle: [string, number, number];
      inputs: [string, number, number][];
    }>;
    const { bundle, inputs } = manifest[name]!;
    for (const [path, mtime, size] of [bundle, ...inputs]) {
      const st = Deno.statSync(dir + path);
      if (st.size !== size || st.mtime?.getTime() !== mtime) return null;
    }
    return new URL(bundle[0], root).href;
  } catch {
    return null;
  }
}

const root = new URL("./", import.meta.url);
/** Where scripts/bundle.ts writes each bundle (its BUNDLES). */
const FILES = { run: "dist/bundle/run.js", cli: "dist/bundle/nsbox.js" } as const;
// Never a string literal in import(): Deno reads (and parses) every module a literal names at start-up, run or
// not, which cost ~3.5 ms here.
const SOURCE_CLI = "./src/cli/main.ts";

/**
 * Bundle `name`, or null when there is none to start: in a compiled binary
 * the one it embeds (scripts/compile.sh bundles right before compiling; a
 * binary cannot change, so there is nothing to check), from a checkout a
 * current one.
 */
async function importBundle(name: "run" | "cli"): Promise<Cli | null> {
  if (!Deno.build.standalone) {
    const url = currentBundle(root, name);
    return url === null ? null : await import(url) as Cli;
  }
  try {
    return await import(new URL(FILES[name], root).href) as Cli;
  } catch {
    return null; // built without it (bundling failed): the source modules it embeds
  }
}

const whole = async () => await importBundle("cli") ?? await import(SOURCE_CLI) as Cli;
const runOnly = Deno.args[0] === "run" ? await importBundle("run") : null;
const cli = runOnly ?? await whole();
Deno.exit(await cli.main(Deno.args, whole));
