/**
 * Watches for other work on the machine while the benchmark runs: every few
 * seconds it reads every process's CPU time from `/proc/PID/stat` and adds up
 * what processes outside the benchmark's own process tree used, so that the
 * report can say whether (and during which part) something else competed for
 * the CPUs.
 *
 * @module
 */

/** CPU time a process outside the benchmark used during the run. */
export interface ForeignUse {
  pid: number;
  comm: string;
  /** Owner's uid. */
  uid: number;
  /** CPU seconds (user + system) while the benchmark ran. */
  cpuSeconds: number;
  /** The same, per part of the benchmark (by when it was sampled). */
  byPart: Record<string, number>;
}

/** When a part of the benchmark ran (milliseconds since the epoch). */
export interface PartWindow {
  part: string;
  start: number;
  end: number;
}

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, clock ticks. */
  ticks: number;
  /** Start time, clock ticks since boot. */
  start: number;
}

function readStats(): Stat[] {
  const out: Stat[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const s = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const close = s.lastIndexOf(")");
      const f = s.slice(close + 2).split(" ");
      out.push({
        pid: Number(e.name),
        ppid: Number(f[1]),
        comm: s.slice(s.indexOf("(") + 1, close),
        ticks: Number(f[11]) + Number(f[12]),
        start: Number(f[19]),
      });
    } catch { /* exited meanwhile */ }
  }
  return out;
}

function uidOf(pid: number): number {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1] ?? -1);
  } catch {
    return -1;
  }
}

/** Samples CPU use of processes outside the tree of `root` (default: this process) until stopped. */
export class CpuMonitor {
  readonly #root: number;
  readonly #hz: number;
  readonly #last = new Map<string, number>();
  readonly #use = new Map<string, { pid: number; comm: string; uid: number; samples: [number, number][] }>();
  #bootTicksAtStart = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(root = Deno.pid, hz = 100) {
    this.#root = root;
    this.#hz = hz;
  }

  /** Takes the baseline and samples every `intervalMs`. */
  start(intervalMs = 2000): void {
    const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
    this.#bootTicksAtStart = uptime * this.#hz;
    this.#sample(true);
    this.#timer = setInterval(() => this.#sample(false), intervalMs);
  }

  #sample(baseline: boolean): void {
    const now = Date.now();
    const all = readStats();
    const children = new Map<number, number[]>();
    for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
    const ours = new Set<number>();
    const stack = [this.#root];
    while (stack.length) {
      const pid = stack.pop()!;
      if (ours.has(pid)) continue;
      ours.add(pid);
      stack.push(...(children.get(pid) ?? []));
    }
    for (const p of all) {
      const key = `${p.pid}:${p.start}`;
      const prev = this.#last.get(key);
      this.#last.set(key, p.ticks);
      if (baseline || ours.has(p.pid)) continue;
      // A process first seen now counts from its start if it began during the run, else from now.
      const before = prev ?? (p.start >= this.#bootTicksAtStart ? 0 : p.ticks);
      const delta = p.ticks - before;
      if (delta <= 0) continue;
      let u = this.#use.get(key);
      if (!u) this.#use.set(key, u = { pid: p.pid, comm: p.comm, uid: uidOf(p.pid), samples: [] });
      u.samples.push([now, delta]);
    }
  }

  /** Stops sampling; returns the processes that used at least `minSeconds` of CPU, most first. */
  stop(windows: PartWindow[], minSeconds = 1): ForeignUse[] {
    clearInterval(this.#timer);
    this.#sample(false);
    const out: ForeignUse[] = [];
    for (const u of this.#use.values()) {
      const cpuSeconds = u.samples.reduce((a, [, d]) => a + d, 0) / this.#hz;
      if (cpuSeconds < minSeconds) continue;
      const byPart: Record<string, number> = {};
      for (const w of windows) {
        byPart[w.part] = u.samples.filter(([t]) => t > w.start && t <= w.end + 2000).reduce((a, [, d]) => a + d, 0) /
          this.#hz;
      }
      out.push({ pid: u.pid, comm: u.comm, uid: u.uid, cpuSeconds, byPart });
    }
    return out.sort((a, b) => b.cpuSeconds - a.cpuSeconds);
  }
}
