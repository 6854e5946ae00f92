/**
 * Shared helpers for integration tests: run the real CLI (the same entry point
 * scripts/nsbox runs) as the current, unprivileged user.
 *
 * @module
 */

import { DENO_RUN_ARGS } from "../../src/spawn/daemon.ts";

/** The checkout's root directory. */
export const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(/\/$/, "");
/** The static probe (tests/probe/probe.c), built by scripts/test.sh. */
export const PROBE = `${ROOT}/tests/probe/build/probe`;

if (Deno.uid() === 0) {
  throw new Error(
    "integration tests must run as an unprivileged user: use `deno task test`, which drops to one when run as root",
  );
}

/** What a finished nsbox process left. */
export interface Ran {
  readonly code: number;
  readonly signal: Deno.Signal | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for {@linkcode nsbox}. */
export interface NsboxOptions {
  readonly stdin?: string;
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Kill after this many milliseconds (default 30000). */
  readonly timeoutMs?: number;
}

/** The command line that starts the CLI. */
export function nsboxCommand(args: readonly string[]): [string, string[]] {
  return [Deno.execPath(), [...DENO_RUN_ARGS, `${ROOT}/main.ts`, ...args]];
}

/**
 * Ends the detached sandboxes `names` (SIGKILL) and removes their records, as a test's clean-up: an ended detached
 * sandbox keeps its record and log until `nsbox rm` (as docker keeps a container), which would pile up in the test
 * user's store run after run. `rm` is retried while the sandbox is still ending.
 */
export async function killAndRemove(...names: string[]): Promise<void> {
  await Promise.all(names.map(async (name) => {
    await nsbox(["kill", "-s", "KILL", name]);
    for (let tries = 0; tries < 100 && (await nsbox(["rm", name])).code !== 0; tries++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }));
}

/** Runs `nsbox ARGS...` to completion and collects its output. */
export async function nsbox(args: readonly string[], opts: NsboxOptions = {}): Promise<Ran> {
  const [cmd, full] = nsboxCommand(args);
  const child = new Deno.Command(cmd, {
    args: full,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
    cwd: opts.cwd,
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, signal: out.signal, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `sh -c SCRIPT` in a sandbox with the extra `flags`. */
export function sandboxSh(script: string, flags: readonly string[] = [], opts: NsboxOptions = {}): Promise<Ran> {
  return nsbox(["run", ...flags, "--", "sh", "-c", script], opts);
}

/** Runs the probe in a sandbox and parses its JSON report. */
export async function probe(flags: readonly string[] = [], opts: NsboxOptions = {}): Promise<Record<string, unknown>> {
  const r = await nsbox(["run", ...flags, "--", PROBE], opts);
  if (r.code !== 0) throw new Error(`probe exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A temporary directory removed at the end of the scope (`await using`). */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "nsbox-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Pids of live processes whose command line contains `needle`, owned by us. */
export function pidsMatching(needle: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.statSync(`/proc/${e.name}`).uid !== Deno.uid()) continue;
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (cmd.includes(needle) && !/\) Z /.test(stat)) pids.push(Number(e.name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Waits until `cond()` is true; throws after `timeoutMs` with `what`. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A process started by {@linkcode startNsbox} or {@linkcode startInPty}, still running. */
export interface Running extends AsyncDisposable {
  /** The pid of the process started (nsbox itself, or `script` for a pty). */
  readonly pid: number;
  /** What it wrote to stdout so far. */
  stdout(): string;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** Waits until stdout contains `text`. */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>;
  /** Writes to its stdin (only when started with `stdin: "piped"`). */
  write(data: string | Uint8Array): Promise<void>;
  /** Sends a signal to it. */
  kill(signal: Deno.Signal): void;
  /** Waits for it to end (killing it after `timeoutMs`, default 30000) and collects its output. */
  finish(timeoutMs?: number): Promise<Ran>;
}

function track(child: Deno.ChildProcess, pipedStdin: boolean): Running {
  let out = "", err = "";
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) add(dec.decode(chunk, { stream: true }));
    add(dec.decode());
  };
  const pumps = Promise.all([pump(child.stdout, (s) => out += s), pump(child.stderr, (s) => err += s)]);
  const writer = pipedStdin ? child.stdin.getWriter() : null;
  let ended: Ran | null = null;
  const finish = async (timeoutMs = 30_000): Promise<Ran> => {
    if (ended) return ended;
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    try {
      await writer?.close().catch(() => {});
      const status = await child.status;
      await pumps;
      ended = { code: status.code, signal: status.signal, stdout: out, stderr: err };
      return ended;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    waitForStdout: (text, timeoutMs) =>
      waitUntil(
        () => out.includes(text),
        `${JSON.stringify(text)} on stdout (so far: ${JSON.stringify(out)}, stderr: ${JSON.stringify(err)})`,
        timeoutMs,
      ),
    async write(data) {
      if (!writer) throw new Error("stdin is not piped");
      await writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
    },
    kill: (signal) => child.kill(signal),
    finish,
    async [Symbol.asyncDispose]() {
      await finish(0);
    },
  };
}

/** Starts `nsbox ARGS...` without waiting for it (stdin: /dev/null unless `stdin` is "piped"; `env`: variables added). */
export function startNsbox(
  args: readonly string[],
  opts: { stdin?: "piped" | "null"; cwd?: string; env?: Record<string, string> } = {},
): Running {
  const [cmd, full] = nsboxCommand(args);
  const child = new Deno.Command(cmd, {
    args: full,
    stdin: opts.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    cwd: opts.cwd,
    env: opts.env,
  }).spawn();
  return track(child, opts.stdin === "piped");
}

/**
 * Starts `nsbox ARGS...` on a new pseudo-terminal, with util-linux `script`:
 * nsbox's stdin, stdout and stderr are the terminal, and it is in the
 * terminal's foreground process group. What is written goes to the terminal
 * (so "\x03" is Ctrl-C); stdout is what the terminal showed (with "\r\n").
 */
export function startInPty(args: readonly string[]): Running {
  const [cmd, full] = nsboxCommand(args);
  return startLineInPty("exec " + [cmd, ...full].map(shellQuote).join(" "));
}

/**
 * Starts the shell command line `line` (sh -c) on a new pseudo-terminal, as
 * {@linkcode startInPty} does, with `env` added to the environment.
 */
export function startLineInPty(line: string, env: Record<string, string> = {}): Running {
  const child = new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { SHELL: "/bin/sh", ...env },
  }).spawn();
  return track(child, true);
}

/** The `comm` (process name) of `pid`, or null when it is gone. */
export function commOf(pid: number): string | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  } catch {
    return null;
  }
}

/** Lines of `text` without the empty last one. */
export function lines(text: string): string[] {
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

/** Whether `name` is an executable on this process's PATH. */
export function hasProgram(name: string): boolean {
  return (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").some((dir) => {
    try {
      return ((Deno.statSync(`${dir}/${name}`).mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

/** The store directory the CLI uses (XDG_RUNTIME_DIR/nsbox, or /tmp/nsbox-UID). */
export function storeRoot(): string {
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  if (runtime) {
    try {
      if (Deno.statSync(runtime).uid === Deno.uid()) return `${runtime}/nsbox`;
    } catch {
      // fall back
    }
  }
  return `/tmp/nsbox-${Deno.uid()}`;
}

/** Whether `path` exists on the host (a final symlink counts, dangling or not). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `deno` arguments that run the embedding program tests/integration/fixtures/`fixture` with `arg` as JSON. */
export function embeddingArgs(fixture: string, arg: unknown): string[] {
  const program = `${ROOT}/tests/integration/fixtures/${fixture}`;
  return ["run", "-A", "--quiet", "--config", `${ROOT}/deno.json`, program, JSON.stringify(arg)];
}

/**
 * Runs the embedding program tests/integration/fixtures/library_program.ts with `cases` (RunOptions for mod.ts's
 * run(), one after the other in one process); returns its exit status, its JSON lines and its stderr.
 */
export async function embedRuns(
  cases: readonly Record<string, unknown>[],
): Promise<{ code: number; lines: unknown[]; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: embeddingArgs("library_program.ts", cases),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout).trim();
  return {
    code: out.code,
    lines: stdout ? stdout.split("\n").map((l) => JSON.parse(l)) : [],
    stderr: dec.decode(out.stderr),
  };
}

// What a sandbox may leave behind, for the tests that prove it leaves nothing (faults_test.ts, gc_test.ts, the
// soak in tests/soak/).

/** The names in `dir` (empty when it does not exist). */
export function dirEntries(dir: string): Set<string> {
  try {
    return new Set([...Deno.readDirSync(dir)].map((e) => e.name));
  } catch {
    return new Set();
  }
}

/** Records (store entries) in `now` and not in `before`; the records' key (made on first use) is not a record. */
export function addedRecords(now: Set<string>, before: Set<string>): string[] {
  return [...now].filter((n) => !before.has(n) && n !== ".key");
}

/** The mounts this process sees on the host (its /proc/self/mountinfo). */
export function hostMountinfo(): string {
  return Deno.readTextFileSync("/proc/self/mountinfo");
}

/** Whether `pid` is a live process (not a zombie). */
export function isRunning(pid: number): boolean {
  try {
    return !/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** A live process of this user (see {@linkcode userProcesses}). */
export interface UserProcess {
  readonly pid: number;
  /** Its parent's pid. */
  readonly ppid: number;
  /** Its command line, arguments joined by spaces. */
  readonly cmd: string;
  /** Its environment ("" where it cannot be read: nsbox-init and the supervisor are not dumpable). */
  readonly env: string;
}

/** The live (not zombie) processes of this user, this process excepted. */
export function userProcesses(): UserProcess[] {
  const found: UserProcess[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      if (Deno.statSync(`/proc/${e.name}`).uid !== Deno.uid()) continue;
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" || state === "X") continue;
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ").trim();
      let env = "";
      try {
        env = Deno.readTextFileSync(`/proc/${e.name}/environ`);
      } catch {
        // not dumpable: its command line tells
      }
      found.push({ pid: Number(e.name), ppid: Number(ppid), cmd, env });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * This user's processes that carry `tag`: in their environment (`NAME=VALUE`, which nsbox passes on to the
 * supervisor and the sandbox's command) or command line, and their descendants (nsbox-init is not dumpable: its
 * environment cannot be read, its parent tells). Other programs of the user (benchmarks, other tests) are not
 * counted.
 */
export function processesTagged(tag: string): UserProcess[] {
  const all = userProcesses();
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const tagged = (p: UserProcess | undefined, depth = 0): boolean =>
    p !== undefined && depth < 64 &&
    (p.env.split("\0").includes(tag) || p.cmd.includes(tag) || tagged(byPid.get(p.ppid), depth + 1));
  return all.filter((p) => tagged(p));
}

/**
 * A runtime directory and a TMPDIR of the test's own (other programs of the user may run sandboxes meanwhile),
 * removed at the end of the scope (`using`): `env` points nsbox at them, `store` is where its records are.
 */
export function privateRuntime(prefix: string): {
  env: Record<string, string>;
  runtime: string;
  store: string;
  tmp: string;
  [Symbol.dispose](): void;
} {
  const runtime = Deno.makeTempDirSync({ prefix: `${prefix}-rt-` });
  const tmp = Deno.makeTempDirSync({ prefix: `${prefix}-tmp-` });
  Deno.mkdirSync(`${runtime}/nsbox`, { mode: 0o700 });
  return {
    env: { XDG_RUNTIME_DIR: runtime, TMPDIR: tmp },
    runtime,
    store: `${runtime}/nsbox`,
    tmp,
    [Symbol.dispose]() {
      Deno.removeSync(runtime, { recursive: true });
      Deno.removeSync(tmp, { recursive: true });
    },
  };
}
