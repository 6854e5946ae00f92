/**
 * `nsbox run --json`: one final JSON line on stderr with the exit status, and
 * an error object when nsbox itself failed.
 */
import { assert } from "./_assert.ts";
import { lines, nsbox, type Ran } from "./_harness.ts";

/** The last stderr line, parsed. */
function report(r: Ran): Record<string, unknown> {
  const last = lines(r.stderr).at(-1);
  assert.ok(last, "nothing on stderr");
  try {
    return JSON.parse(last);
  } catch {
    assert.fail(`the last stderr line is not JSON: ${r.stderr}`);
  }
}

Deno.test("run --json: a command's exit ends stderr with a JSON line holding exit_code", async () => {
  const [ok, three] = await Promise.all([
    nsbox(["run", "--json", "--", "sh", "-c", "echo out; echo err >&2"]),
    nsbox(["run", "--json", "--", "sh", "-c", "exit 3"]),
  ]);
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout, "out\n", "the report goes to stderr only");
  assert.equal(lines(ok.stderr)[0], "err");
  const r0 = report(ok);
  assert.equal(r0.exit_code, 0);
  assert.equal(r0.error, undefined);
  const r3 = report(three);
  assert.equal(three.code, 3);
  assert.equal(r3.exit_code, 3);
  assert.equal(lines(three.stderr).length, 1, three.stderr);
});

Deno.test("run --json: a command killed by a signal reports exit_code 128+N and the signal", async () => {
  const r = await nsbox(["run", "--json", "--", "sh", "-c", "kill -TERM $$"]);
  assert.equal(r.code, 143);
  const rep = report(r);
  assert.equal(rep.exit_code, 143);
  assert.equal(rep.signal, "SIGTERM");
});

Deno.test("run --json: a failure reports exit_code and an error object", async () => {
  const [notFound, badBind] = await Promise.all([
    nsbox(["run", "--json", "--", "nsbox-no-such-command"]),
    nsbox(["run", "--json", "--bind", "/nonexistent-nsbox-src", "--", "true"]),
  ]);
  assert.equal(notFound.code, 127);
  const nf = report(notFound);
  assert.equal(nf.exit_code, 127);
  assert.equal(typeof nf.error, "object");
  assert.ok(JSON.stringify(nf.error).includes("nsbox-no-such-command"), JSON.stringify(nf));
  assert.equal(badBind.code, 125);
  const bb = report(badBind);
  assert.equal(bb.exit_code, 125);
  assert.equal(typeof bb.error, "object");
  assert.ok(JSON.stringify(bb.error).includes("/nonexistent-nsbox-src"), JSON.stringify(bb));
});

Deno.test("run --json: a bad command line still ends with the JSON report", async () => {
  const [unknown, badValue] = await Promise.all([
    nsbox(["run", "--json", "--no-such-flag", "--", "true"]),
    nsbox(["run", "--json", "--setenv", "NOVALUE", "--", "true"]),
  ]);
  for (const r of [unknown, badValue]) {
    assert.equal(r.code, 125, r.stderr);
    const rep = report(r);
    assert.equal(rep.exit_code, 125, r.stderr);
    assert.equal(typeof rep.error, "object", r.stderr);
  }
});

Deno.test("run --json: error.message is always a string and error.problems a list of lines", async () => {
  const [several, notFound] = await Promise.all([
    nsbox(["run", "--json", "--hostname", "a_b", "--setenv", "NOVALUE", "--", "true"]),
    nsbox(["run", "--json", "--", "nsbox-no-such-command"]),
  ]);
  for (const r of [several, notFound]) {
    const err = report(r).error as { message: unknown; problems: unknown };
    assert.equal(typeof err.message, "string", r.stderr);
    assert.ok(Array.isArray(err.problems), r.stderr);
    assert.equal(err.message, (err.problems as string[]).join("\n"), r.stderr);
  }
  const problems = (report(several).error as { problems: string[] }).problems;
  assert.equal(problems.length, 2, several.stderr);
  assert.ok(problems.some((p) => p.includes("--hostname")) && problems.some((p) => p.includes("--setenv")));
});
