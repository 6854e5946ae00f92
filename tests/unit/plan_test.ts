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
import { CAP_LAST, CLONE, MNT_DETACH, MOUNT_ATTR, MS, PR, SIGNALS } from "../../src/plan/linux.ts";
import type { ChildPlan, SetupOp } from "../../src/plan/ops.ts";
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
golden("limits", ["--mem", "100M", "--pids", "50", "--tmpfs", "/scratch", "sh"]);

/** The index of the first op matching `pred`; fails when there is none. */
function indexOf(ops: readonly SetupOp[], pred: (op: SetupOp) => boolean, what: string): number {
  const i = ops.findIndex(pred);
  assert.ok(i >= 0, `no op: ${what}`);
  return i;
}

const mountOn = (target: string) => (op: SetupOp) => op.kind === "mount" && op.target === target;

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
  assert.deepEqual(ops.slice(start, start + 8), [
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
      data: "mode=0755",
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
  ]);
});

Deno.test("buildPlan() binds the root read-only right after the staging pivot", () => {
  const ops = plan(["sh"]).ops;
  const at = fsStart(ops) + 8;
  assert.deepEqual(ops[at], {
    kind: "mount",
    source: "/oldroot/",
    target: "/newroot",
    fstype: null,
    flags: MS.BIND | MS.REC,
    data: null,
    what: "cannot bind / as the root",
  });
  assert.deepEqual(ops[at + 1], {
    kind: "mountSetattr",
    path: "/newroot",
    set: MOUNT_ATTR.RDONLY,
    clear: 0,
    recursive: true,
    what: "cannot make / read-only",
  });
  const rootfs = plan(["--rootfs", "/srv/root", "sh"]).ops;
  const op = rootfs[fsStart(rootfs) + 8];
  assert.ok(op?.kind === "mount");
  assert.equal(op.source, "/oldroot/srv/root");
  assert.equal(op.target, "/newroot");
  assert.equal(op.what, "cannot bind /srv/root as the root");
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
  // every mount is made before the host's root goes away
  assert.ok(ops.slice(i).every((op) => op.kind !== "mount" && op.kind !== "mountSetattr"));
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
  const proc = indexOf(ops, mountOn("/newroot/proc"), "/proc");
  const dev = indexOf(ops, mountOn("/newroot/dev"), "/dev");
  const tmp = indexOf(ops, mountOn("/newroot/tmp"), "/tmp");
  const cache = indexOf(ops, mountOn("/newroot/var/cache"), "--tmpfs /var/cache");
  const hosts = indexOf(ops, mountOn("/newroot/etc/hosts"), "--ro-bind /etc/hosts");
  const src = indexOf(ops, mountOn("/newroot/home/user/src"), "--bind /home/user/src");
  assert.ok(
    proc < dev && dev < tmp && tmp < cache && cache < hosts && hosts < src,
    [proc, dev, tmp, cache, hosts, src].join(),
  );
  // the caller's mount points are created after the /tmp tmpfs too
  assert.ok(indexOf(ops, (op) => op.kind === "mkdir" && op.path === "/newroot/var", "mkdir /var") > tmp);
});

Deno.test("buildPlan() creates a mount point matching the source type, parents first", () => {
  const ops = plan(["--bind", "/etc/hosts:/a/b/hosts", "--bind", "/home/user/src:/c/d", "sh"]).ops;
  const file = indexOf(ops, mountOn("/newroot/a/b/hosts"), "file bind");
  assert.deepEqual(ops.slice(file - 3, file).map((op) => [op.kind, "path" in op ? op.path : null]), [
    ["mkdir", "/newroot/a"],
    ["mkdir", "/newroot/a/b"],
    ["mkfile", "/newroot/a/b/hosts"],
  ]);
  assert.deepEqual(ops[file - 1], {
    kind: "mkfile",
    path: "/newroot/a/b/hosts",
    mode: 0o644,
    ignoreExists: true,
    what: "cannot create mount point /a/b/hosts",
  });
  const dir = indexOf(ops, mountOn("/newroot/c/d"), "dir bind");
  assert.deepEqual(ops[dir - 1], {
    kind: "mkdir",
    path: "/newroot/c/d",
    mode: 0o755,
    ignoreExists: true,
    what: "cannot create mount point /c/d",
  });
});

Deno.test("buildPlan() follows a read-only bind with a recursive mountSetattr, and only that one", () => {
  const ops = plan(["--ro-bind", "/home/user/src:/src", "--bind", "/etc/hosts:/hosts", "sh"]).ops;
  const ro = indexOf(ops, mountOn("/newroot/src"), "ro bind");
  assert.deepEqual(ops[ro], {
    kind: "mount",
    source: "/oldroot/home/user/src",
    target: "/newroot/src",
    fstype: null,
    flags: MS.BIND | MS.REC,
    data: null,
    what: "cannot bind /home/user/src on /src",
  });
  assert.deepEqual(ops[ro + 1], {
    kind: "mountSetattr",
    path: "/newroot/src",
    set: MOUNT_ATTR.RDONLY,
    clear: 0,
    recursive: true,
    what: "cannot make /src read-only",
  });
  const rw = indexOf(ops, mountOn("/newroot/hosts"), "rw bind");
  assert.notEqual(ops[rw + 1]?.kind, "mountSetattr");
  const readOnlyPaths = ops.filter((op) => op.kind === "mountSetattr").map((op) => "path" in op ? op.path : "");
  assert.deepEqual(readOnlyPaths.filter((p) => !p.startsWith("/newroot/proc/")), ["/newroot", "/newroot/src"]);
});

Deno.test("buildPlan() mounts a user tmpfs with mode 0755, nosuid and nodev", () => {
  const ops = plan(["--tmpfs", "/scratch", "sh"]).ops;
  assert.deepEqual(ops[indexOf(ops, mountOn("/newroot/scratch"), "tmpfs")], {
    kind: "mount",
    source: "tmpfs",
    target: "/newroot/scratch",
    fstype: "tmpfs",
    flags: MS.NOSUID | MS.NODEV,
    data: "mode=0755",
    what: "cannot mount a tmpfs on /scratch",
  });
});

Deno.test("buildPlan() mounts a fresh proc in a new PID namespace and binds the host's otherwise", () => {
  const own = plan(["sh"]).ops;
  const fresh = own[indexOf(own, mountOn("/newroot/proc"), "proc")];
  assert.ok(fresh?.kind === "mount");
  assert.equal(fresh.fstype, "proc");
  assert.equal(fresh.flags, MS.NOSUID | MS.NODEV | MS.NOEXEC);
  const shared = plan(["--share", "pid", "sh"]).ops;
  const bound = shared[indexOf(shared, mountOn("/newroot/proc"), "proc")];
  assert.ok(bound?.kind === "mount");
  assert.equal(bound.source, "/oldroot/proc");
  assert.equal(bound.flags, MS.BIND | MS.REC);
});

Deno.test("buildPlan() binds each device of the minimal /dev", () => {
  const ops = plan(["sh"]).ops;
  for (const dev of DEVICES) {
    const op = ops[indexOf(ops, mountOn(`/newroot/dev/${dev}`), `/dev/${dev}`)];
    assert.ok(op?.kind === "mount");
    assert.equal(op.source, `/oldroot/dev/${dev}`);
    assert.equal(op.flags, MS.BIND | MS.REC);
  }
  const links = ops.filter((op) => op.kind === "symlink").map((op) => op.kind === "symlink" && [op.path, op.target]);
  assert.deepEqual(links, [
    ["/newroot/dev/fd", "/proc/self/fd"],
    ["/newroot/dev/stdin", "/proc/self/fd/0"],
    ["/newroot/dev/stdout", "/proc/self/fd/1"],
    ["/newroot/dev/stderr", "/proc/self/fd/2"],
    ["/newroot/dev/ptmx", "pts/ptmx"],
  ]);
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

Deno.test("buildPlan() gives every op a `what` and every path op an absolute path", () => {
  const ops = plan(["--rootfs", "/srv/root", "--bind", "/etc/hosts:/a/hosts", "--tmpfs", "/b", "sh"]).ops;
  for (const op of ops) {
    assert.ok(op.what.startsWith("cannot "), JSON.stringify(op));
    if (op.kind === "mkdir" || op.kind === "mkfile" || op.kind === "mountSetattr") {
      assert.ok(op.path.startsWith("/"), JSON.stringify(op));
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
  const isCgroup2 = (op: SetupOp) => op.kind === "mount" && op.fstype === "cgroup2";
  assert.equal(plan(["sh"]).ops.some(isCgroup2), false);
  assert.equal(plan(["sh"]).holdExit, false);
  const p = plan(["--mem", "100M", "--tmpfs", "/scratch", "sh"]);
  const ops = p.ops;
  const cg = indexOf(ops, isCgroup2, "cgroup2");
  const op = ops[cg];
  assert.ok(op?.kind === "mount");
  assert.equal(op.target, "/newroot/sys/fs/cgroup");
  assert.equal(op.flags & MS.RDONLY, MS.RDONLY);
  assert.ok(cg > indexOf(ops, mountOn("/newroot/tmp"), "/tmp"));
  assert.ok(cg < indexOf(ops, mountOn("/newroot/scratch"), "--tmpfs /scratch"));
  assert.equal(p.holdExit, true);
  assert.equal(plan(["--mem", "100M", "--as-pid-1", "sh"]).holdExit, false);
});

Deno.test("buildPlan() masks /proc right after mounting it, tolerating missing entries", () => {
  for (const args of [["sh"], ["--share", "pid", "sh"]]) {
    const ops = plan(args).ops;
    const proc = indexOf(ops, mountOn("/newroot/proc"), "/proc");
    for (const f of PROC_MASKED_FILES) {
      const i = indexOf(ops, mountOn(`/newroot${f}`), f);
      assert.ok(i > proc);
      assert.deepEqual(ops[i], {
        kind: "mount",
        source: "/oldroot/dev/null",
        target: `/newroot${f}`,
        fstype: null,
        flags: MS.BIND | MS.REC,
        data: null,
        ignoreMissing: true,
        what: `cannot mask ${f}`,
      });
    }
    for (const d of PROC_MASKED_DIRS) {
      const op = ops[indexOf(ops, mountOn(`/newroot${d}`), d)];
      assert.ok(op?.kind === "mount" && op.fstype === "tmpfs" && op.ignoreMissing === true, d);
      assert.equal(op.flags & MS.RDONLY, MS.RDONLY);
    }
    for (const d of PROC_READ_ONLY) {
      const i = indexOf(ops, mountOn(`/newroot${d}`), d);
      assert.deepEqual(ops[i + 1], {
        kind: "mountSetattr",
        path: `/newroot${d}`,
        set: MOUNT_ATTR.RDONLY,
        clear: 0,
        recursive: true,
        ignoreMissing: true,
        what: `cannot make ${d} read-only`,
      });
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
