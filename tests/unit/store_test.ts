/**
 * The sandbox store (src/state/store.ts) and what `nsbox ps` and `rm` do
 * with it, against a temporary directory: never the caller's real store.
 * A "live" record names this test process (its pid and start time); a dead
 * one names pid 2147483647, which no process has.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { NsboxError, UsageError } from "../../src/errors.ts";
import { psTable } from "../../src/state/lifecycle.ts";
import { listSandboxes, removeSandboxes } from "../../src/state/lifecycle.ts";
import {
  generateName,
  isAlive,
  NAME_RE,
  processStart,
  SandboxDir,
  type SandboxState,
  stateRoot,
  Store,
} from "../../src/state/store.ts";
import { validate } from "../../src/spec/validate.ts";
import { hmacSha256, sha256, toHex } from "../../src/state/hmac.ts";
import { normalCgroupPath } from "../../src/state/live.ts";
import { fakeHost, runOptions } from "./_fake_host.ts";

/** Root writes into a directory whatever its mode: the read-only store cases need an unprivileged user. */
const AS_ROOT = Deno.uid() === 0;

const DEAD_PID = 2147483647;

Deno.test("NAME_RE accepts names of letters, digits, _ . and -", () => {
  for (const name of ["a", "web", "Web-1", "a.b_c-d", "0", "9lives", "x".repeat(63), "a..", "a-"]) {
    assert.ok(NAME_RE.test(name), name);
  }
});

Deno.test("NAME_RE refuses empty, long, hidden, path-like and odd names", () => {
  for (
    const name of ["", "x".repeat(64), ".", "..", ".hidden", "-x", "_x", "a/b", "/a", "a b", "a\nb", "é", "a:b", "a*"]
  ) {
    assert.ok(!NAME_RE.test(name), JSON.stringify(name));
  }
});

Deno.test("generateName() makes 8 hex digits that NAME_RE accepts", () => {
  const names = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const name = generateName();
    assert.match(name, /^[0-9a-f]{8}$/);
    assert.ok(NAME_RE.test(name));
    names.add(name);
  }
  assert.ok(names.size > 1);
});

Deno.test("processStart() reads this process's start time and null for a pid that does not exist", () => {
  const start = processStart(Deno.pid);
  assert.ok(start !== null && Number.isInteger(start) && start > 0, String(start));
  assert.equal(processStart(Deno.pid), start);
  assert.equal(processStart(DEAD_PID), null);
  assert.equal(isAlive({ pid: Deno.pid, pidStart: start }), true);
  assert.equal(isAlive({ pid: Deno.pid, pidStart: start + 1 }), false);
  assert.equal(isAlive({ pid: DEAD_PID, pidStart: start }), false);
});

const SPEC = validate(runOptions(["--mem", "100M", "sleep", "100"]), fakeHost());

function state(name: string, init: Partial<SandboxState> = {}): SandboxState {
  return {
    version: 1,
    name,
    pid: Deno.pid,
    pidStart: processStart(Deno.pid)!,
    supervisorPid: Deno.pid,
    commandNsPid: 2,
    namespaces: { user: 4026531837, pid: 4026531836 },
    cgroup: null,
    unit: null,
    detached: false,
    started: new Date(Date.now() - 90_000).toISOString(),
    spec: SPEC,
    ...init,
  };
}
const dead = (name: string, init: Partial<SandboxState> = {}) =>
  state(name, { pid: DEAD_PID, pidStart: 12345, ...init });

/** Runs `fn` with a store in a fresh temporary directory, removed afterwards. */
async function withStore(fn: (store: Store, root: string) => void | Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "nsbox-store-test-" });
  try {
    await fn(new Store(root), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const exists = (path: string) => {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

/** Makes `path`'s modification time `seconds` ago. */
const age = (path: string, seconds: number) => {
  const t = new Date(Date.now() - seconds * 1000);
  Deno.utimeSync(path, t, t);
};

Deno.test("Store.reserve() claims a name with a private directory", async () => {
  await withStore((store, root) => {
    const dir = store.reserve("web");
    assert.ok(dir instanceof SandboxDir);
    assert.equal(dir.name, "web");
    assert.equal(dir.path, `${root}/web`);
    assert.equal(dir.logFile, `${root}/web/log`);
    const st = Deno.statSync(dir.path);
    assert.ok(st.isDirectory);
    assert.equal((st.mode ?? 0) & 0o077, 0);
    assert.equal(dir.state(), null);
    assert.equal(dir.exit(), null);
  });
});

Deno.test("Store.reserve() refuses a name whose sandbox is running", async () => {
  await withStore(async (store) => {
    await store.reserve("x").write(state("x"));
    assert.throws(
      () => store.reserve("x"),
      (e: unknown) => e instanceof NsboxError && e.message.startsWith("--name: a sandbox named 'x' is running already"),
    );
    assert.throws(() => store.reserve("x", "--detach"), /^NsboxError: --detach: a sandbox named 'x' is running/);
    // the running sandbox's record is untouched
    assert.equal(store.dir("x").state()?.pid, Deno.pid);
  });
});

Deno.test("Store.reserve() refuses a name another nsbox has just reserved", async () => {
  await withStore((store) => {
    store.reserve("fresh");
    assert.throws(() => store.reserve("fresh"), /a sandbox named 'fresh' is running already/);
  });
});

Deno.test("Store.reserve() takes over a name whose sandbox is gone", async () => {
  await withStore(async (store) => {
    // PID 1 is gone
    const a = store.reserve("a");
    await a.write(dead("a"));
    Deno.writeTextFileSync(a.logFile, "old output\n");
    const again = store.reserve("a");
    assert.equal(again.state(), null);
    assert.ok(!exists(again.logFile), "the old sandbox's log is left");
    // its pid now belongs to another process
    await store.reserve("b").write(state("b", { pidStart: processStart(Deno.pid)! + 1 }));
    assert.equal(store.reserve("b").state(), null);
    // a reservation that never started, of an older nsbox (no owner recorded): after 30 s
    store.reserve("d");
    Deno.removeSync(`${store.dir("d").path}/.owner`);
    age(store.dir("d").path, 120);
    assert.ok(store.reserve("d"));
    // one whose owner is gone (killed before it wrote the record): at once
    store.reserve("e");
    Deno.writeTextFileSync(`${store.dir("e").path}/.owner`, `${DEAD_PID} 12345\n`);
    assert.ok(store.reserve("e"));
  });
});

Deno.test("Store.reserve() records its owner; a reservation whose owner runs is held however old", async () => {
  await withStore((store) => {
    const dir = store.reserve("mine");
    assert.equal(Deno.readTextFileSync(`${dir.path}/.owner`), `${Deno.pid} ${processStart(Deno.pid)}\n`);
    age(dir.path, 120);
    assert.throws(() => store.reserve("mine"), /a sandbox named 'mine' is running already/);
    assert.deepEqual(store.list(), []);
    assert.ok(exists(dir.path));
  });
});

Deno.test("isAlive(): a PID 1 that ended but was not reaped yet (a zombie) is not alive", async () => {
  // `true` ends at once; its parent execs `sleep`, which never reaps it: a zombie for as long as sleep runs
  // (a child of this process would do only while Deno's runtime has not reaped it, which it may do any time;
  // a shell may reap its background job before its `exec`, so perl (Debian's essential perl-base) forks)
  const script = '$| = 1; my $p = fork(); if (!$p) { exec "true" } print "$p\\n"; exec "sleep", "5"';
  const parent = new Deno.Command("perl", { args: ["-e", script], stdout: "piped" }).spawn();
  try {
    const reader = parent.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const pid = Number(new TextDecoder().decode(value).trim());
    let stat = "";
    for (let i = 0; i < 500 && !/\) Z /.test(stat = Deno.readTextFileSync(`/proc/${pid}/stat`)); i++) {
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.match(stat, /\) Z /, "a zombie");
    const start = processStart(pid)!;
    assert.equal(isAlive({ pid, pidStart: start }), false);
    assert.equal(isAlive({ pid: Deno.pid, pidStart: processStart(Deno.pid)! }), true);
  } finally {
    parent.kill("SIGKILL");
    await parent.status;
    await parent.stdout.cancel().catch(() => {});
  }
});

Deno.test("SandboxDir.write() replaces state.json atomically and leaves no temporary file", async () => {
  await withStore(async (store) => {
    const dir = store.reserve("w");
    const s = state("w", { detached: true });
    await dir.write(s);
    assert.deepEqual(dir.state(), s);
    await dir.write({ ...s, commandNsPid: 7 });
    assert.equal(dir.state()?.commandNsPid, 7);
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name).sort(), [".owner", "state.json"]);
    assert.equal((Deno.statSync(`${dir.path}/state.json`).mode ?? 0) & 0o077, 0);
    assert.ok(Deno.readTextFileSync(`${dir.path}/state.json`).endsWith("}\n"));
  });
});

Deno.test("SandboxDir.write() replaces a temporary file that a killed nsbox of the same pid left", async () => {
  await withStore(async (store) => {
    const dir = store.reserve("left");
    const tmp = `${dir.path}/.state.json.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(tmp, "half a record");
    const s = state("left");
    await dir.write(s);
    assert.deepEqual(dir.state(), s);
    assert.equal(exists(tmp), false);
  });
});

Deno.test("stateRoot() makes $XDG_RUNTIME_DIR/nsbox 0700 once, reuses it, and refuses one others may enter", async () => {
  const runtime = await Deno.makeTempDir({ prefix: "nsbox-runtime-test-" });
  const saved = Deno.env.get("XDG_RUNTIME_DIR");
  try {
    Deno.env.set("XDG_RUNTIME_DIR", runtime);
    assert.equal(stateRoot(), `${runtime}/nsbox`);
    assert.equal(Deno.statSync(`${runtime}/nsbox`).mode! & 0o777, 0o700);
    Deno.writeTextFileSync(`${runtime}/nsbox/kept`, "");
    assert.equal(stateRoot(), `${runtime}/nsbox`); // there already: used as it is
    assert.ok(exists(`${runtime}/nsbox/kept`));
    Deno.chmodSync(`${runtime}/nsbox`, 0o755);
    assert.throws(() => stateRoot(), (e) => e instanceof NsboxError && /not a private directory/.test(e.message));
  } finally {
    if (saved === undefined) Deno.env.delete("XDG_RUNTIME_DIR");
    else Deno.env.set("XDG_RUNTIME_DIR", saved);
    await Deno.remove(runtime, { recursive: true });
  }
});

Deno.test("SandboxDir.state() is null for a missing or unreadable record", async () => {
  await withStore((store) => {
    const dir = store.reserve("bad");
    assert.equal(dir.state(), null);
    Deno.writeTextFileSync(`${dir.path}/state.json`, "{ not json");
    assert.deepEqual(stderrOf(() => assert.equal(dir.state(), null)), [badLine("bad")]);
  });
});

Deno.test("SandboxDir.writeExit() records the exit, drops state.json and keeps the log", async () => {
  await withStore(async (store) => {
    const dir = store.reserve("d");
    await dir.write(state("d", { detached: true }));
    Deno.writeTextFileSync(dir.logFile, "hello\n");
    const before = Date.now();
    await dir.writeExit(3);
    assert.equal(dir.state(), null);
    assert.ok(!exists(`${dir.path}/state.json`));
    assert.equal(Deno.readTextFileSync(dir.logFile), "hello\n");
    const exit = dir.exit();
    assert.equal(exit?.exitCode, 3);
    assert.ok(Date.parse(exit!.ended) >= before - 1000);
    // twice is harmless
    await dir.writeExit(4);
    assert.equal(dir.exit()?.exitCode, 4);
  });
});

Deno.test("SandboxDir.remove() removes everything and tolerates a missing directory", async () => {
  await withStore(async (store) => {
    const dir = store.reserve("r");
    await dir.write(state("r"));
    Deno.writeTextFileSync(dir.logFile, "x");
    dir.remove();
    assert.ok(!exists(dir.path));
    dir.remove();
  });
});

Deno.test("Store.list() returns running sandboxes by name and removes stale records", async () => {
  await withStore(async (store, root) => {
    await store.reserve("zeta").write(state("zeta"));
    await store.reserve("alpha").write(state("alpha"));
    await store.reserve("stale").write(dead("stale"));
    await store.reserve("reused").write(state("reused", { pidStart: processStart(Deno.pid)! + 1 }));
    const list = store.list();
    assert.deepEqual(list.map((x) => x.dir.name), ["alpha", "zeta"]);
    assert.ok(list.every((x) => x.state?.pid === Deno.pid));
    assert.ok(!exists(`${root}/stale`));
    assert.ok(!exists(`${root}/reused`));
  });
});

Deno.test("Store.list() lists ended detached sandboxes only when asked", async () => {
  await withStore(async (store, root) => {
    await store.reserve("run").write(state("run"));
    const ended = store.reserve("ended");
    await ended.write(state("ended", { detached: true }));
    await ended.writeExit(1);
    assert.deepEqual(store.list().map((x) => x.dir.name), ["run"]);
    const all = store.list({ includeEnded: true });
    assert.deepEqual(all.map((x) => [x.dir.name, x.state === null]), [["ended", true], ["run", false]]);
    assert.ok(exists(`${root}/ended/exit.json`), "an ended sandbox's record was removed");
  });
});

Deno.test("Store.list() keeps a fresh reservation, drops an old one and ignores foreign entries", async () => {
  await withStore((store, root) => {
    store.reserve("fresh");
    store.reserve("old");
    Deno.removeSync(`${root}/old/.owner`); // an older nsbox's: the age decides
    age(`${root}/old`, 120);
    store.reserve("orphan");
    Deno.writeTextFileSync(`${root}/orphan/.owner`, `${DEAD_PID} 12345\n`); // its nsbox is gone
    Deno.mkdirSync(`${root}/.hidden`);
    Deno.mkdirSync(`${root}/-dash`);
    Deno.writeTextFileSync(`${root}/file`, "x");
    assert.deepEqual(store.list({ includeEnded: true }), []);
    assert.ok(exists(`${root}/fresh`));
    assert.ok(!exists(`${root}/old`));
    assert.ok(!exists(`${root}/orphan`));
    for (const e of [".hidden", "-dash", "file"]) assert.ok(exists(`${root}/${e}`), e);
  });
});

Deno.test("Store.list() of a missing root is empty", () => {
  assert.deepEqual(new Store("/nonexistent/nsbox-store-test").list(), []);
});

Deno.test("Store.find() returns a running sandbox and names a missing one", async () => {
  await withStore(async (store) => {
    await store.reserve("web").write(state("web"));
    await store.reserve("gone").write(dead("gone"));
    assert.equal(store.find("web").state.name, "web");
    assert.throws(() => store.find("gone"), /^NsboxError: no sandbox named 'gone' \(see nsbox ps\)$/);
    assert.throws(() => store.find("nope"), /no sandbox named 'nope'/);
  });
});

Deno.test("listSandboxes() describes running and ended sandboxes", async () => {
  await withStore(async (store) => {
    await store.reserve("web").write(state("web", { detached: true }));
    const ended = store.reserve("old");
    await ended.write(state("old", { detached: true }));
    await ended.writeExit(7);
    const [web, ...rest] = listSandboxes({ store });
    assert.equal(rest.length, 0);
    assert.equal(web?.name, "web");
    assert.equal(web?.pid, Deno.pid);
    assert.deepEqual(web?.command, ["sleep", "100"]);
    assert.equal(web?.memoryMax, 104857600);
    assert.equal(web?.net, "none");
    assert.equal(web?.status, "running");
    assert.ok(web!.uptimeSeconds! >= 89 && web!.uptimeSeconds! <= 120, String(web?.uptimeSeconds));
    const all = listSandboxes({ store, all: true });
    assert.deepEqual(all.map((x) => [x.name, x.status, x.pid]), [["old", "exited 7", null], [
      "web",
      "running",
      Deno.pid,
    ]]);
  });
});

Deno.test("removeSandboxes() removes ended sandboxes and refuses running and unknown ones", async () => {
  await withStore(async (store, root) => {
    await store.reserve("run").write(state("run"));
    for (const name of ["e1", "e2"]) {
      const d = store.reserve(name);
      await d.write(state(name, { detached: true }));
      Deno.writeTextFileSync(d.logFile, "log\n");
      await d.writeExit(0);
    }
    assert.throws(
      () => removeSandboxes(["e1", "run", "nope"], store),
      (e: unknown) =>
        e instanceof UsageError && e.problems.length === 2 &&
        e.problems[0] === "the sandbox 'run' is running: stop it first (nsbox kill run)." &&
        e.problems[1] === "no sandbox named 'nope' (see nsbox ps --all).",
    );
    assert.ok(exists(`${root}/e1`), "removed something although it refused");
    assert.deepEqual(removeSandboxes(["e1"], store), ["e1"]);
    assert.ok(!exists(`${root}/e1`));
    assert.deepEqual(removeSandboxes("all", store), ["e2"]);
    assert.ok(!exists(`${root}/e2`));
    assert.ok(exists(`${root}/run/state.json`));
    assert.deepEqual(removeSandboxes("all", store), []);
  });
});

// --- Authentication of records (issue #9) ---

/** Runs `fn` collecting what it writes with console.error. */
function stderrOf(fn: () => void): string[] {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    fn();
  } finally {
    console.error = orig;
  }
  return lines;
}

const mode = (path: string) => (Deno.statSync(path).mode ?? 0) & 0o777;
const badLine = (name: string) =>
  `nsbox: ignoring the record of '${name}': it fails authentication (written by something other than nsbox?)`;

Deno.test("sha256() and hmacSha256() match RFC 4231 and node:crypto", () => {
  const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
  const text = (s: string) => new TextEncoder().encode(s);
  // RFC 4231 test cases 1, 2 and 6 (a key longer than the block)
  assert.equal(
    toHex(hmacSha256(new Uint8Array(20).fill(0x0b), text("Hi There"))),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  );
  assert.equal(
    toHex(hmacSha256(text("Jefe"), text("what do ya want for nothing?"))),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  assert.equal(
    toHex(hmacSha256(new Uint8Array(131).fill(0xaa), text("Test Using Larger Than Block-Size Key - Hash Key First"))),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  );
  assert.deepEqual(sha256(new Uint8Array(0)), hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  for (let n = 0; n < 200; n++) {
    const data = crypto.getRandomValues(new Uint8Array((n * 37) % 700));
    const key = crypto.getRandomValues(new Uint8Array(n % 100));
    assert.equal(toHex(sha256(data)), createHash("sha256").update(data).digest("hex"), `sha256 of ${data.length}`);
    assert.equal(toHex(hmacSha256(key, data)), createHmac("sha256", key).update(data).digest("hex"), `hmac ${n}`);
  }
});

Deno.test("records round-trip authenticated, 0600, with a 0600 key of 32 bytes", async () => {
  await withStore(async (store, root) => {
    const dir = store.reserve("good");
    const s = state("good", { detached: true, spec: { ...SPEC, env: { DEPLOY_TOKEN: "secret", "1": "x" } } });
    await dir.write(s);
    assert.deepEqual(dir.readState(), { kind: "ok", value: s });
    assert.equal(typeof JSON.parse(Deno.readTextFileSync(`${dir.path}/state.json`)).mac, "string");
    assert.equal(mode(`${dir.path}/state.json`), 0o600);
    assert.equal(mode(`${root}/.key`), 0o600);
    assert.equal(Deno.readFileSync(`${root}/.key`).length, 32);
    await dir.writeExit(5);
    assert.equal(mode(`${dir.path}/exit.json`), 0o600);
    assert.equal(dir.readExit().kind, "ok");
    assert.equal(dir.exit()?.exitCode, 5);
    // another store on the same root (another nsbox) verifies them with the same key
    assert.equal(new Store(root).dir("good").exit()?.exitCode, 5);
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name).sort(), [".owner", "exit.json"]);
  });
});

/** Rewrites `file` of `dir` through `edit`, keeping its mac (what a sandbox that can write the store could do). */
function tamper(dir: SandboxDir, file: string, edit: (record: Record<string, unknown>) => void) {
  const path = `${dir.path}/${file}`;
  const record = JSON.parse(Deno.readTextFileSync(path));
  edit(record);
  Deno.writeTextFileSync(path, JSON.stringify(record, null, 2) + "\n");
}

Deno.test("a tampered state.json is ignored and reported once, never running, kept until nsbox rm NAME", async () => {
  await withStore(async (store, root) => {
    const dir = store.reserve("evil");
    await dir.write(state("evil"));
    await store.reserve("ok").write(state("ok"));
    tamper(dir, "state.json", (r) => (r.spec as { share: string[] }).share = ["net", "pid", "ipc", "uts"]);
    const err = stderrOf(() => {
      assert.equal(dir.readState().kind, "bad");
      assert.equal(dir.state(), null);
      assert.deepEqual(store.list().map((x) => x.dir.name), ["ok"]);
      assert.deepEqual(store.list({ includeEnded: true }).map((x) => x.dir.name), ["ok"]);
      assert.deepEqual(listSandboxes({ store, all: true }).map((x) => x.name), ["ok"]);
      assert.throws(() => store.find("evil"), /no sandbox named 'evil'/);
      assert.throws(() => store.reserve("evil"), /^NsboxError: --name: the record of 'evil' fails authentication/);
      assert.deepEqual(removeSandboxes("all", store), []);
    });
    assert.deepEqual(err, [badLine("evil")]);
    assert.ok(exists(`${root}/evil/state.json`), "a record failing authentication was removed without being asked");
    assert.deepEqual(removeSandboxes(["evil"], store), ["evil"]);
    assert.ok(!exists(`${root}/evil`));
    assert.ok(exists(`${root}/ok/state.json`));
  });
});

Deno.test("records without a mac, with a forged one, or copied from another name fail authentication", async () => {
  await withStore(async (store) => {
    const plain = store.reserve("plain");
    Deno.writeTextFileSync(`${plain.path}/state.json`, JSON.stringify(state("plain")));
    const forged = store.reserve("forged");
    Deno.writeTextFileSync(`${forged.path}/state.json`, JSON.stringify({ ...state("forged"), mac: "0".repeat(64) }));
    const other = store.reserve("other");
    await other.write(state("other"));
    const copy = store.reserve("copy");
    Deno.copyFileSync(`${other.path}/state.json`, `${copy.path}/state.json`);
    const notJson = store.reserve("notjson");
    Deno.writeTextFileSync(`${notJson.path}/state.json`, "{ not json");
    const err = stderrOf(() => assert.deepEqual(store.list().map((x) => x.dir.name), ["other"]));
    assert.deepEqual(err.sort(), ["copy", "forged", "notjson", "plain"].map(badLine));
  });
});

Deno.test("a tampered exit.json is ignored and reported, neither ended nor removed", async () => {
  await withStore(async (store, root) => {
    const dir = store.reserve("ended");
    await dir.write(state("ended", { detached: true }));
    await dir.writeExit(0);
    tamper(dir, "exit.json", (r) => r.exitCode = 1);
    age(dir.path, 120);
    const err = stderrOf(() => {
      assert.equal(dir.readExit().kind, "bad");
      assert.equal(dir.exit(), null);
      assert.deepEqual(store.list({ includeEnded: true }), []);
      assert.deepEqual(removeSandboxes("all", store), []);
    });
    assert.deepEqual(err, [badLine("ended")]);
    assert.ok(exists(`${root}/ended/exit.json`));
    assert.deepEqual(removeSandboxes(["ended"], store), ["ended"]);
  });
});

Deno.test("without the key, records are ignored and reported; a new key does not make them valid", async () => {
  await withStore(async (store, root) => {
    await store.reserve("a").write(state("a"));
    Deno.removeSync(`${root}/.key`);
    const fresh = new Store(root);
    assert.deepEqual(stderrOf(() => assert.deepEqual(fresh.list(), [])), [badLine("a")]);
    const b = fresh.reserve("b"); // makes a new key
    await b.write(state("b"));
    assert.deepEqual(stderrOf(() => assert.deepEqual(fresh.list().map((x) => x.dir.name), ["b"])), []);
    assert.ok(exists(`${root}/a/state.json`));
  });
});

Deno.test("a key file with other modes, of the wrong size, or a symlink is an error with a hint", async () => {
  await withStore(async (store, root) => {
    await store.reserve("a").write(state("a"));
    const key = `${root}/.key`;
    const refused = (why: RegExp) =>
      assert.throws(
        () => new Store(root).list(),
        (e: unknown) =>
          e instanceof NsboxError && e.message.startsWith(`the key of nsbox's records, ${key}, is not usable: `) &&
          why.test(e.message) && /remove it/.test(e.hint ?? ""),
      );
    Deno.chmodSync(key, 0o640);
    refused(/others may read or write it/);
    Deno.chmodSync(key, 0o600);
    Deno.writeFileSync(key, new Uint8Array(16));
    refused(/expected 32 bytes/);
    Deno.removeSync(key);
    Deno.writeFileSync(`${root}/elsewhere`, new Uint8Array(32), { mode: 0o600 });
    Deno.symlinkSync(`${root}/elsewhere`, key);
    refused(/not a regular file/);
    Deno.removeSync(key);
    Deno.mkdirSync(key);
    assert.throws(() => new Store(root).reserve("b"), /is not usable: it is not a regular file/);
  });
});

Deno.test("writes of a directory land in the order asked for, even when not awaited one by one", async () => {
  await withStore(async (store) => {
    const dir = store.reserve("q");
    const first = dir.write(state("q", { detached: true }));
    const second = dir.write(state("q", { detached: true, commandNsPid: 9 }));
    const exit = dir.writeExit(2);
    await Promise.all([first, second, exit]);
    assert.equal(dir.state(), null, "a state.json landed after exit.json");
    assert.equal(dir.exit()?.exitCode, 2);
  });
});

Deno.test("normalCgroupPath() accepts only normalised paths under /sys/fs/cgroup", () => {
  for (const ok of ["/sys/fs/cgroup/user.slice/nsbox-web.scope/sandbox", "/sys/fs/cgroup/a"]) {
    assert.equal(normalCgroupPath(ok), ok);
  }
  for (
    const bad of [
      "/sys/fs/cgroup",
      "/sys/fs/cgroup/",
      "/sys/fs/cgroup/a/",
      "/sys/fs/cgroup/a/../../../home/u",
      "/sys/fs/cgroup/./a",
      "/sys/fs/cgroup//a",
      "/sys/fs/cgroupx/a",
      "/home/u/cgroup",
      "sys/fs/cgroup/a",
      "",
    ]
  ) {
    assert.equal(normalCgroupPath(bad), null, bad);
  }
});

Deno.test("Store.list() leaves a record whose PID 1 is gone to its nsbox while that still runs", async () => {
  await withStore(async (store, root) => {
    const me = processStart(Deno.pid)!;
    await store.reserve("ending").write(dead("ending", { supervisorStart: me }));
    await store.reserve("orphan").write(dead("orphan", { supervisorStart: me + 1 }));
    assert.deepEqual(store.list({ includeEnded: true }), []);
    assert.ok(exists(`${root}/ending/state.json`), "an ending sandbox's record was taken from its nsbox");
    assert.ok(!exists(`${root}/orphan`), "a record whose nsbox is gone (its pid reused) was kept");
    assert.throws(() => store.reserve("ending"), /a sandbox named 'ending' is running already/);
  });
});

Deno.test("Store.reserve() refuses the name of an ended detached sandbox until nsbox rm, keeping its log", async () => {
  await withStore(async (store) => {
    const c = store.reserve("c");
    await c.write(state("c", { detached: true }));
    Deno.writeTextFileSync(c.logFile, "its output\n");
    await c.writeExit(0);
    for (const flag of ["--name", "--detach"]) {
      assert.throws(
        () => store.reserve("c", flag),
        (e: unknown) =>
          e instanceof NsboxError && e.exitCode === 125 &&
          e.message === `${flag}: a sandbox named 'c' exists (ended); nsbox rm c first`,
      );
    }
    assert.equal(Deno.readTextFileSync(c.logFile), "its output\n");
    assert.equal(store.dir("c").exit()?.exitCode, 0);
    removeSandboxes(["c"], store);
    assert.equal(store.reserve("c").exit(), null);
  });
});

Deno.test("SandboxDir.writeExit() keeps the command, supervisor, start, ports and signal for ps --all", async () => {
  await withStore(async (store) => {
    const spec = validate(runOptions(["--net=pasta", "-p", "8080:80", "srv", "-x"]), fakeHost({ programs: ["pasta"] }));
    const dir = store.reserve("e");
    const st = state("e", { detached: true, supervisorPid: 4321, spec });
    await dir.write(st);
    await dir.writeExit(143, { signal: "SIGTERM" });
    const exit = dir.exit()!;
    assert.deepEqual(exit.command, ["srv", "-x"]);
    assert.equal(exit.supervisorPid, 4321);
    assert.equal(exit.signal, "SIGTERM");
    assert.equal(exit.started, st.started);
    assert.deepEqual(exit.publish, [{ hostIp: "127.0.0.1", hostPort: 8080, port: 80, protocol: "tcp" }]);
    // without a state record: what the writer knows
    const bare = store.reserve("f");
    await bare.writeExit(125, { command: ["nope"] });
    assert.deepEqual(bare.exit()?.command, ["nope"]);
    assert.equal(bare.exit()?.signal, null);
    assert.equal(bare.exit()?.supervisorPid, undefined);
  });
});

Deno.test("listSandboxes() gives exitCode, signal, command, supervisorPid and ports, running or ended", async () => {
  await withStore(async (store) => {
    const spec = validate(runOptions(["--net=pasta", "-p", "9000:90/udp", "srv"]), fakeHost({ programs: ["pasta"] }));
    await store.reserve("run").write(state("run", { detached: true, supervisorPid: 111, spec }));
    const ended = store.reserve("end");
    await ended.write(state("end", { detached: true, supervisorPid: 222, spec }));
    await ended.writeExit(137, { signal: "SIGKILL" });
    const rows = listSandboxes({ store, all: true });
    const end = rows.find((r) => r.name === "end")!, run = rows.find((r) => r.name === "run")!;
    const ports = [{ hostIp: "127.0.0.1", hostPort: 9000, port: 90, protocol: "udp" }];
    assert.deepEqual(
      [end.exitCode, end.signal, end.command, end.supervisorPid, end.ports, end.status],
      [137, "SIGKILL", ["srv"], 222, ports, "exited 137"],
    );
    assert.deepEqual(
      [run.exitCode, run.signal, run.command, run.supervisorPid, run.ports, run.status],
      [null, null, ["srv"], 111, ports, "running"],
    );
    // JSON-serialisable, with null (not absent) for what is not known
    const json = JSON.parse(JSON.stringify(rows));
    for (const key of ["exitCode", "signal", "supervisorPid", "ports", "command"]) assert.ok(key in json[0], key);
  });
});

/** The NsboxError `fn` throws (an assertion error when it throws none, or another kind). */
function thrown(fn: () => unknown): NsboxError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof NsboxError, String(e));
    return e;
  }
  assert.fail("no error thrown");
}

Deno.test({
  name: "a read-only store: Store.reserve() says so in one line with a hint, and leaves nothing",
  ignore: AS_ROOT,
}, async () => {
  await withStore((store, root) => {
    store.key.get(true);
    Deno.chmodSync(root, 0o500);
    try {
      const e = thrown(() => store.reserve("ro"));
      assert.equal(e.message, `cannot write nsbox's records in ${root}: Permission denied`);
      assert.equal(e.exitCode, 125);
      assert.match(e.hint!, /XDG_RUNTIME_DIR/);
      assert.doesNotMatch(e.message, /os error|\n/);
    } finally {
      Deno.chmodSync(root, 0o700);
    }
    assert.deepEqual([...Deno.readDirSync(root)].map((x) => x.name), [".key"]);
  });
});

Deno.test({
  name: "a store whose first write fails (a directory it cannot write into): the reservation is undone",
  ignore: AS_ROOT,
}, async () => {
  await withStore((store, root) => {
    // The reservation's directory is made, its first file cannot be: as a full disk would refuse it.
    const dir = store.dir("full");
    Deno.mkdirSync(dir.path, { mode: 0o500 });
    const e = thrown(() => dir.claimOwnership(true));
    assert.equal(e.message, `cannot write nsbox's records in ${root}: Permission denied`);
    assert.equal(exists(dir.path), false, "the half-made reservation is removed");
    // not strict (a detached sandbox's supervisor taking over): ignored as before
    Deno.mkdirSync(dir.path, { mode: 0o500 });
    dir.claimOwnership();
    Deno.chmodSync(dir.path, 0o700);
  });
});

Deno.test({
  name: "SandboxDir.write() into a store it cannot write is an NsboxError and leaves no temporary file",
  ignore: AS_ROOT,
}, async () => {
  await withStore(async (store, root) => {
    const dir = store.reserve("w");
    Deno.chmodSync(dir.path, 0o500);
    try {
      await assert.rejects(() => dir.write(state("w")), (e: unknown) => {
        assert.ok(e instanceof NsboxError);
        assert.equal(e.message, `cannot write nsbox's records in ${root}: Permission denied`);
        return true;
      });
    } finally {
      Deno.chmodSync(dir.path, 0o700);
    }
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((x) => x.name), [".owner"]);
  });
});

Deno.test("SandboxDir.logNote() reads the supervisor's log status: a dropped write's reason, nothing otherwise", async () => {
  await withStore(async (store) => {
    const dir = store.reserve("n");
    await dir.write(state("n", { detached: true }));
    assert.equal(dir.logNote(), null, "no status file");
    const cases: Array<[string, string | null]> = [
      ["0\n", null],
      ["28\n", "log: output dropped (No space left on device)"],
      ["5\n", "log: output dropped (Input/output error)"],
      ["13\n", "log: output dropped (Permission denied)"],
      ["4095\n", "log: output dropped (error 4095)"],
      ["\u001b[31mred\n", null], // only a number is read: no text of the file reaches the terminal
      ["28", null],
      ["", null],
    ];
    for (const [text, note] of cases) {
      Deno.writeTextFileSync(dir.logStatusFile, text);
      assert.equal(dir.logNote(), note, JSON.stringify(text));
    }
    Deno.writeTextFileSync(dir.logStatusFile, "28\n");
    const rows = listSandboxes({ store });
    assert.deepEqual(rows.map((r) => [r.name, r.notes]), [["n", ["log: output dropped (No space left on device)"]]]);
    assert.match(psTable(rows), /NOTES\n.*log: output dropped \(No space left on device\)$/);
  });
});
