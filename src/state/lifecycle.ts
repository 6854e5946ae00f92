/**
 * What `nsbox ps`, `kill`, `logs` and `rm` do with the store.
 *
 * @module
 */
import { errno, getLibc } from "../../ffi/libc.ts";
import { NsboxError, UsageError } from "../errors.ts";
import { SIGNALS } from "../linux.ts";
import { formatSize } from "../spec/units.ts";
import type { PublishSpec } from "../spec/publish.ts";
import { resumeOffset } from "../supervise/log_pump.ts";
import { verifyLive } from "./live.ts";
import { isAlive, type SandboxDir, type SandboxState, Store } from "./store.ts";

/** One row of `nsbox ps`. */
export interface SandboxInfo {
  readonly name: string;
  /** PID 1 of the sandbox (null once a detached one has ended). */
  readonly pid: number | null;
  readonly command: readonly string[];
  readonly started: string | null;
  readonly uptimeSeconds: number | null;
  readonly memoryMax: number | null;
  readonly net: string;
  readonly detached: boolean;
  /** "running", or "exited N" for a detached sandbox that ended. */
  readonly status: string;
  /** How an ended sandbox ended (nsbox's exit status: the command's code, 128+N for signal N); null while running. */
  readonly exitCode: number | null;
  /** The signal that killed an ended sandbox's command, e.g. "SIGKILL"; null while running, or when none did. */
  readonly signal: string | null;
  /** The pid of the nsbox that supervises (or supervised) it; null when not recorded. */
  readonly supervisorPid: number | null;
  /** The host ports it publishes (or published). */
  readonly ports: readonly PublishSpec[];
  /** What went wrong while it runs (or ran), e.g. "log: output dropped (No space left on device)"; usually none. */
  readonly notes: readonly string[];
}

function info(dir: SandboxDir, state: SandboxState | null): SandboxInfo {
  if (!state) {
    const exit = dir.exit();
    return {
      name: dir.name,
      pid: null,
      command: exit?.command ?? [],
      started: exit?.started ?? null,
      uptimeSeconds: null,
      memoryMax: null,
      net: "-",
      detached: true,
      status: `exited ${exit?.exitCode ?? "?"}`,
      exitCode: exit?.exitCode ?? null,
      signal: exit?.signal ?? null,
      supervisorPid: exit?.supervisorPid ?? null,
      ports: exit?.publish ?? [],
      notes: notesOf(dir),
    };
  }
  return {
    name: dir.name,
    pid: state.pid,
    command: state.spec.command,
    started: state.started,
    uptimeSeconds: Math.max(0, Math.round((Date.now() - Date.parse(state.started)) / 1000)),
    memoryMax: state.spec.limits?.memoryMax ?? null,
    net: state.spec.network.mode,
    detached: state.detached,
    status: "running",
    exitCode: null,
    signal: null,
    supervisorPid: state.supervisorPid,
    ports: state.spec.network.publish,
    notes: notesOf(dir),
  };
}

function notesOf(dir: SandboxDir): string[] {
  const log = dir.logNote();
  return log === null ? [] : [log];
}

/** The caller's sandboxes (running; with `all`, detached ones that ended too). */
export function listSandboxes(opts: { all?: boolean; store?: Store } = {}): SandboxInfo[] {
  return (opts.store ?? new Store()).list({ includeEnded: opts.all }).map(({ dir, state }) => info(dir, state));
}

function uptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** `nsbox ps` as a table. */
export function psTable(rows: readonly SandboxInfo[], all = false): string {
  // NOTES only when there is one to show (a detached sandbox's dropped output), as the last column.
  const notes = rows.some((r) => r.notes.length > 0);
  const head = [
    "NAME",
    "PID",
    "COMMAND",
    "UPTIME",
    "MEMORY",
    "NET",
    ...(all ? ["STATUS"] : []),
    ...(notes ? ["NOTES"] : []),
  ];
  const body = rows.map((r) => [
    r.name,
    r.pid === null ? "-" : String(r.pid),
    (r.command.join(" ") || "-").slice(0, 40),
    r.uptimeSeconds === null ? "-" : uptime(r.uptimeSeconds),
    r.memoryMax === null ? "-" : formatSize(r.memoryMax),
    r.net,
    ...(all ? [r.status] : []),
    ...(notes ? [r.notes.join("; ") || "-"] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cols) => cols.map((c, i) => i === cols.length - 1 ? c : c.padEnd(widths[i]!)).join("  "))
    .join("\n");
}

/** What {@linkcode collectGarbage} did about one stale record. */
export interface Collected {
  /** The sandbox's name (its record is removed). */
  readonly name: string;
  /** What it had left running and was ended, e.g. "pasta (pid 12)". */
  readonly ended: readonly string[];
}

/**
 * `nsbox gc`: removes the records of sandboxes that are gone, after ending what each left running (only
 * authenticated records, only processes checked on their own terms: src/state/leftovers.ts). It is the
 * clean-up every reader of the store does on the way ({@linkcode Store.list}), made explicit.
 */
export function collectGarbage(store = new Store()): Collected[] {
  store.list({ includeEnded: true });
  return store.collected.map((c) => ({ name: c.name, ended: [...c.ended] }));
}

/** A signal by name ("TERM", "SIGTERM") or number; null if unknown. */
export function parseSignal(text: string): number | null {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= 1 && n <= 64 ? n : null;
  }
  const name = text.toUpperCase().startsWith("SIG") ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
  return SIGNALS[name] ?? null;
}

/** errno: no such process. */
const ESRCH = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends `signal` to the sandbox `name` (its PID 1 passes it to the command),
 * then SIGKILL after `timeoutMs` (0: never), and waits until it has ended
 * and its record is gone.
 */
export async function killSandbox(
  name: string,
  signal: number,
  timeoutMs: number,
  store = new Store(),
): Promise<void> {
  const { dir, state } = store.find(name);
  const libc = getLibc();
  // The pidfd pins the process: checked after it is opened, it is the process signalled.
  const pidfd = libc.pidfd_open(state.pid, 0);
  if (pidfd < 0) return; // ended meanwhile
  try {
    // Never signal what an unchecked record names: PID 1's start time, and its command's namespaces.
    let live = verifyLive(state, "not signalling it");
    for (let i = 0; live === null && i < 100 && isAlive(state); i++) {
      await sleep(20); // its command is being started (or PID 1 is ending with it)
      live = verifyLive(state, "not signalling it");
    }
    if (live === null) {
      if (!isAlive(state)) return; // ended meanwhile
      throw new NsboxError(`cannot check the sandbox '${name}' (its command is not running): not signalling it`);
    }
    if (libc.pidfd_send_signal(pidfd, signal, null, 0) < 0) {
      // ESRCH: PID 1 has exited since it was checked (another kill, or its command ended): it has ended
      if (errno() !== ESRCH) throw new NsboxError(`cannot signal the sandbox '${name}'`);
    }
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
    let killed = signal === SIGNALS.SIGKILL;
    while (isAlive(state)) {
      if (!killed && performance.now() > deadline) {
        libc.pidfd_send_signal(pidfd, SIGNALS.SIGKILL!, null, 0);
        killed = true;
      }
      await sleep(10);
    }
  } finally {
    libc.close(pidfd);
  }
  // Its nsbox removes the record as it ends; a detached one leaves exit.json and its log.
  for (let i = 0; i < 500 && dir.state() !== null; i++) await sleep(10);
  if (dir.state() !== null) dir.remove(); // its nsbox is gone too (killed with it): clean up for it
}

/** Prints a detached sandbox's log; with `follow`, until it ends. */
export async function printLogs(name: string, follow: boolean, store = new Store()): Promise<void> {
  const dir = store.dir(name);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(dir.logFile);
  } catch {
    const running = store.list().some((x) => x.dir.name === name);
    throw new NsboxError(
      running
        ? `the sandbox '${name}' was not started with --detach: it has no log`
        : `no sandbox named '${name}' (see nsbox ps)`,
    );
  }
  const buf = new Uint8Array(65536);
  let pos = 0;
  /** Copies the rest of the open file; with `follow`, goes on in the new file when the log was rotated. */
  const drain = async () => {
    for (;;) {
      const n = await file.read(buf);
      if (n !== null && n > 0) {
        await Deno.stdout.write(buf.subarray(0, n));
        pos += n;
        continue;
      }
      if (!follow) return;
      const now = statOrNull(dir.logFile);
      if (now !== null && now.ino !== file.statSync().ino) {
        // Rotated (held to its --log-size): the old file is complete now; read its end, then go on after
        // what the new one kept of it.
        for (let n = await file.read(buf); n !== null && n > 0; n = await file.read(buf)) {
          await Deno.stdout.write(buf.subarray(0, n));
        }
        const next = await Deno.open(dir.logFile);
        pos = resumeOffset(file, file.statSync().size, next);
        next.seekSync(pos, Deno.SeekMode.Start);
        file.close();
        file = next;
        continue;
      }
      if (now !== null && now.size < pos) file.seekSync(pos = 0, Deno.SeekMode.Start); // truncated
      return;
    }
  };
  try {
    for (;;) {
      await drain();
      const s = dir.state();
      if (!follow || s === null || !isAlive(s)) {
        await drain(); // one last read: what it wrote just before it ended
        if (!follow || dir.exit() !== null || s === null) return;
      }
      await sleep(100);
    }
  } finally {
    file.close();
  }
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

/**
 * Removes the records of detached sandboxes that ended, and named records
 * that fail authentication; running ones are refused.
 */
export function removeSandboxes(names: readonly string[] | "all", store = new Store()): string[] {
  // A record that fails authentication is removed when named (never with --all): its directory only.
  const all = store.list({ includeEnded: true, includeUnverified: names !== "all" });
  const targets = names === "all" ? all.filter((x) => x.status === "ended").map((x) => x.dir.name) : names;
  const problems: string[] = [];
  for (const name of targets) {
    const found = all.find((x) => x.dir.name === name);
    if (!found) problems.push(`no sandbox named '${name}' (see nsbox ps --all).`);
    else if (found.state) problems.push(`the sandbox '${name}' is running: stop it first (nsbox kill ${name}).`);
  }
  if (problems.length) throw new UsageError(problems);
  for (const name of targets) store.dir(name).remove();
  return [...targets];
}
