// Resource limits on this host: where the kernel or the session cannot
// enforce them, nsbox refuses with the reason and the fix (125) instead of
// running unlimited. The VM suite (tests/vm/limits_test.ts) covers hosts where
// they work.
import assert from "node:assert/strict";
import { nsbox } from "./_harness.ts";

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

const cgroupLines = read("/proc/self/cgroup").trim().split("\n");
const unified = cgroupLines.length === 1 && cgroupLines[0]!.startsWith("0::");
const runtime = Deno.env.get("XDG_RUNTIME_DIR");
function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}
const userBus = Boolean(Deno.env.get("DBUS_SESSION_BUS_ADDRESS")) ||
  (runtime !== undefined && isSocket(`${runtime}/bus`));

Deno.test({
  name: "limits: on a cgroup v1 or hybrid host, --mem is refused with the reason and the fix",
  ignore: unified,
  async fn() {
    const r = await nsbox(["run", "--mem", "100M", "--", "true"]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /^nsbox: --mem needs cgroup v2, but this host uses cgroup v1 controllers/m);
    assert.match(r.stderr, /^nsbox: hint: boot with systemd\.unified_cgroup_hierarchy=1/m);
    const several = await nsbox(["run", "--mem", "100M", "--cpus", "1", "--pids", "10", "--", "true"]);
    assert.equal(several.code, 125);
    assert.match(several.stderr, /^nsbox: --mem, --cpus and --pids need cgroup v2/m);
  },
});

Deno.test({
  name: "limits: on cgroup v2 without a user bus or a delegated cgroup, --mem is refused with the fix",
  ignore: !unified || userBus,
  async fn() {
    const r = await nsbox(["run", "--mem", "100M", "--", "true"]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /^nsbox: --mem needs a cgroup from systemd, but there is no user bus/m);
    assert.match(r.stderr, /loginctl enable-linger/);
  },
});

Deno.test("limits: bad limit values are refused with 125, naming the flag, before anything runs", async () => {
  const r = await nsbox([
    "run",
    "--mem",
    "lots",
    "--swap",
    "-1",
    "--cpus",
    "0",
    "--pids",
    "1.5",
    "--io-weight",
    "20000",
    "--",
    "true",
  ]);
  assert.equal(r.code, 125);
  const lines = r.stderr.trim().split("\n");
  assert.deepEqual(lines, [
    "nsbox: --mem: expected a size such as 256M or 1.5G, got 'lots'.",
    "nsbox: --swap: expected a size such as 0, 100M or 1G, got '-1'.",
    "nsbox: --pids: expected a whole number, got '1.5'.",
    "nsbox: --cpus: expected a number of CPUs from 0.01 up (e.g. 0.5, 2), got '0'.",
    "nsbox: --io-weight: expected a whole number from 1 to 10000, got '20000'.",
  ]);
});

Deno.test("limits: without limit flags no cgroup is asked for, and --stats reports getrusage figures", async () => {
  const r = await nsbox(["run", "--stats", "--", "true"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^nsbox: stats: wall [\d.]+ s, cpu [\d.]+ s user \+ [\d.]+ s system, memory peak \S+ \(largest process\), OOM kills 0$/m,
  );
});
