/**
 * README.md against the code: its flag table of `nsbox run` against src/cli/flags.ts, and the
 * markers of its example blocks (tests/integration/readme_test.ts runs the marked ones).
 */
import assert from "node:assert/strict";
import { RUN } from "../../src/cli/flags.ts";
import { codeBlocks, isRun, README_PATH, runFlagTableNames, shellComment, showsCommands } from "./_readme.ts";

const README = Deno.readTextFileSync(README_PATH);

/** Every spelling of every flag of `nsbox run` in flags.ts, but --help (which every command has). */
function runFlagNames(): Set<string> {
  const names = new Set<string>();
  for (const f of RUN.flags) {
    if (f.name === "help") continue;
    names.add(`--${f.name}`);
    if (f.short) names.add(`-${f.short}`);
    for (const a of f.aliases ?? []) names.add(`--${a}`);
  }
  return names;
}

Deno.test("readme: the flag table of `nsbox run` names every flag of flags.ts, with its short name and aliases", () => {
  const table = runFlagTableNames(README);
  const missing = [...runFlagNames()].filter((n) => !table.has(n));
  assert.deepEqual(missing, [], `README.md's "Flags of \`nsbox run\`" table lacks ${missing.join(", ")}`);
});

Deno.test("readme: the flag table of `nsbox run` names no flag that flags.ts lacks", () => {
  const known = runFlagNames();
  const extra = [...runFlagTableNames(README)].filter((n) => !known.has(n));
  assert.deepEqual(extra, [], `README.md's "Flags of \`nsbox run\`" table names ${extra.join(", ")}, not in flags.ts`);
});

Deno.test("readme: the table reader sees flags, short names and aliases, and skips the meaning column", () => {
  const table = [
    "### Flags of `nsbox run`",
    "",
    "| flag | meaning |",
    "| --- | --- |",
    "| `--bind SRC[:DST[:ro\\|:rw]]` (`-v`, `--volume`), `--ro-bind SRC` | like `--other` |",
    "| `--net[=MODE]`, `-d`/`--detach` | x |",
    "",
    "| `--after-the-table` | y |",
  ].join("\n");
  assert.deepEqual([...runFlagTableNames(table)].sort(), [
    "--bind",
    "--detach",
    "--net",
    "--ro-bind",
    "--volume",
    "-d",
    "-v",
  ]);
});

Deno.test("readme: every block of commands carries an <!-- example --> marker (run, or not run with a reason)", () => {
  const unmarked = codeBlocks(README).filter((b) => showsCommands(b) && b.marker === null).map((b) => b.lineNo);
  assert.deepEqual(unmarked, [], `README.md: code blocks without a marker at lines ${unmarked.join(", ")}`);
  for (const b of codeBlocks(README)) {
    if (b.marker !== null && !isRun(b)) assert.match(b.marker, /^: not run \(.+\)/, `line ${b.lineNo}: a reason`);
  }
});

Deno.test("readme: the Usage examples, the completions and the library example are run", () => {
  const run = codeBlocks(README).filter(isRun);
  const texts = run.flatMap((b) => b.lines.map((l) => l.text));
  for (const start of ["nsbox run --root -- id", "nsbox exec web -- ps -e", "nsbox completions fish", "import {"]) {
    assert.ok(texts.some((t) => t.startsWith(start)), start);
  }
  const lib = run.find((b) => b.lang === "ts");
  assert.ok(lib, "the library example is marked");
  assert.deepEqual(lib.lines[0]!.needs, ["cgroup v2"]);
});

Deno.test("readme: the block reader keeps markers, needs and line numbers; the comment reader skips quotes", () => {
  const text = [
    "<!-- example: spans",
    "     two lines -->",
    "",
    "    nsbox run -- true   # fine",
    "    nsbox run --mem 1M -- true   # (needs cgroup v2, see there)",
    "",
    "Text.",
    "",
    "    nsbox run -- unmarked",
    "",
    "<!-- example: not run (why) -->",
    "",
    "```ts",
    "x();",
    "```",
  ].join("\n");
  const blocks = codeBlocks(text);
  assert.deepEqual(blocks.map((b) => [b.marker, b.lang, b.lineNo, isRun(b)]), [
    [": spans two lines", "", 4, true],
    [null, "", 9, false],
    [": not run (why)", "ts", 13, false],
  ]);
  assert.deepEqual(blocks[0]!.lines.map((l) => [l.lineNo, l.needs]), [[4, []], [5, ["cgroup v2"]]]);
  assert.equal(shellComment(`sh -c 'echo # no' "a # b" x#y # yes`), " yes");
  assert.equal(shellComment("echo \\# no"), "");
});
