import assert from "node:assert/strict";
import { parseArgs } from "../../src/cli/parse.ts";
import { RUN } from "../../src/cli/flags.ts";
import { compatNotes, envFileEdits, runOptionsFromArgs, splitColons } from "../../src/cli/run_command.ts";
import { UsageError } from "../../src/errors.ts";
import type { RunOptions } from "../../src/spec/options.ts";
import { validate } from "../../src/spec/validate.ts";
import { fakeHost } from "./_fake_host.ts";

function options(args: string[]): RunOptions {
  return runOptionsFromArgs(parseArgs(RUN, args));
}

/** The problems runOptionsFromArgs reports; fails when it accepts the arguments. */
function problems(args: string[]): readonly string[] {
  const parsed = parseArgs(RUN, args);
  try {
    runOptionsFromArgs(parsed);
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    return e.problems;
  }
  assert.fail(`runOptionsFromArgs accepted ${JSON.stringify(args)}`);
}

/** Mounts with `undefined` fields dropped, for comparison. */
function mounts(o: RunOptions): unknown[] {
  return JSON.parse(JSON.stringify(o.mounts));
}

Deno.test("runOptionsFromArgs() gives defaults for a bare command", () => {
  const o = options(["--", "sh", "-c", "echo hi"]);
  assert.deepEqual(o.command, ["sh", "-c", "echo hi"]);
  assert.deepEqual(o.share, []);
  assert.deepEqual(o.mounts, []);
  assert.deepEqual(o.envEdits, []);
  for (const flag of ["root", "mapUsers", "clearEnv", "asPid1"] as const) assert.equal(o[flag], false, flag);
  for (const flag of ["hostname", "rootfs", "chdir"] as const) assert.equal(o[flag], undefined, flag);
});

Deno.test("runOptionsFromArgs() maps every boolean and single-value flag", () => {
  const o = options([
    "--root",
    "--map-users",
    "--hostname=box",
    "--rootfs",
    "/srv/root",
    "--chdir",
    "/src",
    "--clearenv",
    "--as-pid-1",
    "--json",
    "id",
  ]);
  assert.equal(o.root, true);
  assert.equal(o.mapUsers, true);
  assert.equal(o.hostname, "box");
  assert.equal(o.rootfs, "/srv/root");
  assert.equal(o.chdir, "/src");
  assert.equal(o.clearEnv, true);
  assert.equal(o.asPid1, true);
  assert.deepEqual(o.command, ["id"]);
});

Deno.test("runOptionsFromArgs() splits --bind SRC and SRC:DST", () => {
  assert.deepEqual(mounts(options(["--bind", "/a", "--bind=/b:/c", "--bind", "rel:/d\\:e", "true"])), [
    { kind: "bind", source: "/a", readOnly: false },
    { kind: "bind", source: "/b", destination: "/c", readOnly: false },
    { kind: "bind", source: "rel", destination: "/d:e", readOnly: false },
  ]);
  const [first] = options(["--bind", "/a", "true"]).mounts!;
  assert.ok(first?.kind === "bind" && first.destination === undefined);
});

Deno.test("runOptionsFromArgs() marks --ro-bind read-only", () => {
  assert.deepEqual(mounts(options(["--ro-bind", "/etc:/host-etc", "--ro-bind", "/usr", "true"])), [
    { kind: "bind", source: "/etc", destination: "/host-etc", readOnly: true },
    { kind: "bind", source: "/usr", readOnly: true },
  ]);
});

Deno.test("runOptionsFromArgs() keeps --bind, --ro-bind and --tmpfs in command-line order", () => {
  const o = options([
    "--tmpfs",
    "/home",
    "--bind",
    "/home/user/src:/home/src",
    "--root",
    "--ro-bind",
    "/etc",
    "--tmpfs=/home/src/build",
    "make",
  ]);
  assert.deepEqual(mounts(o), [
    { kind: "tmpfs", destination: "/home" },
    { kind: "bind", source: "/home/user/src", destination: "/home/src", readOnly: false },
    { kind: "bind", source: "/etc", readOnly: true },
    { kind: "tmpfs", destination: "/home/src/build" },
  ]);
});

Deno.test("runOptionsFromArgs() refuses empty bind paths, naming the flag", () => {
  assert.deepEqual(problems(["--bind", ":/x", "--ro-bind", "/y:", "--bind=", "true"]), [
    "--bind: expected SRC, SRC:DST or SRC:DST:ro (or :rw) with non-empty paths (write \\: for a ':' in a path), got ':/x'.",
    "--ro-bind: expected SRC or SRC:DST with non-empty paths (write \\: for a ':' in a path), got '/y:'.",
    "--bind: expected SRC, SRC:DST or SRC:DST:ro (or :rw) with non-empty paths (write \\: for a ':' in a path), got ''.",
  ]);
});

Deno.test("runOptionsFromArgs() turns --setenv and --unsetenv into ordered edits", () => {
  const o = options([
    "--setenv",
    "A=1",
    "--unsetenv",
    "B",
    "--setenv=C=x=y",
    "--setenv",
    "D=",
    "--unsetenv",
    "A",
    "env",
  ]);
  assert.deepEqual(o.envEdits, [
    { kind: "set", name: "A", value: "1" },
    { kind: "unset", name: "B" },
    { kind: "set", name: "C", value: "x=y" },
    { kind: "set", name: "D", value: "" },
    { kind: "unset", name: "A" },
  ]);
});

Deno.test("runOptionsFromArgs() refuses --setenv without NAME=", () => {
  assert.deepEqual(problems(["--setenv", "NOVALUE", "--setenv", "=x", "env"]), [
    "--setenv: expected NAME=VALUE, got 'NOVALUE'.",
    "--setenv: expected NAME=VALUE, got '=x'.",
  ]);
});

Deno.test("runOptionsFromArgs() splits --share on commas and across repeats", () => {
  assert.deepEqual(options(["--share", "net,ipc", "true"]).share, ["net", "ipc"]);
  assert.deepEqual(options(["--share", "net", "--share=uts,pid", "true"]).share, ["net", "uts", "pid"]);
  assert.deepEqual(options(["--share", " net , ipc ", "true"]).share, ["net", "ipc"]);
});

Deno.test("runOptionsFromArgs() leaves --share values to validate()", () => {
  assert.deepEqual(options(["--share", "bogus", "true"]).share, ["bogus"]);
});

const NO_COMMAND = "No command given: expected `nsbox run [OPTIONS] -- CMD [ARGS...]`.";

Deno.test("runOptionsFromArgs() and validate() report a missing command", () => {
  for (const args of [[], ["--root", "--"]]) {
    let reported: readonly string[] = [];
    try {
      validate(options(args), fakeHost());
    } catch (e) {
      assert.ok(e instanceof UsageError);
      reported = e.problems;
    }
    assert.deepEqual(reported, [NO_COMMAND], JSON.stringify(args));
  }
});

Deno.test("runOptionsFromArgs() reports a missing command with other problems", () => {
  const ps = problems(["--setenv", "X"]);
  assert.deepEqual(ps, ["--setenv: expected NAME=VALUE, got 'X'.", NO_COMMAND]);
});

Deno.test("runOptionsFromArgs() reports every problem at once", () => {
  const ps = problems(["--setenv", "X", "--bind", ":/a"]);
  assert.equal(ps.length, 3);
  assert.match(ps[0]!, /^--setenv: /);
  assert.match(ps[1]!, /^--bind: /);
  assert.equal(ps[2], NO_COMMAND);
});

Deno.test("runOptionsFromArgs() with a host adds validate()'s problems to its own", () => {
  const parsed = parseArgs(RUN, ["--setenv", "X", "--hostname", "-bad", "--chdir", "rel", "true"]);
  assert.throws(
    () => runOptionsFromArgs(parsed, fakeHost()),
    (e) =>
      e instanceof UsageError && e.problems.length === 3 &&
      e.problems[0] === "--setenv: expected NAME=VALUE, got 'X'." &&
      e.problems[1]!.startsWith("--hostname: ") && e.problems[2]!.startsWith("--chdir: "),
  );
});

Deno.test("splitColons() splits on colons that are not escaped with a backslash", () => {
  assert.deepEqual(splitColons("/a:/b"), ["/a", "/b"]);
  assert.deepEqual(splitColons("a\\:b:/b:ro"), ["a:b", "/b", "ro"]);
  assert.deepEqual(splitColons("a\\\\:/b"), ["a\\", "/b"]);
  assert.deepEqual(splitColons("a\\b"), ["a\\b"]);
  assert.deepEqual(splitColons(""), [""]);
});

Deno.test("runOptionsFromArgs() takes -v, --volume and --bind SRC:DST:ro|rw, and \\: for a colon in a path", () => {
  assert.deepEqual(
    mounts(options([
      "-v",
      "/a:/b:ro",
      "--volume=/c:/d:rw",
      "--bind",
      "/e:/f:ro",
      "--ro-bind",
      "/g:/h:ro",
      "--bind",
      "/x\\:y:/z",
      "--ro-bind",
      "/p\\:q",
      "true",
    ])),
    [
      { kind: "bind", source: "/a", destination: "/b", readOnly: true },
      { kind: "bind", source: "/c", destination: "/d", readOnly: false },
      { kind: "bind", source: "/e", destination: "/f", readOnly: true },
      { kind: "bind", source: "/g", destination: "/h", readOnly: true },
      { kind: "bind", source: "/x:y", destination: "/z", readOnly: false },
      { kind: "bind", source: "/p:q", readOnly: true },
    ],
  );
  const ps = problems(["--ro-bind", "/a:/b:rw", "-v", "/a:/b:z", "--bind", "/a:/b:ro:x", "true"]);
  assert.deepEqual(ps, [
    "--ro-bind: ':rw' contradicts --ro-bind (use --bind for a writable bind).",
    "-v: expected SRC, SRC:DST or SRC:DST:ro (or :rw) with non-empty paths (write \\: for a ':' in a path), got '/a:/b:z'.",
    "--bind: expected SRC, SRC:DST or SRC:DST:ro (or :rw) with non-empty paths (write \\: for a ':' in a path), got '/a:/b:ro:x'.",
  ]);
});

Deno.test("runOptionsFromArgs() takes -e NAME=VALUE, and -e NAME from nsbox's environment, in order", () => {
  const host = fakeHost({ env: { HOME: "/home/u", EMPTY: "" } });
  const o = runOptionsFromArgs(
    parseArgs(RUN, [
      "--setenv",
      "A=1",
      "-e",
      "HOME",
      "--env=B=x=y",
      "-e",
      "EMPTY",
      "-e",
      "NOT_SET",
      "--unsetenv",
      "A",
      "sh",
    ]),
    host,
  );
  assert.deepEqual(o.envEdits, [
    { kind: "set", name: "A", value: "1" },
    { kind: "set", name: "HOME", value: "/home/u" },
    { kind: "set", name: "B", value: "x=y" },
    { kind: "set", name: "EMPTY", value: "" },
    { kind: "unset", name: "A" },
  ]);
  assert.deepEqual(problems(["-e", "=x", "true"]), ["-e: expected NAME=VALUE or NAME, got '=x'."]);
});

Deno.test("envFileEdits() reads docker's env-file format", () => {
  const problems: string[] = [];
  const text = "\uFEFF# a comment\nA=1\r\n\n  B=two words  \n   # indented comment\nC\nMISSING\nD=\nE==x\n";
  const own = (n: string) => ({ C: "from nsbox" } as Record<string, string>)[n];
  assert.deepEqual(envFileEdits("f.env", text, own, problems), [
    { kind: "set", name: "A", value: "1" },
    { kind: "set", name: "B", value: "two words  " },
    { kind: "set", name: "C", value: "from nsbox" },
    { kind: "set", name: "D", value: "" },
    { kind: "set", name: "E", value: "=x" },
  ]);
  assert.deepEqual(problems, []);
  envFileEdits("f.env", "OK=1\nBAD NAME=x\n=y\n", own, problems);
  assert.deepEqual(problems, [
    "--env-file: f.env line 2: the variable name 'BAD NAME' contains white space.",
    "--env-file: f.env line 3: expected NAME=VALUE, got '=y'.",
  ]);
});

Deno.test("runOptionsFromArgs() applies --env-file in order with the other edits; a missing file is named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsbox-envfile-test-" });
  try {
    Deno.writeTextFileSync(`${dir}/a.env`, "A=from-file\nB=b\n");
    const o = options(["--setenv", "A=first", "--env-file", `${dir}/a.env`, "--setenv", "B=last", "true"]);
    assert.deepEqual(o.envEdits, [
      { kind: "set", name: "A", value: "first" },
      { kind: "set", name: "A", value: "from-file" },
      { kind: "set", name: "B", value: "b" },
      { kind: "set", name: "B", value: "last" },
    ]);
    assert.deepEqual(problems(["--env-file", `${dir}/none.env`, "--env-file", dir, "true"]), [
      `--env-file: cannot read '${dir}/none.env': no such file.`,
      `--env-file: cannot read '${dir}': it is a directory.`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compatNotes() gives one line per default-behaviour flag, as typed, and none for -i and -t", () => {
  const notes = compatNotes(parseArgs(RUN, ["--rm", "-it", "--unshare-all", "--rm", "--die-with-parent", "sh"]));
  assert.equal(notes.length, 3, notes.join("\n"));
  assert.match(notes[0]!, /^--rm: the default: a sandbox is removed when it ends/);
  assert.match(notes[1]!, /^--unshare-all: the default/);
  assert.match(notes[2]!, /^--die-with-parent: the default/);
  assert.deepEqual(compatNotes(parseArgs(RUN, ["-i", "--tty", "sh"])), []);
  // they change nothing
  assert.deepEqual(options(["--rm", "--unshare-all", "-it", "sh"]), options(["sh"]));
});

Deno.test("runOptionsFromArgs() names a limit flag as it was typed", () => {
  assert.deepEqual(problems(["--memory", "lots", "true"]), [
    "--memory: expected a size such as 256M or 1.5G, got 'lots'.",
  ]);
});
