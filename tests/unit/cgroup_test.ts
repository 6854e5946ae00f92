/**
 * The pure parts of src/cgroup: limits as interface files and as systemd
 * properties, and parsing /proc/PID/mountinfo and /proc/PID/cgroup text.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  cgroup2Root,
  cgroupOf,
  controllersFor,
  CPU_PERIOD_USEC,
  isUnifiedOnly,
  limitFiles,
} from "../../src/cgroup/fs.ts";
import { scopeProperties } from "../../src/cgroup/systemd.ts";
import type { LimitsSpec } from "../../src/spec/spec.ts";

const NONE: LimitsSpec = { memoryMax: null, swapMax: null, cpus: null, pidsMax: null, ioWeight: null };
const limits = (l: Partial<LimitsSpec>): LimitsSpec => ({ ...NONE, ...l });
const ALL = limits({ memoryMax: 104857600, swapMax: 0, cpus: 0.5, pidsMax: 200, ioWeight: 500 });

Deno.test("controllersFor() names the controllers the limits need", () => {
  assert.deepEqual(controllersFor(NONE), []);
  assert.deepEqual(controllersFor(limits({ memoryMax: 1 })), ["memory"]);
  assert.deepEqual(controllersFor(limits({ swapMax: 0 })), ["memory"]);
  assert.deepEqual(controllersFor(limits({ memoryMax: 1, swapMax: 1 })), ["memory"]);
  assert.deepEqual(controllersFor(limits({ cpus: 2 })), ["cpu"]);
  assert.deepEqual(controllersFor(limits({ pidsMax: 10 })), ["pids"]);
  assert.deepEqual(controllersFor(limits({ ioWeight: 100 })), ["io"]);
  assert.deepEqual(controllersFor(ALL), ["memory", "cpu", "pids", "io"]);
});

Deno.test("limitFiles() writes memory.max with memory.oom.group", () => {
  assert.deepEqual(limitFiles(limits({ memoryMax: 104857600 })), [["memory.max", "104857600"], [
    "memory.oom.group",
    "1",
  ]]);
  assert.deepEqual(limitFiles(limits({ memoryMax: 0 })), [["memory.max", "0"], ["memory.oom.group", "1"]]);
});

Deno.test("limitFiles() writes memory.swap.max, and no memory.max for swap alone", () => {
  assert.deepEqual(limitFiles(limits({ swapMax: 0 })), [["memory.swap.max", "0"]]);
  assert.deepEqual(limitFiles(limits({ memoryMax: 1048576, swapMax: 2097152 })), [
    ["memory.max", "1048576"],
    ["memory.oom.group", "1"],
    ["memory.swap.max", "2097152"],
  ]);
});

Deno.test("limitFiles() writes cpu.max as quota and period, rounded, at least 1000 µs", () => {
  assert.equal(CPU_PERIOD_USEC, 100000);
  const cpuMax = (cpus: number) => limitFiles(limits({ cpus }));
  assert.deepEqual(cpuMax(0.5), [["cpu.max", "50000 100000"]]);
  assert.deepEqual(cpuMax(1), [["cpu.max", "100000 100000"]]);
  assert.deepEqual(cpuMax(2.5), [["cpu.max", "250000 100000"]]);
  assert.deepEqual(cpuMax(1.234567), [["cpu.max", "123457 100000"]]);
  assert.deepEqual(cpuMax(0.0123), [["cpu.max", "1230 100000"]]);
  assert.deepEqual(cpuMax(0.01), [["cpu.max", "1000 100000"]]);
  assert.deepEqual(cpuMax(0.001), [["cpu.max", "1000 100000"]]);
  assert.deepEqual(cpuMax(0.000001), [["cpu.max", "1000 100000"]]);
  assert.deepEqual(cpuMax(64), [["cpu.max", "6400000 100000"]]);
});

Deno.test("limitFiles() writes pids.max and io.weight as 'default N'", () => {
  assert.deepEqual(limitFiles(limits({ pidsMax: 50 })), [["pids.max", "50"]]);
  assert.deepEqual(limitFiles(limits({ ioWeight: 1 })), [["io.weight", "default 1"]]);
  assert.deepEqual(limitFiles(limits({ ioWeight: 10000 })), [["io.weight", "default 10000"]]);
});

Deno.test("limitFiles() writes nothing without limits and everything in a fixed order", () => {
  assert.deepEqual(limitFiles(NONE), []);
  assert.deepEqual(limitFiles(ALL), [
    ["memory.max", "104857600"],
    ["memory.oom.group", "1"],
    ["memory.swap.max", "0"],
    ["cpu.max", "50000 100000"],
    ["pids.max", "200"],
    ["io.weight", "default 500"],
  ]);
  // every file belongs to a controller controllersFor() asks for
  const controllers = controllersFor(ALL);
  for (const [file] of limitFiles(ALL)) assert.ok(controllers.includes(file.split(".")[0]!), file);
});

const MOUNTINFO = [
  "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro",
  "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
  "24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw",
  "25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:3 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
  "26 24 0:24 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:4 - pstore pstore rw",
  "",
].join("\n");

Deno.test("cgroup2Root() finds the cgroup2 mount point in mountinfo", () => {
  assert.equal(cgroup2Root(MOUNTINFO), "/sys/fs/cgroup");
});

Deno.test("cgroup2Root() reads lines without optional fields, or with several", () => {
  assert.equal(cgroup2Root("30 1 0:26 / /cg rw - cgroup2 none rw\n"), "/cg");
  assert.equal(cgroup2Root("30 1 0:26 / /cg rw shared:5 master:3 propagate_from:2 - cgroup2 none rw\n"), "/cg");
});

Deno.test("cgroup2Root() skips cgroup v1 and other file systems named like cgroup2", () => {
  const hybrid = [
    "30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755",
    "31 30 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:5 - cgroup cgroup rw,memory",
    "32 30 0:28 / /sys/fs/cgroup/unified rw,nosuid shared:6 - cgroup2 cgroup2 rw,nsdelegate",
  ].join("\n");
  assert.equal(cgroup2Root(hybrid), "/sys/fs/cgroup/unified");
  assert.equal(cgroup2Root("40 1 0:40 / /cgroup2 rw - tmpfs cgroup2 rw\n"), null);
  assert.equal(cgroup2Root("31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup2 rw,cpu\n"), null);
});

Deno.test("cgroup2Root() returns null without a cgroup2 mount", () => {
  assert.equal(cgroup2Root(""), null);
  assert.equal(cgroup2Root(MOUNTINFO.split("\n").filter((l) => !l.includes("cgroup2")).join("\n")), null);
  assert.equal(cgroup2Root("garbage\n - \n"), null);
});

Deno.test("cgroup2Root() unescapes spaces in the mount point", () => {
  assert.equal(cgroup2Root("30 1 0:26 / /my\\040cgroup rw - cgroup2 cgroup2 rw\n"), "/my cgroup");
  assert.equal(cgroup2Root("30 1 0:26 / /a\\040b\\040c rw - cgroup2 cgroup2 rw\n"), "/a b c");
});

Deno.test("cgroup2Root() unescapes tabs, newlines and backslashes in the mount point", () => {
  assert.equal(cgroup2Root("30 1 0:26 / /a\\011b rw - cgroup2 cgroup2 rw\n"), "/a\tb");
  assert.equal(cgroup2Root("30 1 0:26 / /a\\012b rw - cgroup2 cgroup2 rw\n"), "/a\nb");
  assert.equal(cgroup2Root("30 1 0:26 / /a\\134b rw - cgroup2 cgroup2 rw\n"), "/a\\b");
});

Deno.test("cgroupOf() reads the cgroup v2 path from /proc/PID/cgroup text", () => {
  const path = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-u42.scope";
  assert.equal(cgroupOf("self", `0::${path}\n`), path);
  assert.equal(cgroupOf(1234, "0::/\n"), "/");
  const hybrid = `12:memory:/user.slice\n11:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n0::${path}\n`;
  assert.equal(cgroupOf("self", hybrid), path);
  assert.equal(cgroupOf("self", "0::/a b/c\n"), "/a b/c");
});

Deno.test("cgroupOf() returns null without a cgroup v2 line", () => {
  assert.equal(cgroupOf("self", ""), null);
  assert.equal(cgroupOf("self", "12:memory:/x\n1:name=systemd:/x\n"), null);
  assert.equal(cgroupOf("self", "10::/x\n"), null);
});

Deno.test("isUnifiedOnly() is true only for a single 0:: line", () => {
  assert.equal(isUnifiedOnly("0::/user.slice\n"), true);
  assert.equal(isUnifiedOnly("0::/\n\n"), true);
  assert.equal(isUnifiedOnly("0::/"), true);
  assert.equal(isUnifiedOnly(""), false);
  assert.equal(isUnifiedOnly("12:memory:/x\n0::/x\n"), false);
  assert.equal(isUnifiedOnly("1:name=systemd:/x\n0::/x\n"), false);
  assert.equal(isUnifiedOnly("1:name=systemd:/x\n"), false);
});

Deno.test("scopeProperties() always delegates the scope and puts the pid in it", () => {
  assert.deepEqual(scopeProperties(4242, NONE, "nsbox sandbox web"), [
    ["Description", { type: "s", value: "nsbox sandbox web" }],
    ["PIDs", { type: "au", value: [4242] }],
    ["Delegate", { type: "b", value: true }],
    ["CollectMode", { type: "s", value: "inactive-or-failed" }],
    ["OOMPolicy", { type: "s", value: "continue" }],
  ]);
});

Deno.test("scopeProperties() expresses every limit with its D-Bus type", () => {
  const props = Object.fromEntries(scopeProperties(1, ALL, "d"));
  assert.deepEqual(props.MemoryMax, { type: "t", value: 104857600 });
  assert.deepEqual(props.MemorySwapMax, { type: "t", value: 0 });
  assert.deepEqual(props.CPUQuotaPerSecUSec, { type: "t", value: 500000 });
  assert.deepEqual(props.TasksMax, { type: "t", value: 200 });
  assert.deepEqual(props.IOWeight, { type: "t", value: 500 });
  assert.equal(scopeProperties(1, ALL, "d").length, 10);
  const names = scopeProperties(1, ALL, "d").map(([n]) => n);
  assert.equal(new Set(names).size, names.length);
});

Deno.test("scopeProperties() gives CPUQuotaPerSecUSec as cpus × 1,000,000, rounded", () => {
  const quota = (cpus: number) => Object.fromEntries(scopeProperties(1, limits({ cpus }), "d")).CPUQuotaPerSecUSec;
  assert.deepEqual(quota(1), { type: "t", value: 1000000 });
  assert.deepEqual(quota(2.5), { type: "t", value: 2500000 });
  assert.deepEqual(quota(0.25), { type: "t", value: 250000 });
  assert.deepEqual(quota(0.0000015), { type: "t", value: 2 });
  assert.deepEqual(quota(1.2345678), { type: "t", value: 1234568 });
  for (const cpus of [0.1, 0.3, 0.7, 1.1, 3.3]) {
    const q = quota(cpus);
    assert.ok(q?.type === "t" && Number.isInteger(q.value), String(cpus));
  }
});

Deno.test("scopeProperties() leaves out limits that are not set", () => {
  const names = (l: LimitsSpec) => scopeProperties(1, l, "d").map(([n]) => n).slice(5);
  assert.deepEqual(names(limits({ memoryMax: 1 })), ["MemoryMax"]);
  assert.deepEqual(names(limits({ swapMax: 1 })), ["MemorySwapMax"]);
  assert.deepEqual(names(limits({ cpus: 1 })), ["CPUQuotaPerSecUSec"]);
  assert.deepEqual(names(limits({ pidsMax: 1 })), ["TasksMax"]);
  assert.deepEqual(names(limits({ ioWeight: 1 })), ["IOWeight"]);
});
