/**
 * Turns a {@linkcode MeasureResult} into the results table and the
 * `docs/benchmarks.md` page.
 *
 * @module
 */
import type { Measured, MeasureResult } from "./measure.ts";
import type { ForeignUse, PartWindow } from "./monitor.ts";
import { bootstrapCI, median, medianDiffCI } from "./stats.ts";
import { memorySection, memoryTable, memoryVerdict } from "./report_memory.ts";
import { netSection, netTables, netVerdict } from "./report_net.ts";
import { seccompSection, seccompTable, seccompVerdict } from "./report_seccomp.ts";

export { median, medianDiffCI, memoryTable, memoryVerdict, netTables, netVerdict, seccompTable, seccompVerdict };

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
  /** `/sys/devices/system/cpu/vulnerabilities/spec_store_bypass`. */
  specStoreBypass: string;
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
  /** Processes outside the benchmark that used CPU while it ran. */
  foreign: ForeignUse[];
  /** When each part ran. */
  timeline: PartWindow[];
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

/** The target for a repeated command line: nsbox's median at most this many times the empty `deno run`'s. */
export const TARGET_REPEATED = 1.3;
/** The target for a first-seen command line (no per-argv cache can help). */
export const TARGET_FIRST_SEEN = 1.8;

const r2 = (x: number) => `${x.toFixed(2)}×`;

/** "**within** the 1.3× target" etc. for a ratio's 95% interval. */
function against(target: number, [lo, hi]: [number, number], ratio: number): string {
  return hi <= target
    ? `**within** the ≤ ${target}× target`
    : lo > target
    ? `**over** the ≤ ${target}× target (${r2(ratio / target)} of it)`
    : `**not clearly within** the ≤ ${target}× target (the interval straddles it)`;
}

/** The ratio of the medians of `a` and `b`, with a 95% bootstrap interval. */
function medianRatio(a: Measured, b: Measured): { ratio: number; ci: [number, number] } {
  return {
    ratio: a.timing.median / b.timing.median,
    ci: bootstrapCI([a.timing.times, b.timing.times], ([x, y]) => x! / y!),
  };
}

/** The verdicts on nsbox vs the empty `deno run` floor: repeated and first-seen command lines, one paragraph each. */
export function verdict(result: MeasureResult): string {
  const get = (id: string) => result.measured.find((m) => m.id === id);
  const nsbox = get("nsbox");
  const empty = get("empty-deno");
  if (!nsbox || !empty) return "No verdict: nsbox or the empty `deno run` baseline did not run.";
  const out: string[] = [];
  const rep = medianRatio(nsbox, empty);
  out.push(
    `Repeated command line: nsbox / empty \`deno run\` = **${r2(rep.ratio)}** (medians ` +
      `${f1(nsbox.timing.median)} vs ${f1(empty.timing.median)} ms; 95% bootstrap interval ` +
      `${r2(rep.ci[0])} … ${r2(rep.ci[1])}): ${against(TARGET_REPEATED, rep.ci, rep.ratio)}.`,
  );
  const fresh = get("nsbox-fresh");
  const emptySh = get("empty-deno-sh");
  if (fresh && emptySh) {
    const fs = medianRatio(fresh, emptySh);
    const plain = medianRatio(fresh, empty);
    out.push(
      `First-seen command line: nsbox / empty \`deno run\`, both started through the same \`sh -c 'exec …'\` ` +
        `that gives every run a new argv, = **${r2(fs.ratio)}** (medians ${f1(fresh.timing.median)} vs ` +
        `${f1(emptySh.timing.median)} ms; 95% bootstrap interval ${r2(fs.ci[0])} … ${r2(fs.ci[1])}): ` +
        `${against(TARGET_FIRST_SEEN, fs.ci, fs.ratio)}; against the plain empty \`deno run\` ` +
        `(${f1(empty.timing.median)} ms, no shell) ${r2(plain.ratio)} (${r2(plain.ci[0])} … ${r2(plain.ci[1])}).`,
    );
  } else {
    out.push("First-seen command line: no verdict (its nsbox or its empty `deno run` contender did not run).");
  }
  const floor = get("floor");
  if (floor) {
    const fl = medianRatio(floor, empty);
    const below = fl.ci[0] > TARGET_REPEATED
      ? `above the ${TARGET_REPEATED}× target by itself: no implementation of this design meets that target here`
      : fl.ci[1] > TARGET_REPEATED
      ? `too close to the ${TARGET_REPEATED}× target to tell whether any implementation of this design can meet it here`
      : `${f1(TARGET_REPEATED * empty.timing.median - floor.timing.median)} ms under the ${TARGET_REPEATED}× target`;
    out.push(
      `Floor (Deno + nsbox's C helper spawning the same plan, nothing else): floor / empty \`deno run\` = ` +
        `**${r2(fl.ratio)}** (medians ${f1(floor.timing.median)} vs ${f1(empty.timing.median)} ms; 95% bootstrap ` +
        `interval ${r2(fl.ci[0])} … ${r2(fl.ci[1])}): ${below}.`,
    );
  }
  return out.join("\n\n");
}

/** nsbox − empty `deno run` in ms, with its interval: the absolute cost on top of the floor. */
function difference(nsbox: Measured, empty: Measured): string {
  const diff = nsbox.timing.median - empty.timing.median;
  const [lo, hi] = medianDiffCI(nsbox.timing.times, empty.timing.times);
  return `${f1(diff)} ms (95% bootstrap interval ${f1(lo)} … ${f1(hi)} ms)`;
}

function interpretation(result: MeasureResult): string[] {
  const get = (id: string) => result.measured.find((m) => m.id === id);
  const nsbox = get("nsbox");
  const empty = get("empty-deno");
  const out: string[] = [];
  if (!nsbox || !empty) return ["nsbox or the empty `deno run` baseline did not run; nothing to interpret."];
  const n = nsbox.timing.median;
  const e = empty.timing.median;
  out.push(...verdict(result).split("\n\n").map((v) => `- ${v}`));
  out.push(
    `- In milliseconds, nsbox − empty \`deno run\` = ${difference(nsbox, empty)} for the repeated command line.`,
  );
  const fresh = get("nsbox-fresh");
  const emptySh = get("empty-deno-sh");
  if (fresh && emptySh) {
    out.push(
      `- First-seen vs repeated: ${f1(fresh.timing.median)} vs ${f1(n)} ms. The first-seen contender pays for ` +
        `\`sh -c 'exec …'\` (its empty \`deno run\` twin takes ${f1(emptySh.timing.median - e)} ms more than ` +
        `the plain one: the shell's share, plus noise) and for a \`--setenv\`; beyond those the two differ only ` +
        `if nsbox reuses work keyed on its command line.`,
    );
  }
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
  const floor = get("floor");
  if (floor) {
    out.push(
      `- The floor contender runs the plan nsbox would run for \`run -- true\` (made by nsbox's own code ` +
        `beforehand: scripts/bench/floor_plan.ts) through nsbox's C helper from a minimal Deno script: ` +
        `${f1(floor.timing.median)} ms, ${f1(floor.timing.median - e)} ms over the empty \`deno run\` for loading ` +
        `the helper, cloning, the id maps, the child's set-up and \`true\`. nsbox − floor = ` +
        `${difference(nsbox, floor)} is nsbox's own work on top: loading its code, parsing, validation, ` +
        `planning and encoding, the state record and the native supervisor.`,
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
        } ms is nsbox's code on top of Deno — the part the ${TARGET_REPEATED}× target is about.`,
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

/** The installed passt version from the versions table, for the network section. */
function passtVersion(env: Environment): string {
  return env.versions.find(([tool]) => tool.startsWith("passt"))?.[1] ?? "passt (version unknown)";
}

/** The start-up section of the page (`##` headings under it are `###`). */
function startupSection(result: MeasureResult, env: Environment): string[] {
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push(
    "## Start-up + teardown",
    "",
    `How long it takes to start a sandbox, run \`true\` in it and tear it down, for nsbox and for other ` +
      `ways to sandbox a command, measured side by side (every hyperfine run times all of them). nsbox runs ` +
      `twice: with the same command line every time (\`nsbox run -- true\`, which any cache keyed on the command ` +
      `line would help), and with a command line no run has seen before (a random token per hyperfine round and ` +
      `the pid of the shell that execs nsbox, both as an argument of \`true\` and in a \`--setenv\`), next to ` +
      `an empty \`deno run\` started the same way. Targets: a repeated command line ≤ ${TARGET_REPEATED}× and a ` +
      `first-seen one ≤ ${TARGET_FIRST_SEEN}× the empty \`deno run\`, as ratios of medians from the same run.`,
    "",
    `Runs: ${env.rounds * env.runs} timed per contender, pooled from ${env.rounds} hyperfine round(s) over all ` +
      `contenders of ${env.runs} runs each, every round after ${env.warmup} warm-up run(s) per contender ` +
      `(hyperfine \`-N\`: no shell); peak RSS: median of ${env.rssRuns} runs of \`/usr/bin/time -f %M\`.`,
    "",
    "### Results",
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
  push("### Interpretation", "", ...interpretation(result), "");
  push(
    "### Exact commands",
    "",
    "Each contender, exactly as hyperfine ran it (from the nsbox tree as working directory; `$WORK` is a " +
      "scratch directory the benchmark creates and deletes; `@TOKEN@` is replaced by 12 random hex digits, new " +
      "for every hyperfine round, and the shell expands `$$` to its pid, new for every run, so a command line could " +
      "only come back if a pid came round again within one round):",
    "",
    "```sh",
    ...result.measured.map((m) => `# ${m.name}\n${m.command}`),
    ...result.skipped.map((s) => `# ${s.name} (skipped)\n${s.command}`),
    "```",
    "",
    `All of them in each round: \`${result.hyperfine}\`.`,
    "",
    "The podman contender uses `--rootfs` with a minimal root file system (`/usr/bin/true` and the libraries " +
      "`ldd` lists for it) that the benchmark builds in a scratch directory: with no network no image can be " +
      "pulled, and rootless podman cannot take the host's `/` as its root (it writes `/run/.containerenv` into " +
      "it). `--network=none` matches the other sandboxes, which also get no network.",
    "",
  );
  return lines;
}

const PART_NAMES: Record<string, string> = {
  startup: "start-up",
  memory: "memory",
  net: "network",
  seccomp: "seccomp",
};

/** The timeline of the parts and what else used the CPUs meanwhile. */
function otherWork(env: Environment): string[] {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  const out: string[] = [];
  if (env.timeline.length) {
    out.push(
      `- Parts ran (UTC): ${
        env.timeline.map((w) => `${PART_NAMES[w.part] ?? w.part} ${hhmm(w.start)}–${hhmm(w.end)}`).join(", ")
      }`,
    );
  }
  if (!env.foreign.length) {
    out.push(
      "- Other work during the run: no process outside the benchmark's own process tree used 1 s of CPU or more " +
        "(all processes' CPU time sampled every 2 s from `/proc`)",
    );
    return out;
  }
  out.push(
    "- Other work during the run (processes outside the benchmark's own process tree with 1 s of CPU or more, " +
      "sampled every 2 s from `/proc`; they competed with the measurements for the CPUs):",
    "",
    `  | process | uid | CPU s | ${env.timeline.map((w) => `during ${PART_NAMES[w.part] ?? w.part}`).join(" | ")} |`,
    `  | --- | ---: | ---: | ${env.timeline.map(() => "---:").join(" | ")} |`,
    ...env.foreign.map((f) =>
      `  | ${f.comm} (pid ${f.pid}) | ${f.uid} | ${f.cpuSeconds.toFixed(1)} | ${
        env.timeline.map((w) => (f.byPart[w.part] ?? 0).toFixed(1)).join(" | ")
      } |`
    ),
  );
  return out;
}

/** The whole `docs/benchmarks.md` page. */
export function renderDoc(result: MeasureResult, env: Environment): string {
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  const parts = [
    result.measured.length || result.skipped.length ? "start-up + teardown" : null,
    result.memory ? "memory of a running sandbox" : null,
    result.net ? "network throughput" : null,
    result.seccomp ? "seccomp cost" : null,
  ].filter((p) => p !== null);
  push(
    "# Benchmarks",
    "",
    "<!-- Generated by `deno task bench` (scripts/bench.ts); do not edit by hand: rerun it. -->",
    "",
    `nsbox's ${parts.join(", ")}, measured in one run of \`deno task bench\` as an unprivileged user ` +
      `(uid ${result.uid}, \`${result.user}\`, with \`DENO_DIR=${result.denoDir}\`: a DENO_DIR the user can ` +
      `write; otherwise every Deno start pays ~150 ms for its failed cache writes).`,
    "",
    `- Date: ${env.date}${env.quick ? " (**--quick smoke run: few samples, do not quote**)" : ""}`,
    `- nsbox revision measured (the working tree): \`${env.revision}\``,
    `- Sections: ${
      [
        result.measured.length || result.skipped.length ? "[Start-up + teardown](#start-up--teardown)" : null,
        result.memory ? "[Memory of a running sandbox](#memory-of-a-running-sandbox)" : null,
        result.net ? "[Network throughput](#network-throughput-iperf3)" : null,
        result.seccomp ? "[Seccomp cost](#seccomp-cost)" : null,
        "[Machine](#machine)",
        "[Versions](#versions)",
        "[Reproduce](#reproduce)",
      ].filter((x) => x).join(", ")
    }`,
    "",
  );
  if (result.measured.length || result.skipped.length) push(...startupSection(result, env));
  if (result.memory) push(...memorySection(result.memory));
  if (result.net) push(...netSection(result.net, passtVersion(env)));
  if (result.seccomp) push(...seccompSection(result.seccomp, env.release, env.specStoreBypass));
  push(
    "## Machine",
    "",
    `- CPUs (nproc): ${env.nproc}`,
    `- CPU model: ${env.cpu}`,
    `- Memory: ${env.memory}`,
    `- Kernel (\`uname -r\`): ${env.release} — \`uname -srvm\`: ${env.kernel}`,
    `- OS: ${env.os}`,
    `- cgroups: ${env.cgroups}`,
    `- Speculative Store Bypass (\`/sys/devices/system/cpu/vulnerabilities/spec_store_bypass\`): ${env.specStoreBypass}`,
    `- Load average (1, 5, 15 min) before / after the measurement: ${env.load[0]} / ${env.load[1]} ` +
      `(the benchmark itself keeps about one of the ${env.nproc} CPUs busy, and both during the network tests)`,
    ...otherWork(env),
    "",
    "## Versions",
    "",
    "| tool | version |",
    "| --- | --- |",
    ...env.versions.map(([tool, v]) => `| ${tool} | ${v} |`),
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
    "## Reproduce",
    "",
    "```sh",
    "deno task bench            # full run; rewrites docs/benchmarks.md",
    "deno task bench --quick    # smoke test: few runs, short tests, prints the tables only",
    "deno task bench --only startup       # just start-up (repeated and first-seen command lines); prints only",
    "deno task bench --only memory        # just the memory of a running sandbox; prints only",
    "deno task bench --only net,seccomp   # a subset of startup,memory,net,seccomp; prints only",
    "deno run -A scripts/bench.ts [--quick]   # the same, without deno task",
    "deno run -A scripts/bench.ts --help      # --runs, --rounds, --only, --out, --no-write",
    "```",
    "",
    "As root it creates the user `nsbox-test` if missing (as `scripts/test.sh` does) and measures as that user " +
      "(the memory part starts its sandboxes as that user and reads `/proc` as root); " +
      "it needs hyperfine, GNU time (`/usr/bin/time`) and iperf3 (both installed with apt when run as root and " +
      "missing; iperf3 with its system-wide server declined), pasta and/or slirp4netns, and whichever start-up " +
      "contenders are installed: missing or failing ones are skipped with the reason above.",
    "",
  );
  return lines.join("\n");
}

/**
 * The sections of `docs/benchmarks.md` that other programs write, between `<!-- NAME:begin -->` and
 * `<!-- NAME:end -->` (the soak's figures, `deno task soak`): `deno task bench` keeps them when it rewrites the page.
 */
export const KEPT_SECTIONS: readonly string[] = ["soak"];

function markers(name: string): [string, string] {
  return [`<!-- ${name}:begin -->`, `<!-- ${name}:end -->`];
}

/** The marked section `name` of `doc`, markers included, or null when it has none. */
export function markedSection(doc: string, name: string): string | null {
  const [begin, end] = markers(name);
  const a = doc.indexOf(begin), b = doc.indexOf(end, a);
  return a < 0 || b < 0 ? null : doc.slice(a, b + end.length);
}

/**
 * `doc` with the marked section `name` set to `body` (markers added): in place of the old one, else before the
 * "## Machine" section, else at the end.
 */
export function replaceSection(doc: string, name: string, body: string): string {
  const [begin, end] = markers(name);
  const section = `${begin}\n${body.replace(/\n*$/, "\n")}${end}`;
  const old = markedSection(doc, name);
  if (old !== null) return doc.replace(old, () => section);
  const machine = doc.indexOf("\n## Machine\n");
  if (machine >= 0) return `${doc.slice(0, machine + 1)}${section}\n\n${doc.slice(machine + 1)}`;
  return `${doc.replace(/\n*$/, "\n")}\n${section}\n`;
}

/** The freshly rendered page `doc` with the {@linkcode KEPT_SECTIONS} of the `previous` page (null: none). */
export function keepSections(previous: string | null, doc: string): string {
  for (const name of KEPT_SECTIONS) {
    const old = previous === null ? null : markedSection(previous, name);
    if (old === null) continue;
    const [begin, end] = markers(name);
    doc = replaceSection(doc, name, old.slice(begin.length + 1, old.length - end.length));
  }
  return doc;
}
