/**
 * Escape attempts through descriptors the caller leaks into nsbox (opened
 * without close-on-exec by a shell): a file to read, a host directory to
 * fchdir/openat into (the classic way out of a chroot), a file to write.
 */
import assert from "node:assert/strict";
import { HAS_PYTHON, hasProgram, lines, nsboxCommand, PY_PRELUDE, results, shellQuote, tempDir } from "./_lib.ts";

/** Runs `nsbox ARGS...` from bash after `redirections` (e.g. `exec 5</etc/hostname`). */
async function withLeakedFds(redirections: string, args: string[]) {
  const [cmd, full] = nsboxCommand(args);
  const out = await new Deno.Command("bash", {
    args: ["-c", `${redirections}; exec ${[cmd, ...full].map(shellQuote).join(" ")}`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, signal: out.signal, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const IGNORE = !hasProgram("bash");

Deno.test({
  name: "escape: descriptors leaked by the caller (exec 5<, 7<dir, 9>>file) are closed: /proc/self/fd shows 0 1 2",
  ignore: IGNORE,
}, async () => {
  await using dir = await tempDir();
  const redirs = `exec 5</etc/hostname 7<${shellQuote(dir.path)} 9>>${shellQuote(`${dir.path}/log`)}`;
  // The control: a program started the same way outside nsbox has them.
  const control = await new Deno.Command("bash", { args: ["-c", `${redirs}; exec ls /proc/self/fd`] }).output();
  const leaked = lines(new TextDecoder().decode(control.stdout));
  for (const fd of ["5", "7", "9"]) assert.ok(leaked.includes(fd), `control: ${leaked}`);
  const [plain, root] = await Promise.all([
    withLeakedFds(redirs, ["run", "--", "ls", "/proc/self/fd"]),
    withLeakedFds(redirs, ["run", "--root", "--", "ls", "/proc/self/fd"]),
  ]);
  for (const r of [plain, root]) {
    assert.equal(r.code, 0, r.stderr);
    // 3 is the directory ls itself opened to list them
    assert.deepEqual(lines(r.stdout), ["0", "1", "2", "3"]);
  }
});

Deno.test({
  name: "escape: a leaked descriptor of a hidden host directory cannot be entered (fchdir, openat: EBADF)",
  ignore: IGNORE || !HAS_PYTHON,
}, async () => {
  // The directory is under the host's /tmp, which the sandbox's private /tmp hides.
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/marker`, "host");
  const script = PY_PRELUDE + `
out("fchdir", oserr(os.fchdir, 7))
out("openat", oserr(lambda: os.open("marker", os.O_RDONLY, dir_fd=7)))
out("via /proc", oserr(os.listdir, "/proc/self/fd/7"))
out("visible", os.path.exists("${dir.path}/marker"))
`;
  const r = await withLeakedFds(`exec 7<${shellQuote(dir.path)}`, ["run", "--root", "--", "python3", "-c", script]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(results(r), { fchdir: "EBADF", openat: "EBADF", "via /proc": "ENOENT", visible: "False" });
});

Deno.test({
  name: "escape: a leaked writable descriptor of a host file cannot be written (EBADF); the file stays empty",
  ignore: IGNORE || !HAS_PYTHON,
}, async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/log`;
  await Deno.writeTextFile(file, "");
  const script = PY_PRELUDE + `
out("write", oserr(os.write, 9, b"escaped\\n"))
out("reopen", oserr(os.open, "/proc/self/fd/9", os.O_WRONLY))
`;
  const r = await withLeakedFds(`exec 9>>${shellQuote(file)}`, ["run", "--", "python3", "-c", script]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(results(r), { write: "EBADF", reopen: "ENOENT" });
  assert.equal(await Deno.readTextFile(file), "");
});
