import assert from "node:assert/strict";
import { has, parseArgs, type Parsed, typed, value, values } from "../../src/cli/parse.ts";
import { COMMANDS, COMPLETIONS, EXEC, KILL, LOGS, PS, RM, RUN } from "../../src/cli/flags.ts";
import { UsageError } from "../../src/errors.ts";

/** The problems parseArgs reports for `args`; fails when it accepts them. */
function problems(args: string[]): readonly string[] {
  try {
    parseArgs(RUN, args);
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    return e.problems;
  }
  assert.fail(`parseArgs accepted ${JSON.stringify(args)}`);
}

/** [flag name, value] pairs of a parse, in order. */
function pairs(parsed: Parsed): Array<[string, string | true]> {
  return parsed.uses.map((u) => [u.flag.name, u.value]);
}

Deno.test("parseArgs() ends options at `--`", () => {
  const parsed = parseArgs(RUN, ["--root", "--", "--hostname", "x"]);
  assert.deepEqual(pairs(parsed), [["root", true]]);
  assert.deepEqual(parsed.operands, ["--hostname", "x"]);
});

Deno.test("parseArgs() keeps a second `--` as an operand", () => {
  const parsed = parseArgs(RUN, ["--", "--", "x"]);
  assert.deepEqual(parsed.uses, []);
  assert.deepEqual(parsed.operands, ["--", "x"]);
});

Deno.test("parseArgs() stops at the first operand", () => {
  const parsed = parseArgs(RUN, ["--root", "sh", "-c", "x", "--hostname", "y"]);
  assert.deepEqual(pairs(parsed), [["root", true]]);
  assert.deepEqual(parsed.operands, ["sh", "-c", "x", "--hostname", "y"]);
});

Deno.test("parseArgs() treats a lone `-` as the first operand", () => {
  const parsed = parseArgs(RUN, ["-", "--root"]);
  assert.deepEqual(parsed.uses, []);
  assert.deepEqual(parsed.operands, ["-", "--root"]);
});

Deno.test("parseArgs() accepts no arguments at all", () => {
  assert.deepEqual(parseArgs(RUN, []), { uses: [], operands: [] });
});

Deno.test("parseArgs() takes values as --name=value and --name value", () => {
  const parsed = parseArgs(RUN, ["--hostname=box", "--chdir", "/src", "--setenv=A=b=c", "true"]);
  assert.deepEqual(pairs(parsed), [["hostname", "box"], ["chdir", "/src"], ["setenv", "A=b=c"]]);
  assert.deepEqual(parsed.operands, ["true"]);
});

Deno.test("parseArgs() takes an empty inline value and a value that looks like a flag", () => {
  const parsed = parseArgs(RUN, ["--hostname=", "--chdir", "--root", "true"]);
  assert.deepEqual(pairs(parsed), [["hostname", ""], ["chdir", "--root"]]);
  assert.deepEqual(parsed.operands, ["true"]);
});

Deno.test("parseArgs() refuses a value for a boolean flag", () => {
  assert.deepEqual(problems(["--root=yes", "id"]), ["--root: takes no value, got 'yes'."]);
  assert.deepEqual(problems(["--clearenv=", "id"]), ["--clearenv: takes no value, got ''."]);
});

Deno.test("parseArgs() accepts the short -h and refuses an inline value on it", () => {
  assert.deepEqual(pairs(parseArgs(RUN, ["-h"])), [["help", true]]);
  assert.ok(has(parseArgs(COMPLETIONS, ["-h"]), "help"));
  assert.deepEqual(problems(["-h=x"]), ["-h: takes no value, got 'x'."]);
  assert.deepEqual(problems(["-hx"]), ["'-x' in '-hx': unknown option for 'nsbox run'."]);
});

Deno.test("parseArgs() names an unknown flag and suggests a close one", () => {
  const [p] = problems(["--hostnam", "x", "true"]);
  assert.equal(p, "'--hostnam': unknown option for 'nsbox run' (did you mean --hostname?).");
  assert.deepEqual(problems(["--ro-bnd=/a", "true"]), [
    "'--ro-bnd': unknown option for 'nsbox run' (did you mean --ro-bind?).",
  ]);
  assert.match(problems(["--as-pid1", "true"])[0]!, /did you mean --as-pid-1\?/);
});

Deno.test("parseArgs() names an unknown flag without suggesting a distant one", () => {
  const [p] = problems(["--frobnicate", "true"]);
  assert.equal(p, "'--frobnicate': unknown option for 'nsbox run'.");
  const [short] = problems(["-x", "true"]);
  assert.equal(short, "'-x': unknown option for 'nsbox run'.");
});

Deno.test("parseArgs() quotes an unknown --name=value flag without its value", () => {
  const [p] = problems(["--hostnme=secret", "true"]);
  assert.ok(p!.startsWith("'--hostnme': unknown option"), p);
  assert.ok(!p!.includes("secret"), p);
});

Deno.test("parseArgs() names the command in an unknown-flag message", () => {
  assert.throws(
    () => parseArgs(COMPLETIONS, ["--root"]),
    (e) => e instanceof UsageError && e.problems[0] === "'--root': unknown option for 'nsbox completions'.",
  );
});

Deno.test("parseArgs() reports a missing value", () => {
  assert.deepEqual(problems(["--hostname"]), ["--hostname: expected NAME after it."]);
  assert.deepEqual(problems(["--root", "--bind"]), ["--bind: expected SRC[:DST[:ro|:rw]] after it."]);
  assert.deepEqual(problems(["--root", "-v"]), ["-v: expected SRC[:DST[:ro|:rw]] after it."]);
});

Deno.test("parseArgs() refuses a non-repeatable flag given twice", () => {
  assert.deepEqual(problems(["--hostname", "a", "--hostname=b", "true"]), ["--hostname: given more than once."]);
  assert.deepEqual(problems(["--root", "--root", "true"]), ["--root: given more than once."]);
});

Deno.test("parseArgs() allows repeatable flags more than once", () => {
  const parsed = parseArgs(RUN, ["--share", "net", "--share=ipc", "--setenv", "A=1", "--setenv", "B=2", "true"]);
  assert.deepEqual(values(parsed, "share"), ["net", "ipc"]);
  assert.deepEqual(values(parsed, "setenv"), ["A=1", "B=2"]);
});

Deno.test("parseArgs() reports every problem at once", () => {
  const ps = problems(["--bogus", "--root=1", "--hostname", "a", "--hostname", "b", "--tmpfs"]);
  assert.deepEqual(ps, [
    "'--bogus': unknown option for 'nsbox run'.",
    "--root: takes no value, got '1'.",
    "--hostname: given more than once.",
    "--tmpfs: expected DST[:size=SIZE,mode=MODE] after it.",
  ]);
});

Deno.test("parseArgs() UsageError joins its problems into its message", () => {
  try {
    parseArgs(RUN, ["--bogus", "--root=1"]);
    assert.fail("accepted");
  } catch (e) {
    assert.ok(e instanceof UsageError);
    assert.equal(e.problems.length, 2);
    assert.equal(e.message, e.problems.join("\n"));
    assert.equal(e.exitCode, 125);
  }
});

Deno.test("parseArgs() keeps --bind, --ro-bind and --tmpfs in command-line order", () => {
  const parsed = parseArgs(RUN, [
    "--tmpfs",
    "/a",
    "--ro-bind",
    "/b",
    "--root",
    "--bind=/c:/d",
    "--tmpfs=/e",
    "--bind",
    "/f",
    "true",
  ]);
  assert.deepEqual(pairs(parsed), [
    ["tmpfs", "/a"],
    ["ro-bind", "/b"],
    ["root", true],
    ["bind", "/c:/d"],
    ["tmpfs", "/e"],
    ["bind", "/f"],
  ]);
  assert.ok(parsed.uses.filter((u) => u.flag.ordered).every((u) => ["bind", "ro-bind", "tmpfs"].includes(u.flag.name)));
});

Deno.test("value() returns the last value and has() tells boolean flags", () => {
  const parsed = parseArgs(RUN, ["--share", "net", "--share", "ipc", "--root", "true"]);
  assert.equal(value(parsed, "share"), "ipc");
  assert.equal(value(parsed, "hostname"), undefined);
  assert.ok(has(parsed, "root"));
  assert.ok(!has(parsed, "clearenv"));
  assert.deepEqual(values(parsed, "root"), []);
});

Deno.test("parseArgs() gives an optional-value flag its implicit value without taking the next argument", () => {
  const flag = RUN.flags.find((f) => f.implicit !== undefined);
  assert.ok(flag, "no flag with an implicit value");
  const bare = parseArgs(RUN, [`--${flag.name}`, "sh", "-c", "x"]);
  assert.deepEqual(pairs(bare), [[flag.name, flag.implicit!]]);
  assert.deepEqual(bare.operands, ["sh", "-c", "x"]);
  const given = parseArgs(RUN, [`--${flag.name}=other`, "sh"]);
  assert.deepEqual(pairs(given), [[flag.name, "other"]]);
});

Deno.test("parseArgs() takes a short flag's value attached or as the next argument", () => {
  const flag = RUN.flags.find((f) => f.short !== undefined && f.value !== undefined && f.implicit === undefined);
  assert.ok(flag, "no short value flag");
  const parsed = parseArgs(RUN, [`-${flag.short}`, "a", `-${flag.short}b`, "sh"]);
  assert.deepEqual(pairs(parsed), [[flag.name, "a"], [flag.name, "b"]]);
  assert.deepEqual(parsed.operands, ["sh"]);
});

Deno.test("parseArgs() takes docker's spellings as aliases of nsbox's flags, remembering what was typed", () => {
  const parsed = parseArgs(RUN, [
    "--volume",
    "/a:/b",
    "-v",
    "/c",
    "--workdir",
    "/w",
    "--memory=1G",
    "--network",
    "pasta",
    "-e",
    "A=1",
    "sh",
  ]);
  assert.deepEqual(pairs(parsed), [
    ["bind", "/a:/b"],
    ["bind", "/c"],
    ["chdir", "/w"],
    ["mem", "1G"],
    ["net", "pasta"],
    ["env", "A=1"],
  ]);
  assert.deepEqual(parsed.uses.map((u) => u.typed), ["--volume", "-v", "--workdir", "--memory", "--network", "-e"]);
  assert.equal(typed(parsed, "mem"), "--memory");
  assert.equal(typed(parsed, "swap"), "--swap");
  assert.deepEqual(parsed.operands, ["sh"]);
  // an alias and its flag are one flag
  assert.deepEqual(problems(["--mem", "1G", "--memory", "2G", "sh"]), ["--memory: given more than once."]);
});

Deno.test("parseArgs() combines short boolean flags (-it, -dit) and ends a bundle at a value flag", () => {
  assert.deepEqual(pairs(parseArgs(RUN, ["-it", "sh"])), [["interactive", true], ["tty", true]]);
  const p = parseArgs(RUN, ["-dite", "A=1", "-tp8080:80", "sh"]);
  assert.deepEqual(pairs(p), [
    ["detach", true],
    ["interactive", true],
    ["tty", true],
    ["env", "A=1"],
    ["tty", true],
    ["publish", "8080:80"],
  ]);
  assert.deepEqual(p.operands, ["sh"]);
});

Deno.test("parseArgs() takes a mode name after --net or --network as its value, and nothing else", () => {
  for (const mode of ["host", "pasta", "slirp4netns", "none"]) {
    for (const spelling of ["--net", "--network"]) {
      const p = parseArgs(RUN, [spelling, mode, "sh", "-c", "x"]);
      assert.deepEqual(pairs(p), [["net", mode]], `${spelling} ${mode}`);
      assert.deepEqual(p.operands, ["sh", "-c", "x"], `${spelling} ${mode}`);
    }
  }
  // not a mode: --net alone (pasta or slirp4netns), the word is the command
  const cmd = parseArgs(RUN, ["--net", "curl", "host"]);
  assert.deepEqual(pairs(cmd), [["net", "auto"]]);
  assert.deepEqual(cmd.operands, ["curl", "host"]);
  // `--` keeps a command named like a mode
  const dig = parseArgs(RUN, ["--net", "--", "host", "example.com"]);
  assert.deepEqual(pairs(dig), [["net", "auto"]]);
  assert.deepEqual(dig.operands, ["host", "example.com"]);
  // another flag after it
  assert.deepEqual(pairs(parseArgs(RUN, ["--net", "--root", "id"])), [["net", "auto"], ["root", true]]);
  // every flag with an optional value lists the values it takes after a space
  for (const cmdDef of COMMANDS) {
    for (const f of cmdDef.flags) if (f.implicit !== undefined) assert.ok(f.choices?.length, `--${f.name}`);
  }
});

Deno.test("parseArgs() takes options after operands for lifecycle commands, never for run or exec", () => {
  const logs = parseArgs(LOGS, ["web", "-f"]);
  assert.ok(has(logs, "follow"));
  assert.deepEqual(logs.operands, ["web"]);
  const kill = parseArgs(KILL, ["web", "-s", "KILL", "db", "--timeout=3"]);
  assert.deepEqual(pairs(kill), [["signal", "KILL"], ["timeout", "3"]]);
  assert.deepEqual(kill.operands, ["web", "db"]);
  assert.deepEqual(parseArgs(RM, ["--", "-f", "x"]).operands, ["-f", "x"]);
  assert.deepEqual(parseArgs(PS, ["--json", "-a"]).operands, []);
  for (const cmd of [RUN, EXEC]) {
    assert.ok(!cmd.interleaved, cmd.name);
    const p = parseArgs(cmd, ["web", "-h"]);
    assert.deepEqual(p.uses, [], cmd.name);
    assert.deepEqual(p.operands, ["web", "-h"], cmd.name);
  }
});

Deno.test("parseArgs() suggests no flag for a one-letter option or a short name far from every flag", () => {
  for (const arg of ["-q", "--rn", "--xm", "--et"]) {
    const [p] = problems([arg, "true"]);
    assert.ok(p && !p.includes("did you mean"), `${arg}: ${p}`);
  }
  assert.match(problems(["--memroy", "1G", "true"])[0]!, /did you mean --memory\?/);
  assert.match(problems(["--netwrk", "true"])[0]!, /did you mean --network\?/);
});

Deno.test("parseArgs() accepts docker's and bubblewrap's flags that are nsbox's default", () => {
  const p = parseArgs(RUN, ["--rm", "--unshare-all", "--die-with-parent", "--new-session", "-i", "-t", "sh"]);
  assert.deepEqual(p.uses.map((u) => u.flag.name), [
    "rm",
    "unshare-all",
    "die-with-parent",
    "new-session",
    "interactive",
    "tty",
  ]);
  for (const u of p.uses) assert.ok(u.flag.compat, u.flag.name);
});
