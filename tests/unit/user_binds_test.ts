/**
 * `--user UID[:GID]` (run and exec), `--proc=host`, `--bind-try`/`--ro-bind-try` and `--dev-bind`:
 * parsing, validation, id maps and plans, on a fake host.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseArgs } from "../../src/cli/parse.ts";
import { EXEC, RUN } from "../../src/cli/flags.ts";
import { runOptionsFromArgs } from "../../src/cli/run_command.ts";
import { UsageError } from "../../src/errors.ts";
import { execIds } from "../../src/exec.ts";
import { buildExecPlan } from "../../src/plan/exec_plan.ts";
import { idMapLines, idMapPlan, isMapped } from "../../src/plan/idmap.ts";
import { buildPlan } from "../../src/plan/plan.ts";
import { failureError, PROC_REFUSED_HINT } from "../../src/report/report.ts";
import { MOUNT_ATTR } from "../../src/linux.ts";
import type { SandboxSpec } from "../../src/spec/spec.ts";
import { MAX_ID, validate } from "../../src/spec/validate.ts";
import { fakeHost, type FakeHostInit, runOptions } from "./_fake_host.ts";

const PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nweb:x:33:44::/var/www:/bin/sh\n";
const GROUP = "root:x:0:\ndaemon:x:1:\nstaff:x:50:\n";
const FILES = { "/etc/passwd": PASSWD, "/etc/group": GROUP };

function spec(args: string[], init: FakeHostInit = {}): SandboxSpec {
  return validate(runOptions(args), fakeHost({ files: FILES, ...init }));
}

/** The problems validate() reports for `nsbox run ARGS...`; fails when it accepts them. */
function problems(args: string[], init: FakeHostInit = {}): readonly string[] {
  try {
    validate(runOptionsFromArgs(parseArgs(RUN, args)), fakeHost({ files: FILES, ...init }));
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    return e.problems;
  }
  assert.fail(`validate accepted ${JSON.stringify(args)}`);
}

// ------------------------------------------------------------------ --user

Deno.test("--user UID:GID maps the caller to those ids inside, without capabilities", () => {
  const s = spec(["--user", "1234:5678", "id"]);
  assert.deepEqual([s.identity.mode, s.identity.uid, s.identity.gid], ["user", 1234, 5678]);
  assert.deepEqual(s.identity.capabilities, []);
  const maps = idMapPlan(s.identity);
  assert.deepEqual(maps.uid, [{ inside: 1234, outside: 1000, count: 1 }]);
  assert.deepEqual(maps.gid, [{ inside: 5678, outside: 1000, count: 1 }]);
  const nest = buildPlan(s).ops.find((op) => op.kind === "nestUserns");
  assert.ok(nest?.kind === "nestUserns");
  assert.equal(nest.uidMap, "1234 1234 1\n");
  assert.equal(nest.gidMap, "5678 5678 1\n");
  assert.equal(nest.selfMap, true);
});

Deno.test("--user (and -u) takes names from the root's /etc/passwd and /etc/group; GID defaults to the user's group, else 0", () => {
  assert.deepEqual(pick(spec(["-u", "web", "id"])), [33, 44]);
  assert.deepEqual(pick(spec(["--user", "daemon:staff", "id"])), [1, 50]);
  assert.deepEqual(pick(spec(["--user", "33", "id"])), [33, 44]); // a number with an entry: its group
  assert.deepEqual(pick(spec(["--user", "4242", "id"])), [4242, 0]); // none: 0, as docker and podman
  assert.deepEqual(pick(spec(["--user", `${MAX_ID}:${MAX_ID}`, "id"])), [4294967294, 4294967294]);
  // --rootfs: its own /etc/passwd, not the host's
  const rootfs = {
    paths: { "/srv/root/etc": "directory", "/srv/root/etc/passwd": "file" } as const,
    files: { ...FILES, "/srv/root/etc/passwd": "app:x:700:701::/:/bin/sh\n" },
  };
  assert.deepEqual(pick(spec(["--rootfs", "/srv/root", "--user", "app", "id"], rootfs)), [700, 701]);
  assert.deepEqual(problems(["--rootfs", "/srv/root", "--user", "web", "id"], rootfs), [
    "--user: no user 'web' in /etc/passwd of /srv/root: give a number (e.g. --user 1000).",
  ]);
});

function pick(s: SandboxSpec): [number | undefined, number | undefined] {
  return [s.identity.uid, s.identity.gid];
}

Deno.test("--rootfs whose /etc/passwd leads out of it by a symlink: names are not looked up there", () => {
  const init = {
    paths: { "/srv/root/etc": "directory", "/srv/root/etc/passwd": { link: "/etc/passwd" } } as const,
  };
  assert.deepEqual(problems(["--rootfs", "/srv/root", "--user", "web", "id"], init), [
    "--user: no user 'web' in /etc/passwd of /srv/root: give a number (e.g. --user 1000).",
  ]);
});

Deno.test("--user 0 is --root: uid 0 with --root's capabilities; --user with --root is refused", () => {
  const zero = spec(["--user", "0", "id"]);
  const root = spec(["--root", "id"]);
  assert.equal(zero.identity.mode, "root");
  assert.deepEqual(zero.identity.capabilities, root.identity.capabilities);
  assert.deepEqual(pick(zero), [0, 0]);
  assert.deepEqual(pick(spec(["--user", "0:50", "id"])), [0, 50]);
  assert.deepEqual(problems(["--user", "0", "--root", "id"]), [
    "--user: cannot be used with --root (--user 0 is uid 0 with --root's capabilities).",
  ]);
});

Deno.test("--user refuses ids out of range, empty parts, unknown names, one line each", () => {
  const expected = (v: string) => `--user: expected UID[:GID], numbers from 0 to 4294967294 or names, got '${v}'.`;
  for (const v of ["4294967295", "1:4294967295", "1:2:3", ":5", "5:", "99999999999999999999"]) {
    assert.deepEqual(problems(["--user", v, "id"]), [expected(v)], v);
  }
  assert.deepEqual(problems(["--user", "nobody-here", "id"]), [
    "--user: no user 'nobody-here' in /etc/passwd: give a number (e.g. --user 1000).",
  ]);
  assert.deepEqual(problems(["--user", "1:nogroup-here", "id"]), [
    "--user: no group 'nogroup-here' in /etc/group: give a number (e.g. --user 1000:1000).",
  ]);
});

Deno.test("--user with --map-users: the caller at UID, the subordinate range around it, ending at 2^32-2", () => {
  const s = spec(["--user", "1234", "--map-users", "id"], {
    subUids: { start: 100000, count: 65536 },
    subGids: { start: 200000, count: 65536 },
    programs: ["newuidmap", "newgidmap"],
  });
  assert.deepEqual(idMapPlan(s.identity).uid, [
    { inside: 1234, outside: 1000, count: 1 },
    { inside: 0, outside: 100000, count: 1234 },
    { inside: 1235, outside: 101234, count: 64302 },
  ]);
  // near the top the range is cut where ids end
  const top = idMapLines(1000, MAX_ID - 10, { start: 100000, count: 65536 });
  const last = top.at(-1)!;
  assert.ok(last.inside + last.count - 1 <= MAX_ID, JSON.stringify(top));
  assert.deepEqual(idMapLines(1000, MAX_ID, { start: 100000, count: 65536 }), [
    { inside: MAX_ID, outside: 1000, count: 1 },
    { inside: 0, outside: 100000, count: 65536 },
  ]);
});

Deno.test("isMapped() tells ids inside a map's ranges", () => {
  const lines = [{ inside: 1000, outside: 1, count: 1 }, { inside: 0, outside: 100000, count: 1000 }];
  assert.equal(isMapped(lines, 0), true);
  assert.equal(isMapped(lines, 999), true);
  assert.equal(isMapped(lines, 1000), true);
  assert.equal(isMapped(lines, 1001), false);
});

// ------------------------------------------------------------------ exec --user

Deno.test("exec --user: ids the sandbox maps are taken (names from its root), others refused in one line", () => {
  const host = fakeHost({ files: FILES });
  const plain = spec(["id"]);
  assert.deepEqual(execIds(plain, "web", undefined, host), null);
  assert.deepEqual(execIds(plain, "web", "1000", host), { uid: 1000, gid: 1000, setgroups: false });
  assert.throws(() => execIds(plain, "web", "0", host), (e) => {
    assert.ok(e instanceof UsageError);
    assert.deepEqual(e.problems, [
      "--user: uid 0 is not mapped in the sandbox 'web' (it maps 1000; a sandbox started with --map-users maps more).",
    ]);
    return true;
  });
  const mapped = spec(["--map-users", "id"], {
    subUids: { start: 100000, count: 65536 },
    subGids: { start: 200000, count: 65536 },
    programs: ["newuidmap", "newgidmap"],
  });
  assert.deepEqual(execIds(mapped, "web", "web", host), { uid: 33, gid: 44, setgroups: true });
  assert.deepEqual(execIds(mapped, "web", "4242", host), { uid: 4242, gid: 1000, setgroups: true }); // the sandbox's gid
  assert.throws(() => execIds(mapped, "web", "70000", host), /uid 70000 is not mapped in the sandbox 'web' \(it maps /);
  assert.throws(() => execIds(plain, "web", "1000:5", host), /gid 5 is not mapped/);
});

Deno.test("exec --user: the plan becomes the ids after joining, before chdir; another uid gets no capabilities", () => {
  const root = spec(["--root", "id"]);
  const plan = buildExecPlan(root, 42, { command: ["id"], ids: { uid: 1, gid: 1, setgroups: true } }, {
    fdBase: 10,
    terminal: "none",
  });
  const kinds = plan.ops.map((op) => op.kind);
  const at = kinds.indexOf("setIds");
  assert.ok(at > kinds.lastIndexOf("setns") && at < kinds.indexOf("chdir"), kinds.join(" "));
  assert.deepEqual(plan.ops[at], {
    kind: "setIds",
    uid: 1,
    gid: 1,
    setgroups: true,
    what: "cannot become uid 1 gid 1",
  });
  const capset = plan.ops.find((op) => op.kind === "capset");
  assert.ok(capset?.kind === "capset");
  assert.deepEqual(capset.permitted, []);
  // as the sandbox's own uid, its capabilities stay
  const same = buildExecPlan(root, 42, { command: ["id"], ids: { uid: 0, gid: 0, setgroups: false } }, {
    fdBase: 10,
    terminal: "none",
  });
  const kept = same.ops.find((op) => op.kind === "capset");
  assert.ok(kept?.kind === "capset");
  assert.deepEqual(kept.permitted, root.identity.capabilities);
  // without --user: no setIds op
  assert.ok(
    !buildExecPlan(root, 42, { command: ["id"] }, { fdBase: 10, terminal: "none" }).ops.some((op) =>
      op.kind === "setIds"
    ),
  );
});

Deno.test("exec takes -u/--user and -d/--detach", () => {
  const p = parseArgs(EXEC, ["-d", "-u", "1:2", "web", "--", "true"]);
  assert.deepEqual(p.uses.map((u) => [u.flag.name, u.value]), [["detach", true], ["user", "1:2"]]);
  assert.deepEqual(p.operands, ["web", "--", "true"]);
});

// ------------------------------------------------------------------ --proc

Deno.test("--proc=host binds the existing /proc with the host's PID namespace (as --share pid)", () => {
  const s = spec(["--proc=host", "true"]);
  assert.deepEqual(s.share, ["pid"]);
  const plan = buildPlan(s);
  assert.ok(!plan.ops.some((op) => op.kind === "fsmount" && op.fstype === "proc"));
  assert.ok(plan.ops.some((op) => op.kind === "openTree" && op.path === "proc"), "the host's /proc bound");
  assert.deepEqual(spec(["--proc", "host", "--share", "pid", "true"]).share, ["pid"]);
  assert.deepEqual(spec(["--proc=new", "true"]).share, []);
  assert.deepEqual(problems(["--proc=other", "true"]), ["--proc: expected new or host, got 'other'."]);
  assert.deepEqual(problems(["--proc=new", "--share", "pid", "true"]), [
    "--proc=new: cannot be used with --share pid (which binds the host's /proc).",
  ]);
});

Deno.test("a fresh /proc refused with EPERM says why and names the fixes, --proc=host among them", () => {
  const plan = buildPlan(spec(["true"]));
  const step = plan.ops.findIndex((op) => op.kind === "fsmount" && op.fstype === "proc");
  const e = failureError(plan, step, 1);
  assert.equal(e.message, "cannot mount proc on /proc: Operation not permitted");
  assert.equal(e.hint, PROC_REFUSED_HINT);
  for (const fix of ["systempaths=unconfined", "unmask=ALL", "procMount: Unmasked", "--proc=host"]) {
    assert.ok(e.hint!.includes(fix), fix);
  }
  // another errno is no such case
  assert.equal(failureError(plan, step, 12).hint, undefined);
});

// ------------------------------------------------------------------ --bind-try, --ro-bind-try, --dev-bind

Deno.test("--bind-try and --ro-bind-try skip a missing source, keep the others in order", () => {
  const s = spec([
    "--bind-try",
    "/nowhere:/a",
    "--ro-bind-try",
    "/home/user/src:/b",
    "--tmpfs",
    "/c",
    "--bind-try",
    "/home/user/notes.txt:/d:ro",
    "true",
  ]);
  assert.deepEqual(s.mounts.map((m) => [m.kind, m.destination, m.kind === "bind" && m.readOnly]), [
    ["bind", "/b", true],
    ["tmpfs", "/c", false],
    ["bind", "/d", true],
  ]);
  // other problems are still problems
  assert.deepEqual(problems(["--bind-try", "/home/user/src:relative", "true"]), [
    "--bind-try: expected an absolute destination other than / without '..', got 'relative'.",
  ]);
  assert.deepEqual(problems(["--bind", "/nowhere:/a", "true"]), [
    "--bind: no such source path '/nowhere' (to bind on /a).",
  ]);
});

Deno.test("--dev-bind keeps device nodes usable (no nodev, nosuid still), for a device node or a directory only", () => {
  const init = { paths: { "/dev": "directory", "/dev/fuse": "device", "/dev/dri": "directory" } as const };
  const s = spec(["--dev-bind", "/dev/fuse", "--dev-bind", "/dev/dri:/gpu", "--bind", "/home/user/src", "true"], init);
  assert.deepEqual(s.mounts.map((m) => m.kind === "bind" && [m.destination, m.devices ?? false, m.sourceType]), [
    ["/dev/fuse", true, "file"],
    ["/gpu", true, "directory"],
    ["/home/user/src", false, "directory"],
  ]);
  const attrsOf = (dst: string) => {
    const ops = buildPlan(s).ops;
    const i = ops.findIndex((op) => op.kind === "moveMount" && op.path === dst.slice(1));
    const set = ops[i - 1];
    assert.ok(set?.kind === "mountSetattr", dst);
    return set.set;
  };
  assert.equal(attrsOf("/dev/fuse"), MOUNT_ATTR.NOSUID);
  assert.equal(attrsOf("/gpu"), MOUNT_ATTR.NOSUID);
  assert.equal(attrsOf("/home/user/src"), MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV);
  assert.deepEqual(problems(["--dev-bind", "/home/user/notes.txt", "true"], init), [
    "--dev-bind: '/home/user/notes.txt' is neither a device node nor a directory (use --bind for a plain file).",
  ]);
  assert.deepEqual(problems(["--dev-bind", "/dev/fuse:/x:ro", "true"], init), [
    "--dev-bind: expected SRC or SRC:DST with non-empty paths (write \\: for a ':' in a path), got '/dev/fuse:/x:ro'.",
  ]);
  assert.deepEqual(problems(["--dev-bind", "/dev/nope", "true"], init), [
    "--dev-bind: no such source path '/dev/nope' (to bind on /dev/nope).",
  ]);
});
