/**
 * `deno task bench`: measures, as an unprivileged user,
 *
 * - the start-up + teardown of a trivial sandboxed command (`true`) for nsbox
 *   (with a repeated and with a first-seen command line) and for other
 *   sandboxes side by side in one hyperfine run, plus each contender's peak
 *   RSS;
 * - the resident memory of the supervisor and of the sandbox's PID 1 while a
 *   command runs (foreground, `--net`, limits, detached), with bubblewrap's
 *   processes as a peer;
 * - TCP throughput with iperf3 through `--net=pasta` and `--net=slirp4netns`
 *   in both directions, against the host's loopback as the ceiling, and one
 *   large HTTP download with curl through `--allow-host`'s egress proxy
 *   against pasta and the host;
 * - the cost of nsbox's default seccomp filter on a syscall-heavy loop.
 *
 * Prints Markdown tables to stdout and (on a full run) writes
 * `docs/benchmarks.md`.
 *
 *     deno task bench [--quick] [--runs N] [--only PARTS] [--out FILE | --no-write]
 *
 * When run as root it creates the user `nsbox-test` if missing and re-runs
 * itself as that user (with `runuser`) for every measurement, so the numbers
 * are those of a rootless user. The memory part starts its sandboxes as that
 * user too but reads `/proc/PID/smaps_rollup` as root: nsbox-init is not
 * dumpable, so its owner cannot read it.
 *
 * @module
 */
import { capture, commandLine, firstLine, gist, which } from "./bench/exec.ts";
import { CpuMonitor, type ForeignUse } from "./bench/monitor.ts";
import { type MeasureConfig, measureFromFile, type MeasureResult, type Part, PARTS } from "./bench/measure.ts";
import { measureMemory } from "./bench/memory.ts";
import {
  type Environment,
  keepSections,
  memoryTable,
  memoryVerdict,
  netTables,
  netVerdict,
  renderDoc,
  resultsTable,
  seccompTable,
  seccompVerdict,
  verdict,
} from "./bench/report.ts";
import { DENO_RUN_ARGS } from "../src/spawn/daemon.ts";

const USAGE = `Usage: deno task bench [--quick] [--runs N] [--rounds N] [--only PARTS] [--out FILE | --no-write]

As an unprivileged user: times start-up + teardown of \`true\` under nsbox (the
same command line again and again, and a first-seen one every run), an empty
\`deno run\`, bubblewrap, unshare, firejail and rootless podman side by side
with hyperfine, plus their peak RSS (part "startup"); reads the resident memory
(VmRSS, Pss, Private) of nsbox's supervisor and of the sandbox's PID 1 while a
sandbox runs \`sleep\`, in the foreground, with --net, with --mem and detached,
next to bubblewrap's (part "memory"); measures TCP throughput with iperf3
over the host's loopback and through --net=pasta and --net=slirp4netns, both
directions, and the MB/s of one HTTP download (curl) through --allow-host's
egress proxy, through pasta and on the host (part "net"); times a syscall-heavy dd with nsbox's default seccomp
filter, with --seccomp=unconfined and bare (part "seccomp"). Prints Markdown
tables and writes docs/benchmarks.md.

  --quick       smoke test: start-up 1 round of 5 runs, 1 warm-up, 2 RSS
                samples; memory 2 sandboxes per mode; iperf3 tests of 2 s,
                downloads of 20 MB (not 200) twice (not 5 times);
                seccomp with smaller counts and 3 runs; writes no file unless
                --out
  --runs N      start-up: hyperfine --runs per round (default 30)
  --rounds N    start-up: hyperfine runs over all contenders, pooled (default 4)
  --only PARTS  comma-separated subset of startup,memory,net,seccomp; writes
                no file unless --out
  --out FILE    write the report to FILE (default docs/benchmarks.md on a full run)
  --no-write    print only
  -h, --help    this text`;

/** The unprivileged user the benchmark measures as when started as root. */
const BENCH_USER = Deno.env.get("NSBOX_TEST_USER") ?? "nsbox-test";
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const SAFE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

interface Options {
  quick: boolean;
  parts: Part[];
  runs: number;
  rounds: number;
  warmup: number;
  rssRuns: number;
  net: MeasureConfig["net"];
  seccomp: MeasureConfig["seccomp"];
  memory: MeasureConfig["memory"];
  out: string | null;
}

function parseOptions(args: string[]): Options {
  let quick = false;
  let runs: number | null = null;
  let rounds: number | null = null;
  let out: string | null | undefined;
  let parts: Part[] | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--quick") quick = true;
    else if (a === "--no-write") out = null;
    else if (a === "--runs" || a === "--rounds" || a === "--out" || a === "--only") {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (a === "--out") out = v;
      else if (a === "--only") {
        const bad = v.split(",").filter((p) => !(PARTS as readonly string[]).includes(p));
        if (bad.length || v === "") throw new UsageError(`--only takes a list of ${PARTS.join(",")}, got '${v}'`);
        parts = PARTS.filter((p) => v.split(",").includes(p));
      } else if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`${a} needs a positive integer, got '${v}'`);
      else if (a === "--runs") runs = Number(v);
      else rounds = Number(v);
    } else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      Deno.exit(0);
    } else throw new UsageError(`unknown argument '${a}'`);
  }
  return {
    quick,
    parts: parts ?? [...PARTS],
    runs: runs ?? (quick ? 5 : 30),
    rounds: rounds ?? (quick ? 1 : 4),
    warmup: quick ? 1 : 3,
    rssRuns: quick ? 2 : 15,
    net: {
      seconds: quick ? 2 : 5,
      repeats: 3,
      interval: 0.5,
      download: quick ? { bytes: 20_000_000, repeats: 2 } : { bytes: 200_000_000, repeats: 5 },
    },
    seccomp: quick
      ? { counts: [500_000, 1_500_000], runs: 3, rounds: 1, warmup: 0 }
      : { counts: [2_000_000, 6_000_000], runs: 2, rounds: 6, warmup: 0 },
    memory: { repeats: quick ? 2 : 5, samples: quick ? 3 : 5, intervalMs: 200, settleMs: 1000 },
    out: out === undefined ? (quick || parts ? null : `${ROOT}/docs/benchmarks.md`) : out,
  };
}

class UsageError extends Error {}

/** Runs `argv` and throws with its output if it fails. */
async function must(argv: string[], what: string): Promise<string> {
  const out = await capture(argv, { timeoutMs: 600_000 });
  if (out.code !== 0) throw new Error(`${what}: \`${commandLine(argv)}\` exited ${out.code}: ${gist(out.stderr)}`);
  return out.stdout;
}

/**
 * The Deno binary `scripts/nsbox` would exec, found by sourcing the same
 * `scripts/lib/env.sh` (which also builds the C helper if it is stale, so
 * that the unprivileged user never has to).
 */
async function nsboxDeno(): Promise<string> {
  const out = await must(
    ["sh", "-c", '. "$(dirname "$0")/lib/env.sh" && printf %s "$DENO"', `${ROOT}/scripts/bench`],
    "finding Deno",
  );
  return out.trim();
}

/** apt-installs `pkg` (as root), updating the package lists once if the first try fails. */
async function aptInstall(pkg: string, why: string): Promise<void> {
  console.error(`bench: installing ${pkg} with apt-get (${why}) ...`);
  if (pkg === "iperf3") {
    // Debian's iperf3 asks whether to start a system-wide server (on every address): no.
    const preseed = new Deno.Command("debconf-set-selections", { stdin: "piped", stdout: "null", stderr: "null" })
      .spawn();
    const w = preseed.stdin.getWriter();
    await w.write(new TextEncoder().encode("iperf3 iperf3/start_daemon boolean false\n"));
    await w.close();
    await preseed.status.catch(() => {});
  }
  const install = ["apt-get", "install", "-y", "-qq", pkg];
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  if ((await capture(install, { env, timeoutMs: 600_000 })).code === 0) return;
  await capture(["apt-get", "update", "-qq"], { env, timeoutMs: 600_000 });
  const out = await capture(install, { env, timeoutMs: 600_000 });
  if (out.code !== 0) console.error(`bench: could not install ${pkg}: ${gist(out.stderr)}`);
}

/** Makes sure `user` exists with subordinate ids and a writable DENO_DIR; returns its uid, gid and home. */
async function ensureUser(user: string): Promise<{ uid: number; gid: number; home: string }> {
  if ((await capture(["id", user])).code !== 0) {
    await must(["useradd", "--create-home", "--shell", "/bin/sh", user], "creating the benchmark user");
    console.error(`bench: created unprivileged user ${user}`);
  }
  // Rootless podman needs subordinate ids; add some only if the user has none (as scripts/test.sh does).
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    if (!text.split("\n").some((l) => l.startsWith(`${user}:`))) {
      await Deno.writeTextFile(file, `${user}:300000:65536\n`, { append: true });
    }
  }
  const [, , uid, gid, , home] = (await must(["getent", "passwd", user], "looking up the user")).trim().split(":");
  await must(["runuser", "-u", user, "--", "mkdir", "-p", `${home}/.cache/deno`], "creating the user's DENO_DIR");
  return { uid: Number(uid), gid: Number(gid), home: home! };
}

/** Runs the measurement as `BENCH_USER` (we are root) and returns its result and the exact drop command. */
async function measureAsUser(opts: Options, deno: string): Promise<{ result: MeasureResult; drop: string }> {
  if (opts.parts.includes("startup") && !which("/usr/bin/time")) await aptInstall("time", "for peak RSS");
  if (opts.parts.includes("net") && !which("iperf3")) await aptInstall("iperf3", "for network throughput");
  if (which("podman") && !which("runc") && !(await exists("/sys/fs/cgroup/cgroup.controllers"))) {
    await aptInstall("runc", "rootless podman's default runtime crun refuses hybrid cgroup hierarchies");
  }
  const { uid, gid, home } = await ensureUser(BENCH_USER);
  // The memory part runs here, as root, with its sandboxes started as the user (see measureMemory).
  const userParts = opts.parts.filter((p) => p !== "memory");
  const workDir = await Deno.makeTempDir({ prefix: "nsbox-bench." });
  try {
    await Deno.chown(workDir, uid, gid);
    let tree = ROOT;
    if ((await capture(["runuser", "-u", BENCH_USER, "--", "test", "-r", `${ROOT}/main.ts`, "-a", "-x", deno])).code) {
      // The checkout is not readable by the user (e.g. under /root): measure a copy, as scripts/test.sh tests one.
      tree = `${workDir}/tree`;
      await must(["cp", "-a", `${ROOT}/.`, `${tree}/`], "copying the tree");
      await must(["chown", "-R", `${uid}:${gid}`, tree], "handing the copy to the user");
      console.error(`bench: checkout not readable by ${BENCH_USER}; measuring a copy in ${tree}`);
    }
    const config: MeasureConfig = {
      parts: userParts,
      net: opts.net,
      seccomp: opts.seccomp,
      memory: opts.memory,
      tree,
      deno: deno.startsWith(`${ROOT}/`) ? tree + deno.slice(ROOT.length) : deno,
      workDir,
      runs: opts.runs,
      rounds: opts.rounds,
      warmup: opts.warmup,
      rssRuns: opts.rssRuns,
      resultPath: `${workDir}/result.json`,
    };
    const configPath = `${workDir}/config.json`;
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
    await Deno.chown(configPath, uid, gid);
    const denoDir = `${home}/.cache/deno`;
    const asUser = [
      "runuser",
      "-u",
      BENCH_USER,
      "--",
      "env",
      "-i",
      `HOME=${home}`,
      `USER=${BENCH_USER}`,
      `LOGNAME=${BENCH_USER}`,
      `PATH=${SAFE_PATH}`,
      `DENO_DIR=${denoDir}`,
      "NO_COLOR=1",
      `TERM=${Deno.env.get("TERM") ?? "dumb"}`,
    ];
    const argv = [
      ...asUser,
      config.deno,
      "run",
      "-A",
      "--quiet",
      `${tree}/scripts/bench.ts`,
      "--measure",
      configPath,
    ];
    let result: MeasureResult = {
      user: BENCH_USER,
      uid,
      denoDir,
      hyperfine: "",
      measured: [],
      skipped: [],
      notes: [],
      timeline: [],
    };
    if (userParts.length) {
      const status = await new Deno.Command(argv[0]!, {
        args: argv.slice(1),
        cwd: tree,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn().status;
      if (!status.success) throw new Error(`the measurement as ${BENCH_USER} failed (exit ${status.code})`);
      result = JSON.parse(await Deno.readTextFile(config.resultPath));
    }
    if (opts.parts.includes("memory")) {
      const start = Date.now();
      const nsbox = [config.deno, ...DENO_RUN_ARGS, `${tree}/main.ts`];
      result.memory = await measureMemory(opts.memory, { nsbox, tree, launcher: asUser });
      result.memory.launcher = result.memory.launcher?.replaceAll(workDir, "$WORK") ?? null;
      // Memory ran after the user's parts; keep the timeline in the order things ran.
      result.timeline = [...(result.timeline ?? []), { part: "memory", start, end: Date.now() }];
    }
    const drop = userParts.length ? commandLine(argv).replaceAll(workDir, "$WORK") : commandLine(asUser);
    return { result, drop };
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

/** Measures in this process (we are not root); returns the result. */
async function measureHere(opts: Options, deno: string): Promise<MeasureResult> {
  if (opts.parts.includes("startup") && !which("/usr/bin/time")) {
    console.error("bench: /usr/bin/time (GNU time) is missing: no peak RSS");
  }
  const workDir = await Deno.makeTempDir({ prefix: "nsbox-bench." });
  try {
    const config: MeasureConfig = {
      parts: opts.parts,
      net: opts.net,
      seccomp: opts.seccomp,
      memory: opts.memory,
      tree: ROOT,
      deno,
      workDir,
      runs: opts.runs,
      rounds: opts.rounds,
      warmup: opts.warmup,
      rssRuns: opts.rssRuns,
      resultPath: `${workDir}/result.json`,
    };
    await Deno.writeTextFile(`${workDir}/config.json`, JSON.stringify(config));
    await measureFromFile(`${workDir}/config.json`);
    return JSON.parse(await Deno.readTextFile(config.resultPath));
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

/** `git describe --always --dirty` of the checkout (uncommitted edits to tracked files show as `-dirty`). */
async function revision(): Promise<string> {
  return (await firstLine(["git", "-C", ROOT, "describe", "--always", "--dirty"])) ?? "unknown";
}

/** The 1, 5 and 15 minute load averages. */
async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg").catch(() => "? ? ?")).split(" ").slice(0, 3).join(" ");
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** `slirp4netns --version`'s version and libslirp lines, on one line. */
async function slirpVersion(): Promise<string> {
  const out = await capture(["slirp4netns", "--version"], { timeoutMs: 30_000 });
  if (out.code !== 0) return "n/a";
  return out.stdout.split("\n").filter((l) => /^(slirp4netns version|libslirp)/.test(l)).join(", ") || "n/a";
}

/** Collects the machine description and tool versions for the report. */
async function environment(
  opts: Options,
  deno: string,
  drop: string | null,
  load: [string, string],
  revisionBefore: string,
): Promise<Environment> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const osRelease = await Deno.readTextFile("/etc/os-release").catch(() => "");
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN);
  const v = async (argv: string[]) => (await firstLine(argv)) ?? "n/a";
  const revisionAfter = await revision();
  const versions: [string, string][] = [
    ["nsbox", revisionAfter === revisionBefore ? revisionBefore : `${revisionBefore} → ${revisionAfter}`],
    ["deno", `${await v([deno, "--version"])} (\`${deno.replace(`${ROOT}/`, "")}\`)`],
    ["hyperfine", await v(["hyperfine", "--version"])],
    ["GNU time", await v(["dpkg-query", "-W", "-f", "time ${Version}", "time"])],
    ["bubblewrap", await v(["bwrap", "--version"])],
    ["util-linux unshare", await v(["unshare", "--version"])],
    ["firejail", await v(["firejail", "--version"])],
    ["podman", await v(["podman", "--version"])],
    ["runc", await v(["runc", "--version"])],
    ["crun", await v(["crun", "--version"])],
    ["iperf3", await v(["iperf3", "--version"])],
    ["passt (pasta)", await v(["dpkg-query", "-W", "-f", "passt ${Version}", "passt"])],
    ["slirp4netns", await slirpVersion()],
    ["dd", await v(["dd", "--version"])],
  ];
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    nproc: await v(["nproc"]),
    kernel: await v(["uname", "-srvm"]),
    release: await v(["uname", "-r"]),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memory: Number.isFinite(memKiB) ? `${(memKiB / 1024 / 1024).toFixed(1)} GiB` : "unknown",
    os: /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? "unknown",
    specStoreBypass: (await Deno.readTextFile("/sys/devices/system/cpu/vulnerabilities/spec_store_bypass")
      .catch(() => "unknown")).trim(),
    cgroups: (await exists("/sys/fs/cgroup/cgroup.controllers"))
      ? "v2 (unified)"
      : (await exists("/sys/fs/cgroup/unified"))
      ? "v1 + v2 hybrid"
      : "v1",
    load,
    revision: revisionAfter === revisionBefore
      ? revisionBefore
      : `${revisionBefore} at the start, ${revisionAfter} at the end (the tree changed during the run)`,
    versions,
    dropCommand: drop,
    quick: opts.quick,
    runs: opts.runs,
    rounds: opts.rounds,
    warmup: opts.warmup,
    rssRuns: opts.rssRuns,
    foreign: [],
    timeline: [],
  };
}

async function main(args: string[]): Promise<number> {
  if (args[0] === "--measure" && args[1]) {
    await measureFromFile(args[1]);
    return 0;
  }
  const opts = parseOptions(args);
  if (!which("hyperfine")) throw new Error("hyperfine is not installed (apt-get install hyperfine)");
  const deno = await nsboxDeno();
  let result: MeasureResult | undefined;
  let foreign: ForeignUse[] = [];
  let drop: string | null = null;
  const loadBefore = await loadAverage();
  const revisionBefore = await revision();
  if (Number(loadBefore.split(" ")[0]) >= 0.5) {
    console.error(`bench: warning: the machine is busy (load average ${loadBefore}); the numbers will be noisy`);
  }
  const monitor = new CpuMonitor();
  monitor.start();
  try {
    if (Deno.uid() === 0) {
      ({ result, drop } = await measureAsUser(opts, deno));
    } else {
      result = await measureHere(opts, deno);
    }
  } finally {
    foreign = monitor.stop(result?.timeline ?? []);
  }
  const env = await environment(opts, deno, drop, [loadBefore, await loadAverage()], revisionBefore);
  env.foreign = foreign;
  env.timeline = result.timeline ?? [];
  for (const f of foreign) {
    console.error(
      `bench: warning: other work during the run: ${f.comm} (pid ${f.pid}) used ${f.cpuSeconds.toFixed(0)} s CPU`,
    );
  }
  if (env.revision !== revisionBefore) console.error(`bench: warning: nsbox revision ${env.revision}`);
  if (opts.parts.includes("startup")) {
    console.log(resultsTable(result));
    console.log();
    console.log(verdict(result));
    for (const s of result.skipped) console.log(`\nSkipped ${s.name}: ${s.reason}`);
    for (const m of result.measured) if (m.note) console.log(`\nNote on ${m.name}: ${m.note}`);
  }
  if (result.memory) console.log(`\n${memoryTable(result.memory)}\n\n${memoryVerdict(result.memory)}`);
  if (result.net) console.log(`\n${netTables(result.net)}\n\n${netVerdict(result.net)}`);
  if (result.seccomp) console.log(`\n${seccompTable(result.seccomp)}\n\n${seccompVerdict(result.seccomp)}`);
  if (opts.out) {
    // sections other programs write (the soak's) are kept
    const previous = await Deno.readTextFile(opts.out).catch(() => null);
    await Deno.writeTextFile(opts.out, keepSections(previous, renderDoc(result, env)));
    console.error(`bench: wrote ${opts.out}`);
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`bench: ${e.message}\n\n${USAGE}`);
      Deno.exit(2);
    }
    console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
