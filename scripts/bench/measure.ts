/**
 * The measuring half of `deno task bench`: runs as the unprivileged user,
 * checks that every contender works, times them all in one hyperfine run and
 * samples their peak RSS with GNU time.
 *
 * @module
 */
import { capture, commandLine, gist, sleep, which } from "./exec.ts";
import { freshToken, timeAll, type Timing, TOKEN, withToken } from "./hyperfine.ts";
import { measureMemory, type MemoryConfig, type MemoryResult } from "./memory.ts";
import type { PartWindow } from "./monitor.ts";
import { measureNet, type NetConfig, type NetResult } from "./net.ts";
import { measureSeccomp, type SeccompConfig, type SeccompResult } from "./seccomp.ts";
import { DENO_RUN_ARGS } from "../../src/spawn/daemon.ts";

/** The parts of the benchmark. */
export type Part = "startup" | "memory" | "net" | "seccomp";

/** Every part, in the order they run. */
export const PARTS: readonly Part[] = ["startup", "memory", "net", "seccomp"];

/** What the measuring process needs; written by the driver as JSON. */
export interface MeasureConfig {
  /** Which parts to measure. */
  parts: Part[];
  /** Network throughput settings (the `net` part). */
  net: NetConfig;
  /** Seccomp cost settings (the `seccomp` part). */
  seccomp: SeccompConfig;
  /** Memory settings (the `memory` part). */
  memory: MemoryConfig;
  /** The nsbox tree to measure (the checkout, or a copy the user can read). */
  tree: string;
  /** The Deno binary `scripts/nsbox` execs. */
  deno: string;
  /** A scratch directory the measuring user owns. */
  workDir: string;
  /** hyperfine `--runs` per round. */
  runs: number;
  /** How many hyperfine runs over all contenders to pool. */
  rounds: number;
  /** hyperfine `--warmup`. */
  warmup: number;
  /** How many `/usr/bin/time` samples to take per contender for peak RSS. */
  rssRuns: number;
  /** Where to write the {@linkcode MeasureResult} as JSON. */
  resultPath: string;
}

export type { Timing };

/** A contender that ran and was timed. */
export interface Measured {
  id: ContenderId;
  name: string;
  /** The exact command line hyperfine ran. */
  command: string;
  timing: Timing;
  /** Peak RSS samples in KiB (GNU time's `%M`), or `null` when they could not be taken. */
  rssKiB: number[] | null;
  /** Anything worth saying about how it was run (e.g. a fallback variant). */
  note?: string;
}

/** A contender that could not run here. */
export interface Skipped {
  id: ContenderId;
  name: string;
  /** The command(s) tried. */
  command: string;
  /** Why it was skipped: the failing command's own words. */
  reason: string;
}

/** Everything the measuring process found out. */
export interface MeasureResult {
  user: string;
  uid: number;
  denoDir: string;
  /** The hyperfine command line of one round (contenders elided). */
  hyperfine: string;
  measured: Measured[];
  skipped: Skipped[];
  /** Housekeeping the measurement did (e.g. stopping podman's pause process). */
  notes: string[];
  /** Network throughput, when measured. */
  net?: NetResult;
  /** Seccomp cost, when measured. */
  seccomp?: SeccompResult;
  /** Resident memory of the sandbox's own processes, when measured. */
  memory?: MemoryResult;
  /** When each part ran (milliseconds since the epoch). */
  timeline?: PartWindow[];
}

/** Stable identifiers of the contenders. */
export type ContenderId =
  | "nsbox"
  | "nsbox-fresh"
  | "nsbox-sh"
  | "nsbox-help"
  | "empty-deno"
  | "empty-deno-sh"
  | "floor"
  | "true"
  | "bwrap"
  | "unshare"
  | "firejail"
  | "podman";

interface Contender {
  id: ContenderId;
  name: string;
  /** Ways to run it, tried in order; the first that exits 0 is timed. */
  variants: { argv: string[]; note?: string }[];
  /** Attempts per variant: nsbox's CLI may be briefly broken while src/ is edited. */
  attempts: number;
  /** Why it cannot even be tried (e.g. not installed). */
  unavailable?: string;
}

const GNU_TIME = "/usr/bin/time";

/**
 * Builds the contender list for `config`; `podmanRoot` is a minimal root file system for podman, `floorPlan` the
 * plan file scripts/bench/floor_plan.ts wrote for the floor contender (or why it could not).
 */
function contenders(
  config: MeasureConfig,
  podmanRoot: string | null,
  floorPlan: { path: string } | { reason: string },
): Contender[] {
  const { deno, tree } = config;
  const tool = (name: string) => which(name);
  const bwrap = tool("bwrap");
  const unshare = tool("unshare");
  const firejail = tool("firejail");
  const podman = tool("podman");
  const trueBin = tool("true") ?? "/usr/bin/true";
  const missing = (name: string) => `${name} is not installed (not on PATH)`;
  const sh = tool("sh") ?? "/bin/sh";
  // A command line no run has seen before: the round's random token and the shell's pid (so each run's differs),
  // both as an argument of the command and in a --setenv, so that no cache keyed on the argv (or on the options
  // alone) can help. `exec` replaces the shell, so the timed process tree is the same as the plain contenders'.
  const fresh = `${TOKEN}-$$`;
  const viaSh = (argv: string[], tail: string) => [sh, "-c", `exec ${commandLine(argv)} ${tail}`];
  const podmanRun = (extra: string[]) =>
    podman && podmanRoot
      ? [podman, ...extra, "run", "--rm", "--network=none", "--rootfs", podmanRoot, "true"]
      : ["podman", "run", "--rm", "--network=none", "--rootfs", "ROOTFS", "true"];
  return [
    {
      id: "nsbox",
      name: "nsbox",
      variants: [{ argv: [deno, ...DENO_RUN_ARGS, `${tree}/main.ts`, "run", "--", "true"] }],
      attempts: 6,
    },
    {
      id: "nsbox-fresh",
      name: "nsbox, first-seen command line",
      variants: [{
        argv: viaSh(
          [deno, ...DENO_RUN_ARGS, `${tree}/main.ts`, "run"],
          `--setenv NSBOX_BENCH_TOKEN=${fresh} -- true ${fresh}`,
        ),
      }],
      attempts: 6,
    },
    {
      id: "nsbox-sh",
      name: "nsbox via scripts/nsbox",
      variants: [{ argv: [`${tree}/scripts/nsbox`, "run", "--", "true"] }],
      attempts: 6,
    },
    {
      id: "nsbox-help",
      name: "nsbox --help (no sandbox)",
      variants: [{ argv: [deno, ...DENO_RUN_ARGS, `${tree}/main.ts`, "--help"] }],
      attempts: 6,
    },
    {
      id: "empty-deno",
      name: "empty deno run",
      variants: [{ argv: [deno, "run", "-A", "--quiet", `${tree}/scripts/bench/empty.ts`] }],
      attempts: 1,
    },
    {
      id: "empty-deno-sh",
      name: "empty deno run, first-seen command line",
      variants: [{ argv: viaSh([deno, "run", "-A", "--quiet", `${tree}/scripts/bench/empty.ts`], fresh) }],
      attempts: 1,
    },
    {
      id: "floor",
      name: "floor: Deno + nsbox's C helper only",
      variants: [{
        argv: [
          deno,
          ...DENO_RUN_ARGS, // the same V8 flags as nsbox: nsbox − floor is nsbox's own work
          `${tree}/scripts/bench/floor.ts`,
          "path" in floorPlan ? floorPlan.path : "PLAN",
        ],
      }],
      attempts: 1,
      unavailable: "reason" in floorPlan ? floorPlan.reason : undefined,
    },
    { id: "true", name: "plain true (no sandbox)", variants: [{ argv: [trueBin] }], attempts: 1 },
    {
      id: "bwrap",
      name: "bubblewrap",
      variants: [{
        argv: [
          bwrap ?? "bwrap",
          ...["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"],
          ...["--tmpfs", "/tmp", "true"],
        ],
      }],
      attempts: 1,
      unavailable: bwrap ? undefined : missing("bwrap"),
    },
    {
      id: "unshare",
      name: "unshare (util-linux)",
      variants: [{ argv: [unshare ?? "unshare", "-Urpf", "--mount-proc", "true"] }],
      attempts: 1,
      unavailable: unshare ? undefined : missing("unshare"),
    },
    {
      id: "firejail",
      name: "firejail",
      variants: [{ argv: [firejail ?? "firejail", "--quiet", "--noprofile", "true"] }],
      attempts: 1,
      unavailable: firejail ? undefined : missing("firejail"),
    },
    {
      id: "podman",
      name: "podman (rootless)",
      variants: [
        { argv: podmanRun([]) },
        {
          argv: podmanRun(["--runtime", which("runc") ?? "runc"]),
          note: "run with runc: the default runtime (crun) failed here",
        },
      ],
      attempts: 1,
      unavailable: !podman ? missing("podman") : !podmanRoot ? "could not build a root file system for it" : undefined,
    },
  ];
}

/**
 * Builds a minimal root file system for `podman run --rootfs`: `/usr/bin/true`
 * and the libraries `ldd` says it needs. Rootless podman cannot use the host's
 * `/` itself (it writes `/run/.containerenv` into the root it is given), and
 * without network access no image can be pulled.
 */
async function buildPodmanRoot(dir: string): Promise<string | null> {
  const trueBin = which("true");
  if (!trueBin) return null;
  const ldd = await capture(["ldd", trueBin]);
  if (ldd.code !== 0) return null;
  const libs = [...ldd.stdout.matchAll(/(\/\S+)/g)].map((m) => m[1]!);
  for (const sub of ["usr/bin", "etc", "run", "tmp", "proc", "sys", "dev"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  await Deno.copyFile(trueBin, `${dir}/usr/bin/true`);
  await Deno.chmod(`${dir}/usr/bin/true`, 0o755);
  for (const lib of libs) {
    await Deno.mkdir(`${dir}${lib.slice(0, lib.lastIndexOf("/"))}`, { recursive: true });
    await Deno.copyFile(lib, `${dir}${lib}`);
  }
  await Deno.symlink("usr/bin", `${dir}/bin`);
  return dir;
}

/** The plan for the floor contender, made by nsbox's own code (scripts/bench/floor_plan.ts), or why it failed. */
async function prepareFloor(config: MeasureConfig): Promise<{ path: string } | { reason: string }> {
  const path = `${config.workDir}/floor-plan`;
  const out = await capture([
    config.deno,
    ...["run", "-A", "--unstable-raw-imports", "--quiet", `${config.tree}/scripts/bench/floor_plan.ts`, path],
  ], { cwd: config.tree });
  return out.code === 0 ? { path } : { reason: `scripts/bench/floor_plan.ts failed: ${out.stderr.trim()}` };
}

/** Runs each variant of `c` until one exits 0; returns its argv, or the reason none did. */
async function preflight(c: Contender, cwd: string): Promise<{ argv: string[]; note?: string } | { reason: string }> {
  if (c.unavailable) return { reason: c.unavailable };
  const failures: string[] = [];
  for (const variant of c.variants) {
    let last = "";
    for (let attempt = 1; attempt <= c.attempts; attempt++) {
      const out = await capture(withToken(variant.argv, freshToken()), { cwd, timeoutMs: 60_000 });
      if (out.code === 0) {
        const note = [variant.note, failures.length ? `earlier variant failed: ${failures.join("; ")}` : ""]
          .filter((s) => s).join("; ");
        return { argv: variant.argv, note: note || undefined };
      }
      last = `\`${commandLine(variant.argv)}\` exited ${out.code}: ${gist(out.stderr || out.stdout)}`;
      if (attempt < c.attempts) {
        console.error(`bench: ${c.name} failed (attempt ${attempt}/${c.attempts}), retrying in 10 s: ${last}`);
        await sleep(10_000);
      }
    }
    failures.push(last);
  }
  return { reason: failures.join("; ") };
}

/** Peak RSS samples (KiB) of `argv`, one `/usr/bin/time -f %M` run each; `null` if GNU time is unusable. */
async function peakRss(argv: string[], runs: number, workDir: string, cwd: string): Promise<number[] | null> {
  const out = `${workDir}/rss.txt`;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await capture([GNU_TIME, "-f", "%M", "-o", out, ...withToken(argv, freshToken())], {
      cwd,
      timeoutMs: 60_000,
    });
    const last = (await Deno.readTextFile(out).catch(() => "")).trim().split("\n").at(-1) ?? "";
    const kib = Number(last);
    if (r.code !== 0 || !Number.isFinite(kib) || last === "") return null;
    samples.push(kib);
  }
  return samples;
}

/** The path of rootless podman's pause-process pid file for this user. */
function podmanPausePidFile(): string {
  const runtimeDir = Deno.env.get("XDG_RUNTIME_DIR") || `/tmp/podman-run-${Deno.uid()}`;
  return `${runtimeDir}/libpod/tmp/pause.pid`;
}

/** The pid of a live podman pause process of ours, or `null`. */
async function livePausePid(): Promise<number | null> {
  const pid = Number((await Deno.readTextFile(podmanPausePidFile()).catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    return uid === Deno.uid() ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Stops the pause process rootless podman leaves behind to hold its user
 * namespace, if this benchmark started it (`before` is the pid that was
 * running before, if any).
 */
async function stopPodmanPause(before: number | null): Promise<string | null> {
  const pid = await livePausePid();
  if (pid === null || pid === before) return null;
  Deno.kill(pid, "SIGTERM");
  for (let i = 0; i < 50 && await livePausePid() === pid; i++) await sleep(100);
  return `stopped podman's pause process (pid ${pid}) that the podman runs started`;
}

/** Writes the scratch directory, which is deleted afterwards, as `$WORK`. */
function hideWorkDir(text: string, config: MeasureConfig): string {
  return text.replaceAll(config.workDir, "$WORK");
}

/** Measures every contender per `config` (the start-up part). */
export async function measureStartup(config: MeasureConfig): Promise<MeasureResult> {
  const notes: string[] = [];
  const pauseBefore = await livePausePid();
  try {
    const podmanRoot = which("podman") ? await buildPodmanRoot(`${config.workDir}/podman-rootfs`) : null;
    const all = contenders(config, podmanRoot, await prepareFloor(config));
    const runnable: { c: Contender; argv: string[]; note?: string }[] = [];
    const skipped: Skipped[] = [];
    for (const c of all) {
      console.error(`bench: checking ${c.name} ...`);
      const check = await preflight(c, config.tree);
      if ("reason" in check) {
        console.error(`bench: skipping ${c.name}: ${check.reason}`);
        skipped.push({
          id: c.id,
          name: c.name,
          command: hideWorkDir(c.variants.map((v) => commandLine(v.argv)).join("  |  "), config),
          reason: hideWorkDir(check.reason, config),
        });
      } else {
        runnable.push({ c, argv: check.argv, note: check.note });
      }
    }
    if (!runnable.some((r) => r.c.id === "nsbox")) {
      throw new Error(`nsbox itself does not run: ${skipped.find((s) => s.id === "nsbox")?.reason}`);
    }

    const timings = await timeAll(config, runnable.map((r) => ({ name: r.c.name, argv: r.argv })), notes);

    const haveTime = which(GNU_TIME) !== null;
    if (!haveTime) notes.push(`${GNU_TIME} (GNU time) is missing: no peak RSS`);
    const measured: Measured[] = [];
    for (const [i, r] of runnable.entries()) {
      if (haveTime) console.error(`bench: peak RSS of ${r.c.name} (${config.rssRuns} runs) ...`);
      const rssKiB = haveTime ? await peakRss(r.argv, config.rssRuns, config.workDir, config.tree) : null;
      measured.push({
        id: r.c.id,
        name: r.c.name,
        command: hideWorkDir(commandLine(r.argv), config),
        timing: timings[i]!,
        rssKiB,
        note: r.note && hideWorkDir(r.note, config),
      });
    }
    const result: MeasureResult = {
      user: Deno.env.get("USER") ?? String(Deno.uid()),
      uid: Deno.uid() ?? -1,
      denoDir: Deno.env.get("DENO_DIR") ?? "(Deno's default)",
      hyperfine: `hyperfine -N --warmup ${config.warmup} --runs ${config.runs} --style basic ` +
        `--export-json FILE --command-name NAME 'COMMAND' ...`,
      measured,
      skipped,
      notes,
    };
    return result;
  } finally {
    const stopped = await stopPodmanPause(pauseBefore);
    if (stopped) {
      console.error(`bench: ${stopped}`);
      notes.push(stopped);
    }
  }
}

/** Measures the parts `config.parts` names, in order: start-up, memory, network, seccomp. */
export async function measure(config: MeasureConfig): Promise<MeasureResult> {
  const timeline: PartWindow[] = [];
  const started = Date.now();
  const result: MeasureResult = config.parts.includes("startup") ? await measureStartup(config) : {
    user: Deno.env.get("USER") ?? String(Deno.uid()),
    uid: Deno.uid() ?? -1,
    denoDir: Deno.env.get("DENO_DIR") ?? "(Deno's default)",
    hyperfine: "",
    measured: [],
    skipped: [],
    notes: [],
  };
  if (config.parts.includes("startup")) timeline.push({ part: "startup", start: started, end: Date.now() });
  const nsbox = [config.deno, ...DENO_RUN_ARGS, `${config.tree}/main.ts`];
  if (config.parts.includes("memory")) {
    // Here only when not started as root (which samples memory itself, as root; see scripts/bench.ts).
    const start = Date.now();
    result.memory = await measureMemory(config.memory, { nsbox, tree: config.tree, launcher: [] });
    timeline.push({ part: "memory", start, end: Date.now() });
  }
  if (config.parts.includes("net")) {
    const start = Date.now();
    result.net = await measureNet(config.net, { nsbox, tree: config.tree, workDir: config.workDir });
    timeline.push({ part: "net", start, end: Date.now() });
  }
  if (config.parts.includes("seccomp")) {
    const start = Date.now();
    result.seccomp = await measureSeccomp(config.seccomp, { nsbox, tree: config.tree, workDir: config.workDir });
    timeline.push({ part: "seccomp", start, end: Date.now() });
  }
  result.timeline = timeline;
  return result;
}

/** Entry point of the measuring process: reads the config at `path`, writes the result where it says. */
export async function measureFromFile(path: string): Promise<void> {
  const config: MeasureConfig = JSON.parse(await Deno.readTextFile(path));
  const result = await measure(config);
  await Deno.writeTextFile(config.resultPath, JSON.stringify(result, null, 2));
}
