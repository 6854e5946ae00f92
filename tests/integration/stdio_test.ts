/**
 * The caller's stdin, stdout and stderr reach the command as they are: a
 * descriptor the caller closed (`>&-`) is closed for the command too, not
 * the /dev/null Deno's runtime puts in its place; a redirection to
 * /dev/null stays one.
 */
import { assert } from "./_assert.ts";
import { nsboxCommand } from "./_harness.ts";

/**
 * Runs nsbox through sh with `redirect` applied, the sandbox reporting on fd 2
 * what its shell's fd 1 is (with test(1) only: sh moves its own fd 1 around
 * while it redirects a command's).
 */
async function fd1With(redirect: string): Promise<{ code: number; stderr: string }> {
  const [cmd, args] = nsboxCommand([
    "run",
    "--",
    "sh",
    "-c",
    'if [ ! -e /proc/$$/fd/1 ]; then echo "fd1 closed" >&2; elif [ -c /proc/$$/fd/1 ]; then echo "fd1 a device" >&2; ' +
    'else echo "fd1 something else" >&2; fi',
  ]);
  const out = await new Deno.Command("sh", {
    args: ["-c", `"$0" "$@" ${redirect}`, cmd, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("stdio: a stdout the caller closed (>&-) is closed for the command", async () => {
  const r = await fd1With(">&-");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "fd1 closed\n");
});

Deno.test("stdio: a stdout redirected to /dev/null stays /dev/null", async () => {
  const r = await fd1With(">/dev/null");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "fd1 a device\n");
});
