// Resource limits through the user's systemd (a transient scope with
// Delegate=yes) and through an already-delegated cgroup. Runs in the VM test
// bed (scripts/vm/suite.sh) as `user`, in its systemd login session.
import assert from "node:assert/strict";
import {
  commOf,
  embedRuns,
  lines,
  nsbox,
  nsboxCommand,
  pidsMatching,
  sandboxSh,
  startNsbox,
  waitUntil,
} from "../integration/_harness.ts";
import { assertNothingLeft, inDelegatedScope, nsboxCgroups } from "./_cgroups.ts";

const MiB = 1024 * 1024;

function lastJson(stderr: string): Record<string, unknown> {
  const line = lines(stderr).reverse().find((l) => l.startsWith("{"));
  assert.ok(line, `a JSON report on stderr: ${stderr}`);
  return JSON.parse(line);
}

Deno.test("limits: --mem 100M kills a 200M stress with the out-of-memory message and 137", async () => {
  const r = await nsbox([
    "run",
    "--mem",
    "100M",
    "--",
    "stress",
    "--vm",
    "1",
    "--vm-bytes",
    "200M",
    "--vm-keep",
    "--timeout",
    "20",
  ], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 137, r.stderr);
  assert.match(r.stderr, /^nsbox: killed: out of memory \(limit 100M, peak 100M\)$/m);
  await assertNothingLeft("after an OOM kill");
});

Deno.test("limits: --mem 300M lets the same stress finish", async () => {
  const r = await nsbox([
    "run",
    "--mem",
    "300M",
    "--",
    "stress",
    "--vm",
    "1",
    "--vm-bytes",
    "200M",
    "--vm-keep",
    "--timeout",
    "3",
  ], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /out of memory/);
  await assertNothingLeft("after a normal exit");
});

Deno.test("limits: --json reports the OOM kill and the peak", async () => {
  const r = await nsbox(
    [
      "run",
      "--json",
      "--mem",
      "64M",
      "--",
      "stress",
      "--vm",
      "1",
      "--vm-bytes",
      "128M",
      "--vm-keep",
      "--timeout",
      "20",
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 137, r.stderr);
  const report = lastJson(r.stderr);
  assert.equal(report.exit_code, 137);
  assert.equal(report.signal, "SIGKILL");
  assert.equal(report.oom_killed, true);
  const stats = report.stats as Record<string, number | string>;
  assert.equal(stats.source, "cgroup");
  assert.ok((stats.oom_kills as number) >= 1, JSON.stringify(stats));
  const peak = stats.memory_peak_bytes as number;
  assert.ok(peak > 60 * MiB && peak <= 64 * MiB, `peak ${peak}`);
});

Deno.test("limits: --stats and --json figures are plausible (peak within 10% of what stress held)", async () => {
  const r = await nsbox(
    ["run", "--json", "--mem", "300M", "--", "stress", "--vm", "1", "--vm-bytes", "50M", "--vm-keep", "--timeout", "3"],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const report = lastJson(r.stderr);
  assert.equal(report.oom_killed, false);
  const stats = report.stats as Record<string, number>;
  assert.ok(stats.memory_peak_bytes! >= 50 * MiB && stats.memory_peak_bytes! <= 55 * MiB, JSON.stringify(stats));
  assert.ok((report.wall_ms as number) >= 3000, `wall ${report.wall_ms}`);
  // one worker spinning over its memory for 3 s: mostly user time
  assert.ok(stats.cpu_user_ms! + stats.cpu_system_ms! > 500, JSON.stringify(stats));
  const limits = report.limits as Record<string, number>;
  assert.equal(limits.memory_max_bytes, 300 * MiB);
  assert.equal(limits.swap_max_bytes, 0);

  const s = await nsbox(["run", "--stats", "--mem", "300M", "--", "true"], { timeoutMs: 60_000 });
  assert.equal(s.code, 0, s.stderr);
  assert.match(
    s.stderr,
    /^nsbox: stats: wall [\d.]+ s, cpu [\d.]+ s user \+ [\d.]+ s system, memory peak \S+ of 300M/m,
  );
});

Deno.test("limits: the limits are visible inside, in the sandbox's own cgroup namespace", async () => {
  const r = await sandboxSh(
    "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max /sys/fs/cgroup/pids.max " +
      "/sys/fs/cgroup/cpu.max /sys/fs/cgroup/io.weight; touch /sys/fs/cgroup/x 2>&1 || true",
    ["--mem", "100M", "--pids", "50", "--cpus", "0.5", "--io-weight", "500"],
    { timeoutMs: 60_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.deepEqual(
    out.slice(0, 7),
    ["0::/", String(100 * MiB), "0", "50", "50000 100000", "default 500"].concat(out[6]!),
  );
  assert.match(out[6]!, /Read-only file system/);
});

Deno.test("limits: --pids 50 stops a fork loop near 50 tasks", async () => {
  // The inner shell dies when a fork fails; the outer one then counts with
  // the slots it frees (ps, then wc, one at a time).
  const r = await sandboxSh(
    "sh -c 'i=0; while [ $i -lt 120 ]; do sleep 30 & i=$((i+1)); done' 2>/dev/null; " +
      "ps -e --no-headers -o comm= >/tmp/ps; wc -l </tmp/ps; grep -c '^sleep$' /tmp/ps",
    ["--pids", "50"],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const [all, sleeps] = lines(r.stdout).map(Number);
  // 50 tasks in the sandbox's cgroup: the outer sh, ps and 48 sleeps; nsbox-init (outside it) is seen too
  assert.ok(sleeps! >= 40 && sleeps! <= 49, `${sleeps} sleeps`);
  assert.ok(all! <= 52, `${all} processes`);
});

Deno.test("limits: --cpus 0.5 keeps a busy loop near half a CPU", async () => {
  const r = await nsbox(["run", "--json", "--cpus", "0.5", "--", "timeout", "4", "sh", "-c", "while :; do :; done"], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 124, r.stderr);
  const report = lastJson(r.stderr);
  const stats = report.stats as Record<string, number>;
  const share = (stats.cpu_user_ms! + stats.cpu_system_ms!) / 4000;
  assert.ok(share > 0.3 && share < 0.65, `CPU share ${share.toFixed(2)}: ${JSON.stringify(stats)}`);
});

Deno.test("limits: nothing is left after kill -9 of nsbox", async () => {
  const mark = `1000.${Date.now() % 100000}`;
  const run = startNsbox(["run", "--mem", "100M", "--", "sleep", mark]);
  const sleeping = () => pidsMatching(`sleep ${mark}`).filter((pid) => commOf(pid) === "sleep");
  await waitUntil(() => sleeping().length > 0, "the sandboxed sleep", 60_000);
  assert.ok(nsboxCgroups().length > 0, "the sandbox has a cgroup while it runs");
  run.kill("SIGKILL");
  await run.finish();
  await waitUntil(() => sleeping().length === 0, "the sandboxed sleep to be gone", 15_000);
  await assertNothingLeft("after kill -9 of nsbox");
});

Deno.test("limits: without a user bus, an already delegated cgroup is used", async () => {
  // systemd-run gives nsbox a delegated scope; nsbox must not find the bus
  const [deno, args] = nsboxCommand([
    "run",
    "--mem",
    "80M",
    "--",
    "sh",
    "-c",
    "cat /proc/self/cgroup /sys/fs/cgroup/memory.max",
  ]);
  const out = await inDelegatedScope([deno, ...args]);
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.deepEqual(lines(dec.decode(out.stdout)), ["0::/", String(80 * MiB)]);
  await assertNothingLeft("after the delegated run");
});

/** The parent of process `pid` (from /proc/PID/stat), or null when it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** VmRSS of process `pid` in KiB (/proc/PID/status is readable even when the process is not dumpable). */
function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1]);
}

Deno.test("limits: while the command runs, nsbox's supervisor and PID 1 hold under 1 MiB each (VmRSS)", async () => {
  const mark = `1001.${Date.now() % 100000}`;
  await using run = startNsbox(["run", "--mem", "100M", "--", "sleep", mark]);
  const sleeping = () => pidsMatching(`sleep ${mark}`).filter((pid) => commOf(pid) === "sleep");
  await waitUntil(() => sleeping().length > 0, "the sandboxed sleep", 60_000);
  const pid1 = parentOf(sleeping()[0]!)!;
  const supervisor = parentOf(pid1)!;
  assert.equal(commOf(pid1), "nsbox-init");
  assert.equal(supervisor, run.pid, "the supervisor is the nsbox process started (exec'd in place)");
  // Deno until the record is written, just after the command started; then the native supervisor
  await waitUntil(() => commOf(supervisor) === "nsbox", "the native supervisor to take over", 10_000);
  assert.ok(rssKiB(supervisor) < 1024, `the supervisor holds ${rssKiB(supervisor)} KiB`);
  assert.ok(rssKiB(pid1) < 1024, `PID 1 holds ${rssKiB(pid1)} KiB`);
  run.kill("SIGTERM");
  const r = await run.finish();
  assert.equal(r.code, 143, r.stderr);
  await assertNothingLeft("after the measured run");
});

Deno.test("limits: the library's run() with limits reports the cgroup's figures and leaves nothing", async () => {
  const out = await embedRuns([
    { command: ["sh", "-c", "exit 4"], limits: { memory: 100 * MiB } },
    { command: ["sh", "-c", "exit 5"], limits: { memory: 100 * MiB, pids: 20 }, asPid1: true },
  ]);
  assert.equal(out.code, 0, out.stderr);
  // deno-lint-ignore no-explicit-any
  const [four, five, after] = out.lines as any[];
  assert.equal(four.ok.exitCode, 4, JSON.stringify(four));
  assert.equal(four.ok.stats.source, "cgroup");
  assert.ok(four.ok.stats.memoryPeak > 0, JSON.stringify(four.ok.stats));
  assert.equal(five.ok.exitCode, 5, JSON.stringify(five));
  assert.deepEqual(after.children, []);
  await assertNothingLeft("after the library's runs");
});
