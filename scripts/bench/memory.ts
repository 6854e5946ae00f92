/**
 * The memory part of `deno task bench`: what a running sandbox's own
 * processes hold in memory while its command runs, besides the command itself.
 *
 * A sandbox runs `sleep`; once it is up, the benchmark reads, several times,
 * the resident memory of
 *
 * - the **supervisor**: the nsbox process that waits for the sandbox (for a
 *   foreground run the process started; for `-d` the detached supervisor,
 *   found as the parent of the PID 1 that `nsbox ps --json` names), and
 * - the sandbox's **PID 1**: the supervisor's child whose `/proc/PID/status`
 *   `NSpid` ends in 1 (nsbox-init),
 * - and, reported without a target, any other child of the supervisor (the
 *   network helper pasta with `--net`),
 *
 * in four modes (foreground, `--net`, limits, detached) and, as a peer, for
 * bubblewrap (its outer process and its PID 1). Figures come from
 * `/proc/PID/status` (VmRSS) and `/proc/PID/smaps_rollup` (Pss, and Private =
 * Private_Clean + Private_Dirty: what the process alone holds). Reading
 * another process's `smaps_rollup` needs ptrace read access, which the
 * unprivileged user lacks for nsbox-init (it is not dumpable): `deno task
 * bench` started as root therefore samples as root while the sandboxes are
 * started as the unprivileged user (through `runuser`); started as the user
 * itself it reports what it can read.
 *
 * @module
 */
import { capture, commandLine, gist, Proc, sleep, which } from "./exec.ts";
import { median } from "./stats.ts";

/** How to measure. */
export interface MemoryConfig {
  /** Sandboxes started per mode (one set of samples each). */
  repeats: number;
  /** Samples per sandbox, {@linkcode MemoryConfig.intervalMs} apart. */
  samples: number;
  /** Milliseconds between samples. */
  intervalMs: number;
  /** Milliseconds to wait after the command is running before the first sample. */
  settleMs: number;
}

/** Figures of one process, KiB. `null`: could not be read (see {@linkcode MemRole.unreadable}). */
export interface MemFigures {
  /** `VmRSS` of `/proc/PID/status`. */
  rssKiB: number;
  /** `Pss` of `/proc/PID/smaps_rollup`. */
  pssKiB: number | null;
  /** `Private_Clean + Private_Dirty` of `/proc/PID/smaps_rollup`. */
  privateKiB: number | null;
}

/** One process role of a mode (the supervisor, PID 1, or a helper), over all repeats. */
export interface MemRole {
  role: "supervisor" | "pid1" | "helper";
  /** `comm` of the process (e.g. deno, nsbox-init, pasta, bwrap). */
  comm: string;
  /** Where `/proc/PID/exe` points, or `null` when unreadable. */
  exe: string | null;
  /** Per repeat, the median of its samples. */
  perRepeat: MemFigures[];
  /** The median over the repeats. */
  figures: MemFigures;
  /** Most other processes seen running the same executable at a sample (they share its file pages, lowering Pss). */
  sameExe: number;
  /** Why Pss/Private could not be read, if so. */
  unreadable?: string;
}

/** The modes measured. */
export type MemoryModeId = "foreground" | "net" | "limits" | "detached" | "bwrap";

/** One mode's result. */
export interface MemoryMode {
  id: MemoryModeId;
  name: string;
  /** The exact command line (launcher prefix left out). */
  command: string;
  /** Why it could not be measured, or `null` when it was. */
  notMeasured: string | null;
  supervisor?: MemRole;
  pid1?: MemRole;
  helpers: MemRole[];
  /** Anything worth saying about how it ran. */
  notes: string[];
}

/** Everything the memory part found out. */
export interface MemoryResult {
  config: MemoryConfig;
  /** Who read `/proc` (e.g. "root", or the unprivileged user). */
  sampledAs: string;
  /** How the sandboxes were started (the launcher prefix), or `null` when directly. */
  launcher: string | null;
  modes: MemoryMode[];
  notes: string[];
}

/** What the memory part needs from the driver. */
export interface MemoryContext {
  /** The argv prefix that runs nsbox (`deno run -A --quiet …/main.ts`). */
  nsbox: string[];
  /** The nsbox tree: the working directory of every command. */
  tree: string;
  /** Put before every command to start it as the measured user (`runuser … env -i …`), or `[]`. */
  launcher: string[];
}

/** The target for each of the supervisor and PID 1: 1 MB, read as 1 MiB (the kernel's "kB" are KiB). */
export const MEMORY_TARGET_KIB = 1024;

/** How long the sandboxed `sleep` would run if nothing stopped it (it is stopped once sampled). */
const SLEEP_SECONDS = 60;

interface ProcStatus {
  pid: number;
  ppid: number;
  comm: string;
  nspid: number[];
  rssKiB: number;
}

function readStatus(pid: number): ProcStatus | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(text)?.[1]?.trim() ?? "";
    return {
      pid,
      ppid: Number(field("PPid")),
      comm: field("Name"),
      nspid: field("NSpid").split(/\s+/).filter((s) => s !== "").map(Number),
      rssKiB: Number(field("VmRSS").replace(/\s*kB$/, "") || 0),
    };
  } catch {
    return null;
  }
}

/** Pss and Private of `pid` (KiB), or the reason they cannot be read. */
function readRollup(pid: number): { pssKiB: number; privateKiB: number } | { error: string } {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
  } catch (e) {
    return { error: e instanceof Deno.errors.PermissionDenied ? "permission denied" : (e as Error).message };
  }
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  const pss = kib("Pss");
  const priv = kib("Private_Clean") + kib("Private_Dirty");
  if (!Number.isFinite(pss) || !Number.isFinite(priv)) return { error: "no Pss/Private lines" };
  return { pssKiB: pss, privateKiB: priv };
}

function exeOf(pid: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/** Every process's status (those that vanish meanwhile are left out). */
function allStatuses(): ProcStatus[] {
  const out: ProcStatus[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const s = readStatus(Number(e.name));
    if (s) out.push(s);
  }
  return out;
}

/** The processes in the tree under `root` (itself included). */
function tree(root: number, all: ProcStatus[]): ProcStatus[] {
  const byParent = new Map<number, ProcStatus[]>();
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const out: ProcStatus[] = [];
  const stack = all.filter((p) => p.pid === root);
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(byParent.get(p.pid) ?? []));
  }
  return out;
}

/** A sandbox's PID 1 (NSpid ends in 1, its parent's does not) and its supervisor, once its command runs. */
interface Running {
  supervisor: number;
  pid1: number;
  /** The command (`sleep`), a child of PID 1. */
  command: number;
  /** Other children of the supervisor (e.g. pasta). */
  helpers: number[];
}

/** Finds the running sandbox under `root` (or, with `pid1`, the one whose PID 1 that is). */
function findRunning(all: ProcStatus[], where: { root: number } | { pid1: number }): Running | null {
  let pid1: ProcStatus | undefined;
  if ("pid1" in where) {
    pid1 = all.find((p) => p.pid === where.pid1);
  } else {
    const byPid = new Map(all.map((p) => [p.pid, p]));
    pid1 = tree(where.root, all).find((p) => {
      const parent = byPid.get(p.ppid);
      return p.nspid.length >= 2 && p.nspid.at(-1) === 1 && (parent?.nspid.length ?? 1) < p.nspid.length;
    });
  }
  if (!pid1) return null;
  const command = all.find((p) => p.ppid === pid1!.pid && p.comm === "sleep");
  if (!command) return null;
  const helpers = all.filter((p) => p.ppid === pid1!.ppid && p.pid !== pid1!.pid).map((p) => p.pid);
  return { supervisor: pid1.ppid, pid1: pid1.pid, command: command.pid, helpers };
}

async function waitRunning(
  where: { root: number } | { pid1: number },
  ended: () => boolean,
  ms = 30_000,
): Promise<Running | null> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && !ended()) {
    const found = findRunning(allStatuses(), where);
    if (found) return found;
    await sleep(20);
  }
  return null;
}

interface Sample {
  comm: string;
  exe: string | null;
  figures: MemFigures;
  sameExe: number;
  unreadable?: string;
}

function sampleOne(pid: number, all: ProcStatus[]): Sample | null {
  const status = readStatus(pid);
  if (!status) return null;
  const rollup = readRollup(pid);
  const exe = exeOf(pid);
  const sameExe = exe === null ? 0 : all.filter((p) => p.pid !== pid && exeOf(p.pid) === exe).length;
  return "error" in rollup
    ? {
      comm: status.comm,
      exe,
      figures: { rssKiB: status.rssKiB, pssKiB: null, privateKiB: null },
      sameExe,
      unreadable: rollup.error,
    }
    : { comm: status.comm, exe, figures: { rssKiB: status.rssKiB, ...rollup }, sameExe };
}

function medianFigures(xs: MemFigures[]): MemFigures {
  const of = (pick: (f: MemFigures) => number | null) => {
    const v = xs.map(pick).filter((x): x is number => x !== null);
    return v.length === xs.length && v.length ? median(v) : null;
  };
  return { rssKiB: of((f) => f.rssKiB) ?? NaN, pssKiB: of((f) => f.pssKiB), privateKiB: of((f) => f.privateKiB) };
}

/** Per role key ("supervisor", "pid1", "helper:COMM"), the samples of one sandbox. */
type RepeatSamples = Map<string, Sample[]>;

/** Samples the running sandbox `r` `config.samples` times. */
async function sampleRunning(r: Running, config: MemoryConfig): Promise<RepeatSamples> {
  await sleep(config.settleMs);
  const out: RepeatSamples = new Map();
  const add = (key: string, s: Sample | null) => s && out.set(key, [...(out.get(key) ?? []), s]);
  for (let i = 0; i < config.samples; i++) {
    if (i) await sleep(config.intervalMs);
    const all = allStatuses();
    add("supervisor", sampleOne(r.supervisor, all));
    add("pid1", sampleOne(r.pid1, all));
    for (const h of r.helpers) {
      const s = sampleOne(h, all);
      if (s) add(`helper:${s.comm}`, s);
    }
  }
  return out;
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch { /* gone, or not ours */ }
}

async function gone(pid: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (readStatus(pid) === null) return true;
    await sleep(20);
  }
  return readStatus(pid) === null;
}

interface ModeSpec {
  id: MemoryModeId;
  name: string;
  argv: string[];
  detached?: boolean;
  /** Why it cannot even be tried. */
  unavailable?: string;
}

/** One sandbox of a foreground mode: start, wait until running, sample, stop its command. */
async function foregroundOnce(
  spec: ModeSpec,
  ctx: MemoryContext,
  config: MemoryConfig,
  notes: string[],
): Promise<RepeatSamples | { failed: string }> {
  const proc = new Proc([...ctx.launcher, ...spec.argv], ctx.tree);
  try {
    const running = await waitRunning({ root: proc.pid }, () => proc.exit !== null);
    if (!running) {
      await proc.exited(5000);
      return {
        failed: proc.exit
          ? `\`${commandLine(spec.argv)}\` exited ${proc.exit.code}: ${gist(proc.stderr || proc.stdout)}`
          : `\`${commandLine(spec.argv)}\` did not start its command within 30 s`,
      };
    }
    const expected = ctx.launcher.length ? null : proc.pid;
    if (expected !== null && running.supervisor !== expected) {
      notes.push(`the parent of PID 1 (pid ${running.supervisor}) is not the process started (pid ${expected})`);
    }
    const samples = await sampleRunning(running, config);
    kill(running.command, "SIGTERM");
    if (!(await proc.exited(10_000))) {
      notes.push(`${spec.name}: did not end within 10 s of its command's SIGTERM; stopped it`);
      kill(running.supervisor, "SIGKILL");
    }
    return samples;
  } finally {
    await proc.stop(3000);
  }
}

/** One detached sandbox: `run -d`, find it with `ps --json`, sample, `kill`, `rm`. */
async function detachedOnce(
  spec: ModeSpec,
  ctx: MemoryContext,
  config: MemoryConfig,
  notes: string[],
): Promise<RepeatSamples | { failed: string }> {
  const name = `bench-mem-${crypto.randomUUID().slice(0, 8)}`;
  const argv = spec.argv.map((a) => a === "NAME" ? name : a);
  const nsbox = (args: string[]) =>
    capture([...ctx.launcher, ...ctx.nsbox, ...args], { cwd: ctx.tree, timeoutMs: 60_000 });
  const started = await capture([...ctx.launcher, ...argv], { cwd: ctx.tree, timeoutMs: 60_000 });
  if (started.code !== 0) {
    return { failed: `\`${commandLine(argv)}\` exited ${started.code}: ${gist(started.stderr || started.stdout)}` };
  }
  let supervisor: number | null = null;
  try {
    const ps = await nsbox(["ps", "--json"]);
    let pid1: number | null = null;
    try {
      const rows = JSON.parse(ps.stdout) as { name?: string; pid?: number | null }[];
      pid1 = rows.find((r) => r.name === name)?.pid ?? null;
    } catch {
      return { failed: `\`nsbox ps --json\` exited ${ps.code} without JSON: ${gist(ps.stderr || ps.stdout)}` };
    }
    if (pid1 === null) return { failed: `\`nsbox ps --json\` does not list '${name}' (pid)` };
    const running = await waitRunning({ pid1 }, () => readStatus(pid1!) === null);
    if (!running) return { failed: `the PID 1 that \`nsbox ps --json\` names (${pid1}) did not run its command` };
    supervisor = running.supervisor;
    const recorded = recordedSupervisor(name, pid1, ctx.launcher.length === 0);
    if (recorded === null) notes.push(`run of '${name}': its record (state.json) could not be read`);
    else if (recorded !== supervisor) {
      notes.push(`run of '${name}': its record names supervisor ${recorded}, but PID 1's parent is ${supervisor}`);
    }
    const samples = await sampleRunning(running, config);
    return samples;
  } finally {
    const killed = await nsbox(["kill", name]);
    if (killed.code !== 0) notes.push(`\`nsbox kill ${name}\` exited ${killed.code}: ${gist(killed.stderr)}`);
    if (supervisor !== null && !(await gone(supervisor, 10_000))) {
      notes.push(`the detached supervisor (pid ${supervisor}) outlived \`nsbox kill\` by 10 s; killed it`);
      kill(supervisor, "SIGKILL");
    }
    const rm = await nsbox(["rm", name]);
    if (rm.code !== 0) notes.push(`\`nsbox rm ${name}\` exited ${rm.code}: ${gist(rm.stderr)}`);
  }
}

/** `supervisorPid` from the sandbox's record (`/tmp/nsbox-UID/NAME/state.json`, or under XDG_RUNTIME_DIR), or `null`. */
function recordedSupervisor(name: string, pid1: number, ownEnv: boolean): number | null {
  let uid: string | undefined;
  try {
    uid = /^Uid:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid1}/status`))?.[1];
  } catch {
    return null;
  }
  const xdg = ownEnv ? Deno.env.get("XDG_RUNTIME_DIR") : undefined;
  for (const root of [...(xdg?.startsWith("/") ? [`${xdg}/nsbox`] : []), `/tmp/nsbox-${uid}`]) {
    try {
      const state = JSON.parse(Deno.readTextFileSync(`${root}/${name}/state.json`));
      if (typeof state.supervisorPid === "number") return state.supervisorPid;
    } catch { /* not there */ }
  }
  return null;
}

function role(key: string, repeats: RepeatSamples[]): MemRole | undefined {
  const per = repeats.map((r) => r.get(key) ?? []).filter((s) => s.length);
  if (!per.length) return undefined;
  const first = per[0]![0]!;
  const unreadable = per.flat().find((s) => s.unreadable)?.unreadable;
  const perRepeat = per.map((s) => medianFigures(s.map((x) => x.figures)));
  return {
    role: key === "supervisor" ? "supervisor" : key === "pid1" ? "pid1" : "helper",
    comm: first.comm,
    exe: first.exe,
    perRepeat,
    figures: medianFigures(perRepeat),
    sameExe: Math.max(...per.flat().map((s) => s.sameExe)),
    unreadable,
  };
}

function modes(ctx: MemoryContext): ModeSpec[] {
  const sleepArgv = ["sleep", String(SLEEP_SECONDS)];
  const bwrap = which("bwrap");
  const pasta = which("pasta");
  return [
    { id: "foreground", name: "nsbox, foreground", argv: [...ctx.nsbox, "run", "--", ...sleepArgv] },
    {
      id: "net",
      name: "nsbox --net",
      argv: [...ctx.nsbox, "run", "--net", "--", ...sleepArgv],
      unavailable: pasta ? undefined : "pasta is not installed (not on PATH): `--net` would not use it",
    },
    { id: "limits", name: "nsbox --mem 100M", argv: [...ctx.nsbox, "run", "--mem", "100M", "--", ...sleepArgv] },
    {
      id: "detached",
      name: "nsbox -d",
      argv: [...ctx.nsbox, "run", "-d", "--name", "NAME", "--", ...sleepArgv],
      detached: true,
    },
    {
      id: "bwrap",
      name: "bubblewrap (peer)",
      argv: [
        bwrap ?? "bwrap",
        ...["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"],
        ...["--tmpfs", "/tmp", ...sleepArgv],
      ],
      unavailable: bwrap ? undefined : "bwrap is not installed (not on PATH)",
    },
  ];
}

/** Measures every mode; see the module documentation. */
export async function measureMemory(config: MemoryConfig, ctx: MemoryContext): Promise<MemoryResult> {
  const result: MemoryResult = {
    config,
    sampledAs: Deno.uid() === 0 ? "root" : (Deno.env.get("USER") ?? `uid ${Deno.uid()}`),
    launcher: ctx.launcher.length ? commandLine(ctx.launcher) : null,
    modes: [],
    notes: [],
  };
  for (const spec of modes(ctx)) {
    const mode: MemoryMode = {
      id: spec.id,
      name: spec.name,
      command: commandLine(spec.argv),
      notMeasured: null,
      helpers: [],
      notes: [],
    };
    result.modes.push(mode);
    if (spec.unavailable) {
      mode.notMeasured = spec.unavailable;
      console.error(`bench: memory: skipping ${spec.name}: ${spec.unavailable}`);
      continue;
    }
    const repeats: RepeatSamples[] = [];
    for (let i = 1; i <= config.repeats; i++) {
      console.error(`bench: memory: ${spec.name} (${i}/${config.repeats}) ...`);
      const out = spec.detached
        ? await detachedOnce(spec, ctx, config, mode.notes)
        : await foregroundOnce(spec, ctx, config, mode.notes);
      if ("failed" in out) {
        // The first failure decides (e.g. --mem refused on this host); a later one is noted and the run left out.
        if (!repeats.length) {
          mode.notMeasured = spec.id === "limits" && /cgroup/i.test(out.failed)
            ? `not measurable on this host (needs the VM suite, \`scripts/vm\`): ${out.failed}`
            : out.failed;
          console.error(`bench: memory: ${spec.name} not measured: ${mode.notMeasured}`);
          break;
        }
        mode.notes.push(`run ${i} failed and was left out: ${out.failed}`);
        continue;
      }
      repeats.push(out);
    }
    if (!repeats.length) continue;
    mode.supervisor = role("supervisor", repeats);
    mode.pid1 = role("pid1", repeats);
    const helperKeys = [...new Set(repeats.flatMap((r) => [...r.keys()].filter((k) => k.startsWith("helper:"))))];
    mode.helpers = helperKeys.map((k) => role(k, repeats)).filter((r): r is MemRole => r !== undefined);
  }
  return result;
}
