/**
 * Turns a {@linkcode MeasureResult} into the results table and the
 * `docs/benchmarks.md` page.
 *
 * @module
 */
import type { Measured, MeasureResult } from "./measure.ts";

/** Facts about the machine and the tools, gathered by the driver. */
export interface Environment {
  /** ISO 8601 time the run finished. */
  date: string;
  nproc: string;
  /** `uname -srvm`. */
  kernel: string;
  /** `uname -r`. */
  release: string;
  cpu: string;
  memory: string;
  os: string;
  cgroups: string;
  /** `/proc/loadavg` before and after the measurement: other work on the machine skews the numbers. */
  load: [string, string];
  /** `git describe --always --dirty` of the measured tree. */
  revision: string;
  /** Tool name → version line. */
  versions: [string, string][];
  /** How the measuring process was started (e.g. the runuser line), or `null` when it ran in-process. */
  dropCommand: string | null;
  /** Whether this was a `--quick` smoke run. */
  quick: boolean;
  /** hyperfine runs per round. */
  runs: number;
  /** Rounds pooled. */
  rounds: number;
  warmup: number;
  rssRuns: number;
}

/** The median of `xs` (which need not be sorted). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A small seeded PRNG (mulberry32), so the bootstrap is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 95% percentile-bootstrap confidence interval for `median(a) − median(b)`. */
export function medianDiffCI(a: readonly number[], b: readonly number[], resamples = 4000): [number, number] {
  const rand = mulberry32(0x5eed);
  const resample = (xs: readonly number[]) => Array.from(xs, () => xs[Math.floor(rand() * xs.length)]!);
  const diffs = Array.from({ length: resamples }, () => median(resample(a)) - median(resample(b)))
    .sort((x, y) => x - y);
  return [diffs[Math.floor(0.025 * resamples)]!, diffs[Math.ceil(0.975 * resamples) - 1]!];
}

const f1 = (ms: number) => ms.toFixed(1);
const ratio = (x: number, of: number) => {
  const r = x / of;
  return `${r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toFixed(3)}×`;
};

/** Peak RSS in MiB (median of the samples), or "n/a". */
function rssMiB(m: Measured): string {
  return m.rssKiB?.length ? (median(m.rssKiB) / 1024).toFixed(1) : "n/a";
}

/** The results table as Markdown. */
export function resultsTable(result: MeasureResult): string {
  const nsbox = result.measured.find((m) => m.id === "nsbox");
  const empty = result.measured.find((m) => m.id === "empty-deno");
  const rows = [
    "| contender | median ms | mean ± σ ms | min ms | × nsbox | × empty deno run | peak RSS MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const m of result.measured) {
    const t = m.timing;
    rows.push(
      `| ${m.name} | ${f1(t.median)} | ${f1(t.mean)} ± ${f1(t.stddev)} | ${f1(t.min)} | ` +
        `${nsbox ? ratio(t.median, nsbox.timing.median) : "–"} | ` +
        `${empty ? ratio(t.median, empty.timing.median) : "–"} | ${rssMiB(m)} |`,
    );
  }
  for (const s of result.skipped) rows.push(`| ${s.name} | skipped | – | – | – | – | – |`);
  return rows.join("\n");
}

/** The target: nsbox's start-up + teardown within this many ms of an empty `deno run`. */
export const TARGET_MS = 3;

/** One-paragraph verdict on nsbox vs the empty `deno run` floor. */
export function verdict(result: MeasureResult): string {
  const nsbox = result.measured.find((m) => m.id === "nsbox");
  const empty = result.measured.find((m) => m.id === "empty-deno");
  if (!nsbox || !empty) return "No verdict: nsbox or the empty `deno run` baseline did not run.";
  const diff = nsbox.timing.median - empty.timing.median;
  const [lo, hi] = medianDiffCI(nsbox.timing.times, empty.timing.times);
  const status = hi <= TARGET_MS
    ? `**within** the ${TARGET_MS} ms target`
    : lo > TARGET_MS
    ? `**over** the ${TARGET_MS} ms target by ${f1(diff - TARGET_MS)} ms`
    : `**not clearly within** the ${TARGET_MS} ms target (the interval straddles it)`;
  return `nsbox − empty \`deno run\` = **${f1(diff)} ms** (medians ${f1(nsbox.timing.median)} vs ` +
    `${f1(empty.timing.median)} ms; 95% bootstrap interval ${f1(lo)} … ${f1(hi)} ms): ${status}.`;
}

function interpretation(result: MeasureResult): string[] {
  const get = (id: string) => result.measured.find((m) => m.id === id);
  const nsbox = get("nsbox");
  const empty = get("empty-deno");
  const out: string[] = [];
  if (!nsbox || !empty) return ["nsbox or the empty `deno run` baseline did not run; nothing to interpret."];
  const n = nsbox.timing.median;
  const e = empty.timing.median;
  out.push(`- ${verdict(result)}`);
  out.push(
    `- Of nsbox's ${f1(n)} ms, ${f1(e)} ms (${((e / n) * 100).toFixed(0)}%) is Deno's own start-up and exit, ` +
      `which no TypeScript program run by \`deno run\` can go below.`,
  );
  const help = get("nsbox-help");
  if (help) {
    out.push(
      `- \`nsbox --help\` loads the same module graph but sets up no sandbox: ${f1(help.timing.median)} ms, ` +
        `i.e. ${f1(help.timing.median - e)} ms for loading nsbox's code (and printing the help) and ` +
        `${f1(n - help.timing.median)} ms for creating, running and tearing down the sandbox ` +
        `(differences of medians; each carries the noise of two measurements).`,
    );
  }
  const sh = get("nsbox-sh");
  if (sh) {
    out.push(
      `- The \`scripts/nsbox\` wrapper (sh + \`scripts/lib/env.sh\`: find Deno, check the C helper is fresh) ` +
        `adds ${f1(sh.timing.median - n)} ms.`,
    );
  }
  const natives = ["bwrap", "unshare", "firejail"].map(get).filter((m): m is Measured => m !== undefined);
  if (natives.length) {
    out.push(
      `- The C tools take ${natives.map((m) => `${f1(m.timing.median)} ms (${m.name})`).join(", ")}, ` +
        `so nsbox is ${natives.map((m) => `${ratio(n, m.timing.median)} ${m.name}`).join(", ")}.`,
    );
  }
  const bwrap = get("bwrap");
  if (bwrap && n > bwrap.timing.median) {
    const gap = n - bwrap.timing.median;
    const runtime = Math.max(0, e - bwrap.timing.median);
    out.push(
      `- Of the ${f1(gap)} ms between nsbox and bubblewrap, ${f1(runtime)} ms ` +
        `(${((runtime / gap) * 100).toFixed(0)}%) is the empty \`deno run\` floor beyond bubblewrap's own time; ` +
        `the other ${
          f1(gap - runtime)
        } ms is nsbox's code on top of Deno — the part the ${TARGET_MS} ms target is about.`,
    );
  }
  const podman = get("podman");
  if (podman) {
    out.push(
      `- Rootless podman takes ${f1(podman.timing.median)} ms (${ratio(podman.timing.median, n)} nsbox): ` +
        `a container engine (image store, OCI runtime, conmon) is far heavier than a direct namespace sandbox.`,
    );
  }
  const rss = (m: Measured | undefined) => m?.rssKiB?.length ? median(m.rssKiB) / 1024 : null;
  const rn = rss(nsbox);
  const re = rss(empty);
  if (rn !== null && re !== null) {
    out.push(
      `- Memory: nsbox peaks at ${rn.toFixed(1)} MiB RSS, ${(rn - re).toFixed(1)} MiB above an empty ` +
        `\`deno run\` (${re.toFixed(1)} MiB); the V8 heap and Deno's runtime dominate.`,
    );
  }
  out.push(
    `- Noise: this is a small VM (see below); σ is large relative to the few-ms differences that matter, ` +
      `which is why the verdict compares medians and gives a bootstrap interval. Within a round hyperfine runs ` +
      `each command's runs back to back; pooling several rounds spreads slow drifts in machine speed over all ` +
      `contenders.`,
  );
  return out;
}

/** The whole `docs/benchmarks.md` page. */
export function renderDoc(result: MeasureResult, env: Environment): string {
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push(
    "# Benchmarks: start-up + teardown",
    "",
    "<!-- Generated by `deno task bench` (scripts/bench.ts); do not edit by hand: rerun it. -->",
    "",
    `How long it takes to start a sandbox, run \`true\` in it and tear it down, for nsbox and for other ` +
      `ways to sandbox a command, measured side by side (every hyperfine run times all of them) as an unprivileged user ` +
      `(uid ${result.uid}, \`${result.user}\`).`,
    "",
    `- Date: ${env.date}${env.quick ? " (**--quick smoke run: few samples, do not quote**)" : ""}`,
    `- nsbox revision measured (the working tree): \`${env.revision}\``,
    `- Runs: ${env.rounds * env.runs} timed per contender, pooled from ${env.rounds} hyperfine round(s) over all ` +
      `contenders of ${env.runs} runs each, every round after ${env.warmup} warm-up run(s) per contender ` +
      `(hyperfine \`-N\`: no shell); peak RSS: median of ${env.rssRuns} runs of \`/usr/bin/time -f %M\``,
    "",
    "## Results",
    "",
    resultsTable(result),
    "",
    verdict(result),
    "",
    "Times are wall-clock milliseconds from spawn to exit of the contender's process (so they include the " +
      "teardown). Ratios compare medians. Peak RSS is GNU time's `%M`: the largest resident set of the " +
      "process or any descendant it waited for (not a sum over processes); for podman that misses conmon and " +
      "the OCI runtime, which podman does not wait for directly.",
    "",
  );
  if (result.skipped.length) {
    push("### Skipped", "");
    for (const s of result.skipped) push(`- **${s.name}**: tried \`${s.command}\`; ${s.reason}`);
    push("");
  }
  const notes = result.measured.filter((m) => m.note).map((m) => `- ${m.name}: ${m.note}`);
  if (notes.length || result.notes.length) {
    push("### Notes", "", ...notes, ...result.notes.map((n) => `- ${n}`), "");
  }
  push("## Interpretation", "", ...interpretation(result), "");
  push(
    "## Machine",
    "",
    `- CPUs (nproc): ${env.nproc}`,
    `- CPU model: ${env.cpu}`,
    `- Memory: ${env.memory}`,
    `- Kernel (\`uname -r\`): ${env.release} — \`uname -srvm\`: ${env.kernel}`,
    `- OS: ${env.os}`,
    `- cgroups: ${env.cgroups}`,
    `- Load average (1, 5, 15 min) before / after the measurement: ${env.load[0]} / ${env.load[1]} ` +
      `(the benchmark itself keeps about one of the ${env.nproc} CPUs busy)`,
    "",
    "## Versions",
    "",
    "| tool | version |",
    "| --- | --- |",
    ...env.versions.map(([tool, v]) => `| ${tool} | ${v} |`),
    "",
    "## Exact commands",
    "",
    "Each contender, exactly as hyperfine ran it (from the nsbox tree as working directory; `$WORK` is a " +
      "scratch directory the benchmark creates and deletes):",
    "",
    "```sh",
    ...result.measured.map((m) => `# ${m.name}\n${m.command}`),
    ...result.skipped.map((s) => `# ${s.name} (skipped)\n${s.command}`),
    "```",
    "",
    `All of them in each round: \`${result.hyperfine}\`, as user \`${result.user}\` with \`DENO_DIR=${result.denoDir}\`` +
      ` (a DENO_DIR the user can write: otherwise every Deno start pays ~150 ms for its failed cache writes).`,
    "",
  );
  if (env.dropCommand) {
    push(
      "`deno task bench` was started as root, so it dropped to the unprivileged user for all measurements:",
      "",
      "```sh",
      env.dropCommand,
      "```",
      "",
    );
  }
  push(
    "The podman contender uses `--rootfs` with a minimal root file system (`/usr/bin/true` and the libraries " +
      "`ldd` lists for it) that the benchmark builds in a scratch directory: with no network no image can be " +
      "pulled, and rootless podman cannot take the host's `/` as its root (it writes `/run/.containerenv` into " +
      "it). `--network=none` matches the other sandboxes, which also get no network.",
    "",
    "## Reproduce",
    "",
    "```sh",
    "deno task bench            # full run; rewrites docs/benchmarks.md",
    "deno task bench --quick    # smoke test: few runs, prints the table only",
    "deno run -A scripts/bench.ts [--quick]   # the same, without deno task",
    "deno run -A scripts/bench.ts --help      # --runs, --rounds, --out, --no-write",
    "```",
    "",
    "As root it creates the user `nsbox-test` if missing (as `scripts/test.sh` does) and measures as that user; " +
      "it needs hyperfine, GNU time (`/usr/bin/time`, installed with apt when run as root and missing), and " +
      "whichever contenders are installed: missing or failing ones are skipped with the reason above.",
    "",
  );
  return lines.join("\n");
}
