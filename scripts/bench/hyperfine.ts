/**
 * Running hyperfine over several commands side by side, in rounds whose runs
 * are pooled.
 *
 * @module
 */
import { commandLine, gist, sleep } from "./exec.ts";

/** hyperfine's statistics for one command, in milliseconds. */
export interface Timing {
  median: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  /** Mean user CPU time. */
  user: number;
  /** Mean system CPU time. */
  system: number;
  /** Every timed run. */
  times: number[];
}

interface HyperfineJson {
  results: {
    median: number;
    mean: number;
    stddev: number | null;
    min: number;
    max: number;
    user: number;
    system: number;
    times: number[];
  }[];
}

/**
 * A placeholder a contender's argv may contain: every hyperfine round (and
 * every other use of the argv) replaces it with a fresh random token, so that
 * a command line that should never repeat does not repeat across rounds.
 */
export const TOKEN = "@TOKEN@";

/** A fresh random token (12 hex digits). */
export function freshToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `argv` with every {@linkcode TOKEN} replaced by `token`. */
export function withToken(argv: readonly string[], token: string): string[] {
  return argv.map((a) => a.replaceAll(TOKEN, token));
}

/** What a hyperfine run needs to know. */
export interface HyperfineParams {
  /** Working directory of the timed commands. */
  tree: string;
  /** Where hyperfine's JSON goes. */
  workDir: string;
  runs: number;
  warmup: number;
  rounds: number;
}

/** One hyperfine run over all `runnable` contenders at once; hyperfine's progress goes to stderr. */
async function hyperfineRound(
  config: HyperfineParams,
  runnable: { name: string; argv: string[] }[],
  token: string,
): Promise<HyperfineJson | { error: string }> {
  const json = `${config.workDir}/hyperfine.json`;
  const args = [
    "-N",
    "--warmup",
    String(config.warmup),
    "--runs",
    String(config.runs),
    "--style",
    "basic",
    "--export-json",
    json,
    ...runnable.flatMap((c) => ["--command-name", c.name, commandLine(withToken(c.argv, token))]),
  ];
  const child = new Deno.Command("hyperfine", {
    args,
    cwd: config.tree,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Progress on stderr so that stdout carries only the report.
  const [status, , stderr] = await Promise.all([
    child.status,
    child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true }),
    new Response(child.stderr).text(),
  ]);
  if (stderr.trim()) console.error(stderr.trimEnd());
  if (!status.success) return { error: `hyperfine exited ${status.code}: ${gist(stderr)}` };
  return JSON.parse(await Deno.readTextFile(json));
}

/** Pools the runs of several hyperfine rounds into one {@linkcode Timing} per command, in ms. */
function pool(rounds: HyperfineJson[], index: number): Timing {
  const results = rounds.map((r) => r.results[index]!);
  const times = results.flatMap((r) => r.times).map((s) => s * 1000);
  const sorted = [...times].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = times.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? times.reduce((a, t) => a + (t - mean) ** 2, 0) / (n - 1) : 0;
  const weighted = (pick: (r: HyperfineJson["results"][number]) => number) =>
    results.reduce((a, r) => a + pick(r) * r.times.length, 0) / n * 1000;
  return {
    median: n % 2 ? sorted[n >> 1]! : (sorted[(n >> 1) - 1]! + sorted[n >> 1]!) / 2,
    mean,
    stddev: Math.sqrt(variance),
    min: sorted[0]!,
    max: sorted[n - 1]!,
    user: weighted((r) => r.user),
    system: weighted((r) => r.system),
    times,
  };
}

/**
 * Times all `runnable` contenders side by side: `config.rounds` hyperfine
 * runs over all of them, pooled, so that a slow drift in the machine's speed
 * is spread over every contender instead of landing on whichever hyperfine
 * happened to be timing. A failed round is retried (nsbox's CLI may be
 * briefly broken while src/ is edited). Each round (each attempt) gets its
 * own {@linkcode TOKEN}.
 */
export async function timeAll(
  config: HyperfineParams,
  runnable: { name: string; argv: string[] }[],
  notes: string[] = [],
): Promise<Timing[]> {
  const rounds: HyperfineJson[] = [];
  for (let round = 1; round <= config.rounds; round++) {
    for (let attempt = 1;; attempt++) {
      console.error(`bench: hyperfine round ${round}/${config.rounds}, ${runnable.length} commands ...`);
      const out = await hyperfineRound(config, runnable, freshToken());
      if (!("error" in out)) {
        rounds.push(out);
        break;
      }
      if (attempt === 3) throw new Error(`timing failed: ${out.error}`);
      console.error(`bench: ${out.error}; retrying in 10 s`);
      notes.push(`hyperfine round ${round} failed and was rerun (its runs discarded): ${out.error}`);
      await sleep(10_000);
    }
  }
  return runnable.map((_, i) => pool(rounds, i));
}
