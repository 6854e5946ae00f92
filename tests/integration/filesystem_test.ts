/**
 * `nsbox run` file system view: read-only /, private /tmp, minimal /dev,
 * fresh /proc and /dev/pts, `--bind`, `--ro-bind`, `--tmpfs` in command-line
 * order, `--rootfs`, `--chdir` and the default working directory.
 */
import { assert } from "./_assert.ts";
import { exists, lines, nsbox, PROBE, probe, sandboxSh, tempDir } from "./_harness.ts";

/** The checks every nsbox failure line must pass: exit 125, only "nsbox: " lines, no stack trace. */
function assertNsboxError(r: { code: number; stdout: string; stderr: string }, ...mentions: string[]) {
  assert.equal(r.code, 125, `exit status; stderr: ${r.stderr}`);
  assert.equal(r.stdout, "", "the command must not run");
  const ls = lines(r.stderr);
  assert.ok(ls.length >= 1, "no message");
  for (const l of ls) assert.match(l, /^nsbox: /, `stderr line: ${l}`);
  assert.doesNotMatch(r.stderr, /^\s+at |\.ts:\d/m, "stack trace on stderr");
  for (const m of mentions) assert.ok(ls[0]!.includes(m), `first line should name ${m}: ${ls[0]}`);
}

Deno.test("run: writing under / fails with EROFS, also for root inside", async () => {
  const [user, root, p, pRoot] = await Promise.all([
    sandboxSh("touch /nsbox-test-file; echo $?; touch /etc/nsbox-test-file"),
    sandboxSh("touch /etc/nsbox-test-file", ["--root"]),
    probe(),
    probe(["--root"]),
  ]);
  assert.equal(user.stdout, "1\n");
  assert.notEqual(user.code, 0);
  assert.match(user.stderr, /\/nsbox-test-file.*Read-only file system/);
  assert.match(user.stderr, /\/etc\/nsbox-test-file.*Read-only file system/);
  assert.notEqual(root.code, 0);
  assert.match(root.stderr, /Read-only file system/);
  assert.equal(p.root_write, "EROFS");
  assert.equal(pRoot.root_write, "EROFS");
  assert.ok(!exists("/etc/nsbox-test-file") && !exists("/nsbox-test-file"));
});

Deno.test("run: root inside cannot remount / writable", async () => {
  const home = Deno.env.get("HOME");
  const target = home && exists(home) ? home : "/usr";
  const r = await sandboxSh(
    `mount -o remount,rw,bind / 2>/dev/null; touch ${target}/nsbox-remount-proof`,
    ["--root"],
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Read-only file system/);
  assert.ok(!exists(`${target}/nsbox-remount-proof`), "the command wrote to the host's tree");
});

Deno.test("run: /tmp is an empty, writable, private tmpfs", async () => {
  await using dir = await tempDir(); // on the host's /tmp
  Deno.writeTextFileSync(`${dir.path}/host-file`, "x");
  const r = await sandboxSh(
    `ls -A /tmp | wc -l; test -e ${dir.path}/host-file && echo leaked; echo hello > /tmp/f && cat /tmp/f; ` +
      `awk '$5 == "/tmp" { print $9 }' /proc/self/mountinfo`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), ["0", "hello", "tmpfs"]);
  assert.ok(!exists("/tmp/f") || Deno.readTextFileSync("/tmp/f") !== "hello\n");
});

Deno.test("run: /dev has exactly the minimal set", async () => {
  const r = await sandboxSh("ls -A /dev");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout).sort(), [
    "fd",
    "full",
    "null",
    "ptmx",
    "pts",
    "random",
    "shm",
    "stderr",
    "stdin",
    "stdout",
    "tty",
    "urandom",
    "zero",
  ]);
});

Deno.test("run: the /dev nodes work: null, zero, full, urandom; /dev/shm is writable", async () => {
  const r = await sandboxSh(
    "echo gone > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1 | tr -d ' '; " +
      "head -c 16 /dev/urandom | wc -c; echo x > /dev/full || echo full-fails; " +
      "test -s /dev/null || echo null-empty; echo s > /dev/shm/s && cat /dev/shm/s",
  );
  assert.deepEqual(lines(r.stdout), ["null-ok", "00000000", "16", "full-fails", "null-empty", "s"], r.stderr);
});

Deno.test("run: /dev/pts is a fresh devpts instance and /dev/ptmx opens", async () => {
  const r = await sandboxSh(
    "ls -A /dev/pts; echo --; exec 3<>/dev/ptmx && ls -A /dev/pts; echo --; " +
      "awk '$5 == \"/dev/pts\" { print $9 }' /proc/self/mountinfo | tail -n 1",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), ["ptmx", "--", "0", "ptmx", "--", "devpts"]);
});

Deno.test("run: /proc is a fresh proc for the sandbox's PID namespace", async () => {
  const r = await sandboxSh("cat /proc/1/comm; ls /proc | grep -c '^[0-9]'");
  assert.equal(r.code, 0, r.stderr);
  const [comm, count] = lines(r.stdout);
  assert.equal(comm, "nsbox-init");
  assert.ok(Number(count) <= 5, `${count} processes in /proc`);
});

Deno.test("run: a file written in a --bind directory belongs to the caller on the host", async () => {
  await using dir = await tempDir();
  const r = await sandboxSh(`echo from-inside > ${dir.path}/f`, ["--bind", dir.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.readTextFileSync(`${dir.path}/f`), "from-inside\n");
  assert.equal(Deno.statSync(`${dir.path}/f`).uid, Deno.uid());
});

Deno.test("run: --ro-bind is readable and read-only", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/f`, "host\n");
  const r = await sandboxSh(`cat ${dir.path}/f; echo x > ${dir.path}/g; echo x >> ${dir.path}/f`, [
    "--ro-bind",
    dir.path,
  ]);
  assert.equal(r.stdout, "host\n");
  assert.notEqual(r.code, 0);
  assert.equal((r.stderr.match(/Read-only file system/g) ?? []).length, 2, r.stderr);
  assert.ok(!exists(`${dir.path}/g`));
  assert.equal(Deno.readTextFileSync(`${dir.path}/f`), "host\n");
});

Deno.test("run: --bind SRC:DST and --ro-bind SRC:DST mount at another path, files too", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/f`, "content\n");
  const r = await sandboxSh(
    "echo new > /tmp/a/b/new && cat /tmp/a/b/f /tmp/file && echo x > /tmp/file",
    ["--bind", `${dir.path}:/tmp/a/b`, "--ro-bind", `${dir.path}/f:/tmp/file`],
  );
  assert.equal(r.stdout, "content\ncontent\n");
  assert.match(r.stderr, /\/tmp\/file.*Read-only file system/);
  assert.notEqual(r.code, 0);
  assert.equal(Deno.readTextFileSync(`${dir.path}/new`), "new\n");
});

Deno.test("run: --tmpfs DST gives an empty writable directory over the host's", async () => {
  const r = await sandboxSh(
    "ls -A /var | wc -l; touch /var/x && ls -A /var; awk '$5 == \"/var\" { print $9 }' /proc/self/mountinfo",
    ["--tmpfs", "/var"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), ["0", "x", "tmpfs"]);
  assert.ok(!exists("/var/x"));
});

Deno.test("run: mount options apply in command-line order", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/f`, "bound\n");
  const [tmpfsFirst, bindFirst] = await Promise.all([
    // /var/sub does not exist on the host: the tmpfs mounted first makes it creatable
    sandboxSh("ls -A /var; cat /var/sub/f", ["--tmpfs", "/var", "--bind", `${dir.path}:/var/sub`]),
    // the tmpfs mounted second hides the bind
    sandboxSh("ls -A /tmp/a | wc -l", ["--bind", `${dir.path}:/tmp/a/sub`, "--tmpfs", "/tmp/a"]),
  ]);
  assert.equal(tmpfsFirst.code, 0, tmpfsFirst.stderr);
  assert.equal(tmpfsFirst.stdout, "sub\nbound\n");
  assert.equal(bindFirst.code, 0, bindFirst.stderr);
  assert.equal(bindFirst.stdout, "0\n");
});

Deno.test("run: a missing --bind/--ro-bind source exits 125 with one line naming it", async () => {
  const missing = "/nonexistent-nsbox-source/dir";
  const [bind, roBind] = await Promise.all([
    sandboxSh("echo ran", ["--bind", missing]),
    sandboxSh("echo ran", ["--ro-bind", `${missing}:/tmp/x`]),
  ]);
  for (const r of [bind, roBind]) {
    assertNsboxError(r, missing);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
  }
  assert.match(bind.stderr, /--bind/);
  assert.match(roBind.stderr, /--ro-bind/);
});

Deno.test("run: a mount destination below a file exits 125 naming it (a missing one is made: mount_points_test.ts)", async () => {
  await using dir = await tempDir();
  const [bind, tmpfs] = await Promise.all([
    sandboxSh("echo ran", ["--bind", `${dir.path}:/etc/hostname/sub`]),
    sandboxSh("echo ran", ["--tmpfs", "/etc/hostname/sub"]),
  ]);
  assertNsboxError(bind, "/etc/hostname/sub");
  assertNsboxError(tmpfs, "/etc/hostname/sub");
});

Deno.test("run: --rootfs DIR runs a static program in a tiny root", async () => {
  await using dir = await tempDir();
  for (const d of ["proc", "dev", "tmp"]) Deno.mkdirSync(`${dir.path}/${d}`);
  Deno.copyFileSync(PROBE, `${dir.path}/probe`);
  Deno.chmodSync(`${dir.path}/probe`, 0o755);
  // the probe by its path inside the tiny root (the harness's probe() uses its host path)
  const r = await nsbox(["run", "--rootfs", dir.path, "--", "/probe"]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.deepEqual(p.argv, ["/probe"]);
  assert.equal(p.cwd, "/");
  assert.equal(p.root_write, "EROFS");
  const points = (p.mounts as Array<{ mount_point: string }>).map((m) => m.mount_point);
  assert.equal(points[0], "/");
  const expected = [
    "/",
    "/dev",
    "/dev/full",
    "/dev/null",
    "/dev/pts",
    "/dev/random",
    "/dev/shm",
    "/dev/tty",
    "/dev/urandom",
    "/dev/zero",
    "/probe", // bound back into the read-only copy of its root that holds /run
    "/proc",
    "/run",
    "/tmp",
  ];
  // nothing of the host's tree but what nsbox puts there (masks inside /proc aside)
  assert.deepEqual([...new Set(points.filter((m) => !m.startsWith("/proc/")))].sort(), expected);
});

Deno.test("run: --chdir sets the working directory; a missing one exits 125 naming it", async () => {
  const [ok, missing] = await Promise.all([
    nsbox(["run", "--chdir", "/usr", "--", "pwd"]),
    nsbox(["run", "--chdir", "/nonexistent-nsbox-dir", "--", "pwd"]),
  ]);
  assert.deepEqual([ok.code, ok.stdout], [0, "/usr\n"], ok.stderr);
  assertNsboxError(missing, "/nonexistent-nsbox-dir");
});

Deno.test("run: the current directory is kept when it exists inside, else the command starts in /", async () => {
  await using dir = await tempDir(); // under the host's /tmp, which the sandbox's own /tmp hides
  const cwd = Deno.realPathSync(dir.path);
  Deno.mkdirSync(`${cwd}/sub`);
  const [bound, hidden, tmpfsHidden] = await Promise.all([
    nsbox(["run", "--bind", cwd, "--", "pwd"], { cwd: `${cwd}/sub` }),
    nsbox(["run", "--", "pwd"], { cwd: `${cwd}/sub` }),
    nsbox(["run", "--bind", cwd, "--tmpfs", cwd, "--", "pwd"], { cwd: `${cwd}/sub` }),
  ]);
  assert.deepEqual([bound.code, bound.stdout], [0, `${cwd}/sub\n`], bound.stderr);
  assert.deepEqual([hidden.code, hidden.stdout], [0, "/\n"], hidden.stderr);
  assert.deepEqual([tmpfsHidden.code, tmpfsHidden.stdout], [0, "/\n"], tmpfsHidden.stderr);
  const p = await probe([], { cwd: "/usr" });
  assert.equal(p.cwd, "/usr");
});
