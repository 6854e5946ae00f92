/**
 * The layout of `nsbox COMMAND --help`: examples for every command, and no
 * line wider than 100 columns but the usage line and the examples.
 *
 * @module
 */
import assert from "node:assert/strict";
import { commandHelp, mainHelp } from "../../src/cli/help.ts";
import { COMMANDS } from "../../src/cli/flags.ts";

const WIDTH = 100;

Deno.test("COMMANDS gives every command a usage, a summary, a description and examples", () => {
  assert.deepEqual(COMMANDS.map((c) => c.name), [
    "run",
    "ps",
    "exec",
    "kill",
    "logs",
    "rm",
    "gc",
    "profile",
    "doctor",
    "completions",
  ]);
  for (const cmd of COMMANDS) {
    assert.ok(cmd.usage.startsWith(`nsbox ${cmd.name}`), cmd.name);
    assert.ok(cmd.summary.length > 0 && cmd.description.length > 0, cmd.name);
    assert.ok(cmd.examples.length > 0, `nsbox ${cmd.name} has no examples`);
    for (const [example, what] of cmd.examples) {
      assert.ok(example.includes("nsbox "), `${cmd.name}: ${example}`);
      assert.ok(what.trim().length > 0, `${cmd.name}: ${example} has no explanation`);
    }
    assert.ok(cmd.flags.some((f) => f.name === "help" && f.short === "h"), `${cmd.name} has no --help`);
  }
  // every command's examples run that command
  for (const cmd of COMMANDS) {
    assert.ok(cmd.examples.some(([ex]) => ex.includes(`nsbox ${cmd.name}`)), `${cmd.name}: no example uses it`);
  }
});

Deno.test("commandHelp() keeps every line but the usage and the examples within 100 columns", () => {
  for (const cmd of COMMANDS) {
    const lines = commandHelp(cmd).split("\n");
    const examples = lines.indexOf("Examples:");
    assert.ok(examples > 0, cmd.name);
    const exampleLines = new Set(cmd.examples.flatMap(([ex, what]) => [`  ${ex}`, `      ${what}`]));
    lines.forEach((line, i) => {
      if (i === 0) {
        assert.equal(line, `Usage: ${cmd.usage}`);
        return;
      }
      if (i > examples && exampleLines.has(line)) return;
      assert.ok(line.length <= WIDTH, `nsbox ${cmd.name} --help line ${i + 1} is ${line.length} wide: ${line}`);
    });
  }
});

Deno.test("commandHelp() has no trailing spaces and no tabs", () => {
  for (const cmd of COMMANDS) {
    for (const line of commandHelp(cmd).split("\n")) {
      assert.equal(line, line.trimEnd(), `nsbox ${cmd.name}: trailing spaces in ${JSON.stringify(line)}`);
      assert.ok(!line.includes("\t"), `nsbox ${cmd.name}: a tab in ${JSON.stringify(line)}`);
    }
  }
});

Deno.test("commandHelp() lines the flag descriptions up in one column per command", () => {
  for (const cmd of COMMANDS) {
    const lines = commandHelp(cmd).split("\n");
    const flagLines = lines.filter((l) => /^ {2}(-\w, )?--|^ {6}--/.test(l));
    assert.ok(flagLines.length >= cmd.flags.length, cmd.name);
    const columns = new Set(flagLines.map((l) => /^\s*\S+(?: \S+)*?\s{2,}(?=\S)/.exec(l)?.[0].length));
    assert.equal(columns.size, 1, `nsbox ${cmd.name}: descriptions start at ${[...columns].join(", ")}`);
  }
});

Deno.test("mainHelp() stays within 100 columns", () => {
  for (const line of mainHelp().split("\n")) assert.ok(line.length <= WIDTH, line);
});
