/**
 * The exit report: how a sandbox ended, as an exit status, a JSON object,
 * and the lines nsbox prints.
 *
 * @module
 */
import { errnoName, EXIT, NsboxError, OsError, UsageError } from "../errors.ts";
import type { ChildPlan } from "../plan/ops.ts";
import { signalName } from "../linux.ts";
import { STEP } from "../spawn/abi.ts";
import type { Outcome } from "../supervise/supervise.ts";
import type { LimitsSpec } from "../spec/spec.ts";
import type { EgressReport } from "../spec/egress.ts";
import { formatDuration, formatSize } from "../spec/units.ts";

/** What the sandbox used, read when the command ended. */
export interface RunStats {
  /** "cgroup": the sandbox's own cgroup; "rusage": getrusage of nsbox's children (no limits asked). */
  readonly source: "cgroup" | "rusage";
  readonly cpuUserMs: number | null;
  readonly cpuSystemMs: number | null;
  /** Peak memory in bytes: the cgroup's memory.peak, or the largest process's max RSS for "rusage". */
  readonly memoryPeak: number | null;
  readonly pidsPeak: number | null;
  /** Processes the OOM killer killed in the sandbox. */
  readonly oomKills: number;
}

/** How a command that ran ended. */
export interface RunResult {
  /** The status nsbox exits with: the command's code, or 128+N for signal N. */
  readonly exitCode: number;
  /** The command's exit code, when it exited. */
  readonly code: number | null;
  /** The signal that killed the command, e.g. "SIGKILL", when one did. */
  readonly signal: string | null;
  /** Wall-clock time from spawn to exit, in milliseconds. */
  readonly wallMs: number;
  /** Whether the command was killed by the OOM killer at the memory limit. */
  readonly oomKilled: boolean;
  /** Whether `--timeout` expired (then `exitCode` is 124, as timeout(1) exits). */
  readonly timedOut: boolean;
  /** What the sandbox used, when it could be read. */
  readonly stats: RunStats | null;
  /** The limits the sandbox ran with, or null. */
  readonly limits: LimitsSpec | null;
  /**
   * With `allowHosts` (`--allow-host`): what the egress proxy allowed and refused, with counts and bytes (null
   * when it wrote no report); absent otherwise.
   */
  readonly egress?: EgressReport | null;
}

const EPERM = 1, ENOENT = 2, EISDIR = 21;
/** nsbox's exit status when `--timeout` expired, timeout(1)'s. */
export const EXIT_TIMED_OUT = 124;

/**
 * How a failure of the child before its command ran is told: the one source
 * of that wording, for {@linkcode failureError} and for the native
 * supervisor's templates ({@linkcode failureTemplates}), the first matching
 * rule counting.
 */
export interface FailureRule {
  /** A STEP.* phase, an op's index, or "any": any step (an op's, or one not known). */
  readonly step: number | "any";
  /** The errno it is about, or null: any. */
  readonly errno: number | null;
  readonly exitCode: number;
  /** The message; null: the failed op's `what` ("setup step N failed" for a step no op has). */
  readonly message: string | null;
  /** The errno's text follows the message (an {@linkcode OsError}). */
  readonly withErrno: boolean;
  readonly hint?: string;
}

/** The rules for `plan`'s failures, most specific first. */
export function failureRules(plan: ChildPlan): FailureRule[] {
  const file = plan.exec.file;
  const rules: FailureRule[] = [
    {
      step: STEP.EXEC,
      errno: ENOENT,
      exitCode: EXIT.NOT_FOUND,
      message: `${file}: command not found`,
      withErrno: false,
    },
    {
      step: STEP.EXEC,
      errno: EISDIR,
      exitCode: EXIT.CANNOT_EXEC,
      message: `${file}: is a directory`,
      withErrno: false,
    },
    { step: STEP.EXEC, errno: null, exitCode: EXIT.CANNOT_EXEC, message: `cannot execute ${file}`, withErrno: true },
    {
      step: STEP.INIT,
      errno: null,
      exitCode: EXIT.NSBOX,
      message: "the sandbox's init cannot start the command",
      withErrno: true,
    },
    { step: STEP.SYNC, errno: null, exitCode: EXIT.NSBOX, message: "the sandbox did not start", withErrno: true },
  ];
  plan.ops.forEach((op, i) => {
    if (op.kind === "fsmount" && op.fstype === "proc") {
      rules.push({
        step: i,
        errno: EPERM,
        exitCode: EXIT.NSBOX,
        message: null,
        withErrno: true,
        hint: PROC_REFUSED_HINT,
      });
    }
  });
  rules.push({ step: "any", errno: null, exitCode: EXIT.NSBOX, message: null, withErrno: true });
  return rules;
}

/** Whether `rule` is about a failure at `step` with `errno`. */
function matches(rule: FailureRule, step: number, errno: number): boolean {
  return (rule.step === "any" || rule.step === step) && (rule.errno === null || rule.errno === errno);
}

/** Turns a child's failure report into the error nsbox raises. */
export function failureError(plan: ChildPlan, step: number, errno: number): NsboxError {
  const rule = failureRules(plan).find((r) => matches(r, step, errno))!;
  const message = rule.message ?? plan.ops[step]?.what ?? `setup step ${step} failed`;
  const options = { exitCode: rule.exitCode, hint: rule.hint };
  return rule.withErrno ? new OsError(message, errno, options) : new NsboxError(message, options);
}

/** A failure rule as the native supervisor takes it: the template of what nsbox prints (`struct nsbox_sv_fail`). */
export interface FailureTemplate {
  readonly step: number | "any";
  readonly errno: number | null;
  readonly exitCode: number;
  readonly text: string;
}

/**
 * The templates of {@linkcode failureRules}: what nsbox prints when the
 * command never ran, as errorLines() and jsonReport() (`json`) would print
 * failureError()'s error, for a supervisor that takes over before the
 * command runs. Values: step, step_what, errno, errno_name, errno_text.
 * Byte for byte the same text: tests/unit/report_test.ts renders both for
 * every kind of rule, with quotes, braces and control characters in the
 * words and an errno nsbox does not name.
 */
export function failureTemplates(plan: ChildPlan, json: boolean): FailureTemplate[] {
  const errnoText = (fmt: string) => `{?errno_text}{errno_text${fmt}}{/}{!errno_text}error {errno}{/}`;
  const opWhat = (fmt: string) => `{?step_what}{step_what${fmt}}{/}{!step_what}setup step {step} failed{/}`;
  return failureRules(plan).map((r) => {
    if (!json) {
      const message = (r.message === null ? opWhat("") : lit(r.message)) + (r.withErrno ? `: ${errnoText("")}` : "");
      const hint = r.hint ? `nsbox: hint: ${lit(r.hint)}\n` : "";
      return { step: r.step, errno: r.errno, exitCode: r.exitCode, text: `nsbox: ${message}\n${hint}` };
    }
    const literal = (text: string) => lit(JSON.stringify(text).slice(1, -1));
    const message = (r.message === null ? opWhat(":j") : literal(r.message)) +
      (r.withErrno ? `: ${errnoText(":j")}` : "");
    const errno = r.withErrno ? ',"errno":"{?errno_name}{errno_name:j}{/}{!errno_name}E{errno}{/}"' : "";
    const hint = r.hint ? `,"hint":${lit(JSON.stringify(r.hint))}` : "";
    return {
      step: r.step,
      errno: r.errno,
      exitCode: r.exitCode,
      text: `{{"exit_code":${r.exitCode},"error":{{"message":"${message}","problems":["${message}"]${errno}${hint}}}\n`,
    };
  });
}

/**
 * Why the kernel refuses a fresh /proc (EPERM) and what fixes it: the visible /proc has paths covered by
 * other mounts (a container's masks, or an enclosing sandbox's), and a new procfs would reveal them.
 */
export const PROC_REFUSED_HINT = "the kernel refuses a fresh /proc where the /proc nsbox sees has masked paths " +
  "(inside a container or another sandbox); start the container with /proc unmasked (docker run --security-opt " +
  "systempaths=unconfined, podman run --security-opt unmask=ALL, Kubernetes securityContext.procMount: Unmasked), " +
  "or use --proc=host: the existing /proc, with the host's PID namespace (weaker: the sandbox sees your other " +
  "processes; see nsbox doctor)";

/** What the run measured besides the outcome. */
export interface Measured {
  readonly wallMs: number;
  readonly stats: RunStats | null;
  readonly limits: LimitsSpec | null;
  /** `--timeout` expired. */
  readonly timedOut?: boolean;
}

/** The result for an outcome; throws the matching error for a failure. */
export function outcomeResult(plan: ChildPlan, outcome: Outcome, m: Measured): RunResult {
  const timedOut = m.timedOut ?? false;
  const base = { wallMs: m.wallMs, stats: m.stats, limits: m.limits, timedOut };
  switch (outcome.kind) {
    case "failed":
      throw failureError(plan, outcome.step, outcome.errno);
    case "exited":
      return {
        ...base,
        exitCode: timedOut ? EXIT_TIMED_OUT : outcome.code,
        code: outcome.code,
        signal: null,
        oomKilled: false,
      };
    case "signaled":
      return {
        ...base,
        exitCode: timedOut ? EXIT_TIMED_OUT : 128 + outcome.signal,
        code: null,
        signal: signalName(outcome.signal),
        oomKilled: outcome.signal === 9 && (m.stats?.oomKills ?? 0) > 0,
      };
  }
}

// ---------------------------------------------------------------- templates
//
// Every word of a report is written here once, as a template the native
// supervisor fills with numbers (grammar: "Templates" in ffi/nsbox_helper.h)
// and that renderTemplate() fills the same way for a RunResult in TypeScript.

/** Escapes text for a template: `{` is written `{{`. */
function lit(text: string): string {
  return text.replaceAll("{", "{{");
}

/** Where the statistics of a run come from: the sandbox's cgroup, getrusage, or nowhere (`exec`). */
export type StatsSource = RunStats["source"] | "none";

/** The OOM line's template (without "nsbox: "), e.g. "killed: out of memory (limit 100M, peak 100M)". */
export function oomTemplate(limits: LimitsSpec | null): string {
  const max = limits?.memoryMax;
  return "killed: out of memory" +
    (max != null
      ? ` (limit ${formatSize(max)}{?memory_peak}, peak {memory_peak:size}{/})`
      : "{?memory_peak} (peak {memory_peak:size}){/}");
}

/** The `--stats` line's template (without "nsbox: "). */
export function statsTemplate(limits: LimitsSpec | null, source: StatsSource): string {
  const memoryOf = limits?.memoryMax != null ? ` of ${formatSize(limits.memoryMax)}` : "";
  const pidsOf = limits?.pidsMax != null ? ` of ${limits.pidsMax}` : "";
  return "stats: wall {wall_ms:s}{?cpu}, cpu {cpu_user_ms:s} user + {cpu_system_ms:s} system{/}" +
    `{?memory_peak}, memory peak {memory_peak:size}${memoryOf}${source === "rusage" ? " (largest process)" : ""}{/}` +
    `{?pids_peak}, pids peak {pids_peak}${pidsOf}{/}{?stats}, OOM kills {oom_kills}{/}`;
}

/** The `--json` report's template (one line of JSON). */
export function jsonTemplate(limits: LimitsSpec | null, source: StatsSource, egress = false): string {
  const limitsJson = limits && {
    memory_max_bytes: limits.memoryMax,
    swap_max_bytes: limits.swapMax,
    cpus: limits.cpus,
    pids_max: limits.pidsMax,
    io_weight: limits.ioWeight,
  };
  return '{{"exit_code":{exit},"code":{code},"signal":{signal:q},"oom_killed":{oom:bool},' +
    '"timed_out":{timed_out:bool},"wall_ms":{wall_ms},' +
    `"stats":{?stats}{{"source":${JSON.stringify(source)},"cpu_user_ms":{cpu_user_ms},` +
    '"cpu_system_ms":{cpu_system_ms},"memory_peak_bytes":{memory_peak},"pids_peak":{pids_peak},' +
    `"oom_kills":{oom_kills}}{/}{!stats}null{/},"limits":${lit(JSON.stringify(limitsJson))}` +
    (egress ? ',"egress":{egress}}' : "}");
}

/** What `nsbox run` and `exec` print on stderr once the command ended (the OOM line, `--stats`, or `--json`). */
export function endTemplate(
  opts: {
    json: boolean;
    stats: boolean;
    limits: LimitsSpec | null;
    source: StatsSource;
    /** `--timeout`, milliseconds, when given. */
    timeoutMs?: number | null;
    /** `--allow-host`: the JSON report has the proxy's report (`egress`). */
    egress?: boolean;
  },
): string {
  if (opts.json) return `${jsonTemplate(opts.limits, opts.source, opts.egress)}\n`;
  return (opts.timeoutMs ? `{?timed_out}nsbox: ${timedOutTemplate(opts.timeoutMs)}\n{/}` : "") +
    `{?oom}nsbox: ${oomTemplate(opts.limits)}\n{/}` +
    (opts.stats ? `nsbox: ${statsTemplate(opts.limits, opts.source)}\n` : "");
}

/** The line when `--timeout` expired (without "nsbox: "), e.g. "timed out after 2s". */
export function timedOutTemplate(timeoutMs: number): string {
  return `timed out after ${formatDuration(timeoutMs)}`;
}

/** The hint when the command stopped while nsbox is not the terminal's foreground job. */
export function stopHintTemplate(pid: number, inBackground: boolean): string {
  const fg = inBackground ? " (or bring nsbox to the foreground: fg)" : "";
  return `nsbox: the command stopped ({signum}); resume it with: kill -CONT ${pid}${fg}\n`;
}

type Value = { kind: "none" } | { kind: "int"; n: number } | { kind: "us"; n: number } | { kind: "str"; s: string } | {
  kind: "bool";
  b: boolean;
};

function lookup(name: string, r: RunResult, extra: Readonly<Record<string, string>>): Value {
  const s = r.stats;
  const us = (ms: number | null | undefined): Value =>
    ms == null ? { kind: "none" } : { kind: "us", n: Math.round(ms * 1000) };
  const int = (n: number | null | undefined): Value => n == null ? { kind: "none" } : { kind: "int", n };
  switch (name) {
    case "exit":
      return int(r.exitCode);
    case "code":
      return int(r.code);
    case "signal":
      return r.signal === null ? { kind: "none" } : { kind: "str", s: r.signal };
    case "oom":
      return { kind: "bool", b: r.oomKilled };
    case "timed_out":
      return { kind: "bool", b: r.timedOut };
    case "wall_ms":
      return us(r.wallMs);
    case "stats":
      return { kind: "bool", b: s !== null };
    case "cpu":
      return { kind: "bool", b: s !== null && s.cpuUserMs !== null && s.cpuSystemMs !== null };
    case "cpu_user_ms":
      return us(s?.cpuUserMs);
    case "cpu_system_ms":
      return us(s?.cpuSystemMs);
    case "memory_peak":
      return int(s?.memoryPeak);
    case "pids_peak":
      return int(s?.pidsPeak);
    case "oom_kills":
      return int(s?.oomKills);
    case "egress":
      return r.egress ? { kind: "str", s: JSON.stringify(r.egress) } : { kind: "none" };
  }
  return name in extra ? { kind: "str", s: extra[name]! } : { kind: "none" };
}

/** `us` microseconds as seconds: "1.234 s" under 10 s, "12.3 s" above. */
function seconds(us: number): string {
  if (us < 10_000_000) {
    const ms = Math.floor((us + 500) / 1000);
    return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")} s`;
  }
  const ds = Math.floor((us + 50_000) / 100_000);
  return `${Math.floor(ds / 10)}.${ds % 10} s`;
}

function format(v: Value, fmt: string): string {
  if (v.kind === "none") return fmt === "bool" ? "false" : "null";
  if (fmt === "bool") return String(v.kind === "bool" ? v.b : true);
  if (v.kind === "bool") return String(v.b);
  if (v.kind === "str") return fmt === "q" ? JSON.stringify(v.s) : fmt === "j" ? JSON.stringify(v.s).slice(1, -1) : v.s;
  if (fmt === "size") return formatSize(v.n);
  if (fmt === "s") return seconds(v.kind === "us" ? v.n : v.n * 1000);
  return v.kind === "us" ? String(Math.round(v.n) / 1000) : String(v.n);
}

/**
 * Fills a template with the numbers of `r` as the native supervisor does
 * (ffi/nsbox_supervise.c render()).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = { exitCode: 0, code: 0, signal: null, wallMs: 12.5, oomKilled: false, timedOut: false, stats: null, limits: null };
 * assert.equal(renderTemplate("exit {exit} after {wall_ms:s}{?stats}, with stats{/}", r), "exit 0 after 0.013 s");
 * ```
 */
export function renderTemplate(t: string, r: RunResult, extra: Readonly<Record<string, string>> = {}): string {
  let out = "";
  let depth = 0, skip = 0;
  for (let i = 0; i < t.length;) {
    if (t.startsWith("{{", i)) {
      if (!skip) out += "{";
      i += 2;
      continue;
    }
    if (t[i] !== "{") {
      const open = t.indexOf("{", i);
      const end = open < 0 ? t.length : open;
      if (!skip) out += t.slice(i, end);
      i = end;
      continue;
    }
    const close = t.indexOf("}", i);
    if (close < 0) {
      if (!skip) out += t.slice(i);
      break;
    }
    const name = t.slice(i + 1, close);
    i = close + 1;
    if (name === "/") {
      if (depth > 0) depth--;
      if (skip > depth) skip = 0;
      continue;
    }
    if (name[0] === "?" || name[0] === "!") {
      depth++;
      if (!skip) {
        const v = lookup(name.slice(1), r, extra);
        const known = v.kind === "bool" ? v.b : v.kind !== "none";
        if (known !== (name[0] === "?")) skip = depth;
      }
      continue;
    }
    if (skip) continue;
    const colon = name.indexOf(":");
    out += format(lookup(colon < 0 ? name : name.slice(0, colon), r, extra), colon < 0 ? "" : name.slice(colon + 1));
  }
  return out;
}

/** The line for a command the OOM killer killed, e.g. "killed: out of memory (limit 100M, peak 100M)". */
export function oomLine(r: RunResult): string | null {
  return r.oomKilled ? renderTemplate(oomTemplate(r.limits), r) : null;
}

/** The `--stats` line. */
export function statsLine(r: RunResult): string {
  return renderTemplate(statsTemplate(r.limits, r.stats?.source ?? "none"), r);
}

/** The lines nsbox prints on stderr for an error (without the "nsbox: " prefix). */
export function errorLines(e: NsboxError): string[] {
  const lines = e instanceof UsageError ? [...e.problems] : [e.message];
  if (e.hint) lines.push(`hint: ${e.hint}`);
  return lines;
}

/**
 * The `--json` report of a run. An error is `{ exit_code, error: { message,
 * problems, errno?, hint? } }`: `message` always a string (several problems
 * joined with "\n"), `problems` always an array of one line each.
 */
export function jsonReport(result: RunResult | null, error: NsboxError | null): Record<string, unknown> {
  if (error) {
    const problems = error instanceof UsageError ? [...error.problems] : [error.message];
    return {
      exit_code: error.exitCode,
      error: {
        message: problems.join("\n"),
        problems,
        ...(error instanceof OsError ? { errno: errnoName(error.errno) } : {}),
        ...(error.hint ? { hint: error.hint } : {}),
      },
    };
  }
  const r = result!;
  return JSON.parse(renderTemplate(jsonTemplate(r.limits, r.stats?.source ?? "none", r.egress !== undefined), r));
}
