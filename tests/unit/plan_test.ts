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
  staticInitFits,
} from "../../src/plan/plan.ts";
import { CAP_LAST, CLONE, MNT_DETACH, MOUNT_ATTR, MS, O, PR, RESOLVE, SIGNALS } from "../../src/linux.ts";
import type { At, ChildPlan, SetupOp } from "../../src/plan/ops.ts";
import type { SandboxSpec } from "../../src/spec/spec.ts";
import { validate } from "../../src/spec/validate.ts";
import { fakeHost, runOptions } from "./_fake_host.ts";

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
  // the caller's mount points are created after the /tmp tmpfs too
  assert.ok(indexOf(ops, (op) => op.kind === "mkdir" && op.path === "var", "mkdir /var") > tmp!);
});

Deno.test("buildPlan() creates a mount point matching the source type, parents first, inside the new root", () => {
  const ops = plan(["--bind", "/etc/hosts:/a/b/hosts", "--bind", "/home/user/src:/c/d", "sh"]).ops;
  const file = mountAt(ops, "/a/b/hosts").index - 2; // openTree, mountSetattr, moveMount
  assert.deepEqual(ops.slice(file - 3, file).map((op) => [op.kind, "path" in op ? op.path : null]), [
    ["mkdir", "a"],
    ["mkdir", "a/b"],
    ["mkfile", "a/b/hosts"],
  ]);
  assert.deepEqual(ops[file - 1], {
    kind: "mkfile",
    path: "a/b/hosts",
    at: IN_NEW,
    mode: 0o644,
    ignoreExists: true,
    what: "cannot create mount point /a/b/hosts",
  });
  const dir = mountAt(ops, "/c/d").index - 2;
  assert.deepEqual(ops[dir - 1], {
    kind: "mkdir",
    path: "c/d",
    at: IN_NEW,
    mode: 0o755,
    ignoreExists: true,
    what: "cannot create mount point /c/d",
  });
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

Deno.test("buildPlan() lets PID 1 exec the static nsbox-init unless the command may hold CAP_SYS_PTRACE", () => {
  assert.equal(plan(["sh"]).staticInit, true);
  assert.equal(plan(["--share", "net,uts,pid", "sh"]).staticInit, true);
  assert.equal(plan(["--cap-add", "NET_BIND_SERVICE", "sh"]).staticInit, true);
  // --root keeps CAP_SYS_PTRACE: over an executed PID 1 (its memory owned by the sandbox's user namespace) it would
  // let the command ptrace it; PID 1 stays the copy of nsbox then
  assert.equal(plan(["--root", "sh"]).staticInit, false);
  assert.equal(plan(["--cap-add", "SYS_PTRACE", "sh"]).staticInit, false);
  assert.equal(plan(["--root", "--cap-drop", "SYS_PTRACE", "sh"]).staticInit, true);
  assert.equal(plan(["--root", "--cap-drop", "ALL", "sh"]).staticInit, true);
  // no init at all
  assert.equal(plan(["--as-pid-1", "sh"]).staticInit, false);
  assert.equal(staticInitFits(spec(["--as-pid-1", "sh"])), false);
});

Deno.test("buildPlan() keeps PID 1 the copy under a seccomp profile that kills or traps on execveat", () => {
  const withProfile = (profile: unknown) => {
    const host = fakeHost({
      cwd: "/home/user",
      env: { PATH: "/usr/bin:/bin", HOME: "/home/user" },
      files: { "/home/user/p.json": JSON.stringify(profile) },
      paths: { "/home/user/p.json": "file" },
    });
    return buildPlan(validate(runOptions(["--seccomp", "/home/user/p.json", "sh"]), host)).staticInit;
  };
  const rule = (action: string) => ({ names: ["execveat"], action, errnoRet: 1 });
  assert.equal(withProfile({ defaultAction: "SCMP_ACT_ALLOW" }), true);
  // refused with an errno: the child falls back to staying PID 1 itself
  assert.equal(withProfile({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [rule("SCMP_ACT_ERRNO")] }), true);
  assert.equal(withProfile({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [rule("SCMP_ACT_ALLOW")] }), true);
  for (const action of ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"]) {
    assert.equal(withProfile({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [rule(action)] }), false, action);
    assert.equal(withProfile({ defaultAction: action, syscalls: [rule("SCMP_ACT_ALLOW")] }), false, action);
  }
});

Deno.test("buildPlan() gives every op a `what`, and resolves every destination inside the new root", () => {
  const ops = plan(["--rootfs", "/srv/root", "--bind", "/etc/hosts:/a/hosts", "--tmpfs", "/b", "sh"]).ops;
  const pivot = indexOf(ops, (op) => op.kind === "umount" && op.path === "/oldroot", "umount /oldroot");
  for (const [i, op] of ops.entries()) {
    assert.ok(op.what.startsWith("cannot "), JSON.stringify(op));
    const staging = op.kind === "mkdir" && op.path.startsWith("/tmp/");
    if (i < pivot && (op.kind === "mkdir" || op.kind === "mkfile" || op.kind === "symlink") && !staging) {
      assert.deepEqual(op.at, IN_NEW, JSON.stringify(op));
      assert.ok(!op.path.startsWith("/"), JSON.stringify(op));
    }
    if (op.kind === "moveMount" && op.path !== "/newroot") assert.deepEqual(op.at, IN_NEW, JSON.stringify(op));
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
