/**
 * buildPlan() tests. The golden tests compare `JSON.stringify(buildPlan(spec), null, 2)`
 * with tests/unit/golden/NAME.json. After an intended change to the plan, regenerate
 * the files and review the diff before committing it:
 *
 *     UPDATE_GOLDEN=1 deno test -A tests/unit/plan_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  buildPlan,
  DEFAULT_PATH,
  DEVICES,
  FORWARDED_SIGNALS,
  PROC_MASKED_DIRS,
  PROC_MASKED_FILES,
  PROC_READ_ONLY,
} from "../../src/plan/plan.ts";
import { CAP_LAST, CLONE, MNT_DETACH, MOUNT_ATTR, MS, O, PR, RESOLVE, SIGNALS } from "../../src/linux.ts";
import type { At, ChildPlan, SetupOp } from "../../src/plan/ops.ts";
import type { SandboxSpec } from "../../src/spec/spec.ts";
import { validate } from "../../src/spec/validate.ts";
import { fakeHost, type FakeHostInit, type FakePath, runOptions } from "./_fake_host.ts";

const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";

/** The spec `nsbox run ARGS...` gets on a fixed fake host. */
function spec(args: string[]): SandboxSpec {
  const host = fakeHost({
    cwd: "/home/user",
    env: { PATH: "/usr/bin:/bin", HOME: "/home/user", TERM: "xterm" },
    paths: { "/srv/root/etc": "directory", "/srv/root/etc/resolv.conf": "file", "/var/cache/app": "directory" },
  });
  return validate(runOptions(args), host);
}

function plan(args: string[]): ChildPlan {
  return buildPlan(spec(args));
}

function golden(name: string, args: string[]) {
  Deno.test(`buildPlan() matches golden/${name}.json for nsbox run ${args.join(" ")}`, () => {
    const url = new URL(`./golden/${name}.json`, import.meta.url);
    const actual = JSON.stringify(plan(args), null, 2) + "\n";
    if (UPDATE) {
      Deno.writeTextFileSync(url, actual);
      return;
    }
    let expected: string;
    try {
      expected = Deno.readTextFileSync(url);
    } catch (e) {
      throw new Error(`cannot read golden/${name}.json (run with UPDATE_GOLDEN=1 to create it)`, { cause: e });
    }
    assert.deepEqual(JSON.parse(actual), JSON.parse(expected));
    assert.equal(actual, expected);
  });
}

golden("default", ["sh"]);
golden("root_hostname", ["--root", "--hostname", "x", "id"]);
golden("share_net_uts_pid", ["--share", "net,uts,pid", "sh"]);
golden("rootfs_mounts", [
  "--rootfs",
  "/srv/root",
  "--bind",
  "/etc/hosts:/etc/hosts",
  "--ro-bind",
  "/home/user/src:/opt/src",
  "--tmpfs",
  "/var/cache",
  "--chdir",
  "/opt/src",
  "make",
  "-j4",
]);
golden("as_pid_1", ["--as-pid-1", "--clearenv", "--setenv", "A=1", "sh", "-c", "echo $$"]);
golden("allow_host", ["--allow-host", "registry.npmjs.org", "--allow-host", "*.github.com:443", "sh"]);
golden("limits", ["--mem", "100M", "--pids", "50", "--tmpfs", "/scratch", "sh"]);

/** The index of the first op matching `pred`; fails when there is none. */
function indexOf(ops: readonly SetupOp[], pred: (op: SetupOp) => boolean, what: string): number {
  const i = ops.findIndex(pred);
  assert.ok(i >= 0, `no op: ${what}`);
  return i;
}

/** The op that attaches a mount at `dst` inside the new root ("/" is the root mount at /newroot). */
const mountOn = (dst: string) => (op: SetupOp) =>
  op.kind === "moveMount" && (dst === "/" ? op.path === "/newroot" && op.at === null : op.path === dst.slice(1));

/** What is mounted at `dst`: the op that made the detached mount, its attributes (or null), and where it is attached. */
function mountAt(ops: readonly SetupOp[], dst: string) {
  const i = indexOf(ops, mountOn(dst), `a mount on ${dst}`);
  const move = ops[i]!;
  let j = i - 1;
  const setattr = ops[j]?.kind === "mountSetattr" ? ops[j--]! : null;
  const make = ops[j]!;
  assert.ok(make.kind === "openTree" || make.kind === "fsmount", `${dst}: ${JSON.stringify(make)}`);
  return { index: i, make, setattr, move };
}

const IN_NEW: At = { slot: 0, resolve: RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS };
const IN_OLD: At = { slot: 1, resolve: RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS };
const TREE: At = { slot: 2, resolve: 0 };
const NOSUID_NODEV = MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV;
const READ_ONLY = MOUNT_ATTR.RDONLY | NOSUID_NODEV;

const ALL_NEW = CLONE.NEWUSER | CLONE.NEWNS | CLONE.NEWCGROUP | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC |
  CLONE.NEWNET;

/**
 * The namespaces a plan creates: its clone flags plus those of `unshare` and
 * `nestUserns` ops (the cgroup namespace is made once the parent has placed the
 * child; UTS in the nested user namespace, so that --root may set the hostname).
 */
function newNamespaces(p: ChildPlan): number {
  let flags = p.cloneFlags;
  for (const op of p.ops) {
    if (op.kind === "unshare") flags |= op.flags;
    if (op.kind === "nestUserns") flags |= CLONE.NEWUSER | op.flags;
  }
  return flags;
}

Deno.test("buildPlan() creates every namespace by default", () => {
  const p = plan(["sh"]);
  assert.equal(newNamespaces(p), ALL_NEW);
  // user and mount namespaces must come with the clone: every op needs them
  assert.equal(p.cloneFlags & (CLONE.NEWUSER | CLONE.NEWNS), CLONE.NEWUSER | CLONE.NEWNS);
  assert.equal(p.cloneFlags & ~ALL_NEW, 0);
});

Deno.test("buildPlan() omits the clone flag of every shared namespace", () => {
  const cases: Array<[string, number]> = [
    ["net", CLONE.NEWNET],
    ["ipc", CLONE.NEWIPC],
    ["uts", CLONE.NEWUTS],
    ["pid", CLONE.NEWPID],
  ];
  for (const [ns, flag] of cases) {
    const p = plan(["--share", ns, "sh"]);
    assert.equal(newNamespaces(p), ALL_NEW & ~flag, `--share ${ns}`);
    assert.equal(p.cloneFlags & flag, 0, `--share ${ns}`);
  }
  const all = plan(["--share", "net,ipc,uts,pid", "sh"]);
  assert.equal(newNamespaces(all), CLONE.NEWUSER | CLONE.NEWNS | CLONE.NEWCGROUP);
});

/** The index of the op that makes every mount private: where the filesystem setup starts. */
function fsStart(ops: readonly SetupOp[]): number {
  return indexOf(ops, (op) => op.kind === "mount" && op.target === "/" && op.source === null, "make-private");
}

Deno.test("buildPlan() starts by making mounts private and pivoting into a staging tmpfs", () => {
  const ops = plan(["sh"]).ops;
  const start = fsStart(ops);
  // only namespace set-up may come before the file system ops
  assert.ok(ops.slice(0, start).every((op) => op.kind === "unshare"), JSON.stringify(ops.slice(0, start)));
  assert.deepEqual(ops.slice(start, start + 9), [
    {
      kind: "mount",
      source: null,
      target: "/",
      fstype: null,
      flags: MS.REC | MS.PRIVATE,
      data: null,
      what: "cannot make the mount namespace private",
    },
    {
      kind: "mount",
      source: "tmpfs",
      target: "/tmp",
      fstype: "tmpfs",
      flags: MS.NOSUID | MS.NODEV,
      data: "mode=0755,size=64m",
      what: "cannot mount the staging tmpfs",
    },
    { kind: "chdir", path: "/tmp", fallback: null, what: "cannot enter the staging tmpfs" },
    { kind: "mkdir", path: "/tmp/newroot", mode: 0o755, ignoreExists: false, what: "cannot create the new root" },
    {
      kind: "mount",
      source: "/tmp/newroot",
      target: "/tmp/newroot",
      fstype: null,
      flags: MS.BIND | MS.REC,
      data: null,
      what: "cannot bind the new root",
    },
    { kind: "mkdir", path: "/tmp/oldroot", mode: 0o755, ignoreExists: false, what: "cannot create the old root" },
    { kind: "pivotRoot", newRoot: "/tmp", putOld: "/tmp/oldroot", what: "cannot pivot into the staging tmpfs" },
    { kind: "chdir", path: "/", fallback: null, what: "cannot enter the staging root" },
    {
      kind: "openSlot",
      slot: 1,
      path: "/oldroot",
      at: null,
      flags: O.PATH | O.DIRECTORY,
      what: "cannot open the host's root",
    },
  ]);
});

Deno.test("buildPlan() binds the root read-only, nosuid and nodev right after the staging pivot", () => {
  const ops = plan(["sh"]).ops;
  const at = fsStart(ops) + 9;
  const what = "cannot bind / as the root";
  assert.deepEqual(ops.slice(at, at + 4), [
    { kind: "openTree", slot: 2, path: ".", at: IN_OLD, recursive: true, what },
    { kind: "mountSetattr", path: "", at: TREE, set: READ_ONLY, clear: 0, recursive: true, what },
    { kind: "moveMount", from: 2, path: "/newroot", at: null, what },
    {
      kind: "openSlot",
      slot: 0,
      path: "/newroot",
      at: null,
      flags: O.PATH | O.DIRECTORY,
      what: "cannot open the new root",
    },
  ]);
  const rootfs = plan(["--rootfs", "/srv/root", "sh"]).ops;
  const op = rootfs[fsStart(rootfs) + 9];
  assert.ok(op?.kind === "openTree");
  assert.deepEqual([op.path, op.at, op.what], ["srv/root", IN_OLD, "cannot bind /srv/root as the root"]);
});

Deno.test("buildPlan() ends with the final pivot in order", () => {
  const ops = plan(["--chdir", "/srv", "sh"]).ops;
  const i = indexOf(ops, (op) => op.kind === "umount" && op.path === "/oldroot", "umount /oldroot");
  assert.deepEqual(ops.slice(i, i + 5), [
    { kind: "umount", path: "/oldroot", flags: MNT_DETACH, what: "cannot detach the host's root" },
    { kind: "chdir", path: "/newroot", fallback: null, what: "cannot enter the new root" },
    { kind: "pivotRoot", newRoot: ".", putOld: ".", what: "cannot pivot into the new root" },
    { kind: "umount", path: ".", flags: MNT_DETACH, what: "cannot detach the staging root" },
    { kind: "chdir", path: "/srv", fallback: null, what: "cannot change directory to /srv" },
  ]);
  // every mount is made, and every slot closed, before the host's root goes away
  assert.ok(
    ops.slice(i).every((op) => !["mount", "mountSetattr", "openTree", "fsmount", "moveMount"].includes(op.kind)),
  );
  assert.deepEqual(ops.slice(i - 3, i - 1), [
    { kind: "closeSlot", slot: 0, what: "cannot close the new root" },
    { kind: "closeSlot", slot: 1, what: "cannot close the host's root" },
  ]);
});

Deno.test("buildPlan() falls back to / when the working directory is not required", () => {
  const last = plan(["sh"]).ops.findLast((op) => op.kind === "chdir");
  assert.deepEqual(last, {
    kind: "chdir",
    path: "/home/user",
    fallback: "/",
    what: "cannot change directory to /home/user",
  });
});

Deno.test("buildPlan() mounts /proc, /dev, /tmp, then the caller's mounts in command-line order", () => {
  const ops = plan(["--tmpfs", "/var/cache", "--ro-bind", "/etc/hosts:/etc/hosts", "--bind", "/home/user/src", "sh"])
    .ops;
  const [proc, dev, tmp, cache, hosts, src] = ["/proc", "/dev", "/tmp", "/var/cache", "/etc/hosts", "/home/user/src"]
    .map((d) => indexOf(ops, mountOn(d), d));
  assert.ok(
    proc! < dev! && dev! < tmp! && tmp! < cache! && cache! < hosts! && hosts! < src!,
    [proc, dev, tmp, cache, hosts, src].join(),
  );
  // the caller's mount points are made after the /tmp tmpfs too (/var/cache: in a copy of /var)
  assert.ok(indexOf(ops, (op) => op.kind === "mkdir" && op.path === "cache", "mkdir /var/cache") > tmp!);
});

Deno.test("buildPlan() creates a missing mount point in a read-only copy of its nearest parent, matching the source type", () => {
  const ops = plan(["--bind", "/etc/hosts:/a/b/hosts", "--bind", "/home/user/src:/c/d", "sh"]).ops;
  // one copy of / for both: its mount points are all created with it, parents first, beneath the copy
  const copies = ops.filter((op) => op.kind === "fsmount" && op.what.includes("read-only copy"));
  assert.equal(copies.length, 1);
  const made = ops.filter((op) => (op.kind === "mkdir" || op.kind === "mkfile") && op.at?.slot === MIMIC.slot);
  assert.deepEqual(made.slice(-5).map((op) => [op.kind, "path" in op ? op.path : null]), [
    ["mkdir", "a"],
    ["mkdir", "a/b"],
    ["mkfile", "a/b/hosts"],
    ["mkdir", "c"],
    ["mkdir", "c/d"],
  ]);
  assert.deepEqual(made.at(-3), {
    kind: "mkfile",
    path: "a/b/hosts",
    at: MIMIC,
    mode: 0o644,
    ignoreExists: false,
    what: "cannot create mount point /a/b/hosts in the read-only copy of /",
  });
  // the copy is made before the first of them is mounted, nothing is created for them later
  const seal = indexOf(ops, (op) => op.kind === "mountSetattr" && op.at?.slot === MIMIC.slot, "seal");
  assert.ok(seal < mountAt(ops, "/a/b/hosts").index);
  assert.ok(!ops.slice(seal).some((op) => (op.kind === "mkdir" || op.kind === "mkfile") && /^(a|c)\b/.test(op.path)));
});

/** The plan of `nsbox run ARGS...` on the golden tests' fake host with more paths. */
function planOn(paths: Record<string, FakePath>, args: string[], init: FakeHostInit = {}): ChildPlan {
  return buildPlan(validate(runOptions(args), fakeHost({ ...init, paths })));
}

/** The ops of the first mimic in `ops`: from opening its parent to closing it. */
function mimicOf(ops: readonly SetupOp[], path: string) {
  const open = indexOf(ops, (op) => op.kind === "openSlot" && op.slot === LOWER.slot && op.path === path, path);
  const end = ops.findIndex((op, i) => i > open && op.kind === "closeSlot" && op.slot === LOWER.slot);
  return { open, end, ops: ops.slice(open, end + 1) };
}

const LOWER: At = { slot: 3, resolve: RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS };
const MIMIC: At = {
  slot: 4,
  resolve: RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_XDEV,
};

Deno.test("buildPlan() mimics the parent: entries bound back, symlinks recreated, mount points made, then read-only", () => {
  const paths: Record<string, FakePath> = {
    "/srv/a": "directory",
    "/srv/f": "file",
    "/srv/sock": "other",
    "/srv/out": { link: "/etc" },
    "/srv/rel": { link: "../home" },
  };
  const ops = planOn(paths, ["--bind", "/home/user/src:/srv/new", "sh"], { modes: { "/srv": 0o750 } }).ops;
  const m = mimicOf(ops, "srv");
  const what = "cannot make the read-only copy of /srv for the missing mount point /srv/new";
  assert.deepEqual(m.ops.slice(0, 3), [
    {
      kind: "openSlot",
      slot: 3,
      path: "srv",
      at: IN_NEW,
      flags: O.PATH | O.DIRECTORY,
      what: "cannot open /srv (the parent of the missing mount point /srv/new)",
    },
    {
      kind: "fsmount",
      slot: 2,
      fstype: "tmpfs",
      options: ["source=tmpfs", "mode=0750", "size=64m"],
      attrs: NOSUID_NODEV,
      what,
    },
    {
      kind: "openSlot",
      slot: 4,
      path: ".",
      at: { slot: 2, resolve: LOWER.resolve },
      flags: O.PATH | O.DIRECTORY,
      what,
    },
  ]);
  const brief = m.ops.slice(3).map((op) =>
    op.kind === "symlink"
      ? `symlink ${op.path} -> ${op.target}`
      : `${op.kind} ${"path" in op ? op.path : "slot" in op ? op.slot : ""}${
        "at" in op && op.at ? ` @${op.at.slot}` : ""
      }`
  );
  assert.deepEqual(brief, [
    // placeholders in the detached tmpfs: every entry, sorted; the root's own entry for the mount point last
    "mkdir a @4",
    "mkfile f @4",
    "symlink out -> /etc",
    "symlink rel -> ../home",
    "mkdir root @4",
    "mkfile sock @4",
    "mkdir new @4",
    // attached over /srv (as the descriptor held before), then the entries bound back from underneath
    "moveMount . @3",
    "openTree a @3",
    "moveMount a @4",
    "openTree f @3",
    "moveMount f @4",
    "openTree root @3",
    "moveMount root @4",
    "openTree sock @3",
    "moveMount sock @4",
    "mountSetattr  @4",
    "closeSlot 4",
    "closeSlot 3",
  ]);
  for (const op of m.ops.slice(3)) {
    if ("at" in op && op.at && op.at.slot === 3) assert.deepEqual(op.at, LOWER, JSON.stringify(op));
    if (
      (op.kind === "mkdir" || op.kind === "mkfile" || op.kind === "symlink") ||
      (op.kind === "moveMount" && op.at?.slot === 4)
    ) {
      assert.deepEqual(op.at, MIMIC, JSON.stringify(op));
    }
    if (op.kind === "openTree") assert.deepEqual([op.recursive, op.ignoreMissing], [true, true]);
  }
  assert.deepEqual(m.ops.find((op) => op.kind === "mountSetattr"), {
    kind: "mountSetattr",
    path: "",
    at: { slot: 4, resolve: 0 },
    set: READ_ONLY,
    clear: 0,
    recursive: false,
    what: "cannot make the copy of /srv read-only",
  });
  // then the bind, on the mount point in the copy
  assert.ok(mountAt(ops, "/srv/new").index > m.end);
});

Deno.test("buildPlan() makes one copy for a deep missing point and shares it between two binds", () => {
  const ops = planOn({}, ["--bind", "/home/user/src:/srv/b/c", "--ro-bind", "/etc/hosts:/srv/b/h", "sh"]).ops;
  const m = mimicOf(ops, "srv");
  const created = m.ops.filter((op) => op.kind === "mkdir" || op.kind === "mkfile").map((op) =>
    `${op.kind} ${"path" in op ? op.path : ""}`
  );
  assert.deepEqual(created, ["mkdir root", "mkdir b", "mkdir b/c", "mkfile b/h"]);
  assert.equal(ops.filter((op) => op.kind === "openSlot" && op.slot === LOWER.slot).length, 1);
  assert.ok(mountAt(ops, "/srv/b/c").index < mountAt(ops, "/srv/b/h").index);
});

Deno.test("buildPlan() creates nothing for a mount point that exists, even in a writable bind", () => {
  // /w is the caller's writable /home/user: its notes.txt exists, so nothing may be created there (on the host)
  const ops = planOn({}, ["--bind", "/home/user:/w", "--bind", "/etc/hosts:/w/notes.txt", "sh"]).ops;
  const w = mountAt(ops, "/w").index;
  const notes = mountAt(ops, "/w/notes.txt").index;
  assert.ok(!ops.slice(w, notes).some((op) => ["mkdir", "mkfile", "fsmount"].includes(op.kind)));
  // missing there: a copy of /w, never a mkdir in the bind itself
  const missing = planOn({}, ["--bind", "/home/user:/w", "--bind", "/etc/hosts:/w/new", "sh"]).ops;
  const m = mimicOf(missing, "w");
  assert.ok(m.open > mountAt(missing, "/w").index && m.end < mountAt(missing, "/w/new").index);
  assert.ok(m.ops.some((op) => op.kind === "mkfile" && op.path === "new" && op.at?.slot === MIMIC.slot));
  assert.ok(
    !missing.some((op) =>
      (op.kind === "mkdir" || op.kind === "mkfile") && op.at?.slot === IN_NEW.slot && op.path.startsWith("w")
    ),
  );
});

Deno.test("buildPlan() creates mount points below a --tmpfs there, only below it", () => {
  const ops = planOn({}, ["--tmpfs", "/tmp/x", "--bind", "/home/user/src:/tmp/x/y/z", "sh"]).ops;
  const z = mountAt(ops, "/tmp/x/y/z").index - 2;
  assert.deepEqual(ops.slice(z - 2, z).map((op) => [op.kind, "path" in op ? op.path : null, op.what]), [
    ["mkdir", "tmp/x/y", "cannot create directory /tmp/x/y"],
    ["mkdir", "tmp/x/y/z", "cannot create mount point /tmp/x/y/z"],
  ]);
  assert.ok(!ops.some((op) => op.kind === "openSlot" && op.slot === LOWER.slot));
});

Deno.test("buildPlan() follows a symlink on the way to a missing mount point inside the sandbox, never on the host", () => {
  // /home/user/link points to /srv: the copy is of /srv inside the sandbox (the root's /srv), not of the link's dir
  const ops = planOn({ "/home/user/link": { link: "/srv" } }, ["--bind", "/etc/hosts:/home/user/link/h", "sh"]).ops;
  const m = mimicOf(ops, "srv");
  assert.ok(m.ops.some((op) => op.kind === "mkfile" && op.path === "h"));
  assert.ok(!ops.some((op) => op.kind === "openSlot" && op.slot === LOWER.slot && op.path !== "srv"));
});

Deno.test("buildPlan() gives --rootfs its missing /proc, /dev, /tmp, /run in one copy of its root, then opens the root again", () => {
  const ops = planOn({ "/srv/root/bin": "directory", "/srv/root/sh": { link: "bin/sh" } }, [
    "--rootfs",
    "/srv/root",
    "sh",
  ]).ops;
  const m = mimicOf(ops, ".");
  assert.deepEqual(
    m.ops.filter((op) => op.kind === "mkdir" || op.kind === "symlink").map((op) => "path" in op ? op.path : ""),
    ["bin", "sh", "proc", "dev", "tmp", "run"],
  );
  assert.ok(m.end < mountAt(ops, "/proc").index);
  // the root's slot held the directory underneath the copy: opened again at /newroot, the top
  assert.deepEqual(ops[m.end + 1], {
    kind: "openSlot",
    slot: 0,
    path: "/newroot",
    at: null,
    flags: O.PATH | O.DIRECTORY,
    what: "cannot open the new root",
  });
  // no /var/tmp in that root: no tmpfs there
  assert.ok(!ops.some(mountOn("/var/tmp")));
  assert.ok(plan(["sh"]).ops.some(mountOn("/run")));
});

Deno.test("buildPlan() binds from descriptors: canonical sources, nosuid and nodev always, read-only on request", () => {
  const ops = plan(["--ro-bind", "/home/user/src:/src", "--bind", "/etc/hosts:/hosts", "sh"]).ops;
  const what = "cannot bind /home/user/src on /src";
  const ro = mountAt(ops, "/src");
  assert.deepEqual([ro.make, ro.setattr, ro.move], [
    { kind: "openTree", slot: 2, path: "home/user/src", at: IN_OLD, recursive: true, what },
    { kind: "mountSetattr", path: "", at: TREE, set: READ_ONLY, clear: 0, recursive: true, what },
    { kind: "moveMount", from: 2, path: "src", at: IN_NEW, what },
  ]);
  const rw = mountAt(ops, "/hosts");
  assert.ok(rw.setattr?.kind === "mountSetattr");
  assert.equal(rw.setattr.set, NOSUID_NODEV);
});

Deno.test("buildPlan() mounts a user tmpfs nosuid and nodev, with mode 0755 and a quarter of RAM unless told", () => {
  const ops = plan(["--tmpfs", "/scratch", "--tmpfs", "/small:size=1M,mode=0700", "sh"]).ops;
  const what = "cannot mount a tmpfs on /scratch";
  assert.deepEqual(mountAt(ops, "/scratch").make, {
    kind: "fsmount",
    slot: 2,
    fstype: "tmpfs",
    options: ["source=tmpfs", "mode=0755", "size=25%"],
    attrs: NOSUID_NODEV,
    what,
  });
  const small = mountAt(ops, "/small").make;
  assert.ok(small.kind === "fsmount");
  assert.deepEqual(small.options, ["source=tmpfs", "mode=0700", "size=1048576"]);
  // every tmpfs of the default view has a size
  for (const d of ["/tmp", "/var/tmp", "/run", "/dev/shm", "/dev"]) {
    const m = mountAt(plan(["sh"]).ops, d).make;
    assert.ok(m.kind === "fsmount" && m.options.some((o) => o.startsWith("size=")), d);
  }
});

Deno.test("buildPlan() mounts a fresh proc in a new PID namespace and binds the host's otherwise", () => {
  const fresh = mountAt(plan(["sh"]).ops, "/proc").make;
  assert.ok(fresh.kind === "fsmount");
  assert.equal(fresh.fstype, "proc");
  assert.equal(fresh.attrs, NOSUID_NODEV | MOUNT_ATTR.NOEXEC);
  const bound = mountAt(plan(["--share", "pid", "sh"]).ops, "/proc").make;
  assert.ok(bound.kind === "openTree");
  assert.deepEqual([bound.path, bound.at, bound.recursive], ["proc", IN_OLD, true]);
});

Deno.test("buildPlan() binds each device of the minimal /dev (nosuid, not nodev)", () => {
  const ops = plan(["sh"]).ops;
  for (const dev of DEVICES) {
    const m = mountAt(ops, `/dev/${dev}`);
    assert.ok(m.make.kind === "openTree");
    assert.deepEqual([m.make.path, m.make.at], [`dev/${dev}`, IN_OLD]);
    assert.ok(m.setattr?.kind === "mountSetattr");
    assert.equal(m.setattr.set, MOUNT_ATTR.NOSUID);
  }
  const links = ops.filter((op) => op.kind === "symlink").map((op) => op.kind === "symlink" && [op.path, op.target]);
  assert.deepEqual(links, [
    ["dev/fd", "/proc/self/fd"],
    ["dev/stdin", "/proc/self/fd/0"],
    ["dev/stdout", "/proc/self/fd/1"],
    ["dev/stderr", "/proc/self/fd/2"],
    ["dev/ptmx", "pts/ptmx"],
  ]);
  assert.ok(ops.every((op) => op.kind !== "symlink" || JSON.stringify(op.at) === JSON.stringify(IN_NEW)));
});

Deno.test("buildPlan() sets the hostname only with a new UTS namespace", () => {
  const named = plan(["--hostname", "box", "sh"]).ops.filter((op) => op.kind === "sethostname");
  assert.deepEqual(named, [{ kind: "sethostname", name: "box", what: "cannot set the hostname to box" }]);
  assert.deepEqual(plan(["sh"]).ops.filter((op) => op.kind === "sethostname").map((op) => "name" in op && op.name), [
    "nsbox",
  ]);
  assert.equal(plan(["--share", "uts", "sh"]).ops.some((op) => op.kind === "sethostname"), false);
});

Deno.test("buildPlan() brings up lo only with a new network namespace", () => {
  assert.deepEqual(plan(["sh"]).ops.filter((op) => op.kind === "linkUp"), [
    { kind: "linkUp", name: "lo", what: "cannot bring up the loopback interface" },
  ]);
  assert.equal(plan(["--share", "net", "sh"]).ops.some((op) => op.kind === "linkUp"), false);
});

Deno.test("buildPlan() with --allow-host: the proxy's socket right after lo is up, a resolv.conf naming nothing", () => {
  const ops = plan(["--allow-host", "example.com", "sh"]).ops;
  const lo = ops.findIndex((op) => op.kind === "linkUp");
  assert.deepEqual(ops[lo + 1], {
    kind: "listenSend",
    address: "127.0.0.1",
    port: 3128,
    backlog: 128,
    via: -1,
    what: "cannot listen on 127.0.0.1:3128 for the egress proxy",
  });
  assert.equal(ops.filter((op) => op.kind === "listenSend").length, 1);
  // made before the command's user namespace and capabilities are dropped
  assert.ok(lo + 1 < ops.findIndex((op) => op.kind === "nestUserns"));
  const resolv = ops.find((op) => op.kind === "writeFile" && op.path === "/resolv.conf");
  assert.ok(resolv?.kind === "writeFile" && /^nameserver 127\.0\.0\.1$/m.test(resolv.data), "resolv.conf");
  assert.equal(plan(["sh"]).ops.some((op) => op.kind === "listenSend"), false);
});

Deno.test("buildPlan() gives the command exactly its capabilities", () => {
  const user = plan(["sh"]).ops;
  const drop = user.find((op) => op.kind === "capbsetDrop");
  assert.ok(drop?.kind === "capbsetDrop");
  assert.deepEqual(drop.caps, Array.from({ length: CAP_LAST + 1 }, (_, i) => i));
  assert.deepEqual(user.find((op) => op.kind === "capset"), {
    kind: "capset",
    effective: [],
    permitted: [],
    inheritable: [],
    clearAmbient: true,
    what: "cannot set the command's capabilities",
  });
  assert.equal(user.some((op) => op.kind === "prctl" && op.option === PR.CAP_AMBIENT), false);

  // --root: the bounding set loses only the deny-list; no ambient capabilities (uid 0 keeps them anyway)
  const root = plan(["--root", "sh"]).ops;
  const rootDrop = root.find((op) => op.kind === "capbsetDrop");
  assert.ok(rootDrop?.kind === "capbsetDrop");
  assert.equal(rootDrop.caps.length, 17);
  assert.ok(!rootDrop.caps.includes(21), "CAP_SYS_ADMIN kept");
  assert.equal(root.some((op) => op.kind === "prctl" && op.option === PR.CAP_AMBIENT), false);

  // --cap-add as a normal user: kept across execve as an ambient capability
  const raw = plan(["--cap-add", "NET_RAW", "sh"]).ops;
  const set = raw.find((op) => op.kind === "capset");
  assert.ok(set?.kind === "capset");
  assert.deepEqual([set.effective, set.permitted, set.inheritable], [[13], [13], [13]]);
  const ambient = raw.filter((op) => op.kind === "prctl" && op.option === PR.CAP_AMBIENT);
  assert.deepEqual(ambient.map((op) => op.kind === "prctl" && [op.arg2, op.arg3]), [[PR.CAP_AMBIENT_RAISE, 13]]);
});

Deno.test("buildPlan() sets no_new_privs and closes inherited descriptors last", () => {
  for (const args of [["sh"], ["--root", "sh"]]) {
    const ops = plan(args).ops;
    const nnp = indexOf(
      ops,
      (op) => op.kind === "prctl" && op.option === PR.SET_NO_NEW_PRIVS && op.arg2 === 1,
      "no_new_privs",
    );
    const finalChdir = ops.findLastIndex((op) => op.kind === "chdir");
    assert.ok(nnp > finalChdir);
    assert.deepEqual(ops.at(-1), { kind: "cloexecFrom", fd: 3, what: "cannot close inherited file descriptors" });
  }
});

Deno.test("buildPlan() makes the reaper a subreaper only with a shared PID namespace", () => {
  const isSub = (op: SetupOp) => op.kind === "prctl" && op.option === PR.SET_CHILD_SUBREAPER;
  assert.equal(plan(["sh"]).ops.some(isSub), false);
  assert.equal(plan(["--share", "pid", "sh"]).ops.some(isSub), true);
  assert.equal(plan(["--share", "pid", "--as-pid-1", "sh"]).ops.some(isSub), false);
});

Deno.test("buildPlan() takes the exec file, argv, env and search path from the spec", () => {
  const p = plan(["--setenv", "PATH=/opt/bin", "--setenv", "X=a=b", "make", "-j4", "all"]);
  assert.deepEqual(p.exec, {
    file: "make",
    argv: ["make", "-j4", "all"],
    env: ["PATH=/opt/bin", "HOME=/home/user", "TERM=xterm", "X=a=b"],
    searchPath: "/opt/bin",
  });
  const clean = plan(["--clearenv", "/bin/true"]);
  assert.deepEqual(clean.exec, { file: "/bin/true", argv: ["/bin/true"], env: [], searchPath: DEFAULT_PATH });
});

Deno.test("buildPlan() carries init, signals, pdeathsig and id maps", () => {
  const p = plan(["sh"]);
  assert.equal(p.init, "reaper");
  assert.equal(plan(["--as-pid-1", "sh"]).init, "none");
  assert.deepEqual(p.forwardSignals, FORWARDED_SIGNALS.map((s) => SIGNALS[s]));
  assert.deepEqual(p.forwardSignals, [1, 2, 3, 10, 12, 15, 28]);
  assert.equal(p.pdeathsig, 9);
  assert.deepEqual(p.idMaps, {
    uid: [{ inside: 1000, outside: 1000, count: 1 }],
    gid: [{ inside: 1000, outside: 1000, count: 1 }],
    setgroups: "deny",
    writer: "kernel",
  });
  assert.deepEqual(plan(["--root", "sh"]).idMaps.uid, [{ inside: 0, outside: 1000, count: 1 }]);
});

Deno.test("buildPlan() gives every op a `what`, and resolves every destination inside the new root", () => {
  const ops = plan(["--rootfs", "/srv/root", "--bind", "/etc/hosts:/a/hosts", "--tmpfs", "/b", "sh"]).ops;
  const pivot = indexOf(ops, (op) => op.kind === "umount" && op.path === "/oldroot", "umount /oldroot");
  for (const [i, op] of ops.entries()) {
    assert.ok(op.what.startsWith("cannot "), JSON.stringify(op));
    const staging = op.kind === "mkdir" && op.path.startsWith("/tmp/");
    if (i < pivot && (op.kind === "mkdir" || op.kind === "mkfile" || op.kind === "symlink") && !staging) {
      // in the new root, or beneath a copy of a parent (which is in the new root)
      assert.ok([IN_NEW, MIMIC].some((at) => JSON.stringify(op.at) === JSON.stringify(at)), JSON.stringify(op));
      assert.ok(!op.path.startsWith("/"), JSON.stringify(op));
    }
    if (op.kind === "moveMount" && op.path !== "/newroot") {
      assert.ok([IN_NEW, MIMIC, LOWER].some((at) => JSON.stringify(op.at) === JSON.stringify(at)), JSON.stringify(op));
    }
  }
});

Deno.test("buildPlan() is pure: the same spec gives the same plan and is left unchanged", () => {
  const s = spec(["--bind", "/home/user/src", "--tmpfs", "/x", "sh"]);
  const before = JSON.stringify(s);
  assert.deepEqual(buildPlan(s), buildPlan(s));
  assert.equal(JSON.stringify(s), before);
});

Deno.test("buildPlan() mounts the sandbox's cgroup read-only only with limits, before the caller's mounts", () => {
  const isCgroup2 = (op: SetupOp) => op.kind === "fsmount" && op.fstype === "cgroup2";
  assert.equal(plan(["sh"]).ops.some(isCgroup2), false);
  assert.equal(plan(["sh"]).holdExit, false);
  const p = plan(["--mem", "100M", "--tmpfs", "/scratch", "sh"]);
  const ops = p.ops;
  const cg = indexOf(ops, isCgroup2, "cgroup2");
  const op = ops[cg];
  assert.ok(op?.kind === "fsmount");
  assert.equal(op.attrs & MOUNT_ATTR.RDONLY, MOUNT_ATTR.RDONLY);
  assert.deepEqual(ops[cg + 1], { kind: "moveMount", from: 2, path: "sys/fs/cgroup", at: IN_NEW, what: op.what });
  assert.ok(cg > indexOf(ops, mountOn("/tmp"), "/tmp"));
  assert.ok(cg < indexOf(ops, mountOn("/scratch"), "--tmpfs /scratch"));
  assert.equal(p.holdExit, true);
  assert.equal(plan(["--mem", "100M", "--as-pid-1", "sh"]).holdExit, false);
});

Deno.test("buildPlan() masks /proc right after mounting it, tolerating missing entries", () => {
  for (const args of [["sh"], ["--share", "pid", "sh"]]) {
    const ops = plan(args).ops;
    const proc = indexOf(ops, mountOn("/proc"), "/proc");
    for (const f of PROC_MASKED_FILES) {
      const what = `cannot mask ${f}`;
      const m = mountAt(ops, f);
      assert.ok(m.index > proc);
      assert.deepEqual([m.make, m.setattr, m.move], [
        { kind: "openTree", slot: 2, path: "dev/null", at: IN_OLD, recursive: true, ignoreMissing: true, what },
        null,
        { kind: "moveMount", from: 2, path: f.slice(1), at: IN_NEW, ignoreMissing: true, what },
      ]);
    }
    for (const d of PROC_MASKED_DIRS) {
      const m = mountAt(ops, d);
      assert.ok(m.make.kind === "fsmount" && m.make.fstype === "tmpfs" && m.move.kind === "moveMount", d);
      assert.equal(m.move.ignoreMissing, true);
      assert.equal(m.make.attrs & MOUNT_ATTR.RDONLY, MOUNT_ATTR.RDONLY);
    }
    for (const d of PROC_READ_ONLY) {
      const what = `cannot bind ${d} read-only`;
      const m = mountAt(ops, d);
      assert.deepEqual([m.make, m.setattr], [
        { kind: "openTree", slot: 2, path: d.slice(1), at: IN_NEW, recursive: true, ignoreMissing: true, what },
        {
          kind: "mountSetattr",
          path: "",
          at: TREE,
          set: READ_ONLY,
          clear: 0,
          recursive: true,
          ignoreMissing: true,
          what,
        },
      ]);
    }
  }
});

Deno.test("buildPlan() nests the command's user namespace after the final pivot and before dropping privileges", () => {
  const ops = plan(["sh"]).ops;
  const nest = indexOf(ops, (op) => op.kind === "nestUserns", "nestUserns");
  assert.ok(nest > ops.findLastIndex((op) => op.kind === "pivotRoot"));
  assert.ok(nest < indexOf(ops, (op) => op.kind === "sethostname", "sethostname"));
  assert.ok(nest < indexOf(ops, (op) => op.kind === "prctl" && op.option === PR.SET_NO_NEW_PRIVS, "no_new_privs"));
  const op = ops[nest];
  assert.ok(op?.kind === "nestUserns");
  assert.equal(op.flags & CLONE.NEWNS, CLONE.NEWNS); // locks every mount made so far
  assert.equal(op.uidMap, "1000 1000 1\n");
  const root = plan(["--root", "sh"]).ops.find((o) => o.kind === "nestUserns");
  assert.ok(root?.kind === "nestUserns");
  assert.deepEqual([root.uidMap, root.gidMap], ["0 0 1\n", "0 0 1\n"]);
});

Deno.test("buildPlan() installs the seccomp filter after no_new_privs, unless unconfined", () => {
  const ops = plan(["sh"]).ops;
  const filter = indexOf(ops, (op) => op.kind === "seccomp", "seccomp");
  assert.ok(filter > indexOf(ops, (op) => op.kind === "prctl" && op.option === PR.SET_NO_NEW_PRIVS, "nnp"));
  assert.equal(plan(["--seccomp=unconfined", "sh"]).ops.some((op) => op.kind === "seccomp"), false);
});
golden("hide", ["--bind", "/home/user:/h", "--hide", "~/src", "--hide", "/home/user/notes.txt", "sh"]);
