/**
 * `nsbox run` environment, arguments and inherited descriptors.
 */
import { assert } from "./_assert.ts";
import { nsbox, PROBE, probe } from "./_harness.ts";

/** The command's environment as NAME=VALUE lines (`env -0`, so newlines in values survive). */
async function envInside(flags: string[], env?: Record<string, string>): Promise<Map<string, string>> {
  const r = await nsbox(["run", ...flags, "--", "env", "-0"], { env });
  assert.equal(r.code, 0, r.stderr);
  const vars = new Map<string, string>();
  for (const entry of r.stdout.split("\0").filter(Boolean)) {
    const eq = entry.indexOf("=");
    vars.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return vars;
}

Deno.test("run: the environment passes through by default", async () => {
  const env = await envInside([], { NSBOX_TEST_VAR: "some value", NSBOX_TEST_EMPTY: "" });
  assert.equal(env.get("NSBOX_TEST_VAR"), "some value");
  assert.equal(env.get("NSBOX_TEST_EMPTY"), "");
  assert.equal(env.get("PATH"), Deno.env.get("PATH"));
  assert.equal(env.get("HOME"), Deno.env.get("HOME"));
});

Deno.test("run: --clearenv starts from an empty environment; the command is still found", async () => {
  const [env, p] = await Promise.all([
    envInside(["--clearenv"], { NSBOX_TEST_VAR: "x" }),
    probe(["--clearenv"]),
  ]);
  assert.deepEqual([...env.keys()], []);
  assert.equal(p.env_count, 0);
});

Deno.test("run: --setenv and --unsetenv apply in order, after --clearenv", async () => {
  const env = await envInside([
    "--setenv",
    "A=1",
    "--unsetenv",
    "A",
    "--unsetenv",
    "B",
    "--setenv",
    "B=2",
    "--setenv",
    "C=first",
    "--setenv",
    "C=second",
    "--setenv",
    "D=x=y z\nnext line",
    "--setenv",
    "E=",
    "--unsetenv",
    "NSBOX_TEST_GONE",
    "--unsetenv",
    "NEVER_SET",
  ], { B: "host", NSBOX_TEST_GONE: "x", NSBOX_TEST_KEPT: "kept" });
  assert.equal(env.has("A"), false);
  assert.equal(env.get("B"), "2");
  assert.equal(env.get("C"), "second");
  assert.equal(env.get("D"), "x=y z\nnext line");
  assert.equal(env.get("E"), "");
  assert.equal(env.has("NSBOX_TEST_GONE"), false);
  assert.equal(env.get("NSBOX_TEST_KEPT"), "kept");

  const clean = await envInside(["--setenv", "X=1", "--clearenv", "--setenv", "Y=2"], { Z: "3" });
  assert.deepEqual(Object.fromEntries(clean), { X: "1", Y: "2" }, "--clearenv applies first, whatever its position");
});

Deno.test("run: without PATH in the environment the command is found in a default PATH", async () => {
  const env = await envInside(["--unsetenv", "PATH"]);
  assert.equal(env.has("PATH"), false, "nsbox must not add PATH to the environment");
  assert.ok(env.size > 0);
});

Deno.test("run: the arguments reach the command unchanged", async () => {
  const args = ["plain", "with space", "", "-c", "--", "--root", "quote'\"", "é ☃", "new\nline", "$HOME", "*"];
  const r = await nsbox(["run", "--", PROBE, ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).argv, [PROBE, ...args]);
  // options end at the first operand: the rest belongs to the command
  const r2 = await nsbox(["run", PROBE, "--root", "-c", "x"]);
  assert.equal(r2.code, 0, r2.stderr);
  const p2 = JSON.parse(r2.stdout);
  assert.deepEqual(p2.argv, [PROBE, "--root", "-c", "x"]);
  assert.equal(p2.uid, Deno.uid(), "--root after the command was taken as nsbox's");
});

Deno.test("run: the command inherits only stdin, stdout and stderr", async () => {
  const [plain, pid1] = await Promise.all([probe(), probe(["--as-pid-1"])]);
  assert.deepEqual(plain.fds, [0, 1, 2]);
  assert.deepEqual(pid1.fds, [0, 1, 2]);
});
