// Issue #13's fault matrix with limits, in the VM (a systemd user session that delegates cgroups): nsbox killed at
// every step of a run with `--mem` or `--pids` (a transient scope nsbox-NAME.scope) leaves no process of the user,
// no nsbox cgroup or unit once systemd has collected the empty scope, no file in the runtime directory or TMPDIR,
// no new mount on the host, and at most a record that the next nsbox command removes. And `--share pid` with limits,
// where no PID namespace dies with PID 1: the next command (`nsbox ps`, `nsbox gc`) ends every process the sandbox
// left through its cgroup, including one that has left the sandbox's recorded namespaces.
//
// The fault seam is the test build's (NSBOX_FAULT=STEP[:SIGNAL], src/spawn/fault.ts): scripts/vm/suite.sh builds
// the C helper with NSBOX_FAULTS=1, as scripts/test.sh does.
import assert from "node:assert/strict";
import { commOf, nsbox, nsboxCommand, pidsMatching, ROOT, shellQuote, waitUntil } from "../integration/_harness.ts";
import { FAULT_STEPS } from "../../src/spawn/fault.ts";
import { assertNothingLeft, inDelegatedScope, nsboxCgroups } from "./_cgroups.ts";

// A runtime directory and TMPDIR of these tests' own; the user's bus named explicitly, since nsbox otherwise finds
// it in $XDG_RUNTIME_DIR.
const RUNTIME = Deno.makeTempDirSync({ prefix: "nsbox-vmfaults-rt-" });
const TMPDIR = Deno.makeTempDirSync({ prefix: "nsbox-vmfaults-tmp-" });
const STORE = `${RUNTIME}/nsbox`;
const BUS = `/run/user/${Deno.uid()}/bus`;
const ENV = { XDG_RUNTIME_DIR: RUNTIME, TMPDIR, DBUS_SESSION_BUS_ADDRESS: `unix:path=${BUS}` };

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== ".key").sort();
  } catch {
    return [];
  }
}

const mountinfo = () => Deno.readTextFileSync("/proc/self/mountinfo");

/** The user's running processes (not zombies) but this test's own: pid -> command line. */
function userProcesses(): Map<number, string> {
  const found = new Map<number, string>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      if (Deno.statSync(`/proc/${e.name}`).uid !== Deno.uid()) continue;
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (/\) [ZX] /.test(stat)) continue;
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ").trim();
      found.set(Number(e.name), `${commOf(Number(e.name))}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** What runs now and did not in `before`, but the user's bus (dbus-daemon, started on demand by the first client). */
function newProcesses(before: Map<number, string>): string[] {
  return [...userProcesses()].filter(([pid, what]) => !before.has(pid) && !what.startsWith("dbus-daemon:"))
    .map(([pid, what]) => `${pid} ${what}`);
}

/** Starts `nsbox ARGS...` with ENV and `env`; output to /dev/null (what it leaves might hold a pipe open). */
function spawnNsbox(args: readonly string[], env: Record<string, string> = {}): Deno.ChildProcess {
  const [cmd, full] = nsboxCommand(args);
  return new Deno.Command(cmd, {
    args: full,
    env: { ...ENV, ...env },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Waits for `child` to end, killing it after `ms`. */
async function ended(child: Deno.ChildProcess, ms = 120_000): Promise<Deno.CommandStatus> {
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // ended meanwhile
    }
  }, ms);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/** What is left of a case: new processes of the user, files in TMPDIR, mounts; waited for up to 15 s. */
async function assertNoProcessLeft(what: string, before: Map<number, string>) {
  await waitUntil(() => newProcesses(before).length === 0, `${what}: no process left`, 15_000).catch((e) => {
    throw new Error(`${e.message}: ${newProcesses(before).join("; ")}`);
  });
}

// The first run with limits starts the user's dbus-daemon (socket activation); and the matrix needs the test build.
Deno.test("faults (VM): the fault-injection build, and a run with limits that ends normally leaves nothing", async () => {
  assert.ok(
    (() => {
      try {
        return Deno.statSync(`${ROOT}/ffi/build/.fault-injection`).isFile;
      } catch {
        return false;
      }
    })(),
    "the C helper is the test build (scripts/vm/suite.sh builds it with NSBOX_FAULTS=1)",
  );
  const r = await nsbox(["run", "--mem", "100M", "--", "true"], { env: ENV, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  await assertNothingLeft("after a normal run");
  assert.deepEqual(entries(STORE), []);
});

/** nsbox run LIMITS -- sh -c SCRIPT killed at `step` by `signal`; then everything is checked. */
async function faultCase(step: string, signal: "KILL" | "TERM", limits: readonly string[]) {
  const what = `${step}:${signal} ${limits.join(" ")}`;
  const marker = `nsbox-vmfault-${step}-${signal}-${Math.random().toString(36).slice(2, 8)}`;
  const before = userProcesses(), mounts = mountinfo();
  // A command that would outlive the test unless nsbox's death ends it; after-exit needs one that ends.
  const script = step === "after-exit" ? `: ${marker}` : `sleep 300 & : ${marker}; sleep 300; wait`;
  const r = await ended(
    spawnNsbox(["run", ...limits, "--", "sh", "-c", script], {
      NSBOX_FAULT: `${step}:${signal}`,
      NSBOX_FAULT_CASE: marker,
    }),
  );
  // nsbox died of the signal, or (a SIGTERM it forwards to the sandbox) ended with the command it ended
  if (signal === "KILL") assert.equal(r.signal, "SIGKILL", `${what}: nsbox was killed (${r.code})`);
  else assert.ok(r.signal === "SIGTERM" || r.code === 143, `${what}: ${r.code} ${r.signal}`);
  await assertNoProcessLeft(what, before);
  await assertNothingLeft(`(${what})`);
  assert.deepEqual(entries(TMPDIR), [], `${what}: no temporary file left`);
  assert.equal(mountinfo(), mounts, `${what}: no new mount on the host`);
  const left = entries(STORE);
  assert.ok(left.length <= 1, `${what}: at most one record left (${left})`);
  const ps = await nsbox(["ps"], { env: ENV, timeoutMs: 60_000 });
  assert.equal(ps.code, 0, ps.stderr);
  assert.deepEqual(entries(STORE), [], `${what}: nsbox ps removed the stale record`);
  await assertNoProcessLeft(`${what}, after nsbox ps`, before);
}

// Every step by SIGKILL, --mem and --pids in turn; SIGTERM (which nsbox forwards once the sandbox runs) at two steps.
// One test per step: a failure names it, and all share the suite's single VM boot.
FAULT_STEPS.forEach((step, i) => {
  const limits = i % 2 === 0 ? ["--mem", "100M"] : ["--pids", "50"];
  const signals: Array<"KILL" | "TERM"> = step === "after-cgroup" || step === "after-start"
    ? ["KILL", "TERM"]
    : ["KILL"];
  Deno.test(`faults (VM): nsbox killed ${step} (${signals.join(", ")}) with ${limits.join(" ")} leaves nothing`, async () => {
    for (const signal of signals) await faultCase(step, signal, limits);
  });
});

/**
 * `nsbox run --share pid LIMITS -- sh -c SCRIPT`, killed with SIGKILL once the native supervisor runs it and the
 * `sleeps` (marked sleep arguments) run; returns those sleeps' pids, checked to have outlived nsbox.
 */
async function killSharedPid(limits: readonly string[], script: string, sleeps: readonly string[]): Promise<number[]> {
  const child = spawnNsbox(["run", "--share", "pid", ...limits, "--", "sh", "-c", script]);
  const survivors = () => sleeps.flatMap((s) => pidsMatching(`sleep ${s}`).filter((p) => commOf(p) === "sleep"));
  try {
    await waitUntil(() => survivors().length === sleeps.length, `the sleeps ${sleeps} to run`, 60_000);
    await waitUntil(() => commOf(child.pid) === "nsbox", "the native supervisor to take over", 30_000);
    assert.equal(entries(STORE).length, 1, "the sandbox is recorded");
  } finally {
    child.kill("SIGKILL");
  }
  const r = await ended(child);
  assert.equal(r.signal, "SIGKILL");
  // no PID namespace died with PID 1: the command and its background child outlive nsbox, in the scope's cgroup
  const pids = survivors();
  assert.equal(pids.length, sleeps.length, `the sleeps outlive nsbox (${pids})`);
  assert.ok(nsboxCgroups().length > 0, "the sandbox's scope is still there while they run");
  return pids;
}

Deno.test("faults (VM): --share pid with limits, nsbox killed: the next nsbox command ends the command and its child", async () => {
  const before = userProcesses(), mounts = mountinfo();
  const tag = `${Date.now() % 100000}`;
  const [a, b] = [`1000.${tag}1`, `1000.${tag}2`];
  const pids = await killSharedPid(["--mem", "100M"], `sleep ${a} & sleep ${b}`, [a, b]);
  const ps = await nsbox(["ps"], { env: ENV, timeoutMs: 60_000 });
  assert.equal(ps.code, 0, ps.stderr);
  assert.deepEqual(entries(STORE), [], "nsbox ps removed the stale record");
  for (const pid of pids) assert.equal(commOf(pid), null, `sleep ${pid} was ended`);
  await assertNoProcessLeft("--share pid, after nsbox ps", before);
  await assertNothingLeft("(--share pid, after nsbox ps)");
  assert.deepEqual(entries(TMPDIR), []);
  assert.equal(mountinfo(), mounts);
});

Deno.test("faults (VM): --share pid with limits: nsbox gc ends through the cgroup what left the recorded namespaces", async () => {
  const before = userProcesses();
  const tag = `${Date.now() % 100000}`;
  const [a, b] = [`1001.${tag}1`, `1001.${tag}2`];
  // `unshare -rn` puts a sleep in a network namespace of its own (in a user namespace nested in the sandbox's): a
  // scan by the recorded namespaces would not find it; the cgroup holds it all the same.
  const pids = await killSharedPid(
    ["--pids", "50", "--allow-userns"],
    `unshare -rn sleep ${a} & sleep ${b}`,
    [a, b],
  );
  const escaped = pids.find((p) => pidsMatching(`sleep ${a}`).includes(p))!;
  assert.notEqual(
    Deno.readLinkSync(`/proc/${escaped}/ns/net`),
    Deno.readLinkSync(`/proc/${pids.find((p) => p !== escaped)}/ns/net`),
    "the unshared sleep has left the sandbox's network namespace",
  );
  const gc = await nsbox(["gc", "--json"], { env: ENV, timeoutMs: 60_000 });
  assert.equal(gc.code, 0, gc.stderr);
  const collected = JSON.parse(gc.stdout) as Array<{ name: string; ended: string[] }>;
  assert.equal(collected.length, 1, gc.stdout);
  for (const pid of pids) {
    assert.ok(
      collected[0]!.ended.includes(`sleep (pid ${pid}, in the sandbox's cgroup)`),
      `gc names sleep ${pid}: ${gc.stdout}`,
    );
    assert.equal(commOf(pid), null, `sleep ${pid} was ended`);
  }
  assert.deepEqual(entries(STORE), [], "nsbox gc removed the stale record");
  await assertNoProcessLeft("--share pid, after nsbox gc", before);
  await assertNothingLeft("(--share pid, after nsbox gc)");
});

Deno.test("faults (VM): an already delegated cgroup (no user bus), nsbox killed: the next nsbox removes its cgroups", async () => {
  // In a scope systemd delegates (as limits_test.ts's delegated run), with the bus hidden: nsbox steps into a
  // cgroup of its own (nsbox-supervisor-PID) and makes the sandbox's (nsbox-NAME) beside it. The shell moves
  // itself into a child first (a cgroup with processes cannot enable controllers for its children) and starts
  // nsbox back in the scope's cgroup.
  const [deno, args] = nsboxCommand([]);
  const nsboxLine = [deno, ...args].map(shellQuote).join(" ");
  const script = [
    `own=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)`,
    `mkdir "$own/caller" && echo $$ > "$own/caller/cgroup.procs"`,
    // nsbox itself starts in the scope's own cgroup (as when systemd-run runs it directly)
    `sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$own" env NSBOX_FAULT=after-start:KILL ${nsboxLine} ` +
    `run --mem 80M -- sh -c 'sleep 301 & sleep 301; wait'`,
    `echo "run: $?"`,
    `ls "$own" | grep '^nsbox-' | sed 's/^/before: /'`,
    `${nsboxLine} ps >/dev/null; echo "ps: $?"`,
    `ls "$own" | grep '^nsbox-' | sed 's/^/after: /'`,
  ].join("\n");
  const out = await inDelegatedScope(["sh", "-c", script], [`TMPDIR=${TMPDIR}`]);
  const dec = new TextDecoder();
  const text = dec.decode(out.stdout), err = dec.decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.match(text, /^run: 137$/m, `${text}${err}`);
  assert.match(text, /^before: nsbox-supervisor-\d+$/m, "nsbox had stepped into a cgroup of its own");
  assert.match(text, /^before: nsbox-[0-9a-f]+$/m, "the sandbox's cgroup was there when nsbox was killed");
  assert.match(text, /^ps: 0$/m, text);
  assert.doesNotMatch(text, /^after: /m, `the next nsbox removed both: ${text}`);
  assert.deepEqual(pidsMatching("sleep 301"), [], "nothing of the sandbox runs");
  await assertNothingLeft("(delegated, after nsbox ps)");
});

Deno.test({
  name: "faults (VM): (clean up the test's directories)",
  fn() {
    Deno.removeSync(RUNTIME, { recursive: true });
    Deno.removeSync(TMPDIR, { recursive: true });
  },
});
