// staleCgroup(): which recorded cgroup a stale-record clean-up may kill (src/state/leftovers.ts). The kill itself
// runs in the VM suite (tests/vm/faults_test.ts), where there are cgroups of one's own.
import assert from "node:assert/strict";
import { staleCgroup, supervisorCgroupOf } from "../../src/state/leftovers.ts";

const UID = 1000;
const SCOPE = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/nsbox-web.scope";
const DELEGATED = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/run-x.scope/nsbox-web";

/** Every directory is the caller's, except those in `others` (another user's) and `missing` (not there). */
function owners(others: readonly string[] = [], missing: readonly string[] = []) {
  return (path: string) => missing.includes(path) ? null : others.includes(path) ? 0 : UID;
}

const rec = (cgroup: string | null, unit: string | null, cgroupId: number | null = 77) => ({
  name: "web",
  cgroup,
  unit,
  ...(cgroupId === null ? {} : { cgroupId }),
});

Deno.test("staleCgroup: a systemd scope's leaf named for the sandbox, the caller's, with a cgroup id", () => {
  assert.equal(staleCgroup(rec(`${SCOPE}/sandbox`, "nsbox-web.scope"), UID, owners()), `${SCOPE}/sandbox`);
});

Deno.test("staleCgroup: a delegated cgroup's leaf (no unit) named for the sandbox", () => {
  assert.equal(staleCgroup(rec(`${DELEGATED}/sandbox`, null), UID, owners()), `${DELEGATED}/sandbox`);
});

Deno.test("staleCgroup: nothing without a cgroup, or without a recorded cgroup id (an older record)", () => {
  assert.equal(staleCgroup(rec(null, null), UID, owners()), null);
  assert.equal(staleCgroup(rec(`${SCOPE}/sandbox`, "nsbox-web.scope", null), UID, owners()), null);
});

Deno.test("staleCgroup: nothing for a cgroup not named for the sandbox, or named another way", () => {
  const other = SCOPE.replace("nsbox-web", "nsbox-db");
  for (
    const [cgroup, unit] of [
      [`${other}/sandbox`, "nsbox-web.scope"], // another sandbox's scope
      [`${SCOPE}/sandbox`, "nsbox-db.scope"], // the unit is not the sandbox's
      [`${SCOPE}/sandbox`, null], // a scope's path without its unit
      [`${DELEGATED}/sandbox`, "nsbox-web.scope"], // a delegated path with a unit
      [`${SCOPE}/init`, "nsbox-web.scope"], // PID 1's cgroup, not the leaf
      [SCOPE, "nsbox-web.scope"], // the scope itself
      [`${SCOPE}/sandbox/x`, "nsbox-web.scope"], // below the leaf
      [`${SCOPE}/../nsbox-web.scope/sandbox`, "nsbox-web.scope"], // not normalised
      ["/tmp/nsbox-web.scope/sandbox", "nsbox-web.scope"], // not under /sys/fs/cgroup
      ["/sys/fs/cgroup/nsbox-web.scope//sandbox", "nsbox-web.scope"],
    ] as const
  ) {
    assert.equal(staleCgroup(rec(cgroup, unit), UID, owners()), null, `${cgroup} (${unit})`);
  }
});

Deno.test("staleCgroup: nothing when the leaf or its parent is another user's, or not there", () => {
  const leaf = `${SCOPE}/sandbox`;
  assert.equal(staleCgroup(rec(leaf, "nsbox-web.scope"), UID, owners([leaf])), null);
  assert.equal(staleCgroup(rec(leaf, "nsbox-web.scope"), UID, owners([SCOPE])), null);
  assert.equal(staleCgroup(rec(leaf, "nsbox-web.scope"), UID, owners([], [leaf])), null);
  assert.equal(staleCgroup(rec(leaf, "nsbox-web.scope"), UID, owners([], [SCOPE])), null);
});

Deno.test("supervisorCgroupOf: the killed nsbox's own cgroup beside a delegated sandbox's", () => {
  const own = DELEGATED.slice(0, DELEGATED.lastIndexOf("/"));
  assert.equal(supervisorCgroupOf(`${DELEGATED}/sandbox`, 4242), `${own}/nsbox-supervisor-4242`);
  assert.equal(supervisorCgroupOf(`${DELEGATED}/sandbox`, 0), null);
  assert.equal(supervisorCgroupOf(`${DELEGATED}/sandbox`, -1), null);
  assert.equal(supervisorCgroupOf("/sys/fs/cgroup/nsbox-web/sandbox", 4242), null); // no cgroup of nsbox's above it
});
