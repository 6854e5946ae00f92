/**
 * The long run of tests/soak/soak_test.ts, in a process of its own (run with `--v8-flags=--expose-gc`, so that
 * its heap is collected before each sample): `MODE RUNS WARMUP TAG STORE` starts RUNS sandboxes one after the
 * other, with the CLI (`cli`: `nsbox run`, as a shell would) or with mod.ts's run() in this very process
 * (`library`), checks each one's output, samples its resources after WARMUP runs, after half the runs and at
 * the end, and prints one JSON line: `{failures, first, mid, last}` (NSBOX_SOAK_TRACE=N: a sample on stderr every
 * N runs).
 */
import { run } from "../../mod.ts";
import { dirEntries, hostMountinfo, nsboxCommand, processesTagged } from "../integration/_harness.ts";

const [mode, runsArg, warmUpArg, tag, store] = Deno.args;
const runs = Number(runsArg), warmUp = Number(warmUpArg);
const trace = Number(Deno.env.get("NSBOX_SOAK_TRACE") ?? 0);

/** What this process's descriptors are (for a growth's report). */
function fdTargets(): string[] {
  return [...Deno.readDirSync("/proc/self/fd")].flatMap((e) => {
    try {
      return [`${e.name}:${Deno.readLinkSync(`/proc/self/fd/${e.name}`)}`];
    } catch {
      return [];
    }
  });
}

/** Resources that a leak would make grow. */
export interface Sample {
  /** Open descriptors of this process (which starts every sandbox). */
  fds: number;
  /** Resident memory of this process, KiB. */
  rssKiB: number;
  /** This process's V8 heap in use after a full collection, KiB. */
  heapKiB: number;
  /** Processes the run started that still run (tagged, see processesTagged()). */
  processes: number;
  /** Their open descriptors. */
  processFds: number;
  /** Their resident memory, KiB. */
  processRssKiB: number;
  /** Lines of the host's mountinfo. */
  mounts: number;
  /** Entries of the record directory. */
  records: number;
}

function rssKiB(pid: number | "self"): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1] ?? 0);
  } catch {
    return 0; // gone
  }
}

function fdCount(pid: number | "self"): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return 0; // gone
  }
}

function sample(): Sample {
  (globalThis as unknown as { gc?: () => void }).gc?.();
  const procs = processesTagged(tag!);
  return {
    fds: fdCount("self"),
    rssKiB: rssKiB("self"),
    heapKiB: Math.round(Deno.memoryUsage().heapUsed / 1024),
    processes: procs.length,
    processFds: procs.reduce((n, p) => n + fdCount(p.pid), 0),
    processRssKiB: procs.reduce((n, p) => n + rssKiB(p.pid), 0),
    mounts: hostMountinfo().split("\n").length - 1,
    records: dirEntries(store!).size,
  };
}

/** Where a CLI run's output goes: a file, not a pipe (Deno's piped output grows its own memory run after run). */
const OUT = `${Deno.env.get("TMPDIR") ?? "/tmp"}/soak-long-${Deno.pid}`;

async function once(i: number): Promise<string | null> {
  if (mode === "cli") {
    const [cmd, args] = nsboxCommand(["run", "--", "sh", "-c", `echo "$0-${i}"`, "long"]);
    const child = new Deno.Command("sh", {
      args: ["-c", 'out=$1; shift; exec "$@" >"$out.out" 2>"$out.err"', "sh", OUT, cmd, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const status = await child.status;
    clearTimeout(timer);
    const stdout = Deno.readTextFileSync(`${OUT}.out`), stderr = Deno.readTextFileSync(`${OUT}.err`);
    return status.code === 0 && stdout === `long-${i}\n` && stderr === ""
      ? null
      : `#${i}: exit ${status.code}, ${JSON.stringify(stdout.slice(0, 200))}, ${JSON.stringify(stderr.slice(0, 300))}`;
  }
  // The library: the sandbox shares this process's stdout (the JSON line's), so its command says it by its status.
  const r = await run({ command: ["sh", "-c", `exit $((${i} % 7))`] });
  return r.exitCode === i % 7 ? null : `#${i}: exit ${r.exitCode}, expected ${i % 7}`;
}

const failures: string[] = [];
let first: Sample | null = null, mid: Sample | null = null;
for (let i = 0; i < runs; i++) {
  const failed = await once(i).catch((e) => `#${i}: ${(e as Error).message}`);
  if (failed) failures.push(failed);
  if (i + 1 === warmUp) first = sample();
  if (i + 1 === Math.max(warmUp, Math.floor(runs / 2))) mid = sample();
  if (trace && (i + 1) % trace === 0) console.error(JSON.stringify({ i: i + 1, ...sample(), fdsNow: fdTargets() }));
}
const last = sample();
if (mode === "cli") { for (const ext of [".out", ".err"]) Deno.removeSync(`${OUT}${ext}`); }
console.log(JSON.stringify({ failures, first, mid, last }));
