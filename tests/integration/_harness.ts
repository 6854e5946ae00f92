/**
 * Shared helpers for integration tests: run the real CLI (the same entry point
 * scripts/nsbox runs) as the current, unprivileged user.
 *
 * @module
 */
import { fromFileUrl } from "node:url";

/** The checkout's root directory. */
export const ROOT = fromFileUrl(new URL("../../", import.meta.url)).replace(/\/$/, "");
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
  return [Deno.execPath(), ["run", "-A", "--quiet", `${ROOT}/main.ts`, ...args]];
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
