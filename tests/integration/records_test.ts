// The records under stress (issue #13): a store nsbox cannot write into (read-only, or a full disk) is refused before
// anything starts; a detached sandbox whose log can no longer be written runs on with its output dropped and a note
// in `nsbox ps`; readers of the store tolerate records being written and removed under them.
//
// Every test has a runtime directory of its own (XDG_RUNTIME_DIR), so that what it finds there is its own. The full
// disk is a real one: a small tmpfs, mounted in a user and mount namespace of the test's own (util-linux unshare),
// in which nsbox runs as the test user again (a second user namespace maps the uid back).
import assert from "node:assert/strict";
import { hasProgram, nsbox, nsboxCommand, ROOT, shellQuote, waitUntil } from "./_harness.ts";

/** A runtime directory of the test's own, with `env` for nsbox; removed at the end of the scope. */
function runtimeDir(): Disposable & { path: string; store: string; env: Record<string, string> } {
  const path = Deno.makeTempDirSync({ prefix: "nsbox-records-rt-" });
  return {
    path,
    store: `${path}/nsbox`,
    env: { XDG_RUNTIME_DIR: path },
    [Symbol.dispose]() {
      for (const dir of [path, `${path}/nsbox`]) {
        try {
          Deno.chmodSync(dir, 0o700);
        } catch {
          // not there
        }
      }
      Deno.removeSync(path, { recursive: true });
    },
  };
}

const STORE_ERROR = /^nsbox: cannot write nsbox's records in (\S+): (.+)$/m;

/** Checks `r` is the one-line refusal of a store nsbox cannot write, with its hint: 125, nothing on stdout. */
function assertStoreRefused(r: { code: number; stdout: string; stderr: string }, dir: string, reason: string) {
  assert.equal(r.code, 125, r.stderr);
  assert.equal(r.stdout, "", "the command never ran");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, r.stderr);
  assert.equal(lines[0], `nsbox: cannot write nsbox's records in ${dir}: ${reason}`);
  assert.match(lines[1]!, /^nsbox: hint: .*XDG_RUNTIME_DIR/);
}

Deno.test("records: a read-only store is refused with 125 and a hint before anything starts", async () => {
  using rt = runtimeDir();
  // NSBOX_FAULT=after-clone (the test build's seam) would kill nsbox had it reached the clone: a 125 means it did not.
  const env = { ...rt.env, NSBOX_FAULT: "after-clone" };
  // the runtime directory itself read-only: the store cannot be made
  Deno.chmodSync(rt.path, 0o500);
  assertStoreRefused(await nsbox(["run", "--", "echo", "ran"], { env }), rt.store, "Permission denied");
  Deno.chmodSync(rt.path, 0o700);
  // the store read-only (its key made before): no sandbox can be recorded, foreground or detached
  assert.equal((await nsbox(["run", "--", "true"], { env: rt.env })).code, 0);
  const before = [...Deno.readDirSync(rt.store)].map((e) => e.name);
  assert.deepEqual(before, [".key"]);
  Deno.chmodSync(rt.store, 0o500);
  assertStoreRefused(await nsbox(["run", "--", "echo", "ran"], { env }), rt.store, "Permission denied");
  assertStoreRefused(
    await nsbox(["run", "-d", "--name", "ro", "--", "echo", "ran"], { env }),
    rt.store,
    "Permission denied",
  );
  assert.deepEqual([...Deno.readDirSync(rt.store)].map((e) => e.name), [".key"], "nothing recorded");
  // reading a read-only store is fine
  const ps = await nsbox(["ps", "--json"], { env: rt.env });
  assert.equal(ps.code, 0, ps.stderr);
  assert.deepEqual(JSON.parse(ps.stdout), []);
});

/** Whether this host lets the test user mount a tmpfs in namespaces of its own (unprivileged user namespaces). */
const CAN_MOUNT_TMPFS = hasProgram("unshare") &&
  new Deno.Command("unshare", {
    args: ["-Urm", "sh", "-c", "mount -t tmpfs none /mnt"],
    stdout: "null",
    stderr: "null",
  })
    .outputSync().success;

/**
 * Runs `script` (sh) as the test user in a mount namespace of its own where `$D` (a new directory, the runtime
 * directory of the nsbox it runs) is a tmpfs of `size`; `nsbox ARGS` is a shell function there. Its output.
 */
async function inSmallTmpfs(size: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const d = Deno.makeTempDirSync({ prefix: "nsbox-records-full-" });
  try {
    const [deno, args] = nsboxCommand([]);
    const inner = `export XDG_RUNTIME_DIR="$D"; nsbox() { ${[deno, ...args].map(shellQuote).join(" ")} "$@"; }\n` +
      script;
    const outer = `mount -t tmpfs -o size=${size},mode=0700 nsbox-test-full "$D" && ` +
      `exec unshare -U --map-user=${Deno.uid()} --map-group=${Deno.gid()} sh -c "$INNER"`;
    const out = await new Deno.Command("unshare", {
      args: ["-Urm", "sh", "-c", outer],
      env: { D: d, INNER: inner },
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
}

Deno.test({
  name: "records: a full disk where records live is refused with 125 and a hint before anything starts",
  ignore: !CAN_MOUNT_TMPFS,
  async fn() {
    // A working run first (the store and its key made), then the tmpfs filled to the last block.
    const r = await inSmallTmpfs(
      "256k",
      `nsbox run -- echo first; echo "rc=$?"
      dd if=/dev/zero of="$D/fill" bs=4k 2>/dev/null
      echo ---
      NSBOX_FAULT=after-clone nsbox run -- echo ran; echo "rc=$?"
      echo ---
      NSBOX_FAULT=after-clone nsbox run -d --name full -- echo ran; echo "rc=$?"
      echo ---
      ls -A "$D/nsbox"`,
    );
    assert.equal(r.code, 0, r.stderr);
    const [first, fg, bg, left] = r.stdout.split("---\n");
    assert.equal(first, "first\nrc=0\n");
    // NSBOX_FAULT=after-clone would have killed nsbox (no rc line of 125) had it reached the clone.
    assert.equal(fg, "rc=125\n");
    assert.equal(bg, "rc=125\n");
    assert.equal(left, ".key\n", "nothing recorded");
    const refusals = r.stderr.split("\n").filter((l) => STORE_ERROR.test(l));
    assert.equal(refusals.length, 2, r.stderr);
    for (const line of refusals) assert.match(line, /: No space left on device$/);
    assert.equal(r.stderr.split("\n").filter((l) => /^nsbox: hint: .*XDG_RUNTIME_DIR/.test(l)).length, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /os error|\.ts:\d+|internal error/);
  },
});

/** A command that prints numbered lines for ever, about 6 KB a second. */
const CHATTY = [
  "sh",
  "-c",
  'i=0; while :; do i=$((i+1)); echo "line $i ....................................."; sleep 0.01; done',
];

/** The highest line number in `text`, or 0. */
const lastLine = (text: string) => Math.max(0, ...[...text.matchAll(/^line (\d+) /gm)].map((m) => Number(m[1])));

type PsRow = { name: string; status: string; pid: number | null; notes: string[] };

async function psJson(env: Record<string, string>, all = false): Promise<PsRow[]> {
  const r = await nsbox(["ps", "--json", ...(all ? ["--all"] : [])], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test("records: a detached sandbox whose log cannot be rotated runs on, its output dropped, with a note in ps", async () => {
  using rt = runtimeDir();
  const name = "chatty";
  const start = await nsbox(["run", "-d", "--name", name, "--log-size", "4k", "--", ...CHATTY], { env: rt.env });
  assert.equal(start.code, 0, start.stderr);
  const record = `${rt.store}/${name}`;
  try {
    await waitUntil(() => lastLine(Deno.readTextFileSync(`${record}/log`)) > 100, "the log rotated a few times");
    assert.deepEqual((await psJson(rt.env))[0]?.notes, [], "no note while all is written");
    // The record directory made read-only from the host: the log cannot be rotated, so it cannot grow either.
    Deno.chmodSync(record, 0o500);
    let rows: PsRow[] = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      rows = await psJson(rt.env);
      if (rows[0]?.notes.length) break;
    }
    assert.deepEqual(rows.map((r) => [r.name, r.status, r.notes]), [
      [name, "running", ["log: output dropped (Permission denied)"]],
    ]);
    const table = await nsbox(["ps"], { env: rt.env });
    assert.match(table.stdout, /NOTES\n/);
    assert.match(table.stdout, new RegExp(`^${name} .*  log: output dropped \\(Permission denied\\)$`, "m"));
    assert.ok(Deno.statSync(`${record}/log`).size <= 4096, "the log stays within --log-size");
    // It ran on: once the directory is writable again its output is written again, later lines than before.
    const before = lastLine(Deno.readTextFileSync(`${record}/log`));
    Deno.chmodSync(record, 0o700);
    await waitUntil(() => lastLine(Deno.readTextFileSync(`${record}/log`)) > before + 50, "output written again");
    assert.deepEqual((await psJson(rt.env))[0]?.notes, ["log: output dropped (Permission denied)"], "the note stays");
  } finally {
    Deno.chmodSync(record, 0o700);
    await nsbox(["kill", name], { env: rt.env });
  }
  // ended: the note is in ps --all too, until nsbox rm
  const ended = await psJson(rt.env, true);
  assert.deepEqual(ended.map((r) => [r.name, r.notes]), [[name, ["log: output dropped (Permission denied)"]]]);
  assert.equal((await nsbox(["rm", name], { env: rt.env })).code, 0);
});

Deno.test("records: a detached sandbox's removed log is made anew, nothing dropped", async () => {
  using rt = runtimeDir();
  const name = "relog";
  const start = await nsbox(["run", "-d", "--name", name, "--", ...CHATTY], { env: rt.env });
  assert.equal(start.code, 0, start.stderr);
  const log = `${rt.store}/${name}/log`;
  try {
    await waitUntil(() => lastLine(Deno.readTextFileSync(log)) > 10, "some output");
    Deno.removeSync(log);
    await waitUntil(() => {
      try {
        return lastLine(Deno.readTextFileSync(log)) > 0;
      } catch {
        return false;
      }
    }, "a new log with later output");
    const logs = await nsbox(["logs", name], { env: rt.env });
    assert.match(logs.stdout, /^line \d+ /, "nsbox logs reads the new log");
    assert.deepEqual((await psJson(rt.env))[0]?.notes, []);
  } finally {
    await nsbox(["kill", name], { env: rt.env });
    await nsbox(["rm", name], { env: rt.env });
  }
});

Deno.test({
  name: "records: a detached sandbox on a disk that fills up runs on, its output dropped, with a note in ps",
  ignore: !CAN_MOUNT_TMPFS,
  async fn() {
    const r = await inSmallTmpfs(
      "512k",
      `nsbox run -d --name spill --log-size 64k -- ${CHATTY.slice(0, 2).join(" ")} '${CHATTY[2]}' >/dev/null || exit 1
      sleep 1
      dd if=/dev/zero of="$D/fill" bs=4k 2>/dev/null
      i=0; while [ $i -lt 100 ] && ! nsbox ps --json | grep -q dropped; do sleep 0.1; i=$((i+1)); done
      nsbox ps --json; echo ---
      nsbox ps; echo ---
      rm "$D/fill"
      nsbox kill spill && nsbox rm spill && echo removed`,
    );
    assert.equal(r.code, 0, r.stderr);
    const [json, table, end] = r.stdout.split("---\n");
    const rows = JSON.parse(json!) as PsRow[];
    assert.deepEqual(rows.map((x) => [x.name, x.status, x.notes]), [
      ["spill", "running", ["log: output dropped (No space left on device)"]],
    ]);
    assert.match(table!, /^spill .* {2}log: output dropped \(No space left on device\)$/m);
    assert.equal(end, "removed\n");
  },
});

Deno.test("records: ps --json always parses while sandboxes are started and stopped", async () => {
  using rt = runtimeDir();
  let running = true;
  let seen = 0, calls = 0;
  const problems: string[] = [];
  // Readers: ps --json and ps --all --json, in a loop each, while the records below come and go.
  const reader = async (args: string[]) => {
    while (running) {
      const r = await nsbox(["ps", ...args], { env: rt.env });
      calls++;
      if (r.code !== 0 || r.stderr !== "") problems.push(`${args}: ${r.code} ${r.stderr}`);
      try {
        const rows = JSON.parse(r.stdout) as PsRow[];
        if (!Array.isArray(rows)) problems.push(`${args}: not a list: ${r.stdout}`);
        seen = Math.max(seen, rows.length);
      } catch (e) {
        problems.push(`${args}: ${(e as Error).message}: ${JSON.stringify(r.stdout)}`);
      }
    }
  };
  const readers = [reader(["--json"]), reader(["--all", "--json"]), reader(["--json"])];
  try {
    for (let round = 0; round < 3; round++) {
      const names = [0, 1, 2].map((i) => `h${round}-${i}`);
      const started = await Promise.all(
        names.map((n) => nsbox(["run", "-d", "--name", n, "--", "sh", "-c", "echo up; sleep 30"], { env: rt.env })),
      );
      for (const s of started) assert.equal(s.code, 0, s.stderr);
      const killed = await Promise.all(names.map((n) => nsbox(["kill", n], { env: rt.env })));
      for (const k of killed) assert.equal(k.code, 0, k.stderr);
      const rm = await nsbox(["rm", ...names], { env: rt.env });
      assert.equal(rm.code, 0, rm.stderr);
    }
  } finally {
    running = false;
    await Promise.all(readers);
  }
  assert.deepEqual(problems, []);
  assert.ok(calls >= 10, `ps ran ${calls} times`);
  assert.ok(seen >= 1, "ps saw sandboxes while they ran");
  assert.deepEqual([...Deno.readDirSync(rt.store)].map((e) => e.name), [".key"], "nothing left");
});
