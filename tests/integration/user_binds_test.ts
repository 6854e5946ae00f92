/**
 * `--user UID[:GID]` (`-u`), `exec --user`, `exec -d`, `--bind-try`/`--ro-bind-try`, `--dev-bind`, and
 * `--proc=host` in a sandbox whose /proc is masked (nested nsbox).
 */
import { assert } from "./_assert.ts";
import {
  killAndRemove,
  lines,
  nsbox,
  nsboxCommand,
  pidsMatching,
  probe,
  sandboxSh,
  tempDir,
  waitUntil,
} from "./_harness.ts";

const ZERO_CAPS = "0000000000000000";

function uniqueName(prefix: string): string {
  return `${prefix}-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
}

/** The first entry of the host's /etc/passwd that is not root: [name, uid, gid]. */
function someUser(): [string, number, number] {
  for (const line of lines(Deno.readTextFileSync("/etc/passwd"))) {
    const f = line.split(":");
    if (f.length >= 7 && f[2] !== "0" && /^[a-z_][a-z0-9_-]*$/.test(f[0]!)) return [f[0]!, Number(f[2]), Number(f[3])];
  }
  throw new Error("precondition: /etc/passwd has a user besides root");
}

// ------------------------------------------------------------------ run --user

Deno.test("run --user UID:GID: the command has those ids, no capabilities; its files are the caller's on the host", async () => {
  await using dir = await tempDir();
  const r = await sandboxSh(`id -u; id -g; touch ${dir.path}/f; stat -c %u:%g ${dir.path}/f`, [
    "--user",
    "1234:5678",
    "--bind",
    dir.path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), ["1234", "5678", "1234:5678"]);
  const st = Deno.statSync(`${dir.path}/f`);
  assert.equal(st.uid, Deno.uid());
  assert.equal(st.gid, Deno.gid());
  const p = await probe(["-u", "1234:5678"]);
  assert.deepEqual([p.uid, p.euid, p.gid, p.egid], [1234, 1234, 5678, 5678]);
  assert.deepEqual([p.cap_prm, p.cap_eff, p.cap_bnd, p.cap_amb], [ZERO_CAPS, ZERO_CAPS, ZERO_CAPS, ZERO_CAPS]);
  assert.equal(p.no_new_privs, 1);
});

Deno.test("run --user 0 is --root (its capabilities); a name comes from /etc/passwd with its group", async () => {
  const [zero, root] = await Promise.all([probe(["--user", "0"]), probe(["--root"])]);
  assert.deepEqual([zero.uid, zero.gid], [0, 0]);
  assert.notEqual(zero.cap_eff, ZERO_CAPS);
  assert.equal(zero.cap_eff, root.cap_eff);
  assert.equal(zero.cap_bnd, root.cap_bnd);
  const [name, uid, gid] = someUser();
  const r = await sandboxSh("id -u; id -g", ["--user", name]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [String(uid), String(gid)]);
});

Deno.test("run --user: bad values and --root with --user are one line each, 125", async () => {
  const [big, unknown, both] = await Promise.all([
    nsbox(["run", "--user", "4294967295", "--", "true"]),
    nsbox(["run", "-u", "no-such-user-here", "--", "true"]),
    nsbox(["run", "--user", "0", "--root", "--", "true"]),
  ]);
  assert.equal(big.code, 125);
  assert.equal(
    big.stderr,
    "nsbox: --user: expected UID[:GID], numbers from 0 to 4294967294 or names, got '4294967295'.\n",
  );
  assert.equal(unknown.code, 125);
  assert.equal(
    unknown.stderr,
    "nsbox: --user: no user 'no-such-user-here' in /etc/passwd: give a number (e.g. --user 1000).\n",
  );
  assert.equal(both.code, 125);
  assert.equal(
    both.stderr,
    "nsbox: --user: cannot be used with --root (--user 0 is uid 0 with --root's capabilities).\n",
  );
});

Deno.test("run --user with --map-users: the caller at UID, the subordinate range around it", async () => {
  const r = await sandboxSh("id -u; cat /proc/self/uid_map", ["--user", "1234", "--map-users"]);
  assert.equal(r.code, 0, r.stderr);
  const [uid, ...map] = lines(r.stdout);
  assert.equal(uid, "1234");
  assert.deepEqual(map.map((l) => l.trim().split(/\s+/)[0]).sort(), ["0", "1234", "1235"]);
});

// ------------------------------------------------------------------ exec --user, exec -d

Deno.test("exec --user runs as another mapped uid/gid, without capabilities; an unmapped one is refused (125)", async () => {
  const mapped = uniqueName("xu-m"), plain = uniqueName("xu-p");
  const [a, b] = await Promise.all([
    nsbox(["run", "-d", "--name", mapped, "--map-users", "--root", "--", "sleep", "60"]),
    nsbox(["run", "-d", "--name", plain, "--", "sleep", "60"]),
  ]);
  try {
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const r = await nsbox([
      "exec",
      "--user",
      "5:6",
      mapped,
      "--",
      "sh",
      "-c",
      "id -u; id -g; grep CapEff /proc/self/status",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ["5", "6", `CapEff:\t${ZERO_CAPS}`]);
    // without --user: still the sandbox's root, with its capabilities
    const root = await nsbox(["exec", mapped, "--", "sh", "-c", "id -u; grep CapEff /proc/self/status"]);
    assert.equal(root.code, 0, root.stderr);
    assert.equal(lines(root.stdout)[0], "0");
    assert.notEqual(lines(root.stdout)[1], `CapEff:\t${ZERO_CAPS}`);
    const own = await nsbox(["exec", "-u", String(Deno.uid()), plain, "--", "id", "-u"]);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout.trim(), String(Deno.uid()));
    const refused = await nsbox(["exec", "--user", "5", plain, "--", "id"]);
    assert.equal(refused.code, 125);
    assert.equal(
      refused.stderr,
      `nsbox: --user: uid 5 is not mapped in the sandbox '${plain}' (it maps ${Deno.uid()}; ` +
        "a sandbox started with --map-users maps more).\n",
    );
  } finally {
    await killAndRemove(mapped, plain);
  }
});

Deno.test("exec -d starts the command and returns at once, printing nothing; output discarded", async () => {
  const name = uniqueName("xd");
  const r0 = await nsbox(["run", "-d", "--name", name, "--", "sleep", "60"]);
  assert.equal(r0.code, 0, r0.stderr);
  try {
    const started = performance.now();
    const r = await nsbox([
      "exec",
      "-d",
      name,
      "--",
      "sh",
      "-c",
      "echo out; echo err >&2; sleep 3.21; echo done > /tmp/mark",
    ]);
    const took = performance.now() - started;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "");
    assert.ok(took < 3000, `exec -d took ${took} ms: it waited for the command`);
    // it runs on after nsbox returned, then ends
    const check = await nsbox(["exec", name, "--", "sh", "-c", "test -e /tmp/mark && echo early || echo not-yet"]);
    assert.equal(check.stdout.trim(), "not-yet");
    let mark = "";
    for (let i = 0; i < 100 && mark !== "done"; i++) {
      mark = (await nsbox(["exec", name, "--", "sh", "-c", "cat /tmp/mark 2>/dev/null || true"])).stdout.trim();
      if (mark !== "done") await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(mark, "done");
    // its supervisor is gone once the command has ended
    await waitUntil(() => pidsMatching("sleep 3.21").length === 0, "the detached command to end");
  } finally {
    await killAndRemove(name);
  }
});

Deno.test("exec -d: a command that cannot be started fails before it returns (127, 126), as do unknown sandboxes (125)", async () => {
  const name = uniqueName("xdf");
  const r0 = await nsbox(["run", "-d", "--name", name, "--", "sleep", "60"]);
  assert.equal(r0.code, 0, r0.stderr);
  try {
    const [missing, dir, user, json] = await Promise.all([
      nsbox(["exec", "-d", name, "--", "no-such-command-here"]),
      nsbox(["exec", "--detach", name, "--", "/etc"]),
      nsbox(["exec", "-d", "-u", "5", name, "--", "true"]),
      nsbox(["exec", "-d", "--json", name, "--", "true"]),
    ]);
    assert.equal(json.code, 125);
    assert.equal(json.stderr, "nsbox: --json: cannot be used with --detach (there is no end to report).\n");
    assert.equal(missing.code, 127);
    assert.equal(missing.stderr, "nsbox: no-such-command-here: command not found\n");
    assert.equal(missing.stdout, "");
    assert.equal(dir.code, 126);
    assert.equal(dir.stderr, "nsbox: /etc: is a directory\n");
    assert.equal(user.code, 125);
    assert.match(user.stderr, /^nsbox: --user: uid 5 is not mapped in the sandbox /);
  } finally {
    await killAndRemove(name);
  }
  const none = await nsbox(["exec", "-d", uniqueName("none"), "--", "true"]);
  assert.equal(none.code, 125);
  assert.match(none.stderr, /^nsbox: no sandbox named '/);
  assert.equal(lines(none.stderr).length, 1);
});

// ------------------------------------------------------------------ --bind-try, --ro-bind-try, --dev-bind

Deno.test("--bind-try and --ro-bind-try skip a missing source silently and bind one that exists", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/f`, "x\n");
  const r = await sandboxSh(`cat ${dir.path}/f; ls /mnt; echo y > ${dir.path}/f || echo read-only`, [
    "--bind-try",
    `${dir.path}/missing:/mnt`,
    "--ro-bind-try",
    dir.path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Read-only file system/);
  assert.equal(lines(r.stdout).at(0), "x");
  assert.equal(lines(r.stdout).at(-1), "read-only");
  assert.ok(!r.stdout.includes("missing"));
  const strict = await nsbox(["run", "--bind", `${dir.path}/missing:/mnt`, "--", "true"]);
  assert.equal(strict.code, 125);
});

Deno.test("--dev-bind keeps a device node usable where --bind makes it unusable (nodev)", async () => {
  const r = await sandboxSh(
    "head -c 4 /tmp/dev | od -An -tx1; head -c 4 /tmp/plain 2>&1 >/dev/null | grep -c 'Permission denied'",
    ["--dev-bind", "/dev/zero:/tmp/dev", "--bind", "/dev/zero:/tmp/plain"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout).map((l) => l.trim()), ["00 00 00 00", "1"]);
  const file = await nsbox(["run", "--dev-bind", "/etc/hostname", "--", "true"]);
  assert.equal(file.code, 125);
  assert.equal(
    file.stderr,
    "nsbox: --dev-bind: '/etc/hostname' is neither a device node nor a directory (use --bind for a plain file).\n",
  );
});

// ------------------------------------------------------------------ --proc=host, nested

Deno.test("nested nsbox: a fresh /proc is refused under the outer sandbox's masks, saying why; --proc=host works", async () => {
  const [cmd, args] = nsboxCommand(["run", "--", "true"]);
  const refused = await nsbox(["run", "--allow-userns", "--", cmd, ...args], { timeoutMs: 60_000 });
  assert.equal(refused.code, 125, refused.stderr);
  const [first, hint, ...rest] = lines(refused.stderr);
  assert.equal(first, "nsbox: cannot mount proc on /proc: Operation not permitted");
  assert.deepEqual(rest, []);
  for (const fix of ["systempaths=unconfined", "unmask=ALL", "procMount: Unmasked", "--proc=host"]) {
    assert.ok(hint?.includes(fix), `${fix} not in ${hint}`);
  }
  const [cmd2, args2] = nsboxCommand([
    "run",
    "--proc=host",
    "--",
    "sh",
    "-c",
    "echo $$; test -r /proc/1/stat && echo ok",
  ]);
  const works = await nsbox(["run", "--allow-userns", "--", cmd2, ...args2], { timeoutMs: 60_000 });
  assert.equal(works.code, 0, works.stderr);
  const [pid, ok] = lines(works.stdout);
  // the outer sandbox's PID namespace is shared: the shell is not PID 1 or 2 there
  assert.ok(Number(pid) > 2, works.stdout);
  assert.equal(ok, "ok");
});

Deno.test("doctor in a sandbox with masked /proc mentions --proc=host", async () => {
  const [cmd, args] = nsboxCommand(["doctor", "--json"]);
  const r = await nsbox(["run", "--allow-userns", "--", cmd, ...args], { timeoutMs: 60_000 });
  const container = (JSON.parse(r.stdout) as { checks: { name: string; hint?: string }[] }).checks
    .find((c) => c.name === "container");
  assert.ok(container?.hint?.includes("--proc=host"), r.stdout);
});
