/**
 * docs/nsbox.1, generated from the flag table by `deno task man` (scripts/gen_man.ts).
 */
import assert from "node:assert/strict";
import { manPage } from "../../src/cli/man.ts";
import { type CommandDef, COMMANDS } from "../../src/cli/flags.ts";

const PAGE = new URL("../../docs/nsbox.1", import.meta.url);

Deno.test("man: the committed docs/nsbox.1 is what `deno task man` writes (run it after changing flags.ts)", () => {
  const committed = Deno.readTextFileSync(PAGE);
  assert.ok(committed === manPage(), "docs/nsbox.1 is stale: run `scripts/deno task man` and commit docs/nsbox.1");
});

Deno.test("man: every command, its usage, every flag and every example is on the page, roff-escaped", () => {
  const page = manPage();
  assert.match(page, /^\.TH NSBOX 1 /m);
  for (const section of ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "SEE ALSO"]) {
    assert.match(page, new RegExp(`^\\.SH ${section}$`, "m"));
  }
  const roff = (s: string) => s.replaceAll("\\", "\\e").replaceAll("-", "\\-");
  for (const c of COMMANDS) {
    assert.ok(page.includes(`.SS "${roff(c.usage)}"`), c.usage);
    for (const f of c.flags) assert.ok(page.includes(`\\fB\\-\\-${roff(f.name)}\\fR`), `${c.name} --${f.name}`);
    for (const [example] of c.examples) assert.ok(page.includes(`\\fB${roff(example)}\\fR`), example);
  }
  // no line of text starts with a control character it did not mean
  for (const line of page.split("\n")) {
    if (/^[.']/.test(line)) assert.match(line, /^\.(\\" |TH |SH |SS "|PP$|TP$|RS 4$|RE$|br$)/, line);
  }
});

Deno.test("man: a flag added to the table is on the page, with its value and choices", () => {
  const fake: CommandDef = {
    name: "frob",
    usage: "nsbox frob [--colour WHEN]",
    summary: "frobs",
    description: ".starts with a dot",
    exits: "",
    flags: [{ name: "share-more", value: "NS[,NS...]", repeatable: true, group: "G", help: "more sharing" }],
    examples: [["nsbox frob --share-more net", "shares"]],
  };
  const page = manPage([fake]);
  assert.match(page, /^\.TP\n\\fB\\-\\-share\\-more\\fR \\fINS\[,NS\.\.\.\]\\fR\nmore sharing \(any of: \\fBnet\\fR/m);
  assert.match(page, /^\\&\.starts with a dot$/m);
});

Deno.test({
  name: "man: groff renders the page without warnings",
  ignore: !(Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(`${d}/groff`).isFile;
    } catch {
      return false;
    }
  }),
  fn: async () => {
    const out = await new Deno.Command("groff", { args: ["-man", "-Tutf8", "-ww", "-z", PAGE.pathname] }).output();
    assert.equal(out.code, 0);
    assert.equal(new TextDecoder().decode(out.stderr), "");
  },
});
