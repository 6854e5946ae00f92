// `nsbox gc`: removes stale records, ending first what their sandbox left running, on authenticated records
// and processes checked on their own terms only.
import assert from "node:assert/strict";
import { isRunning as running, nsbox, nsboxCommand, privateRuntime, waitUntil } from "./_harness.ts";
import { processStart, type SandboxState, Store } from "../../src/state/store.ts";

const runtime = () => privateRuntime("nsbox-gc");

function sleeper(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
}

Deno.test("gc: a --share pid sandbox whose nsbox was killed: gc ends what it left and removes its record", async () => {
  using rt = runtime();
  const name = `gc-${Deno.pid}`;
  const [cmd, args] = nsboxCommand([
    "run",
    "--name",
    name,
    "--share",
    "pid",
    "--",
    "sh",
    "-c",
    "sleep 60 & exec sleep 61",
  ]);
  const child = new Deno.Command(cmd, { args, env: rt.env, stdout: "null", stderr: "null" }).spawn();
  const store = new Store(rt.store);
  let state: SandboxState | null = null;
  await waitUntil(() => (state = store.dir(name).state())?.commandNsPid != null, "the sandbox's record");
  const s = state as unknown as SandboxState;
  const left = s.commandNsPid!; // the host's PID namespace: the command's pid inside is its pid
  await waitUntil(() => running(left), "its command");
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  await waitUntil(() => !running(s.pid), "its PID 1 to die with nsbox");
  assert.ok(running(left), "without a PID namespace the command outlives nsbox (until a clean-up)");

  const r = await nsbox(["gc", "--json"], { env: rt.env });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Array<{ name: string; ended: string[] }>;
  assert.equal(out.length, 1, r.stdout);
  assert.equal(out[0]!.name, name);
  assert.ok(out[0]!.ended.includes(`sleep (pid ${left})`), r.stdout);
  assert.equal(out[0]!.ended.length, 2, `both sleeps: ${r.stdout}`);
  await waitUntil(() => !running(left), "what it left to be ended");
  assert.ok(!Deno.readDirSync(rt.store).some((e) => e.name === name), "its record is removed");

  const again = await nsbox(["gc"], { env: rt.env });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, "", "nothing left to do");
});

Deno.test("gc: says what it did, one line each", async () => {
  using rt = runtime();
  const store = new Store(rt.store);
  store.key.get(true);
  const name = `gc-text-${Deno.pid}`;
  Deno.mkdirSync(`${rt.store}/${name}`, { mode: 0o700 });
  await store.dir(name).write(staleState(name, []));
  const r = await nsbox(["gc"], { env: rt.env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `removed the stale record of '${name}'\n`);
});

/** An authenticated record of a sandbox whose PID 1 is gone, listing `helpers`, with namespaces of no sandbox. */
function staleState(name: string, helpers: SandboxState["helpers"]): SandboxState {
  return {
    version: 1,
    name,
    pid: 999_999_999, // no such process
    pidStart: 1,
    supervisorPid: 999_999_999,
    supervisorStart: 1,
    commandNsPid: 2,
    namespaces: {},
    cgroup: null,
    unit: null,
    detached: false,
    started: new Date().toISOString(),
    spec: { command: ["true"], share: [] } as unknown as SandboxState["spec"],
    helpers,
  };
}

Deno.test("gc: a recorded helper is ended only when the process at its pid is that very one", async () => {
  using rt = runtime();
  const store = new Store(rt.store);
  store.key.get(true);
  const other = sleeper(), helper = sleeper();
  try {
    const start = (pid: number) => processStart(pid)!;
    const name = `gc-helpers-${Deno.pid}`;
    Deno.mkdirSync(`${rt.store}/${name}`, { mode: 0o700 });
    await store.dir(name).write(staleState(name, [
      { pid: other.pid, start: start(other.pid) + 1, comm: "sleep" }, // its pid, another process (start time)
      { pid: helper.pid, start: start(helper.pid), comm: "pasta" }, // the right start time, another name
    ]));
    const r = await nsbox(["gc", "--json"], { env: rt.env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [{ name, ended: [] }]);
    assert.ok(running(other.pid) && running(helper.pid), "neither is signalled");

    const name2 = `gc-helper-${Deno.pid}`;
    Deno.mkdirSync(`${rt.store}/${name2}`, { mode: 0o700 });
    await store.dir(name2).write(staleState(name2, [{ pid: helper.pid, start: start(helper.pid), comm: "sleep" }]));
    const r2 = await nsbox(["gc", "--json"], { env: rt.env });
    assert.deepEqual(JSON.parse(r2.stdout), [{ name: name2, ended: [`sleep (pid ${helper.pid})`] }]);
    assert.equal((await helper.status).signal, "SIGKILL");
    assert.ok(running(other.pid));
  } finally {
    for (const p of [other, helper]) {
      try {
        p.kill("SIGKILL");
      } catch {
        // ended
      }
      await p.status;
    }
  }
});

Deno.test("gc: a record that fails authentication is neither followed nor removed", async () => {
  using rt = runtime();
  const store = new Store(rt.store);
  store.key.get(true);
  const victim = sleeper();
  try {
    const name = `gc-forged-${Deno.pid}`;
    Deno.mkdirSync(`${rt.store}/${name}`, { mode: 0o700 });
    const forged = staleState(name, [{ pid: victim.pid, start: processStart(victim.pid)!, comm: "sleep" }]);
    Deno.writeTextFileSync(`${rt.store}/${name}/state.json`, JSON.stringify({ ...forged, mac: "00".repeat(32) }));
    const r = await nsbox(["gc", "--json"], { env: rt.env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
    assert.match(r.stderr, new RegExp(`ignoring the record of '${name}': it fails authentication`));
    assert.ok(running(victim.pid), "the process it names is not signalled");
    assert.ok(Deno.statSync(`${rt.store}/${name}/state.json`).isFile, "the record stays (nsbox rm removes it)");
  } finally {
    victim.kill("SIGKILL");
    await victim.status;
  }
});

Deno.test("gc: --help, and a bad argument is refused with 125", async () => {
  const help = await nsbox(["gc", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: nsbox gc \[--json\]$/m);
  const bad = await nsbox(["gc", "extra"]);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, "nsbox: gc: takes no arguments, got 'extra'.\n");
  const flag = await nsbox(["gc", "--nope"]);
  assert.equal(flag.code, 125);
  assert.match(flag.stderr, /--nope/);
});

Deno.test("gc: a recorded helper in the sandbox's outer user namespace (the publish relay) is ended, in another not", async () => {
  using rt = runtime();
  const store = new Store(rt.store);
  store.key.get(true);
  // a process in a user namespace of its own, a child of ours: as the relay is in the sandbox's outer one
  const relay = new Deno.Command("unshare", { args: ["--user", "sleep", "60"], stdout: "null", stderr: "null" })
    .spawn();
  try {
    const ns = () => Deno.readLinkSync(`/proc/${relay.pid}/ns/user`);
    await waitUntil(() => ns() !== Deno.readLinkSync("/proc/self/ns/user") && running(relay.pid), "unshare");
    await waitUntil(() => Deno.readTextFileSync(`/proc/${relay.pid}/comm`).trim() === "sleep", "its exec");
    const inode = Number(/\[(\d+)\]/.exec(ns())![1]);
    const helper = { pid: relay.pid, start: processStart(relay.pid)!, comm: "sleep" };
    const name = `gc-relay-other-${Deno.pid}`;
    Deno.mkdirSync(`${rt.store}/${name}`, { mode: 0o700 });
    // a record whose sandbox had another outer user namespace: not its helper
    await store.dir(name).write({ ...staleState(name, [helper]), namespaces: { user: inode + 1 } });
    const r = await nsbox(["gc", "--json"], { env: rt.env });
    assert.deepEqual(JSON.parse(r.stdout), [{ name, ended: [] }], r.stderr);
    assert.ok(running(relay.pid), "not signalled");

    const name2 = `gc-relay-${Deno.pid}`;
    Deno.mkdirSync(`${rt.store}/${name2}`, { mode: 0o700 });
    await store.dir(name2).write({ ...staleState(name2, [helper]), namespaces: { user: inode } });
    const r2 = await nsbox(["gc", "--json"], { env: rt.env });
    assert.deepEqual(JSON.parse(r2.stdout), [{ name: name2, ended: [`sleep (pid ${relay.pid})`] }], r2.stderr);
    assert.equal((await relay.status).signal, "SIGKILL");
  } finally {
    try {
      relay.kill("SIGKILL");
    } catch {
      // ended
    }
    await relay.status;
  }
});
