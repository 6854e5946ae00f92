/**
 * Bad command lines: each exits 125 with `nsbox: ` lines naming the flag, no
 * stack trace, and without running anything.
 */
import { assert } from "./_assert.ts";
import { lines, nsbox, type Ran } from "./_harness.ts";

function assertUsageError(r: Ran, what: string, ...mentions: string[]) {
  assert.equal(r.code, 125, `${what}: exit status; stderr: ${r.stderr}`);
  assert.equal(r.stdout, "", `${what}: stdout`);
  const ls = lines(r.stderr);
  assert.ok(ls.length >= 1, `${what}: no message`);
  for (const l of ls) assert.match(l, /^nsbox: \S/, `${what}: stderr line`);
  assert.doesNotMatch(r.stderr, /^\s*at |\.ts:\d|Error:|internal error/m, `${what}: stack trace or internal error`);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `${what}: stderr should name ${m}: ${r.stderr}`);
}

/** [description, args after `run`, what the message must name]. */
const BAD_RUN_FLAGS: ReadonlyArray<[string, string[], string[]]> = [
  ["unknown option", ["--no-such-flag", "--", "true"], ["--no-such-flag"]],
  ["unknown short option", ["-z", "--", "true"], ["-z"]],
  ["misspelt option", ["--hostnam", "x", "--", "true"], ["--hostnam", "--hostname"]],
  ["missing value", ["--hostname"], ["--hostname"]],
  ["missing value of --bind", ["--bind"], ["--bind"]],
  ["value for a boolean flag", ["--root=yes", "--", "true"], ["--root"]],
  ["non-repeatable flag twice", ["--hostname", "a", "--hostname", "b", "--", "true"], ["--hostname"]],
  ["bad --hostname (character)", ["--hostname", "a_b", "--", "true"], ["--hostname", "a_b"]],
  ["bad --hostname (leading dash)", ["--hostname", "-x", "--", "true"], ["--hostname", "-x"]],
  ["bad --hostname (empty)", ["--hostname", "", "--", "true"], ["--hostname"]],
  ["bad --hostname (too long)", ["--hostname", "h".repeat(64), "--", "true"], ["--hostname"]],
  ["bad --share value", ["--share", "mnt", "--", "true"], ["--share", "mnt"]],
  ["bad --share value in a list", ["--share", "net,bogus", "--", "true"], ["--share", "bogus"]],
  ["--setenv without '='", ["--setenv", "FOO", "--", "true"], ["--setenv", "FOO"]],
  ["--setenv with an empty name", ["--setenv", "=x", "--", "true"], ["--setenv"]],
  ["--unsetenv with '='", ["--unsetenv", "A=B", "--", "true"], ["--unsetenv"]],
  ["--bind with empty parts", ["--bind", ":", "--", "true"], ["--bind"]],
  ["--bind with an empty destination", ["--bind", "/tmp:", "--", "true"], ["--bind", "/tmp:"]],
  ["--bind with an empty source", ["--bind", ":/tmp", "--", "true"], ["--bind", ":/tmp"]],
  ["--ro-bind with empty parts", ["--ro-bind", ":", "--", "true"], ["--ro-bind"]],
  ["--bind to /", ["--bind", "/usr:/", "--", "true"], ["--bind"]],
  ["--tmpfs relative", ["--tmpfs", "relative", "--", "true"], ["--tmpfs", "relative"]],
  ["--tmpfs with ..", ["--tmpfs", "/tmp/../etc", "--", "true"], ["--tmpfs"]],
  ["--chdir relative", ["--chdir", "relative", "--", "true"], ["--chdir", "relative"]],
  ["--rootfs missing", ["--rootfs", "/nonexistent-nsbox-root", "--", "true"], ["--rootfs", "/nonexistent-nsbox-root"]],
  ["--rootfs not a directory", ["--rootfs", "/etc/passwd", "--", "true"], ["--rootfs", "/etc/passwd"]],
  ["--hostname with --share uts", ["--hostname", "foo", "--share", "uts", "--", "true"], ["--hostname", "uts"]],
  ["--bind on /proc", ["--bind", "/tmp:/proc", "--", "true"], ["--bind", "/proc"]],
  ["--tmpfs on /proc", ["--tmpfs", "/proc", "--", "true"], ["--tmpfs", "/proc"]],
  ["--bind under /proc", ["--bind", "/tmp:/proc/self", "--", "true"], ["--bind", "/proc/self"]],
  ["--tmpfs on /dev/pts", ["--tmpfs", "/dev/pts", "--", "true"], ["--tmpfs", "/dev/pts"]],
  ["a missing bind source", ["--bind", "/nonexistent-nsbox-src:/mnt", "--", "true"], [
    "--bind: no such source path '/nonexistent-nsbox-src'",
  ]],
  ["-v with a bad mode", ["-v", "/tmp:/mnt:zz", "--", "true"], ["-v", "/tmp:/mnt:zz"]],
  ["a non-ASCII --name", ["--name", "ünïcødé", "--", "true"], ["--name", "ASCII"]],
  ["a missing --env-file", ["--env-file", "/nonexistent-nsbox.env", "--", "true"], [
    "--env-file",
    "/nonexistent-nsbox.env",
  ]],
  ["--memory (an alias) with a bad value", ["--memory", "lots", "--", "true"], ["--memory", "lots"]],
  ["no command", [], ["command"]],
  ["no command after --", ["--"], ["command"]],
  ["no command after options", ["--root", "--"], ["command"]],
];

Deno.test("run: every bad flag exits 125 with 'nsbox: ' lines naming it and no stack trace", async () => {
  await Promise.all(BAD_RUN_FLAGS.map(async ([what, args, mentions]) => {
    // the command would print "ran" if it ran
    const full = args.includes("--") && args.at(-1) === "true" ? [...args.slice(0, -1), "sh", "-c", "echo ran"] : args;
    assertUsageError(await nsbox(["run", ...full]), what, ...mentions);
  }));
});

Deno.test("run: several problems are all reported at once, one line each", async () => {
  const r = await nsbox(["run", "--hostname", "a_b", "--share", "bogus", "--setenv", "NOVALUE", "--", "true"]);
  assertUsageError(r, "three problems", "--hostname", "--share", "--setenv");
  const ls = lines(r.stderr);
  assert.equal(ls.length, 3, r.stderr);
  assert.ok(ls.some((l) => l.includes("--hostname")));
  assert.ok(ls.some((l) => l.includes("--share")));
  assert.ok(ls.some((l) => l.includes("--setenv")));
});

Deno.test("nsbox: no arguments prints the usage and exits 0", async () => {
  const r = await nsbox([]);
  assert.equal(r.code, 0);
  const all = r.stdout + r.stderr;
  assert.match(all, /Usage: nsbox COMMAND/);
  assert.match(all, /\brun\b/);
  assert.match(all, /\bcompletions\b/);
  assert.doesNotMatch(all, /^\s*at |\.ts:\d/m);
});

Deno.test("nsbox: an unknown command exits 125 naming it", async () => {
  assertUsageError(await nsbox(["frobnicate"]), "unknown command", "frobnicate");
  assertUsageError(await nsbox(["--bogus"]), "unknown top-level option", "--bogus");
});

Deno.test("completions: a missing or unknown shell exits 125", async () => {
  const [none, zsh, flag] = await Promise.all([
    nsbox(["completions"]),
    nsbox(["completions", "tcsh"]),
    nsbox(["completions", "--bogus"]),
  ]);
  assertUsageError(none, "no shell", "bash");
  assertUsageError(zsh, "unknown shell", "tcsh");
  assertUsageError(flag, "unknown option", "--bogus");
});
