import assert from "node:assert/strict";
import {
  endTemplate,
  errorLines,
  failureError,
  failureTemplates,
  jsonReport,
  type Measured,
  outcomeResult,
  renderTemplate,
  type RunResult,
} from "../../src/report/report.ts";
// Importing supervise.ts imports ffi/libc.ts, which must open libc lazily, not at import time.
import { decodeWaitStatus } from "../../src/spawn/wait.ts";
import { errnoName, errnoTable, EXIT, NsboxError, OsError, UsageError } from "../../src/errors.ts";
import { STEP } from "../../src/spawn/abi.ts";
import { buildPlan } from "../../src/plan/plan.ts";
import type { ChildPlan } from "../../src/plan/ops.ts";
import { validate } from "../../src/spec/validate.ts";
import { fakeHost, runOptions } from "./_fake_host.ts";

const ENOENT = 2, EACCES = 13, EPERM = 1, EROFS = 30, ENOEXEC = 8, EINVAL = 22;

function plan(args: string[]): ChildPlan {
  return buildPlan(validate(runOptions(args), fakeHost()));
}

const M: Measured = { wallMs: 12.5, stats: null, limits: null };

Deno.test("outcomeResult() passes an exit code through", () => {
  const p = plan(["true"]);
  const r = outcomeResult(p, { kind: "exited", code: 3 }, M);
  assert.equal(r.exitCode, 3);
  assert.equal(r.code, 3);
  assert.equal(r.signal, null);
  assert.equal(r.wallMs, 12.5);
  assert.equal(r.oomKilled, false);
  assert.equal(outcomeResult(p, { kind: "exited", code: 0 }, M).exitCode, 0);
});

Deno.test("outcomeResult() maps signal N to 128+N and names it", () => {
  const p = plan(["sleep", "9"]);
  const term = outcomeResult(p, { kind: "signaled", signal: 15 }, M);
  assert.deepEqual([term.exitCode, term.code, term.signal], [143, null, "SIGTERM"]);
  const kill = outcomeResult(p, { kind: "signaled", signal: 9 }, M);
  assert.deepEqual([kill.exitCode, kill.signal, kill.oomKilled], [137, "SIGKILL", false]);
  assert.equal(outcomeResult(p, { kind: "signaled", signal: 11 }, M).signal, "SIGSEGV");
  assert.equal(outcomeResult(p, { kind: "signaled", signal: 36 }, M).signal, "SIGRTMIN+2");
});

Deno.test("outcomeResult() marks a SIGKILL with OOM kills as OOM-killed", () => {
  const stats = {
    source: "cgroup" as const,
    cpuUserMs: 1,
    cpuSystemMs: 1,
    memoryPeak: 1 << 20,
    pidsPeak: 1,
    oomKills: 1,
  };
  const p = plan(["true"]);
  assert.equal(outcomeResult(p, { kind: "signaled", signal: 9 }, { ...M, stats }).oomKilled, true);
  assert.equal(outcomeResult(p, { kind: "signaled", signal: 15 }, { ...M, stats }).oomKilled, false);
  assert.equal(outcomeResult(p, { kind: "exited", code: 1 }, { ...M, stats }).oomKilled, false);
});

Deno.test("outcomeResult() throws the failure's error", () => {
  assert.throws(
    () => outcomeResult(plan(["nope"]), { kind: "failed", step: STEP.EXEC, errno: ENOENT }, M),
    (e) => e instanceof NsboxError && e.exitCode === 127 && e.message === "nope: command not found",
  );
});

Deno.test("failureError() reports a command that is not found with 127", () => {
  const e = failureError(plan(["frobnicate", "-x"]), STEP.EXEC, ENOENT);
  assert.ok(e instanceof NsboxError);
  assert.ok(!(e instanceof OsError));
  assert.equal(e.message, "frobnicate: command not found");
  assert.equal(e.exitCode, EXIT.NOT_FOUND);
  assert.equal(e.exitCode, 127);
});

Deno.test("failureError() reports a command that cannot be executed with 126", () => {
  const e = failureError(plan(["/etc/hosts"]), STEP.EXEC, EACCES);
  assert.ok(e instanceof OsError);
  assert.equal(e.message, "cannot execute /etc/hosts: Permission denied");
  assert.equal(e.exitCode, 126);
  assert.equal(e.code, "EACCES");
  const noexec = failureError(plan(["./a.out"]), STEP.EXEC, ENOEXEC);
  assert.equal(noexec.message, "cannot execute ./a.out: Exec format error");
  assert.equal(noexec.exitCode, 126);
});

Deno.test("failureError() uses a failed op's `what`", () => {
  const p = plan(["--bind", "/home/user/src:/src", "true"]);
  const step = p.ops.findIndex((op) => op.kind === "moveMount" && op.path === "src");
  assert.ok(step >= 0);
  const e = failureError(p, step, EPERM);
  assert.ok(e instanceof OsError);
  assert.equal(e.message, "cannot bind /home/user/src on /src: Operation not permitted");
  assert.equal(e.errno, EPERM);
  assert.equal(e.exitCode, EXIT.NSBOX);
  assert.equal(e.hint, undefined);
});

Deno.test("failureError() says which copy of a parent failed, with no hint: mount points are made, not required", () => {
  const p = plan(["--bind", "/etc/hosts:/nowhere/hosts", "true"]);
  const step = p.ops.findIndex((op) => op.kind === "mkfile" && op.path === "nowhere/hosts");
  assert.ok(step >= 0);
  const e = failureError(p, step, EROFS);
  assert.equal(e.message, "cannot create mount point /nowhere/hosts in the read-only copy of /: Read-only file system");
  assert.equal(e.hint, undefined);
  const back = p.ops.findIndex((op) => op.kind === "openTree" && op.path === "etc");
  assert.match(failureError(p, back, 40).message, /^cannot bind \/etc back into the read-only copy of \/ .*changed/);
});

Deno.test("failureError() names the phase for sync, init and unknown steps", () => {
  const p = plan(["true"]);
  assert.equal(failureError(p, STEP.SYNC, EPERM).message, "the sandbox did not start: Operation not permitted");
  assert.equal(
    failureError(p, STEP.INIT, 11).message,
    "the sandbox's init cannot start the command: Resource temporarily unavailable",
  );
  const e = failureError(p, 9999, EINVAL);
  assert.equal(e.message, "setup step 9999 failed: Invalid argument");
  assert.equal(e.exitCode, 125);
});

Deno.test("decodeWaitStatus() decodes exits and signals", () => {
  assert.deepEqual(decodeWaitStatus(0), { kind: "exited", code: 0 });
  assert.deepEqual(decodeWaitStatus(1 << 8), { kind: "exited", code: 1 });
  assert.deepEqual(decodeWaitStatus(255 << 8), { kind: "exited", code: 255 });
  assert.deepEqual(decodeWaitStatus(9), { kind: "signaled", signal: 9 });
  assert.deepEqual(decodeWaitStatus(15), { kind: "signaled", signal: 15 });
  assert.deepEqual(decodeWaitStatus(0x80 | 11), { kind: "signaled", signal: 11 }); // core dumped
});

Deno.test("errorLines() lists every problem of a UsageError and the hint", () => {
  assert.deepEqual(errorLines(new UsageError(["a.", "b."], "try c")), ["a.", "b.", "hint: try c"]);
  assert.deepEqual(errorLines(new OsError("cannot x", ENOENT)), ["cannot x: No such file or directory"]);
});

function result(over: Partial<RunResult> = {}): RunResult {
  return {
    exitCode: 0,
    code: 0,
    signal: null,
    wallMs: 1.23456,
    oomKilled: false,
    timedOut: false,
    stats: null,
    limits: null,
    ...over,
  };
}

Deno.test("jsonReport() reports an exit", () => {
  const r = jsonReport(result({ exitCode: 3, code: 3 }), null);
  assert.equal(r.exit_code, 3);
  assert.equal(r.code, 3);
  assert.equal(r.signal, null);
  assert.equal(r.wall_ms, 1.235);
  assert.ok(!("error" in r));
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
});

Deno.test("jsonReport() reports a signal", () => {
  const r = jsonReport(result({ exitCode: 137, code: null, signal: "SIGKILL" }), null);
  assert.deepEqual([r.exit_code, r.code, r.signal], [137, null, "SIGKILL"]);
});

Deno.test("jsonReport() reports an OsError with its errno name and hint", () => {
  const r = jsonReport(null, new OsError("cannot create mount point /x", EROFS, { hint: "use --tmpfs" }));
  assert.deepEqual(r, {
    exit_code: 125,
    error: {
      message: "cannot create mount point /x: Read-only file system",
      problems: ["cannot create mount point /x: Read-only file system"],
      errno: "EROFS",
      hint: "use --tmpfs",
    },
  });
});

Deno.test("jsonReport() reports a UsageError's problems as one string message and a list", () => {
  assert.deepEqual(jsonReport(null, new UsageError(["a.", "b."])), {
    exit_code: 125,
    error: { message: "a.\nb.", problems: ["a.", "b."] },
  });
});

Deno.test("jsonReport() gives every error the same shape: a string message and a problems list", () => {
  for (const e of [new UsageError(["one."]), new NsboxError("plain"), new OsError("x", EROFS)]) {
    const err = jsonReport(null, e).error as { message: unknown; problems: unknown };
    assert.equal(typeof err.message, "string", e.name);
    assert.ok(Array.isArray(err.problems) && err.problems.every((p) => typeof p === "string"), e.name);
    assert.equal(err.message, (err.problems as string[]).join("\n"), e.name);
  }
});

Deno.test("jsonReport() reports command not found without an errno", () => {
  const r = jsonReport(null, failureError(plan(["nope"]), STEP.EXEC, ENOENT));
  assert.deepEqual(r, {
    exit_code: 127,
    error: { message: "nope: command not found", problems: ["nope: command not found"] },
  });
});

Deno.test("jsonReport() writes stats and limits in snake_case", () => {
  const r = jsonReport(
    result({
      exitCode: 137,
      code: null,
      signal: "SIGKILL",
      oomKilled: true,
      stats: { source: "cgroup", cpuUserMs: 5, cpuSystemMs: 6, memoryPeak: 1024, pidsPeak: 3, oomKills: 1 },
      limits: { memoryMax: 1024, swapMax: 0, cpus: 0.5, pidsMax: 10, ioWeight: null },
    }),
    null,
  );
  assert.equal(r.oom_killed, true);
  assert.deepEqual(r.stats, {
    source: "cgroup",
    cpu_user_ms: 5,
    cpu_system_ms: 6,
    memory_peak_bytes: 1024,
    pids_peak: 3,
    oom_kills: 1,
  });
  assert.deepEqual(r.limits, { memory_max_bytes: 1024, swap_max_bytes: 0, cpus: 0.5, pids_max: 10, io_weight: null });
  const bare = jsonReport(result(), null);
  assert.equal(bare.stats, null);
  assert.equal(bare.limits, null);
});

Deno.test("--timeout: the end report says so once, and --json has timed_out", () => {
  const r = result({ exitCode: 124, code: null, signal: "SIGTERM", timedOut: true });
  const t = endTemplate({ json: false, stats: false, limits: null, source: "rusage", timeoutMs: 2000 });
  assert.equal(renderTemplate(t, r), "nsbox: timed out after 2s\n");
  assert.equal(renderTemplate(t, result()), "");
  assert.equal(jsonReport(r, null).timed_out, true);
  assert.equal(jsonReport(result(), null).timed_out, false);
});

/** What the native supervisor prints for a failure at `step` with `errno` (ffi/nsbox_supervise.c pick_failure()). */
function supervisorSays(p: ChildPlan, json: boolean, step: number, errno: number): { text: string; exitCode: number } {
  const rule = failureTemplates(p, json).find((r) =>
    (r.step === "any" || r.step === step) && (r.errno === null || r.errno === errno)
  );
  assert.ok(rule, `no rule for step ${step}, errno ${errno}`);
  const [name, message] = errnoTable()[errno] ?? ["", ""];
  const values: Record<string, string> = { step: String(step), errno: String(errno) };
  if (name) Object.assign(values, { errno_name: name, errno_text: message });
  const what = p.ops[step]?.what;
  if (step >= 0 && what) values.step_what = what;
  const r: RunResult = {
    exitCode: rule.exitCode,
    code: null,
    signal: null,
    wallMs: 0,
    oomKilled: false,
    timedOut: false,
    stats: null,
    limits: null,
  };
  return { text: renderTemplate(rule.text, r, values), exitCode: rule.exitCode };
}

Deno.test("failureTemplates(): the supervisor says what failureError() would, as lines and as --json", () => {
  const hostile = plan(["-w", '/no "such" \\ {dir}\n', "--bind", "/home/user/src:/src", "./a.out"]);
  const proc = hostile.ops.findIndex((op) => op.kind === "fsmount" && op.fstype === "proc");
  const chdir = hostile.ops.findIndex((op) => op.what.startsWith("cannot change directory"));
  assert.ok(proc >= 0 && chdir >= 0);
  const cases: Array<[ChildPlan, number, number]> = [
    [plan(["nope"]), STEP.EXEC, ENOENT],
    [plan(["/usr"]), STEP.EXEC, 21],
    [hostile, STEP.EXEC, EACCES],
    [hostile, STEP.EXEC, ENOEXEC],
    [hostile, STEP.INIT, 11],
    [hostile, STEP.SYNC, EPERM],
    [hostile, chdir, ENOENT],
    [hostile, proc, EPERM], // with the hint
    [hostile, proc, EINVAL],
    [hostile, 9999, EINVAL], // no such step
    [hostile, chdir, 200], // an errno nsbox does not name
  ];
  for (const [p, step, errno] of cases) {
    const e = failureError(p, step, errno);
    const lines = supervisorSays(p, false, step, errno);
    assert.equal(lines.text, errorLines(e).map((l) => `nsbox: ${l}\n`).join(""), `step ${step}, errno ${errno}`);
    assert.equal(lines.exitCode, e.exitCode);
    const json = supervisorSays(p, true, step, errno);
    assert.equal(json.text, `${JSON.stringify(jsonReport(null, e))}\n`, `--json: step ${step}, errno ${errno}`);
    assert.equal(json.exitCode, e.exitCode);
  }
  assert.equal(errnoName(200), "E200");
});
