// Lifecycle: --name, --detach, ps, exec, kill, logs, rm, stale records.
import assert from "node:assert/strict";
import { exists, lines, nsbox, nsboxCommand, shellQuote, startNsbox, storeRoot, waitUntil } from "./_harness.ts";
import { type Handoff, writeHandoff } from "../../src/cli/detached_supervisor.ts";
import { getLibc } from "../../ffi/libc.ts";

function uniqueName(prefix: string): string {
  return `${prefix}-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
}

interface PsRow {
  name: string;
  pid: number | null;
  command: string[];
  status: string;
  detached: boolean;
  net: string;
}

async function ps(all = false): Promise<PsRow[]> {
  const r = await nsbox(["ps", "--json", ...(all ? ["--all"] : [])]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Starts a detached sandbox running `script`; returns its name. */
async function detached(name: string, script: string, flags: string[] = []): Promise<string> {
  const r = await nsbox(["run", "-d", "--name", name, ...flags, "--", "sh", "-c", script]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), name);
  return name;
}

Deno.test("lifecycle: a detached sandbox is listed, joined by exec, logged, and ended by kill", async () => {
  const name = await detached(uniqueName("web"), "echo started; echo in-tmp > /tmp/marker; exec sleep 1000", [
    "--hostname",
    "webbox",
  ]);
  const dir = `${storeRoot()}/${name}`;
  try {
    const rows = await ps();
    const row = rows.find((r) => r.name === name);
    assert.ok(row, `ps lists ${name}: ${JSON.stringify(rows)}`);
    assert.deepEqual(row.command, ["sh", "-c", "echo started; echo in-tmp > /tmp/marker; exec sleep 1000"]);
    assert.equal(row.status, "running");
    assert.equal(row.detached, true);
    const table = await nsbox(["ps"]);
    assert.match(table.stdout, /^NAME\s+PID\s+COMMAND\s+UPTIME\s+MEMORY\s+NET$/m);
    assert.match(table.stdout, new RegExp(`^${name}\\s+${row.pid}\\s+sh -c`, "m"));
    assert.equal((Deno.statSync(dir).mode ?? 0) & 0o777, 0o700, "the record is private");

    await waitUntil(() => {
      try {
        return Deno.readTextFileSync(`${dir}/log`).includes("started");
      } catch {
        return false;
      }
    }, "the log");
    // ps alone: a concurrent exec would be among what it lists
    const procs = await nsbox(["exec", name, "--", "ps", "-e", "-o", "comm="]);
    const [host, tmp, logs] = await Promise.all([
      nsbox(["exec", name, "--", "hostname"]),
      nsbox(["exec", name, "--", "cat", "/tmp/marker"]),
      nsbox(["logs", name]),
    ]);
    assert.equal(procs.code, 0, procs.stderr);
    // the sandbox's processes only: its init, its command, and what exec started
    assert.deepEqual(lines(procs.stdout).sort(), ["nsbox-init", "ps", "sleep"].sort());
    assert.equal(host.stdout.trim(), "webbox");
    assert.equal(tmp.stdout.trim(), "in-tmp", "exec sees the sandbox's private /tmp");
    assert.equal(logs.stdout, "started\n");

    const k = await nsbox(["kill", name]);
    assert.equal(k.code, 0, k.stderr);
    assert.equal((await ps()).some((r) => r.name === name), false, "ps no longer lists it");
    assert.equal(exists(`${dir}/state.json`), false, "its state is gone");
    const ended = (await ps(true)).find((r) => r.name === name);
    assert.equal(ended?.status, "exited 143", "sleep killed by SIGTERM");
    const after = await nsbox(["logs", name]);
    assert.equal(after.stdout, "started\n", "the log outlives it until rm");
    const rm = await nsbox(["rm", name]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(exists(dir), false, "rm removes the record and the log");
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
});

Deno.test("lifecycle: a foreground sandbox with --name is listed while it runs and removed when it ends", async () => {
  const name = uniqueName("fg");
  const run = startNsbox(["run", "--name", name, "--", "sh", "-c", "echo up; sleep 30"]);
  try {
    await run.waitForStdout("up");
    const row = (await ps()).find((r) => r.name === name);
    assert.ok(row);
    assert.equal(row.detached, false);
    const again = await nsbox(["run", "--name", name, "--", "true"]);
    assert.equal(again.code, 125);
    assert.match(
      again.stderr,
      new RegExp(`^nsbox: --name: a sandbox named '${name}' is running already \\(see nsbox ps\\)$`, "m"),
    );
    const k = await nsbox(["kill", "--timeout", "5", name]);
    assert.equal(k.code, 0, k.stderr);
    const done = await run.finish();
    assert.equal(done.code, 143);
    assert.equal(exists(`${storeRoot()}/${name}`), false, "nothing left in the store");
  } finally {
    await run[Symbol.asyncDispose]();
  }
});

Deno.test("lifecycle: exec passes the exit status through and forwards signals", async () => {
  const name = await detached(uniqueName("st"), "exec sleep 1000");
  try {
    const [seven, killed, missing] = await Promise.all([
      nsbox(["exec", name, "--", "sh", "-c", "exit 7"]),
      nsbox(["exec", name, "--", "sh", "-c", "kill -9 $$"]),
      nsbox(["exec", name, "--", "no-such-program"]),
    ]);
    assert.equal(seven.code, 7);
    assert.equal(killed.code, 137);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /^nsbox: no-such-program: command not found$/m);

    const marker = `exec-trap-${Deno.pid}`;
    const run = startNsbox([
      "exec",
      name,
      "--",
      "sh",
      "-c",
      `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done; : ${marker}`,
    ]);
    await run.waitForStdout("ready");
    run.kill("SIGTERM");
    const r = await run.finish();
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "ready\ngot TERM\n");
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
});

Deno.test("lifecycle: exec runs as the sandbox's user, in its environment and working directory", async () => {
  const name = await detached(uniqueName("env"), "exec sleep 1000", [
    "--root",
    "--setenv",
    "FROM_RUN=yes",
    "--chdir",
    "/tmp",
  ]);
  try {
    const r = await nsbox([
      "exec",
      "--setenv",
      "FROM_EXEC=1",
      name,
      "--",
      "sh",
      "-c",
      "id -u; pwd; echo $FROM_RUN$FROM_EXEC",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ["0", "/tmp", "yes1"]);
    const root = await nsbox(["exec", "--root", name, "--", "true"]);
    assert.equal(root.code, 0, root.stderr);
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
  const plain = await detached(uniqueName("usr"), "exec sleep 1000");
  try {
    const r = await nsbox(["exec", plain, "--", "sh", "-c", "id -u; grep CapEff /proc/self/status"]);
    assert.deepEqual(lines(r.stdout), [String(Deno.uid()), "CapEff:\t0000000000000000"]);
    const root = await nsbox(["exec", "--root", plain, "--", "true"]);
    assert.equal(root.code, 125);
    assert.match(
      root.stderr,
      new RegExp(`^nsbox: --root: the sandbox '${plain}' was not started with --root\\.$`, "m"),
    );
  } finally {
    await nsbox(["kill", "-s", "KILL", plain]);
    await nsbox(["rm", plain]);
  }
});

Deno.test("lifecycle: a stale record (supervisor and PID 1 killed with SIGKILL) is cleaned by ps", async () => {
  const name = await detached(uniqueName("stale"), "exec sleep 1000");
  const dir = `${storeRoot()}/${name}`;
  const state = JSON.parse(Deno.readTextFileSync(`${dir}/state.json`));
  Deno.kill(state.supervisorPid, "SIGKILL");
  Deno.kill(state.pid, "SIGKILL");
  await waitUntil(() => !exists(`/proc/${state.pid}`) && !exists(`/proc/${state.supervisorPid}`), "both to be gone");
  assert.ok(exists(`${dir}/state.json`), "the record is still there");
  const rows = await ps(true);
  assert.equal(rows.some((r) => r.name === name), false);
  assert.equal(exists(dir), false, "ps removed the stale record");
});

Deno.test("lifecycle: kill --all, and unknown names", async () => {
  const a = await detached(uniqueName("a"), "exec sleep 1000");
  const b = await detached(uniqueName("b"), "trap '' TERM; while :; do sleep 0.1; done");
  try {
    const k = await nsbox(["kill", "--all", "--timeout", "1"]);
    assert.equal(k.code, 0, k.stderr);
    assert.deepEqual((await ps()).filter((r) => r.name === a || r.name === b), []);
    const ended = await ps(true);
    assert.equal(ended.find((r) => r.name === a)?.status, "exited 143");
    assert.equal(ended.find((r) => r.name === b)?.status, "exited 137", "TERM ignored: KILL after the timeout");
  } finally {
    await nsbox(["rm", a, b]);
  }
  for (const args of [["exec", "no-such-box", "--", "true"], ["kill", "no-such-box"], ["logs", "no-such-box"]]) {
    const r = await nsbox(args);
    assert.equal(r.code, 125, `${args}: ${r.stderr}`);
    assert.match(r.stderr, /^nsbox: no sandbox named 'no-such-box' \(see nsbox ps(?: --all)?\)\.?$/m, `${args}`);
  }
  const bad = await nsbox(["run", "--name", "-bad name", "--", "true"]);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^nsbox: --name: expected 1 to 63 ASCII letters/m);
  const sig = await nsbox(["kill", "-s", "NOPE", "x"]);
  assert.equal(sig.code, 125);
  assert.match(
    sig.stderr,
    /^nsbox: --signal: expected a signal name such as TERM or KILL, or a number, got 'NOPE'\.$/m,
  );
});

Deno.test("lifecycle: a detached sandbox that cannot start reports why and leaves nothing", async () => {
  const name = uniqueName("fail");
  const r = await nsbox(["run", "-d", "--name", name, "--", "no-such-program"]);
  assert.equal(r.code, 127, r.stderr);
  assert.match(r.stderr, /^nsbox: no-such-program: command not found$/m);
  assert.equal(r.stdout, "");
  assert.equal(exists(`${storeRoot()}/${name}`), false);
});

Deno.test("lifecycle: NSBOX_DETACHED_NAME in the caller's environment is the user's own: a normal run", async () => {
  const r = await nsbox(["run", "--", "echo", "hi"], { env: { NSBOX_DETACHED_NAME: "x" } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "hi\n");
  assert.equal(r.stderr, "");
  const env = await nsbox(["run", "--", "printenv", "NSBOX_DETACHED_NAME"], { env: { NSBOX_DETACHED_NAME: "x" } });
  assert.equal(env.code, 0, env.stderr);
  assert.equal(env.stdout, "x\n"); // passed on like any other variable
});

const SUPERVISOR_LINE = /^nsbox: __detached-supervisor: expected a descriptor holding a detached sandbox's handoff/;

Deno.test("lifecycle: the hidden supervisor command refuses a descriptor without a handoff (125, one line)", async () => {
  using dir = { path: Deno.makeTempDirSync(), [Symbol.dispose]: () => Deno.removeSync(dir.path, { recursive: true }) };
  Deno.writeTextFileSync(`${dir.path}/h`, '{"name":"x"}');
  const [cmd, args] = nsboxCommand(["__detached-supervisor", "3"]);
  const viaFd3 = (open: string) => ["sh", "-c", `${open} exec ${[cmd, ...args].map(shellQuote).join(" ")}`];
  const cases: string[][] = [
    ["__detached-supervisor"],
    ["__detached-supervisor", "x"],
    ["__detached-supervisor", "0"], // /dev/null
    ["__detached-supervisor", "99"], // not open
    ["__detached-supervisor", "3", "4"],
  ];
  for (const argv of cases) {
    const r = await nsbox(argv);
    assert.equal(r.code, 125, `${argv.join(" ")}: ${r.stderr}`);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, SUPERVISOR_LINE);
  }
  // A regular file with a handoff's text in it is not a sealed memfd.
  const file = viaFd3(`exec 3<${shellQuote(`${dir.path}/h`)};`);
  const r = await new Deno.Command(file[0]!, { args: file.slice(1), stdin: "null" }).output();
  assert.equal(r.code, 125);
  const stderr = new TextDecoder().decode(r.stderr);
  assert.equal(lines(stderr).length, 1, stderr);
  assert.match(stderr, SUPERVISOR_LINE);
  // Not listed.
  const help = await nsbox(["--help"]);
  assert.doesNotMatch(help.stdout, /__detached/);
  const completions = await nsbox(["completions", "bash"]);
  assert.doesNotMatch(completions.stdout, /__detached/);
});

Deno.test("lifecycle: a malformed handoff in a sealed memfd is one line and an exit record (125)", async () => {
  const name = uniqueName("handoff");
  const path = `${storeRoot()}/${name}`;
  assert.equal((await nsbox(["run", "--name", name, "--", "true"])).code, 0); // the store and its key exist
  Deno.mkdirSync(path, { mode: 0o700 }); // as claimed by the parent
  const bad = { name, log: { path: `${path}/log`, cap: 65536 }, spec: { command: [] } } as unknown as Handoff;
  const fd = writeHandoff(bad);
  try {
    const [cmd, args] = nsboxCommand(["__detached-supervisor", "3"]);
    const line = `exec 3</proc/${Deno.pid}/fd/${fd}; exec ${[cmd, ...args].map(shellQuote).join(" ")}`;
    const r = await new Deno.Command("sh", { args: ["-c", line], stdin: "null" }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 125, stderr);
    assert.equal(lines(stderr).length, 1, stderr);
    assert.match(stderr, SUPERVISOR_LINE);
    assert.equal(exists(`${path}/exit.json`), true);
    const row = (await ps(true)).find((s) => s.name === name);
    assert.equal(row?.status, "exited 125");
  } finally {
    getLibc().close(fd);
    await nsbox(["rm", name]);
  }
});

Deno.test("lifecycle: a short detached command prints only its name; output in the log, status in ps --all", async () => {
  const cases: Array<[script: string[], out: string, status: string]> = [
    [["true"], "", "exited 0"],
    [["echo", "hello"], "hello\n", "exited 0"],
    [["sh", "-c", "echo bye >&2; exit 3"], "bye\n", "exited 3"],
  ];
  await Promise.all(cases.map(async ([command, out, status], i) => {
    const name = uniqueName(`short${i}`);
    const r = await nsbox(["run", "-d", "--name", name, "--", ...command]);
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${name}\n`);
      assert.equal(r.stderr, "");
      for (let tries = 0; !(await ps(true)).some((x) => x.name === name && x.status === status); tries++) {
        assert.ok(tries < 100, `${name} never showed as ${status}: ${JSON.stringify(await ps(true))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const logs = await nsbox(["logs", name]);
      assert.equal(logs.stdout, out);
    } finally {
      await nsbox(["rm", name]);
    }
  }));
});
