import { CAPABILITIES, capabilityNumber, ROOT_DENIED } from "../../src/spec/capabilities.ts";
import assert from "node:assert/strict";
import { DEFAULT_HOSTNAME, normalizeAbsolute, quote, validate } from "../../src/spec/validate.ts";
import { UsageError } from "../../src/errors.ts";
import type { RunOptions } from "../../src/spec/options.ts";
import type { SandboxSpec } from "../../src/spec/spec.ts";
import { fakeHost, type FakeHostInit, runOptions } from "./_fake_host.ts";

/** The problems validate() reports; fails when it accepts the options. */
function problems(options: RunOptions, host = fakeHost()): readonly string[] {
  try {
    validate(options, host);
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    return e.problems;
  }
  assert.fail(`validate accepted ${JSON.stringify(options)}`);
}

function spec(args: string[], init: FakeHostInit = {}): SandboxSpec {
  return validate(runOptions(args), fakeHost(init));
}

const SUBUIDS = { start: 100000, count: 65536 };
const SUBGIDS = { start: 200000, count: 65536 };

Deno.test("validate() gives the defaults for a bare command", () => {
  const s = spec(["sh"]);
  assert.deepEqual(s.command, ["sh"]);
  assert.deepEqual(s.env, { PATH: "/usr/bin:/bin", HOME: "/home/user", LANG: "C.UTF-8" });
  assert.deepEqual(s.cwd, { path: "/home/user", required: false });
  assert.deepEqual(s.share, []);
  assert.deepEqual(s.identity, {
    mode: "user",
    hostUid: 1000,
    hostGid: 1000,
    uid: 1000,
    gid: 1000,
    capabilities: [],
    subUids: null,
    subGids: null,
  });
  assert.equal(s.hostname, DEFAULT_HOSTNAME);
  assert.equal(DEFAULT_HOSTNAME, "nsbox");
  assert.equal(s.rootfs, null);
  assert.deepEqual(s.mounts, []);
  assert.equal(s.init, "reaper");
});

Deno.test("validate() reports every problem at once", () => {
  const ps = problems({
    command: [],
    share: ["net", "bogus" as never],
    hostname: "-bad",
    rootfs: "/nowhere",
    mounts: [
      { kind: "bind", source: "/missing" },
      { kind: "tmpfs", destination: "relative" },
    ],
    chdir: "here",
    envEdits: [{ kind: "unset", name: "A=B" }],
  });
  assert.equal(ps.length, 8, ps.join("\n"));
  assert.equal(ps[0], "No command given: expected `nsbox run [OPTIONS] -- CMD [ARGS...]`.");
  assert.equal(ps[1], "--share: expected one of net, ipc, uts, pid, got 'bogus'.");
  assert.equal(
    ps[2],
    "--hostname: expected 1 to 63 letters, digits, '-' or '.', starting with a letter or digit, got '-bad'.",
  );
  assert.equal(ps[3], "--rootfs: cannot use '/nowhere': No such file or directory.");
  assert.match(ps[4]!, /^--bind: no such source path '.*\/missing' \(to bind on .*\)\.$/);
  assert.equal(ps[5], "--tmpfs: expected an absolute path other than / without '..', got 'relative'.");
  assert.equal(ps[6], "--chdir: expected an absolute path without '..', got 'here'.");
  assert.equal(ps[7], "--unsetenv: expected a variable name without '=', got 'A=B'.");
});

Deno.test("validate() refuses an empty command name and NUL bytes in the command", () => {
  assert.deepEqual(problems({ command: [""] }), [
    "No command given: expected `nsbox run [OPTIONS] -- CMD [ARGS...]`.",
  ]);
  assert.deepEqual(problems({ command: ["echo", "a\0b"] }), ["The command contains a NUL byte."]);
});

Deno.test("validate() accepts hostnames of 1 to 63 letters, digits, '-' and '.'", () => {
  for (const name of ["a", "box", "Box-1", "9lives", "a.b.c", "x".repeat(63)]) {
    assert.equal(validate({ command: ["true"], hostname: name }, fakeHost()).hostname, name);
  }
});

Deno.test("validate() refuses bad hostnames", () => {
  for (const name of ["", "-a", ".a", "a_b", "a b", "é", "x".repeat(64), "a\0"]) {
    const ps = problems({ command: ["true"], hostname: name });
    assert.deepEqual(ps, [
      `--hostname: expected 1 to 63 letters, digits, '-' or '.', starting with a letter or digit, got ${quote(name)}.`,
    ]);
  }
});

Deno.test("validate() refuses --hostname with --share uts and has no hostname then", () => {
  assert.deepEqual(problems(runOptions(["--share", "uts", "--hostname", "box", "true"])), [
    "--hostname: cannot be used with --share uts.",
  ]);
  assert.equal(spec(["--share", "uts", "true"]).hostname, null);
});

Deno.test("validate() refuses a bad --share value and removes duplicates", () => {
  assert.deepEqual(problems(runOptions(["--share", "net,mnt", "--share", "", "true"])), [
    "--share: expected one of net, ipc, uts, pid, got 'mnt'.",
    "--share: expected one of net, ipc, uts, pid, got ''.",
  ]);
  assert.deepEqual(spec(["--share", "pid,net", "--share", "net,pid,ipc", "true"]).share, ["pid", "net", "ipc"]);
});

Deno.test("validate() names the flag and the path of a missing bind source", () => {
  const ps = problems(runOptions(["--bind", "/nope:/x", "--ro-bind", "gone", "true"]));
  assert.equal(ps.length, 2, ps.join("\n"));
  assert.equal(ps[0], "--bind: no such source path '/nope' (to bind on /x).");
  assert.match(ps[1]!, /^--ro-bind: no such source path 'gone' \(to bind on \/.*gone\)\.$/);
});

Deno.test("validate() resolves relative sources from the current directory", () => {
  const host = fakeHost({ cwd: "/home/user" });
  const s = validate(
    runOptions(["--bind", "src", "--ro-bind", "notes.txt:/notes", "--rootfs", "../../srv/root", "true"]),
    host,
  );
  for (const path of ["/home/user/../../srv/root", "/home/user/src", "/home/user/notes.txt"]) {
    assert.ok(host.inspected.includes(path), `${path} not inspected: ${host.inspected}`);
  }
  assert.ok(host.inspected.every((p) => p.startsWith("/")), `relative path inspected: ${host.inspected}`);
  assert.equal(s.rootfs, "/srv/root");
  assert.deepEqual(s.mounts, [
    { kind: "bind", source: "/home/user/src", destination: "/home/user/src", readOnly: false, sourceType: "directory" },
    { kind: "bind", source: "/home/user/notes.txt", destination: "/notes", readOnly: true, sourceType: "file" },
  ]);
});

Deno.test("validate() resolves a relative source from / as cwd", () => {
  const s = validate(runOptions(["--bind", "etc", "true"]), fakeHost({ cwd: "/" }));
  assert.deepEqual(s.mounts, [
    { kind: "bind", source: "/etc", destination: "/etc", readOnly: false, sourceType: "directory" },
  ]);
});

Deno.test("validate() defaults the destination of a relative source with '..' to its absolute path", () => {
  // `nsbox run --bind ../notes.txt` from /home/user/src: no destination was given, so
  // the bind goes to the same path, /home/user/notes.txt; the '..' is the source's, not a destination's.
  const s = validate(runOptions(["--bind", "../notes.txt", "true"]), fakeHost({ cwd: "/home/user/src" }));
  assert.deepEqual(s.mounts, [
    {
      kind: "bind",
      source: "/home/user/notes.txt",
      destination: "/home/user/notes.txt",
      readOnly: false,
      sourceType: "file",
    },
  ]);
});

Deno.test("validate() keeps the canonical source of a symlink and its file type", () => {
  const host = fakeHost({ paths: { "/home/user/link": { link: "/etc/hosts" } } });
  const s = validate(runOptions(["--ro-bind", "/home/user/link", "true"]), host);
  assert.deepEqual(s.mounts, [
    { kind: "bind", source: "/etc/hosts", destination: "/home/user/link", readOnly: true, sourceType: "file" },
  ]);
});

Deno.test("validate() normalises destinations", () => {
  const s = spec(["--bind", "/etc:/a//b/./c/", "--tmpfs", "/x/./y//", "true"]);
  assert.deepEqual(s.mounts.map((m) => m.destination), ["/a/b/c", "/x/y"]);
});

Deno.test("validate() refuses destinations with '..' or that are /", () => {
  assert.deepEqual(
    problems(runOptions(["--bind", "/etc:/a/../b", "--ro-bind", "/etc:/", "--bind", "/etc://.", "true"])),
    [
      "--bind: expected an absolute destination other than / without '..', got '/a/../b'.",
      "--ro-bind: expected an absolute destination other than / without '..', got '/' (use --rootfs to replace /).",
      "--bind: expected an absolute destination other than / without '..', got '//.' (use --rootfs to replace /).",
    ],
  );
  assert.deepEqual(problems(runOptions(["--tmpfs", "/", "--tmpfs", "/a/..", "--tmpfs", "tmp", "true"])), [
    "--tmpfs: expected an absolute path other than / without '..', got '/'.",
    "--tmpfs: expected an absolute path other than / without '..', got '/a/..'.",
    "--tmpfs: expected an absolute path other than / without '..', got 'tmp'.",
  ]);
});

Deno.test("validate() refuses a relative bind destination", () => {
  assert.deepEqual(problems(runOptions(["--bind", "/etc:etc", "true"])), [
    "--bind: expected an absolute destination other than / without '..', got 'etc'.",
  ]);
});

Deno.test("validate() reports a missing source and a bad destination of one bind together", () => {
  const ps = problems(runOptions(["--bind", "/nope:/a/../b", "true"]));
  assert.equal(ps.length, 2, ps.join("\n"));
  assert.equal(ps[0], "--bind: no such source path '/nope' (to bind on /a/../b).");
  assert.equal(ps[1], "--bind: expected an absolute destination other than / without '..', got '/a/../b'.");
});

Deno.test("validate() requires --rootfs to be a directory", () => {
  assert.deepEqual(problems(runOptions(["--rootfs", "/etc/hosts", "true"])), [
    "--rootfs: '/etc/hosts' is not a directory.",
  ]);
  assert.deepEqual(problems(runOptions(["--rootfs", "/srv/none", "true"])), [
    "--rootfs: cannot use '/srv/none': No such file or directory.",
  ]);
  assert.equal(spec(["--rootfs", "/srv/root", "true"]).rootfs, "/srv/root");
});

Deno.test("validate() canonicalises --rootfs and treats the host's / as no rootfs", () => {
  assert.equal(spec(["--rootfs", "/", "true"]).rootfs, null);
  assert.equal(spec(["--rootfs", "/srv/../", "true"]).rootfs, null);
  assert.equal(spec(["--rootfs", "/r", "true"], { paths: { "/r": { link: "/srv/root" } } }).rootfs, "/srv/root");
});

Deno.test("validate() requires an absolute --chdir and makes it required", () => {
  assert.deepEqual(spec(["--chdir", "/src//x/.", "true"]).cwd, { path: "/src/x", required: true });
  assert.deepEqual(spec(["--chdir", "/", "true"]).cwd, { path: "/", required: true });
  assert.deepEqual(problems(runOptions(["--chdir", "src", "true"])), [
    "--chdir: expected an absolute path without '..', got 'src'.",
  ]);
  assert.deepEqual(problems(runOptions(["--chdir", "/a/../b", "true"])), [
    "--chdir: expected an absolute path without '..', got '/a/../b'.",
  ]);
});

Deno.test("validate() uses the host's cwd, not required, without --chdir", () => {
  assert.deepEqual(spec(["true"], { cwd: "/srv" }).cwd, { path: "/srv", required: false });
});

Deno.test("validate() starts from the host's environment and applies edits in order", () => {
  const s = spec([
    "--setenv",
    "A=1",
    "--unsetenv",
    "LANG",
    "--setenv",
    "A=2",
    "--setenv",
    "B=",
    "--unsetenv",
    "NONE",
    "env",
  ]);
  assert.deepEqual(s.env, { PATH: "/usr/bin:/bin", HOME: "/home/user", A: "2", B: "" });
});

Deno.test("validate() starts from an empty environment with --clearenv", () => {
  assert.deepEqual(spec(["--clearenv", "env"]).env, {});
  assert.deepEqual(spec(["--clearenv", "--setenv", "X=1", "--unsetenv", "X", "--setenv", "Y=2", "env"]).env, {
    Y: "2",
  });
});

Deno.test("validate() does not change the host's environment object", () => {
  const host = fakeHost({ env: { A: "1" } });
  const s = validate(runOptions(["--setenv", "B=2", "--unsetenv", "A", "env"]), host);
  assert.deepEqual(s.env, { B: "2" });
  assert.deepEqual(host.env, { A: "1" });
});

Deno.test("validate() refuses bad environment names and NUL in values", () => {
  assert.deepEqual(
    problems({
      command: ["env"],
      envEdits: [
        { kind: "set", name: "", value: "x" },
        { kind: "set", name: "A=B", value: "x" },
        { kind: "set", name: "C", value: "a\0b" },
        { kind: "unset", name: "" },
      ],
    }),
    [
      "--setenv: expected a variable name without '=', got ''.",
      "--setenv: expected a variable name without '=', got 'A=B'.",
      "--setenv: the value of C contains a NUL byte.",
      "--unsetenv: expected a variable name without '=', got ''.",
    ],
  );
});

Deno.test("validate() gives --root every capability but the deny-list, and applies --cap-drop then --cap-add", () => {
  const root = spec(["--root", "id"]).identity.capabilities;
  assert.equal(root.length, CAPABILITIES.length - ROOT_DENIED.length);
  for (const denied of ROOT_DENIED) assert.ok(!root.includes(capabilityNumber(denied)!), denied);
  assert.ok(root.includes(capabilityNumber("SYS_ADMIN")!));
  assert.deepEqual(spec(["--root", "--cap-drop", "ALL", "--cap-add", "sys_admin", "id"]).identity.capabilities, [21]);
  assert.deepEqual(spec(["--cap-add", "CAP_NET_RAW,net_bind_service", "id"]).identity.capabilities, [10, 13]);
  assert.ok(!spec(["--root", "--cap-drop", "SYS_ADMIN", "id"]).identity.capabilities.includes(21));
  assert.deepEqual(problems(runOptions(["--cap-add", "bogus", "--cap-drop", "nope", "id"])), [
    "--cap-add: expected a capability name such as NET_ADMIN or CAP_SYS_ADMIN, got 'bogus'.",
    "--cap-drop: expected a capability name such as NET_ADMIN or CAP_SYS_ADMIN, got 'nope'.",
  ]);
});

Deno.test("validate() fills the identity from the host", () => {
  assert.deepEqual(spec(["id"], { uid: 1234, gid: 567 }).identity, {
    mode: "user",
    hostUid: 1234,
    hostGid: 567,
    uid: 1234,
    gid: 567,
    capabilities: [],
    subUids: null,
    subGids: null,
  });
  assert.equal(spec(["--root", "id"]).identity.mode, "root");
});

Deno.test("validate() ignores subordinate ranges without --map-users", () => {
  const s = spec(["id"], { subUids: SUBUIDS, subGids: SUBGIDS, programs: ["newuidmap", "newgidmap"] });
  assert.equal(s.identity.subUids, null);
  assert.equal(s.identity.subGids, null);
});

Deno.test("validate() takes subordinate ranges with --map-users", () => {
  const s = spec(["--map-users", "--root", "id"], {
    subUids: SUBUIDS,
    subGids: SUBGIDS,
    programs: ["newuidmap", "newgidmap"],
  });
  assert.deepEqual({ ...s.identity, capabilities: undefined }, {
    mode: "root",
    hostUid: 1000,
    hostGid: 1000,
    uid: 0,
    gid: 0,
    capabilities: undefined,
    subUids: SUBUIDS,
    subGids: SUBGIDS,
  });
});

Deno.test("validate() refuses --map-users without ranges or newuidmap/newgidmap", () => {
  assert.deepEqual(problems(runOptions(["--map-users", "id"])), [
    "--map-users: /etc/subuid has no range for 'user'.",
    "--map-users: /etc/subgid has no range for 'user'.",
    "--map-users: newuidmap is not installed (Debian package uidmap).",
    "--map-users: newgidmap is not installed (Debian package uidmap).",
  ]);
  assert.deepEqual(
    problems(runOptions(["--map-users", "id"]), fakeHost({ subUids: SUBUIDS, programs: ["newuidmap"] })),
    [
      "--map-users: /etc/subgid has no range for 'user'.",
      "--map-users: newgidmap is not installed (Debian package uidmap).",
    ],
  );
});

Deno.test("validate() names the uid when the user has no login name", () => {
  const host = fakeHost({ uid: 4242, userName: null, programs: ["newuidmap", "newgidmap"], subGids: SUBGIDS });
  assert.deepEqual(problems(runOptions(["--map-users", "id"]), host), [
    "--map-users: /etc/subuid has no range for '4242'.",
  ]);
});

Deno.test("validate() sets init to none with --as-pid-1", () => {
  assert.equal(spec(["--as-pid-1", "sh"]).init, "none");
  assert.equal(spec(["sh"]).init, "reaper");
});

Deno.test("validate() copies the command", () => {
  const command = ["echo", "hi"];
  const s = validate({ command }, fakeHost());
  command.push("changed");
  assert.deepEqual(s.command, ["echo", "hi"]);
});

Deno.test("normalizeAbsolute() collapses // and . and drops a trailing /", () => {
  assert.equal(normalizeAbsolute("/a//b/./c/"), "/a/b/c");
  assert.equal(normalizeAbsolute("/"), "/");
  assert.equal(normalizeAbsolute("//"), "/");
  assert.equal(normalizeAbsolute("/./."), "/");
  assert.equal(normalizeAbsolute("/a..b/.c"), "/a..b/.c");
});

Deno.test("normalizeAbsolute() refuses relative paths, '..' and NUL", () => {
  assert.equal(normalizeAbsolute(""), null);
  assert.equal(normalizeAbsolute("a/b"), null);
  assert.equal(normalizeAbsolute("./a"), null);
  assert.equal(normalizeAbsolute("/a/../b"), null);
  assert.equal(normalizeAbsolute("/.."), null);
  assert.equal(normalizeAbsolute("/a\0b"), null);
});

Deno.test("quote() wraps a value in single quotes", () => {
  assert.equal(quote("x y"), "'x y'");
});

Deno.test("validate() covers nsbox's own directories wherever the root or a bind shows them", () => {
  const init: FakeHostInit = {
    privateDirs: ["/tmp/nsbox-1000", "/home/user/.config/nsbox"],
    paths: { "/tmp": "directory", "/srv/root/home": "directory" },
  };
  const s = spec(["--bind", "/tmp:/t", "--ro-bind", "/home:/h", "--bind", "/home/user/src", "sh"], init);
  assert.deepEqual(s.covered, [
    "/tmp/nsbox-1000",
    "/t/nsbox-1000",
    "/home/user/.config/nsbox",
    "/h/user/.config/nsbox",
  ]);
  // a --rootfs shows only what lies inside it
  assert.deepEqual(spec(["--rootfs", "/srv/root", "sh"], init).covered, []);
  assert.deepEqual(
    spec(["--rootfs", "/srv/root", "sh"], { ...init, privateDirs: ["/srv/root/home/u/.cache/nsbox"] }).covered,
    ["/home/u/.cache/nsbox"],
  );
  // a bind from inside one is refused, naming flag and directory
  assert.deepEqual(
    problems(
      runOptions(["--bind", "/tmp/nsbox-1000/x:/x", "sh"]),
      fakeHost({
        ...init,
        paths: { "/tmp/nsbox-1000/x": "directory" },
      }),
    ),
    ["--bind: '/tmp/nsbox-1000/x' is inside nsbox's own directory /tmp/nsbox-1000 (records, configuration, caches)."],
  );
});

Deno.test("validate() checks --tmpfs sizes and modes; the CLI reads DST:size=SIZE,mode=OCTAL", () => {
  const s = spec(["--tmpfs", "/a:size=1M,mode=0700", "--tmpfs", "/b", "--tmpfs", "/c:d", "sh"]);
  assert.deepEqual(s.mounts, [
    { kind: "tmpfs", destination: "/a", size: 1048576, mode: 0o700 },
    { kind: "tmpfs", destination: "/b", size: null, mode: null },
    { kind: "tmpfs", destination: "/c:d", size: null, mode: null },
  ]);
  assert.throws(() => runOptions(["--tmpfs", "/a:size=lots", "sh"]), /--tmpfs: expected DST\[:size=SIZE\]/);
  assert.throws(() => runOptions(["--tmpfs", "/a:size=1M,uid=0", "sh"]), /--tmpfs: expected DST/);
  assert.deepEqual(problems({ command: ["sh"], mounts: [{ kind: "tmpfs", destination: "/a", size: 100 }] }), [
    "--tmpfs: expected a size of at least 4K for /a, got '100'.",
  ]);
});

Deno.test("validate() refuses mount destinations at or under /proc and /dev/pts, naming the path", () => {
  const ps = problems(runOptions([
    "--bind",
    "/srv:/proc",
    "--tmpfs",
    "/proc",
    "--ro-bind",
    "/etc:/proc/self",
    "--tmpfs",
    "/dev/pts",
    "--bind",
    "/srv:/dev/pts/0",
    "true",
  ]));
  assert.deepEqual(ps, [
    "--bind: cannot mount on /proc: /proc is the sandbox's own procfs, mounted by nsbox; choose another destination.",
    "--tmpfs: cannot mount on /proc: /proc is the sandbox's own procfs, mounted by nsbox; choose another destination.",
    "--ro-bind: cannot mount on /proc/self: /proc is the sandbox's own procfs, mounted by nsbox; choose another destination.",
    "--tmpfs: cannot mount on /dev/pts: /dev/pts is the sandbox's own devpts (its terminals), mounted by nsbox; choose another destination.",
    "--bind: cannot mount on /dev/pts/0: /dev/pts is the sandbox's own devpts (its terminals), mounted by nsbox; choose another destination.",
  ]);
  // the same path written otherwise, and a destination defaulting to the source's path
  assert.match(problems(runOptions(["--tmpfs", "//proc/./sys", "true"]))[0]!, /cannot mount on \/proc\/sys:/);
  const procHost = fakeHost({ paths: { "/proc": "directory", "/proc/self": "directory" } });
  assert.deepEqual(problems(runOptions(["--ro-bind", "/proc/self", "true"]), procHost), [
    "--ro-bind: cannot mount on /proc/self: /proc is the sandbox's own procfs, mounted by nsbox; choose another destination.",
  ]);
  // neighbours are fine
  const s = spec(["--tmpfs", "/process", "--tmpfs", "/dev/ptsx", "--bind", "/srv:/dev/shm/x", "true"]);
  assert.deepEqual(s.mounts.map((m) => m.destination), ["/process", "/dev/ptsx", "/dev/shm/x"]);
});

Deno.test("validate() says sandbox names are ASCII", () => {
  assert.deepEqual(problems(runOptions(["--name", "ünïcødé", "true"])), [
    "--name: expected 1 to 63 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit, got 'ünïcødé'.",
  ]);
});

Deno.test("validate() decides every mount point from the host, in the plan's order", () => {
  const s = spec(["--tmpfs", "/tmp/x", "--bind", "/home/user/src:/tmp/x/y", "--bind", "/etc/hosts", "sh"]);
  assert.deepEqual(s.mountPoints, [
    { path: "/proc", how: "exists" },
    { path: "/dev", how: "exists" },
    { path: "/tmp", how: "exists" },
    { path: "/run", how: "exists" },
    { path: "/var/tmp", how: "exists" },
    // below the sandbox's own tmpfs /tmp: made there
    { path: "/tmp/x", how: "create", parent: "/tmp", names: ["x"] },
    { path: "/tmp/x/y", how: "create", parent: "/tmp/x", names: ["y"] },
    { path: "/etc/hosts", how: "exists" },
  ]);
  // a root without /var/tmp: that tmpfs is skipped; with limits, the cgroup's mount point comes next
  const limited = spec(["--mem", "64M", "sh"], { paths: { "/var/tmp": "file" } });
  assert.deepEqual(limited.mountPoints.slice(4), [
    { path: "/var/tmp", how: "exists" },
    { path: "/sys/fs/cgroup", how: "exists" },
  ]);
});

Deno.test("validate() plans one mimic of the nearest existing parent for missing mount points, with its entries", () => {
  const s = spec(
    ["--bind", "/home/user/src:/srv/a/b", "--ro-bind", "/etc/hosts:/srv/a/h", "--tmpfs", "/srv/c", "sh"],
    {
      paths: { "/srv/f": "file", "/srv/s": "other", "/srv/l": { link: "/etc" } },
      modes: { "/srv": 0o711 },
    },
  );
  const points = s.mountPoints.slice(5);
  assert.deepEqual(points, [
    {
      path: "/srv/a/b",
      how: "mimic",
      mimic: {
        path: "/srv",
        mode: 0o711,
        entries: [
          { name: "f", type: "file" },
          { name: "l", type: "symlink", target: "/etc" },
          { name: "root", type: "directory" },
          { name: "s", type: "other" },
        ],
        // every later mount point in it is made with it
        create: [
          { path: "a", type: "directory" },
          { path: "a/b", type: "directory" },
          { path: "a/h", type: "file" },
          { path: "c", type: "directory" },
        ],
      },
    },
    { path: "/srv/a/h", how: "exists" },
    { path: "/srv/c", how: "exists" },
  ]);
});

Deno.test("validate() never plans to create in a host directory: a writable bind's missing point is mimicked too", () => {
  const s = spec(["--bind", "/home/user:/w", "--bind", "/etc/hosts:/w/notes.txt", "--tmpfs", "/w/src/new", "sh"]);
  assert.deepEqual(s.mountPoints.slice(5).map((p) => [p.path, p.how, p.how === "mimic" ? p.mimic.path : null]), [
    ["/w", "mimic", "/"],
    ["/w/notes.txt", "exists", null],
    ["/w/src/new", "mimic", "/w/src"],
  ]);
});

Deno.test("validate() resolves a symlink on the way to a mount point inside the sandbox (`..` stops at its /)", () => {
  const s = spec(["--tmpfs", "/home/user/up/new", "--tmpfs", "/home/user/abs/new", "sh"], {
    paths: { "/home/user/up": { link: "../../../../srv" }, "/home/user/abs": { link: "/srv/root" } },
  });
  assert.deepEqual(s.mountPoints.slice(5).map((p) => p.how === "mimic" ? [p.mimic.path, p.mimic.create] : p.how), [
    ["/srv", [{ path: "new", type: "directory" }]],
    ["/srv/root", [{ path: "new", type: "directory" }]],
  ]);
});

Deno.test("validate() gives --rootfs its missing /proc, /dev, /tmp, /run in one mimic of its root", () => {
  const s = spec(["--rootfs", "/srv/root", "sh"], { paths: { "/srv/root/bin": "directory" } });
  assert.deepEqual(s.mountPoints.map((p) => p.how), ["mimic", "exists", "exists", "exists", "absent"]);
  const first = s.mountPoints[0]!;
  assert.ok(first.how === "mimic");
  assert.deepEqual(first.mimic.entries, [{ name: "bin", type: "directory" }]);
  assert.deepEqual(first.mimic.create.map((c) => c.path), ["proc", "dev", "tmp", "run"]);
});

Deno.test("validate() refuses a missing mount point in a parent of more than 4096 entries, or one it cannot list", () => {
  const paths: Record<string, "file"> = {};
  for (let i = 0; i < 4097; i++) paths[`/srv/root/${i}`] = "file";
  const host = fakeHost({ paths, unreadable: { "/home/user/src": "Permission denied" } });
  const options = runOptions([
    "--tmpfs",
    "/srv/root/new",
    "--bind",
    "/etc/hosts:/home/user/src/h",
    "--rootfs",
    "/nonexistent",
    "sh",
  ]);
  // an invalid --rootfs: no mount point is judged against it
  assert.equal(problems(options, host).length, 1);
  const p = problems(runOptions(["--tmpfs", "/srv/root/new", "--bind", "/etc/hosts:/home/user/src/h", "sh"]), host);
  assert.deepEqual(p, [
    "--tmpfs: cannot create the mount point /srv/root/new: its parent /srv/root has 4097 entries, more than the 4096 " +
    "nsbox reproduces around a missing mount point; choose a destination that exists, or mount a --tmpfs above it first.",
    "--bind: cannot create the mount point /home/user/src/h: its parent /home/user/src cannot be listed " +
    "(Permission denied).",
  ]);
  // 4096 are fine
  delete paths["/srv/root/4096"];
  assert.equal(spec(["--tmpfs", "/srv/root/new", "sh"], { paths }).mountPoints.at(-1)?.how, "mimic");
});
