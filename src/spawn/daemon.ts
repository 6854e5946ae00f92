/**
 * Helper processes of a sandbox (pasta, slirp4netns, the egress proxy, the publish relay): started through the C
 * helper like the sandbox itself — on the main thread, with PR_SET_PDEATHSIG
 * so that they die with nsbox even when it is SIGKILLed — with stdio on
 * /dev/null (or a log file) and chosen descriptors passed on.
 *
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";
import { NsboxError } from "../errors.ts";
import type { ChildPlan, SetupOp } from "../plan/ops.ts";
import { SIGNALS } from "../linux.ts";
import { decodeMessage, MSG_SIZE, STEP } from "./abi.ts";
import { reapNow, waitPidfd } from "./wait.ts";
import { spawnChild } from "./spawn.ts";
import { errnoMessage } from "../errors.ts";

const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_APPEND = 0o2000;

/** A running helper process. */
export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly pidfd: number;
  /** Whether it has exited (reaps it if so). */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; reaps it. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start a helper process. */
export interface DaemonOptions {
  /** Where its stdout and stderr go (default /dev/null). */
  readonly logFile?: string;
  /** Descriptors of nsbox's to pass on: [nsbox's fd, the number it gets]. */
  readonly passFds?: ReadonlyArray<readonly [number, number]>;
  /** Outlive nsbox: no PR_SET_PDEATHSIG, a session of its own (a detached sandbox's supervisor). */
  readonly detach?: boolean;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** The file to execute instead of looking up argv[0] (e.g. `/proc/self/fd/N` of a memfd). */
  readonly exec?: string;
  /** "inherit": keep nsbox's stdin, stdout and stderr (default: /dev/null, or `logFile`). */
  readonly stdio?: "inherit";
  /** A session of its own (out of the terminal's job control: no Ctrl-C, Ctrl-Z), still dying with nsbox. */
  readonly ownSession?: boolean;
  /**
   * Ops run first, before anything else (e.g. setns into a sandbox's namespaces, on descriptors of nsbox's above
   * every `passFds` target: they are closed at the exec).
   */
  readonly join?: readonly SetupOp[];
}

/**
 * How Deno runs nsbox's entry (main.ts) from a checkout: `deno run` and these, then main.ts and its arguments.
 * scripts/nsbox, scripts/compile.sh (`deno compile`), the tests and the benchmarks use the same (a unit test keeps
 * the shell scripts in step).
 *
 * The V8 flags are for a program that runs a few milliseconds and then execs away (nsbox's CLI, which becomes the
 * native supervisor), measured as interleaved A/B runs of `nsbox run -- true` (200 each, separate DENO_DIRs):
 *
 * - `--no-lazy` makes V8 compile every function when it compiles the bundle, so the code cache Deno keeps for it
 *   holds them all: Deno writes that cache right after compiling, before anything runs, so lazily compiled functions
 *   (most of validation, planning and encoding) were compiled again on every start (about 4 ms less CPU, 1 ms more to
 *   load the larger cache).
 * - `--no-sparkplug --no-maglev --no-turbofan`: no tier above the interpreter, whose bytecode the cache holds. In a
 *   run this short, the baseline compiler's and the optimizers' work (and the several MB of Deno's machine code they
 *   page in) never pays back.
 * - `--single-threaded`: no V8 background threads (concurrent compilation and GC) to start, feed and tear down at the
 *   exec. These three together: -3.9 ms of 47 (median).
 *
 * The long-lived helpers that run the same entry (the egress proxy, the publish relay) pay for it in throughput: an
 * HTTP download through the egress proxy went from ~740 to ~630 MB/s (docs/benchmarks.md has the current figure).
 * They must still use the same flags: V8 rejects a code cache made under other flags, so helpers with flags of their
 * own would have every CLI start compile the bundle again.
 */
export const DENO_RUN_ARGS = [
  "run",
  "-A",
  "--unstable-raw-imports",
  "--quiet",
  "--v8-flags=--no-lazy,--no-sparkplug,--no-maglev,--no-turbofan,--single-threaded",
] as const;

/**
 * The command line that starts this nsbox again (a compiled binary, or `deno run ... main.ts`), for its hidden
 * helper commands. This module and the bundle (dist/bundle/) are both two directories below the checkout.
 */
export function nsboxCommand(): string[] {
  const exe = Deno.execPath();
  const base = exe.split("/").pop() ?? "";
  if (!/^deno/.test(base)) return [exe];
  const main = new URL("../../main.ts", import.meta.url).pathname;
  return [exe, ...DENO_RUN_ARGS, main];
}

/** Starts `argv` (looked up in nsbox's PATH) as a helper process. */
export async function startDaemon(argv: readonly string[], opts: DaemonOptions = {}): Promise<Daemon> {
  const name = argv[0]!;
  const ops: SetupOp[] = [...opts.join ?? []];
  if (opts.stdio !== "inherit") {
    const out = opts.logFile ?? "/dev/null";
    const outFlags = opts.logFile ? O_WRONLY | O_CREAT | O_APPEND : O_RDWR;
    ops.push(
      { kind: "open", path: "/dev/null", flags: O_RDONLY, mode: 0, fd: 0, what: "cannot open /dev/null" },
      { kind: "open", path: out, flags: outFlags, mode: 0o600, fd: 1, what: `cannot open ${out}` },
      { kind: "dup2", from: 1, to: 2, what: "cannot redirect stderr" },
    );
  }
  for (const [from, to] of opts.passFds ?? []) {
    ops.push({ kind: "dup2", from, to, what: `cannot pass descriptor ${from}` });
  }
  if (opts.detach || opts.ownSession) ops.push({ kind: "setsid", what: "cannot start a new session" });
  const highest = Math.max(2, ...(opts.passFds ?? []).map(([, to]) => to));
  ops.push({ kind: "cloexecFrom", fd: highest + 1, what: "cannot close inherited file descriptors" });
  const plan: ChildPlan = {
    cloneFlags: 0,
    idMaps: { uid: [], gid: [], setgroups: "deny", writer: "none" }, // no user namespace
    ops,
    exec: {
      file: opts.exec ?? name,
      argv,
      env: Object.entries({ ...Deno.env.toObject(), ...opts.env }).map(([k, v]) => `${k}=${v}`),
      searchPath: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    },
    init: "none",
    forwardSignals: [],
    pdeathsig: opts.detach ? 0 : SIGNALS.SIGKILL!,
    holdExit: false,
    terminal: "inherit", // a helper of nsbox's (or the detached supervisor, with its setsid op)
    killOrphans: false,
  };
  const child = await spawnChild(plan);
  const libc = getLibc();
  // The report pipe: end of file once it has executed, or an error record.
  const buf = new Uint8Array(MSG_SIZE);
  const n = await libc.read(child.msgFd, buf, BigInt(MSG_SIZE));
  libc.close(child.msgFd);
  const m = n === BigInt(MSG_SIZE) ? decodeMessage(buf) : null;
  if (m?.kind === "error") {
    const { step, errno: err } = m;
    await waitPidfd(child.pidfd);
    libc.close(child.pidfd);
    throw new NsboxError(
      step === STEP.EXEC && err === 2 ? `${name} is not installed` : `cannot start ${name}: ${errnoMessage(err)}`,
    );
  }
  let done = false;
  const reap = () => done ||= reapNow(child.pidfd) !== null;
  return {
    name,
    pid: child.pid,
    pidfd: child.pidfd,
    exited: reap,
    async stop(graceMs = 1000) {
      if (!reap()) {
        libc.pidfd_send_signal(child.pidfd, SIGNALS.SIGTERM!, null, 0);
        const until = performance.now() + graceMs;
        while (!reap() && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
        if (!done) {
          libc.pidfd_send_signal(child.pidfd, SIGNALS.SIGKILL!, null, 0);
          await waitPidfd(child.pidfd);
          done = true;
        }
      }
      libc.close(child.pidfd);
    },
  };
}
