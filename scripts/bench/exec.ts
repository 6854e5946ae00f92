/**
 * Small process helpers for the benchmark: run a command and capture its
 * output, find a program on `PATH`, quote an argv for hyperfine.
 *
 * @module
 */

/** What a finished command left behind. */
export interface Output {
  /** Exit status; 127 when the program was not found, 124 on timeout. */
  code: number;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/** Options for {@linkcode capture}. */
export interface CaptureOptions {
  /** Working directory; the current one when absent. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Kill the command after this many milliseconds (default 120 000). */
  timeoutMs?: number;
}

const decoder = new TextDecoder();

/**
 * Runs `argv` with standard input closed and resolves to its exit status and
 * output. Never throws for a missing program or a timeout: those come back as
 * statuses 127 and 124 with an explanation in `stderr`.
 */
export async function capture(argv: readonly string[], options: CaptureOptions = {}): Promise<Output> {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("capture: empty argv");
  const timeoutMs = options.timeoutMs ?? 120_000;
  try {
    const out = await new Deno.Command(program, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const stderr = decoder.decode(out.stderr);
    return {
      code: out.signal ? 128 + signalNumber(out.signal) : out.code,
      stdout: decoder.decode(out.stdout),
      stderr: out.signal ? `${stderr}\n(killed by ${out.signal})` : stderr,
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: 127, stdout: "", stderr: `${program}: not found` };
    if (e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError")) {
      return { code: 124, stdout: "", stderr: `timed out after ${timeoutMs / 1000} s` };
    }
    throw e;
  }
}

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = { SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}

/** Resolves to the first line of `argv`'s output (stdout, else stderr), or `null` if it failed. */
export async function firstLine(argv: readonly string[]): Promise<string | null> {
  const out = await capture(argv, { timeoutMs: 30_000 });
  if (out.code !== 0) return null;
  const line = (out.stdout.trim() || out.stderr.trim()).split("\n")[0];
  return line?.trim() || null;
}

/** Returns the absolute path of `name` on `PATH`, or `null` if there is none. */
export function which(name: string): string | null {
  if (name.includes("/")) return isExecutable(name) ? name : null;
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    if (dir === "") continue;
    const candidate = `${dir}/${name}`;
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Quotes one word for a POSIX shell (and for hyperfine's shell-words splitting under `-N`). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Joins `argv` into one shell-quoted command line. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** The last few non-empty lines of `text`, joined with " / ", at most `max` characters: an error's gist. */
export function gist(text: string, lines = 4, max = 600): string {
  const kept = text.split("\n").map((l) => l.trim()).filter((l) => l !== "").slice(-lines).join(" / ");
  return kept.length > max ? `${kept.slice(0, max - 1)}…` : kept || "(no output)";
}

/** Sleeps for `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the network and seccomp parts of the benchmark need from the driver. */
export interface PartContext {
  /** The argv prefix that runs nsbox (`deno run -A --quiet …/main.ts`). */
  nsbox: string[];
  /** The nsbox tree: the working directory of every command. */
  tree: string;
  /** A scratch directory the measuring user owns (deleted afterwards; written `$WORK` in reports). */
  workDir: string;
}

/** The status and output of a process started with {@linkcode Proc}. */
export interface ProcExit {
  code: number;
  signal: Deno.Signal | null;
}

/**
 * A child process whose output is collected as it comes, so that a caller
 * can wait for a line (e.g. a server's "listening") and stop it by its pid.
 */
export class Proc {
  readonly argv: readonly string[];
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  /** Set once the process has exited and its output is drained. */
  exit: ProcExit | null = null;
  /** Resolves when the process has exited and its output is drained. */
  readonly done: Promise<ProcExit>;

  constructor(argv: readonly string[], cwd: string) {
    this.argv = argv;
    this.child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const drain = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this[into] += text;
    };
    this.done = Promise.all([
      this.child.status,
      drain(this.child.stdout, "stdout"),
      drain(this.child.stderr, "stderr"),
    ]).then(([s]) => (this.exit = { code: s.code, signal: s.signal }));
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Resolves to whether `pattern` appeared on standard output within `ms` (false at once if the process exits without it). */
  async waitFor(pattern: RegExp, ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    for (;;) {
      if (pattern.test(this.stdout)) return true;
      if (this.exit || performance.now() > deadline) return false;
      await sleep(10);
    }
  }

  /** Resolves to whether the process exited within `ms`. */
  async exited(ms: number): Promise<boolean> {
    return await Promise.race([this.done.then(() => true), sleep(ms).then(() => false)]);
  }

  /**
   * Stops the process if it still runs: SIGTERM, then SIGKILL after
   * `graceMs`. Resolves to a description of what had to be done, or `null`
   * when it had already exited.
   */
  async stop(graceMs = 3000): Promise<string | null> {
    if (this.exit) return null;
    const kill = (signal: Deno.Signal) => {
      try {
        this.child.kill(signal);
      } catch { /* it exited meanwhile */ }
    };
    kill("SIGTERM");
    if (await this.exited(graceMs)) return `stopped ${this.argv[0]} (pid ${this.pid}) with SIGTERM`;
    kill("SIGKILL");
    await this.done;
    return `killed ${this.argv[0]} (pid ${this.pid}) with SIGKILL`;
  }
}
