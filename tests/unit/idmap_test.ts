import assert from "node:assert/strict";
import { idMapLines, idMapPlan } from "../../src/plan/idmap.ts";
import type { IdentitySpec } from "../../src/spec/spec.ts";
import type { IdMapLine } from "../../src/plan/ops.ts";

const SUB = { start: 100000, count: 65536 };

function identity(over: Partial<IdentitySpec> = {}): IdentitySpec {
  return { mode: "user", hostUid: 1000, hostGid: 100, capabilities: [], subUids: null, subGids: null, ...over };
}

/** Inside ids a map covers, checked to be disjoint inside and outside. */
function covered(lines: readonly IdMapLine[]): { inside: Set<number>; outside: Set<number> } {
  const inside = new Set<number>(), outside = new Set<number>();
  for (const l of lines) {
    assert.ok(l.count > 0, `empty line ${JSON.stringify(l)}`);
    for (let i = 0; i < l.count; i++) {
      assert.ok(!inside.has(l.inside + i), `inside id ${l.inside + i} mapped twice`);
      assert.ok(!outside.has(l.outside + i), `outside id ${l.outside + i} mapped twice`);
      inside.add(l.inside + i);
      outside.add(l.outside + i);
    }
  }
  return { inside, outside };
}

Deno.test("idMapLines() maps only the caller's id without a subordinate range", () => {
  assert.deepEqual(idMapLines(1000, 1000, null), [{ inside: 1000, outside: 1000, count: 1 }]);
  assert.deepEqual(idMapLines(1000, 0, null), [{ inside: 0, outside: 1000, count: 1 }]);
});

Deno.test("idMapLines() puts the range above slot 0", () => {
  assert.deepEqual(idMapLines(1000, 0, SUB), [
    { inside: 0, outside: 1000, count: 1 },
    { inside: 1, outside: 100000, count: 65536 },
  ]);
});

Deno.test("idMapLines() splits the range around slot 1000", () => {
  const lines = idMapLines(1000, 1000, SUB);
  assert.deepEqual(lines, [
    { inside: 1000, outside: 1000, count: 1 },
    { inside: 0, outside: 100000, count: 1000 },
    { inside: 1001, outside: 101000, count: 64536 },
  ]);
  const { inside, outside } = covered(lines);
  assert.equal(inside.size, 65537);
  for (let i = 0; i <= 65536; i++) assert.ok(inside.has(i), `inside id ${i} not mapped`);
  assert.ok(outside.has(1000) && outside.has(100000) && outside.has(165535) && !outside.has(165536));
});

Deno.test("idMapLines() uses the whole range below a slot larger than its count", () => {
  const lines = idMapLines(5000, 5000, { start: 300000, count: 1000 });
  assert.deepEqual(lines, [
    { inside: 5000, outside: 5000, count: 1 },
    { inside: 0, outside: 300000, count: 1000 },
  ]);
  assert.equal(covered(lines).inside.size, 1001);
});

Deno.test("idMapLines() handles a slot equal to the range's count", () => {
  assert.deepEqual(idMapLines(7, 10, { start: 500, count: 10 }), [
    { inside: 10, outside: 7, count: 1 },
    { inside: 0, outside: 500, count: 10 },
  ]);
});

Deno.test("idMapPlan() maps the caller to itself in user mode, the kernel way", () => {
  assert.deepEqual(idMapPlan(identity()), {
    uid: [{ inside: 1000, outside: 1000, count: 1 }],
    gid: [{ inside: 100, outside: 100, count: 1 }],
    setgroups: "deny",
    writer: "kernel",
  });
});

Deno.test("idMapPlan() maps the caller to 0 in root mode", () => {
  assert.deepEqual(idMapPlan(identity({ mode: "root" })), {
    uid: [{ inside: 0, outside: 1000, count: 1 }],
    gid: [{ inside: 0, outside: 100, count: 1 }],
    setgroups: "deny",
    writer: "kernel",
  });
});

Deno.test("idMapPlan() adds subordinate ranges through newuidmap/newgidmap", () => {
  const gsub = { start: 200000, count: 65536 };
  assert.deepEqual(idMapPlan(identity({ mode: "root", subUids: SUB, subGids: gsub })), {
    uid: [{ inside: 0, outside: 1000, count: 1 }, { inside: 1, outside: 100000, count: 65536 }],
    gid: [{ inside: 0, outside: 100, count: 1 }, { inside: 1, outside: 200000, count: 65536 }],
    setgroups: "allow",
    writer: "newidmap",
  });
  const user = idMapPlan(identity({ subUids: SUB, subGids: gsub }));
  assert.deepEqual(user.uid, [
    { inside: 1000, outside: 1000, count: 1 },
    { inside: 0, outside: 100000, count: 1000 },
    { inside: 1001, outside: 101000, count: 64536 },
  ]);
  assert.deepEqual(user.gid, [
    { inside: 100, outside: 100, count: 1 },
    { inside: 0, outside: 200000, count: 100 },
    { inside: 101, outside: 200100, count: 65436 },
  ]);
  assert.equal(user.writer, "newidmap");
  assert.equal(user.setgroups, "allow");
});
