/**
 * `nsbox doctor` on this machine, and inside a sandbox (nested nsbox), where
 * /proc has masked paths as in a Docker container.
 */
import assert from "node:assert/strict";
import { lines, nsbox, nsboxCommand } from "./_harness.ts";

interface Report {
  ok: boolean;
  checks: { name: string; status: string; message: string; hint: string | null }[];
}

Deno.test("doctor: one line a check on this host, ending with a real default run; --json says the same", async () => {
  const [text, json] = await Promise.all([nsbox(["doctor"]), nsbox(["doctor", "--json"])]);
  assert.equal(text.stderr, "");
  assert.equal(json.stderr, "");
  const report: Report = JSON.parse(json.stdout);
  assert.equal(report.checks.at(-1)!.name, "sandbox");
  // the integration tests run nsbox on this machine, so a default sandbox works here
  assert.equal(report.ok, true, json.stdout);
  assert.equal(json.code, 0);
  assert.equal(text.code, 0);
  const shown = lines(text.stdout);
  assert.equal(shown.length, report.checks.length);
  for (const [i, c] of report.checks.entries()) {
    assert.ok(["ok", "warn", "fail"].includes(c.status), c.status);
    assert.equal(typeof c.message, "string");
    const label = { ok: "ok  ", warn: "warn", fail: "FAIL" }[c.status];
    assert.equal(shown[i], `${label}  ${c.name}: ${c.message}${c.hint ? ` -- fix: ${c.hint}` : ""}`);
  }
  const names = report.checks.map((c) => c.name);
  for (const n of ["kernel", "user namespaces", "seccomp", "container", "cgroup v2", "user bus", "network helpers"]) {
    assert.ok(names.includes(n), `${n} missing`);
  }
  assert.ok(report.checks.filter((c) => c.name !== "sandbox").every((c) => c.status !== "fail"), json.stdout);
  assert.match(report.checks.find((c) => c.name === "kernel")!.message, new RegExp(`^Linux ${Deno.osRelease()}`));
});

Deno.test("doctor: inside a sandbox /proc is masked as in a container: the container check fails and says why", async () => {
  const [cmd, args] = nsboxCommand(["doctor", "--json"]);
  const r = await nsbox(["run", "--allow-userns", "--", cmd, ...args], { timeoutMs: 60_000 });
  const report: Report = JSON.parse(r.stdout);
  const container = report.checks.find((c) => c.name === "container")!;
  assert.equal(container.status, "fail", r.stdout);
  assert.match(container.message, /\/proc has masked paths \(\/proc\/[a-z_]+, /);
  assert.match(container.hint!, /systempaths=unconfined/);
  const sandbox = report.checks.at(-1)!;
  assert.equal(r.code, sandbox.status === "ok" ? 0 : 1, r.stdout + r.stderr);
  assert.equal(report.ok, sandbox.status === "ok");
});

Deno.test("doctor: operands and unknown flags are refused (125)", async () => {
  const [extra, bad, help] = await Promise.all([
    nsbox(["doctor", "now"]),
    nsbox(["doctor", "--verbose"]),
    nsbox(["doctor", "--help"]),
  ]);
  assert.equal(extra.code, 125);
  assert.equal(extra.stderr, "nsbox: doctor: takes no arguments, got 'now'.\n");
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^nsbox: '--verbose': unknown option for 'nsbox doctor'/);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: nsbox doctor \[--json\]$/m);
});
