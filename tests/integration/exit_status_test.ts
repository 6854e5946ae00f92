/**
 * `nsbox run` exit statuses: the command's own, 128+N for a signal, 126 not
 * executable, 127 not found, 125 for nsbox's own errors; stdio passes through.
 */
import { assert } from "./_assert.ts";
import { addedRecords, dirEntries, lines, nsbox, sandboxSh, storeRoot, tempDir } from "./_harness.ts";

Deno.test("run: the command's exit code passes through (0, 1, 42, 255)", async () => {
  await Promise.all([0, 1, 42, 255].map(async (code) => {
    for (const flags of [[], ["--as-pid-1"]]) {
      const r = await sandboxSh(`exit ${code}`, flags);
      assert.equal(r.code, code, `exit ${code} ${flags}: ${r.stderr}`);
      assert.equal(r.stderr, "");
    }
  }));
  const [t, f] = await Promise.all([nsbox(["run", "--", "true"]), nsbox(["run", "--", "false"])]);
  assert.equal(t.code, 0);
  assert.equal(f.code, 1);
});

Deno.test("run: a command that is not executable exits 126 with a message naming it", async () => {
  await using dir = await tempDir();
  const [passwd, directory] = await Promise.all([
    nsbox(["run", "--", "/etc/passwd"]),
    nsbox(["run", "--", "/usr"]),
  ]);
  for (const [r, name] of [[passwd, "/etc/passwd"], [directory, "/usr"]] as const) {
    assert.equal(r.code, 126, r.stderr);
    assert.equal(r.stdout, "");
    const ls = lines(r.stderr);
    assert.equal(ls.length, 1, r.stderr);
    assert.match(ls[0]!, /^nsbox: /);
    assert.ok(ls[0]!.includes(name), ls[0]);
  }
  // a non-executable file found on PATH is 126 too
  Deno.writeTextFileSync(`${dir.path}/noexec`, "#!/bin/sh\necho ran\n", { mode: 0o644 });
  const onPath = await nsbox([
    "run",
    "--ro-bind",
    dir.path,
    "--setenv",
    `PATH=${dir.path}:/usr/bin:/bin`,
    "--",
    "noexec",
  ]);
  assert.equal(onPath.code, 126, onPath.stderr);
  assert.equal(onPath.stdout, "");
});

Deno.test("run: a command that is not found exits 127 with 'nsbox: NAME: command not found'", async () => {
  const [bare, path, pid1] = await Promise.all([
    nsbox(["run", "--", "nsbox-no-such-command"]),
    nsbox(["run", "--", "/nonexistent/nsbox-no-such-command"]),
    nsbox(["run", "--as-pid-1", "--", "nsbox-no-such-command"]),
  ]);
  assert.deepEqual([bare.code, bare.stdout, bare.stderr], [
    127,
    "",
    "nsbox: nsbox-no-such-command: command not found\n",
  ]);
  assert.deepEqual([path.code, path.stderr], [127, "nsbox: /nonexistent/nsbox-no-such-command: command not found\n"]);
  assert.deepEqual([pid1.code, pid1.stderr], [127, "nsbox: nsbox-no-such-command: command not found\n"]);
});

Deno.test("run: a directory as the command exits 126 with 'nsbox: PATH: is a directory'", async () => {
  const [dir, pid1, file] = await Promise.all([
    nsbox(["run", "--", "/tmp"]),
    nsbox(["run", "--as-pid-1", "--", "/etc/"]),
    nsbox(["run", "--", "/etc/passwd"]), // a file that is not executable: still "permission denied"
  ]);
  assert.deepEqual([dir.code, dir.stderr], [126, "nsbox: /tmp: is a directory\n"]);
  assert.deepEqual([pid1.code, pid1.stderr], [126, "nsbox: /etc/: is a directory\n"]);
  assert.deepEqual([file.code, file.stderr], [126, "nsbox: cannot execute /etc/passwd: Permission denied\n"]);
});

Deno.test("run: the command is looked up in the sandbox's PATH", async () => {
  const [found, notFound] = await Promise.all([
    nsbox(["run", "--setenv", "PATH=/usr/bin:/bin", "--", "true"]),
    nsbox(["run", "--setenv", "PATH=/nonexistent", "--", "true"]),
  ]);
  assert.equal(found.code, 0, found.stderr);
  assert.equal(notFound.code, 127, notFound.stderr);
  assert.equal(notFound.stderr, "nsbox: true: command not found\n");
});

Deno.test("run: a command killed by a signal exits 128+N", async () => {
  const [kill9, term, int] = await Promise.all([
    sandboxSh("kill -9 $$"),
    sandboxSh("kill -TERM $$"),
    sandboxSh("kill -INT $$"),
  ]);
  assert.equal(kill9.code, 137, kill9.stderr);
  assert.equal(kill9.signal, null, "nsbox itself must exit, not die of the signal");
  assert.equal(term.code, 143, term.stderr);
  assert.equal(int.code, 130, int.stderr);
});

Deno.test("run: a set-up step that fails exits 125 in the op's words, as lines and as --json, and leaves no record", async () => {
  // The native supervisor takes over at the release and says this, from TypeScript's templates: quotes,
  // backslashes, braces and control characters in the words must come out as TypeScript would print them.
  const dir = '/nonexistent/a "quoted" \\ {brace}\tdir';
  const message = `cannot change directory to ${dir}: No such file or directory`;
  const before = dirEntries(storeRoot());
  const [plain, json, pid1] = await Promise.all([
    nsbox(["run", "-w", dir, "--", "sh", "-c", "echo ran"]),
    nsbox(["run", "--json", "-w", dir, "--", "sh", "-c", "echo ran"]),
    nsbox(["run", "--as-pid-1", "--json", "-w", dir, "--", "true"]),
  ]);
  assert.deepEqual([plain.code, plain.stdout, plain.stderr], [125, "", `nsbox: ${message}\n`]);
  const report = { exit_code: 125, error: { message, problems: [message], errno: "ENOENT" } };
  for (const r of [json, pid1]) {
    assert.deepEqual([r.code, r.stdout], [125, ""], r.stderr);
    assert.equal(r.stderr, `${JSON.stringify(report)}\n`);
  }
  assert.deepEqual(addedRecords(dirEntries(storeRoot()), before), []);
});

Deno.test("run: a command that is not found, with --json, is one JSON line naming it", async () => {
  const r = await nsbox(["run", "--json", "--", "nsbox-no-such-command"]);
  const message = "nsbox-no-such-command: command not found";
  assert.deepEqual([r.code, r.stdout], [127, ""]);
  assert.equal(r.stderr, `${JSON.stringify({ exit_code: 127, error: { message, problems: [message] } })}\n`);
});

Deno.test("run: a bad flag exits 125 without running the command", async () => {
  const r = await nsbox(["run", "--no-such-flag", "--", "sh", "-c", "echo ran"]);
  assert.equal(r.code, 125);
  assert.equal(r.stdout, "");
});

Deno.test("run: stdin, stdout and stderr pass through", async () => {
  const r = await sandboxSh("cat; echo to-stderr >&2", [], { stdin: "line 1\nline 2\n" });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, "line 1\nline 2\n");
  assert.equal(r.stderr, "to-stderr\n");
});
