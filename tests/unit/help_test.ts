import assert from "node:assert/strict";
import { commandHelp, mainHelp } from "../../src/cli/help.ts";
import { COMMANDS, RUN } from "../../src/cli/flags.ts";

/** The help line of flag `name`: an option line (indented) that starts with it or its short form. */
function flagLine(help: string, name: string): string | undefined {
  return help.split("\n").find((l) => new RegExp(`^\\s+(-\\w, )?--${name}($|[\\s=\\[])`).test(l));
}

/** The flag's line and the wrapped lines of its help after it, as one line with single spaces. */
function flagBlock(help: string, name: string): string | undefined {
  const lines = help.split("\n");
  const first = flagLine(help, name);
  if (first === undefined) return undefined;
  const block = [first];
  for (let i = lines.indexOf(first) + 1; i < lines.length && /^\s{10,}\S/.test(lines[i]!); i++) {
    block.push(lines[i]!);
  }
  return block.map((l) => l.trim()).join(" ").replace(/\s+/g, " ");
}

Deno.test("commandHelp() shows every flag of every command", () => {
  for (const cmd of COMMANDS) {
    const help = commandHelp(cmd);
    for (const f of cmd.flags) {
      const line = flagBlock(help, f.name);
      assert.ok(line, `nsbox ${cmd.name} --help lacks --${f.name}`);
      assert.ok(line.includes(f.help), `nsbox ${cmd.name} --help: --${f.name} lacks its help text`);
      if (f.value) assert.ok(line.includes(f.value), `nsbox ${cmd.name} --help: --${f.name} lacks ${f.value}`);
      if (f.short) assert.ok(line.includes(`-${f.short}, `), `nsbox ${cmd.name} --help: --${f.name} lacks -${f.short}`);
      if (f.repeatable) assert.match(line, /\(repeatable[;)]/, `--${f.name} is not marked repeatable`);
      for (const a of f.aliases ?? []) assert.ok(line.includes(`--${a}`), `--${f.name} lacks its alias --${a}`);
    }
  }
});

Deno.test("commandHelp() shows each flag group once, with its flags under it", () => {
  const help = commandHelp(RUN).split("\n");
  for (const group of new Set(RUN.flags.map((f) => f.group))) {
    const at = help.indexOf(`${group}:`);
    assert.ok(at >= 0, `no ${group}: section`);
    assert.equal(help.lastIndexOf(`${group}:`), at);
    for (const f of RUN.flags.filter((x) => x.group === group)) {
      const line = help.indexOf(flagLine(help.join("\n"), f.name) ?? "");
      assert.ok(line > at, `--${f.name} is not under ${group}:`);
      assert.ok(
        help.slice(at + 1, line).every((l) => l.trim() !== "" && !/^\S.*:$/.test(l)),
        `--${f.name} not in ${group}`,
      );
    }
  }
});

Deno.test("commandHelp() has a usage line, an Examples section and the exit statuses", () => {
  for (const cmd of COMMANDS) {
    const help = commandHelp(cmd);
    assert.ok(help.startsWith(`Usage: ${cmd.usage}\n`), cmd.name);
    const lines = help.split("\n");
    const ex = lines.indexOf("Examples:");
    assert.ok(ex > 0, `nsbox ${cmd.name} --help has no Examples section`);
    assert.ok(cmd.examples.length > 0, `nsbox ${cmd.name} has no examples`);
    for (const [example, what] of cmd.examples) {
      const at = lines.indexOf(`  ${example}`);
      assert.ok(at > ex, `example missing: ${example}`);
      assert.equal(lines[at + 1]?.trim(), what);
    }
    assert.ok(help.endsWith(`\n${cmd.exits}`), `${cmd.name}: its help does not end with its exit statuses`);
    assert.match(cmd.exits, /^Exit status: /, cmd.name);
    assert.ok(cmd.exits.includes("125"), `${cmd.name}: 125`);
    const runsACommand = cmd.name === "run" || cmd.name === "exec";
    for (const status of ["126", "127", "128+N"]) {
      assert.equal(help.includes(status), runsACommand, `${cmd.name}: ${status} (only run and exec run commands)`);
    }
  }
});

Deno.test("mainHelp() lists every command with its summary and has examples", () => {
  const help = mainHelp();
  for (const cmd of COMMANDS) {
    assert.ok(help.split("\n").some((l) => l.trim().startsWith(cmd.name) && l.includes(cmd.summary)), cmd.name);
  }
  assert.ok(help.includes("\nExamples:\n"));
});

Deno.test("COMMANDS has unique flag names and short aliases per command", () => {
  for (const cmd of COMMANDS) {
    const names = cmd.flags.flatMap((f) => [f.name, ...(f.aliases ?? [])]);
    assert.equal(new Set(names).size, names.length, cmd.name);
    const shorts = cmd.flags.flatMap((f) => f.short ? [f.short] : []);
    assert.equal(new Set(shorts).size, shorts.length, cmd.name);
    for (const f of cmd.flags) {
      assert.match(f.name, /^[a-z][a-z0-9-]*$/, f.name);
      if (f.ordered) assert.ok(f.repeatable && f.value, `--${f.name} is ordered but not a repeatable value flag`);
    }
  }
});
