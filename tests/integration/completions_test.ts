/**
 * `nsbox completions bash|zsh|fish` and `nsbox ps -q`, end to end: the script
 * nsbox prints completes the names of the caller's running sandboxes by
 * asking the real nsbox.
 */
import assert from "node:assert/strict";
import { lines, nsbox, nsboxCommand, ROOT, startNsbox } from "./_harness.ts";

const dec = new TextDecoder();

Deno.test("completions: bash, zsh and fish scripts on stdout, exit 0; help names the three shells", async () => {
  const [bash, zsh, fish, help] = await Promise.all([
    nsbox(["completions", "bash"]),
    nsbox(["completions", "zsh"]),
    nsbox(["completions", "fish"]),
    nsbox(["completions", "--help"]),
  ]);
  for (const r of [bash, zsh, fish, help]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
  }
  assert.match(bash.stdout, /^complete -F _nsbox nsbox$/m);
  assert.match(zsh.stdout, /^#compdef nsbox$/m);
  assert.match(fish.stdout, /^complete -c nsbox -n __fish_use_subcommand -f -a run /m);
  assert.match(help.stdout, /^Usage: nsbox completions bash\|zsh\|fish$/m);
  const two = await nsbox(["completions", "bash", "zsh"]);
  assert.equal(two.code, 125);
  assert.equal(two.stderr, "nsbox: completions: expected a shell name, bash, zsh, fish, got 'bash zsh'.\n");
});

Deno.test("ps -q prints the names only; -q with --json is refused", async () => {
  const name = `compl-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  const run = startNsbox(["run", "--name", name, "--", "sh", "-c", "echo up; sleep 30"]);
  try {
    await run.waitForStdout("up");
    const q = await nsbox(["ps", "-q"]);
    assert.equal(q.code, 0, q.stderr);
    assert.ok(lines(q.stdout).includes(name), q.stdout);
    assert.ok(lines(q.stdout).every((l) => /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(l)), q.stdout); // no table, no header
    const both = await nsbox(["ps", "-q", "--json"]);
    assert.equal(both.code, 125);
    assert.equal(both.stderr, "nsbox: --quiet: cannot be used with --json.\n");

    // the bash script nsbox prints completes `nsbox kill <prefix>` and `nsbox exec <prefix>` with the name
    const script = (await nsbox(["completions", "bash"])).stdout;
    const dir = await Deno.makeTempDir({ prefix: "nsbox-compl-" });
    try {
      const [deno, args] = nsboxCommand([]);
      await Deno.writeTextFile(
        `${dir}/nsbox`,
        `#!/bin/sh\nexec '${deno}' ${args.map((a) => `'${a}'`).join(" ")} "$@"\n`,
        {
          mode: 0o755,
        },
      );
      const prefix = name.slice(0, -2);
      const driver = `${script}
for line in "nsbox kill ${prefix}" "nsbox exec ${prefix}"; do
  COMP_LINE=$line COMP_POINT=\${#line}
  read -ra COMP_WORDS <<<"$line"
  COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
  _nsbox
  printf '%s\\n' "\${COMPREPLY[@]}" @@
done`;
      const out = await new Deno.Command("bash", {
        args: ["-c", driver],
        env: { PATH: `${dir}:/usr/bin:/bin` },
        cwd: ROOT,
        stdin: "null",
      }).output();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      const [kill, exec] = dec.decode(out.stdout).split("@@\n").map(lines);
      assert.deepEqual(kill, [name]);
      assert.deepEqual(exec, [name]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    await run[Symbol.asyncDispose]();
  }
});
