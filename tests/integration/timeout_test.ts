/**
 * `--timeout DURATION` and `--kill-after DURATION`: the native supervisor
 * sends SIGTERM when the time is up, SIGKILL after the grace period, and nsbox
 * exits 124 with one line, as timeout(1) does.
 */
import { assert } from "./_assert.ts";
import { nsbox, sandboxSh, storeRoot, waitUntil } from "./_harness.ts";

Deno.test("--timeout: a command still running gets SIGTERM; nsbox says so and exits 124", async () => {
  const started = Date.now();
  const r = await nsbox(["run", "--timeout", "1", "--", "sleep", "30"]);
  assert.equal(r.code, 124, r.stderr);
  assert.equal(r.stderr, "nsbox: timed out after 1s\n");
  assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
});

Deno.test("--timeout with --kill-after: a command that ignores SIGTERM is killed after the grace period", async () => {
  const r = await sandboxSh("trap '' TERM; echo ready; sleep 20", [
    "--timeout",
    "300ms",
    "--kill-after",
    "300ms",
    "--json",
  ]);
  assert.equal(r.code, 124, r.stderr);
  assert.equal(r.stdout, "ready\n");
  const report = JSON.parse(r.stderr.trim().split("\n").at(-1)!);
  assert.equal(report.exit_code, 124);
  assert.equal(report.timed_out, true);
  assert.equal(report.signal, "SIGKILL");
});

Deno.test("--timeout: a command that ends in time keeps its own status, and the report says not timed out", async () => {
  const r = await sandboxSh("exit 3", ["--timeout", "30s", "--json"]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(JSON.parse(r.stderr.trim()).timed_out, false);
});

Deno.test("--timeout: a detached sandbox ends with 124 in ps --all", async () => {
  const name = `timeout-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  const r = await nsbox(["run", "-d", "--name", name, "--timeout", "500ms", "--", "sleep", "30"]);
  assert.equal(r.code, 0, r.stderr);
  try {
    await waitUntil(() => {
      try {
        return Deno.statSync(`${storeRoot()}/${name}/exit.json`).isFile;
      } catch {
        return false;
      }
    }, "the detached sandbox's end");
    const ps = JSON.parse((await nsbox(["ps", "--all", "--json"])).stdout) as Array<{ name: string; status: string }>;
    assert.equal(ps.find((x) => x.name === name)?.status, "exited 124");
  } finally {
    await nsbox(["rm", name]);
  }
});

Deno.test("--timeout and --kill-after refuse what is not a duration, and --kill-after alone, with one line each (125)", async () => {
  for (
    const [args, message] of [
      [["--timeout", "soon"], /^nsbox: --timeout: expected a duration such as 30s or 5m .*got 'soon'\.$/],
      [["--timeout", "0"], /^nsbox: --timeout: expected a duration/],
      [["--kill-after", "5"], /^nsbox: --kill-after: only with --timeout/],
    ] as const
  ) {
    const r = await nsbox(["run", ...args, "--", "true"]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr.trim(), message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
