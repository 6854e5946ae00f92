import assert from "node:assert/strict";
import { CAPABILITIES, capabilityNumber, capabilitySet, ROOT_DENIED } from "../../src/spec/capabilities.ts";
import { CAP_LAST } from "../../src/linux.ts";

Deno.test("CAPABILITIES numbers capabilities as linux/capability.h does", () => {
  const spots: Array<[string, number]> = [
    ["CHOWN", 0],
    ["DAC_OVERRIDE", 1],
    ["KILL", 5],
    ["SETUID", 7],
    ["NET_BIND_SERVICE", 10],
    ["NET_ADMIN", 12],
    ["NET_RAW", 13],
    ["SYS_CHROOT", 18],
    ["SYS_PTRACE", 19],
    ["SYS_ADMIN", 21],
    ["MKNOD", 27],
    ["SETFCAP", 31],
    ["SYSLOG", 34],
    ["AUDIT_READ", 37],
    ["PERFMON", 38],
    ["BPF", 39],
    ["CHECKPOINT_RESTORE", 40],
  ];
  for (const [name, n] of spots) assert.equal(CAPABILITIES.indexOf(name as never), n, name);
  assert.equal(CAPABILITIES.length, 41);
  assert.equal(CAPABILITIES.length - 1, CAP_LAST);
  assert.equal(new Set(CAPABILITIES).size, CAPABILITIES.length);
  for (const c of CAPABILITIES) assert.match(c, /^[A-Z][A-Z_]*[A-Z]$/, c);
});

Deno.test("capabilityNumber() accepts any case, with or without CAP_", () => {
  for (const name of ["NET_ADMIN", "net_admin", "Net_Admin", "CAP_NET_ADMIN", "cap_net_admin", "Cap_Net_Admin"]) {
    assert.equal(capabilityNumber(name), 12, name);
  }
  assert.equal(capabilityNumber("chown"), 0);
  assert.equal(capabilityNumber("CAP_CHOWN"), 0);
  assert.equal(capabilityNumber("checkpoint_restore"), 40);
  CAPABILITIES.forEach((c, i) => {
    assert.equal(capabilityNumber(c), i, c);
    assert.equal(capabilityNumber(`CAP_${c}`), i, `CAP_${c}`);
  });
});

Deno.test("capabilityNumber() returns null for unknown names", () => {
  for (
    const name of ["", "CAP_", "NET", "NET ADMIN", "NETADMIN", "CAP_CAP_NET_ADMIN", "ALL", "41", "12", "XNET_ADMIN"]
  ) {
    assert.equal(capabilityNumber(name), null, JSON.stringify(name));
  }
});

Deno.test("ROOT_DENIED names real capabilities, once each", () => {
  assert.equal(new Set(ROOT_DENIED).size, ROOT_DENIED.length);
  for (const c of ROOT_DENIED) assert.ok(CAPABILITIES.includes(c), c);
  for (const c of ["SYS_MODULE", "SYS_RAWIO", "SYS_TIME", "SYS_BOOT", "BPF", "PERFMON", "MAC_ADMIN", "SYSLOG"]) {
    assert.ok(ROOT_DENIED.includes(c as never), `${c} is not denied`);
  }
  for (const c of ["SYS_ADMIN", "NET_ADMIN", "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "MKNOD", "SYS_CHROOT"]) {
    assert.ok(!ROOT_DENIED.includes(c as never), `${c} is denied`);
  }
});

Deno.test("capabilitySet() gives a user nothing and root everything but ROOT_DENIED", () => {
  assert.deepEqual(capabilitySet("user", [], []), []);
  const root = capabilitySet("root", [], []);
  const expected = CAPABILITIES.flatMap((c, i) => ROOT_DENIED.includes(c) ? [] : [i]);
  assert.deepEqual(root, expected);
  assert.equal(root.length, CAPABILITIES.length - ROOT_DENIED.length);
  assert.ok(root.includes(21) && root.includes(12) && root.includes(0));
  assert.ok(!root.includes(16) && !root.includes(39));
});

Deno.test("capabilitySet() applies drops, then ALL, then adds, and sorts", () => {
  assert.deepEqual(
    capabilitySet("root", [], [21, 12]),
    capabilitySet("root", [], []).filter((c) => c !== 21 && c !== 12),
  );
  assert.deepEqual(capabilitySet("root", [], "all"), []);
  assert.deepEqual(capabilitySet("user", [], "all"), []);
  assert.deepEqual(capabilitySet("root", [13, 12], "all"), [12, 13]);
  assert.deepEqual(capabilitySet("user", [13, 10, 13], []), [10, 13]);
  // an add wins over a drop of the same capability
  assert.ok(capabilitySet("root", [21], [21]).includes(21));
  // a denied capability can be added back explicitly
  assert.ok(capabilitySet("root", [39], []).includes(39));
  // dropping what is not there is harmless
  assert.deepEqual(capabilitySet("user", [], [5, 40]), []);
  const set = capabilitySet("root", [16, 0], [1]);
  assert.deepEqual(set, [...set].sort((a, b) => a - b));
  assert.equal(new Set(set).size, set.length);
});

Deno.test("capabilitySet() leaves its arguments alone", () => {
  const adds = [13, 12], drops = [21];
  capabilitySet("root", adds, drops);
  assert.deepEqual(adds, [13, 12]);
  assert.deepEqual(drops, [21]);
});
