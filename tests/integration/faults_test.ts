// The fault matrix: nsbox killed at every step of a foreground run (the test build's NSBOX_FAULT seam,
// src/spawn/fault.ts), with and without --net, with --share pid, by SIGKILL, SIGTERM, SIGINT and SIGHUP, leaves nothing: no
// process of the sandbox, no network helper, no /tmp/nsbox-* file, no new mount on the host, and in the runtime
// directory at most a record that the next `nsbox ps` removes as stale.
import assert from "node:assert/strict";
import {
  addedRecords as added,
  dirEntries as entries,
  hasProgram,
  hostMountinfo as mountinfo,
  nsbox,
  nsboxCommand,
  privateRuntime,
  userProcesses,
  waitUntil,
} from "./_harness.ts";
import { SIGNALS } from "../../src/linux.ts";
import { FAULT_STEPS } from "../../src/spawn/fault.ts";

/**
 * The signals nsbox is killed with at each step: what CI systems, terminals and users send. With a network helper,
 * SIGKILL and SIGTERM (what nsbox does with a signal does not depend on the network; the helper's end does not
 * depend on the signal).
 */
const FAULT_SIGNALS = ["KILL", "TERM", "INT", "HUP"] as const;
const NET_FAULT_SIGNALS = ["KILL", "TERM"] as const;

const NETS: ReadonlyArray<readonly string[]> = [
  [],
  ...(hasProgram("pasta") ? [["--net=pasta"]] : []),
  ...(hasProgram("slirp4netns") ? [["--net=slirp4netns"]] : []),
];

// Other programs of the test user (benchmarks, other test runs) may run sandboxes meanwhile: these runs get a
// runtime directory and a TMPDIR of their own, and their processes are told apart by a variable in their
// environment (nsbox passes it on to the helpers it starts) or the marker in their command line.
const RT = privateRuntime("nsbox-faults");
const TMPDIR = RT.tmp;
const STORE = RT.store;
const ENV = RT.env;

/**
 * Processes whose command line has `marker` or names this file's store, or whose environment has
 * NSBOX_FAULT_CASE=`marker`.
 */
function processesOf(marker: string): string[] {
  // pasta's environment cannot be read (it makes itself undumpable): its command line names its log file in the
  // sandbox's record directory, under this file's runtime directory (cases run one after another).
  return userProcesses()
    .filter((p) =>
      p.cmd.includes(marker) || p.env.split("\0").includes(`NSBOX_FAULT_CASE=${marker}`) || p.cmd.includes(`${STORE}/`)
    )
    .map((p) => `${p.pid} ${p.cmd}`);
}

/**
 * `nsbox run FLAGS -- sh -c SCRIPT` with NSBOX_FAULT set; resolves with how nsbox ended. Its output is not
 * read: a process it leaves would hold a pipe open (that is what the checks after it look for).
 */
async function runWithFault(
  fault: string,
  marker: string,
  flags: readonly string[],
  script: string,
): Promise<Deno.CommandStatus> {
  const [cmd, args] = nsboxCommand(["run", ...flags, "--", "sh", "-c", script]);
  const child = new Deno.Command(cmd, {
    args,
    env: { ...ENV, NSBOX_FAULT: fault, NSBOX_FAULT_CASE: marker },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // ended meanwhile
    }
  }, 20_000);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the sandbox with the fault, then checks that nothing is left. */
async function faultCase(step: string, signal: string, flags: readonly string[]) {
  const marker = `nsbox-fault-${step}-${signal}-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const store = entries(STORE), mounts = mountinfo();
  // A command that would outlive the test unless nsbox's death ends it; after-exit needs one that ends.
  // `wait` (not a foreground sleep): nsbox forwards a signal to the command as kill(1) would, not to its process
  // group as a terminal's Ctrl-C does, and a shell waiting for a foreground child acts on SIGINT only once that child
  // ends; in `wait` it dies of it at once.
  const script = step === "after-exit" ? `: ${marker}` : `sleep 30 & sleep 30 & : ${marker}; wait`;
  const r = await runWithFault(`${step}:${signal}`, marker, flags, script);
  const what = `${step}:${signal} ${flags.join(" ")}`;
  // How nsbox ends (README, "Signals and faults"): SIGKILL kills it. SIGTERM, SIGINT and SIGHUP kill it too until it
  // forwards the sandbox's signals (from the release on); after that it passes the signal to the command, which dies
  // of it here, and nsbox exits with the command's status, 128+N. Either way its caller sees 128+N.
  if (signal === "KILL") assert.equal(r.signal, "SIGKILL", `${what}: nsbox was killed (${r.code})`);
  else {
    assert.ok(
      r.signal === `SIG${signal}` || r.code === 128 + SIGNALS[`SIG${signal}`]!,
      `${what}: ${r.code} ${r.signal}`,
    );
  }
  // With a PID namespace the sandbox dies with its PID 1, the helpers with nsbox. Without one (--share pid)
  // and without a cgroup, what the command left is ended by the next nsbox that finds its record stale.
  if (!flags.includes("pid")) {
    await waitUntil(() => processesOf(marker).length === 0, `${what}: nothing of it running`, 5000);
  }
  assert.deepEqual([...entries(TMPDIR)], [], `${what}: no temporary file left`);
  assert.equal(mountinfo(), mounts, `${what}: no new mount on the host`);
  const left = added(entries(STORE), store);
  assert.ok(left.length <= 1, `${what}: at most one record left (${left})`);
  const ps = await nsbox(["ps"], { env: ENV });
  assert.equal(ps.code, 0, ps.stderr);
  assert.deepEqual(added(entries(STORE), store), [], `${what}: nsbox ps removed the stale record`);
  await waitUntil(() => processesOf(marker).length === 0, `${what}: nothing of it running`, 5000)
    .catch((e) => {
      throw new Error(`${e.message}: ${processesOf(marker).join("; ")}`);
    });
}

for (const step of FAULT_STEPS) {
  for (const flags of NETS) {
    Deno.test(`faults: nsbox killed ${step} ${flags.join(" ") || "without --net"} leaves nothing`, async () => {
      for (const signal of flags.length ? NET_FAULT_SIGNALS : FAULT_SIGNALS) await faultCase(step, signal, flags);
    });
  }
  Deno.test(`faults: nsbox killed ${step} with --share pid leaves nothing`, async () => {
    for (const signal of FAULT_SIGNALS) await faultCase(step, signal, ["--share", "pid"]);
  });
}

Deno.test("faults: NSBOX_FAULT names a step; an unknown one is ignored and the run is whole", async () => {
  const r = await nsbox(["run", "--", "sh", "-c", "echo ran"], { env: { ...ENV, NSBOX_FAULT: "no-such-step" } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "ran\n");
});

Deno.test({
  name: "faults: (clean up the test's directories)",
  fn() {
    RT[Symbol.dispose]();
  },
});
