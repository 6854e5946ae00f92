/**
 * `--help` and `nsbox completions bash`.
 */
import { assert } from "./_assert.ts";
import { lines, nsbox } from "./_harness.ts";

/** Every flag of `nsbox run`, as the issue lists them. */
const RUN_FLAGS = [
  "--share",
  "--hostname",
  "--root",
  "--map-users",
  "--bind",
  "--ro-bind",
  "--tmpfs",
  "--rootfs",
  "--chdir",
  "--clearenv",
  "--setenv",
  "--unsetenv",
  "--as-pid-1",
  "--json",
  "--help",
];

Deno.test("run --help shows the usage, every flag and examples, on stdout, exit 0", async () => {
  const [long, short] = await Promise.all([nsbox(["run", "--help"]), nsbox(["run", "-h"])]);
  assert.equal(long.code, 0, long.stderr);
  assert.equal(long.stderr, "");
  assert.equal(short.stdout, long.stdout);
  const help = long.stdout;
  assert.match(help, /^Usage: nsbox run /m);
  for (const flag of RUN_FLAGS) assert.match(help, new RegExp(`^\\s+(-\\w, )?${flag}\\b`, "m"), `${flag} missing`);
  const examples = help.slice(help.indexOf("Examples:"));
  assert.ok(help.includes("Examples:"), "no Examples section");
  assert.match(examples, /nsbox run .*-- /);
  assert.match(help, /125/);
  assert.match(help, /126/);
  assert.match(help, /127/);
});

Deno.test("run --help wins over other flags and runs nothing", async () => {
  const r = await nsbox(["run", "--root", "--help", "--", "sh", "-c", "echo ran"]);
  assert.equal(r.code, 0);
  assert.doesNotMatch(r.stdout, /^ran$/m);
  assert.match(r.stdout, /^Usage: nsbox run /m);
});

Deno.test("nsbox --help lists the commands and exits 0", async () => {
  for (const arg of ["--help", "-h", "help"]) {
    const r = await nsbox([arg]);
    assert.equal(r.code, 0, `${arg}: ${r.stderr}`);
    assert.match(r.stdout, /\brun\b/);
    assert.match(r.stdout, /\bcompletions\b/);
  }
});

Deno.test("completions bash prints a script that bash -n accepts and that completes flags", async () => {
  const r = await nsbox(["completions", "bash"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  for (const flag of RUN_FLAGS) assert.ok(r.stdout.includes(flag), `${flag} missing from the completion script`);
  const check = await new Deno.Command("bash", { args: ["-n"], stdin: "piped", stderr: "piped" }).spawn();
  const w = check.stdin.getWriter();
  await w.write(new TextEncoder().encode(r.stdout));
  await w.close();
  const out = await check.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));

  // use it: complete `nsbox run --ro` and `nsbox ru`
  const complete = (words: string[]) =>
    `COMP_WORDS=(${words.join(" ")}); COMP_CWORD=${words.length - 1}; _nsbox; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const script = `set -e\n${r.stdout}\n${complete(["nsbox", "run", "--ro"])}\necho --\n${complete(["nsbox", "ru"])}`;
  const used = await new Deno.Command("bash", { args: ["-c", script], stdin: "null" }).output();
  const dec = new TextDecoder();
  assert.equal(used.code, 0, dec.decode(used.stderr));
  const [flags, commands] = dec.decode(used.stdout).split("--\n");
  assert.deepEqual(lines(flags!).sort(), ["--ro-bind", "--ro-bind-try", "--root", "--rootfs"]);
  assert.deepEqual(lines(commands!), ["run"]);
});
