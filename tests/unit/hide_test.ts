/**
 * `--hide PATH`: validation (where a hidden host path shows inside, what is refused) and the plan's covers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { validate } from "../../src/spec/validate.ts";
import { buildPlan } from "../../src/plan/plan.ts";
import { UsageError } from "../../src/errors.ts";
import type { SetupOp } from "../../src/plan/ops.ts";
import { fakeHost, type FakeHostInit, runOptions } from "./_fake_host.ts";

const INIT: FakeHostInit = {
  paths: {
    "/home/user/.ssh": "directory",
    "/home/user/.netrc": "file",
    "/home/user/link-to-ssh": { link: "/home/user/.ssh" },
    "/home/user/.ssh/keys": "directory",
    "/srv/root/home": "directory",
    "/srv/root/home/user": "directory",
    "/srv/root/home/user/.ssh": "directory",
  },
};

function spec(args: string[], init: FakeHostInit = INIT) {
  return validate(runOptions(args), fakeHost(init));
}

function problems(args: string[], init: FakeHostInit = INIT): readonly string[] {
  try {
    validate(runOptions(args), fakeHost(init));
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    return e.problems;
  }
  assert.fail(`accepted ${args.join(" ")}`);
}

Deno.test("--hide: a directory and a file are covered where the root shows them, ~ from HOME", () => {
  assert.deepEqual(spec(["--hide", "~/.ssh", "--hide", "/home/user/.netrc", "sh"]).hidden, [
    { path: "/home/user/.ssh", type: "directory" },
    { path: "/home/user/.netrc", type: "file" },
  ]);
});

Deno.test("--hide: relative to the current directory; a symlink is hidden as what it points to", () => {
  assert.deepEqual(spec(["--hide", "link-to-ssh", "sh"]).hidden, [{ path: "/home/user/.ssh", type: "directory" }]);
  assert.deepEqual(spec(["--hide", ".ssh", "--hide", "~/.ssh", "sh"]).hidden.length, 1);
});

Deno.test("--hide: a path that does not exist is ignored", () => {
  assert.deepEqual(spec(["--hide", "~/.aws", "--hide", "/nowhere/at/all", "sh"]).hidden, []);
});

Deno.test("--hide: covered under every bind whose source contains it, and not where nothing shows it", () => {
  const s = spec(["--bind", "/home/user:/h", "--ro-bind", "/home:/all", "--bind", "/etc:/e", "--hide", "~/.ssh", "sh"]);
  assert.deepEqual(s.hidden.map((h) => h.path), ["/home/user/.ssh", "/h/.ssh", "/all/user/.ssh"]);
});

Deno.test("--hide: with --rootfs, only what lies inside the root is shown at its place there", () => {
  const s = spec(["--rootfs", "/srv/root", "--hide", "/srv/root/home/user/.ssh", "--hide", "~/.ssh", "sh"]);
  assert.deepEqual(s.hidden.map((h) => h.path), ["/home/user/.ssh"]);
  assert.ok(
    problems(["--rootfs", "/srv/root/home", "--hide", "/srv/root", "sh"]).some((p) =>
      p === "--rootfs: '/srv/root/home' is inside the hidden path /srv/root (--hide)."
    ),
  );
});

Deno.test("--hide: a bind whose source lies inside a hidden path is refused, naming both", () => {
  assert.deepEqual(problems(["--ro-bind", "/home/user/.ssh/keys:/k", "--hide", "~/.ssh", "sh"]), [
    "--ro-bind: '/home/user/.ssh/keys' is inside the hidden path /home/user/.ssh (--hide).",
  ]);
  assert.deepEqual(problems(["--bind", "/home/user/.ssh", "--hide", "~/.ssh", "sh"]), [
    "--bind: '/home/user/.ssh' is inside the hidden path /home/user/.ssh (--hide).",
  ]);
});

Deno.test("--hide: / cannot be hidden, ~ needs HOME, and --share pid is refused", () => {
  assert.deepEqual(problems(["--hide", "/", "sh"]), ["--hide: cannot hide / ('/'): use --rootfs for another root."]);
  assert.deepEqual(problems(["--hide", "~/.ssh", "sh"], { ...INIT, env: { PATH: "/bin" } }), [
    "--hide: cannot expand '~/.ssh': HOME is not an absolute path.",
  ]);
  assert.match(problems(["--share", "pid", "--hide", "~/.ssh", "sh"])[0]!, /^--hide: cannot be used with --share pid/);
  // nothing to hide: no reason to refuse
  assert.deepEqual(spec(["--share", "pid", "--hide", "~/.aws", "sh"]).hidden, []);
});

Deno.test("--hide: the plan covers after every mount: an empty tmpfs on a directory, an empty file on a file", () => {
  const plan = buildPlan(spec(["--bind", "/home/user:/h", "--hide", "~/.ssh", "--hide", "~/.netrc", "sh"]));
  const ops = plan.ops;
  const idx = (pred: (op: SetupOp) => boolean) => ops.findIndex(pred);
  const lastBind = ops.findLastIndex((op) => op.kind === "moveMount" && op.path === "h");
  const write = idx((op) => op.kind === "writeFile" && op.path === "/hidden");
  assert.ok(write > lastBind, "the empty file is written after the binds");
  const w = ops[write] as Extract<SetupOp, { kind: "writeFile" }>;
  assert.equal(w.data, "");
  assert.equal(w.mode, 0o444);
  for (const path of ["home/user/.ssh", "h/.ssh"]) {
    const at = idx((op) => op.kind === "moveMount" && op.path === path);
    assert.ok(at > lastBind, `${path} covered after the bind`);
    const fs = ops[at - 1] as Extract<SetupOp, { kind: "fsmount" }>;
    assert.equal(fs.kind, "fsmount");
    assert.equal(fs.fstype, "tmpfs");
    assert.ok(fs.options.includes("mode=0555"));
  }
  for (const path of ["home/user/.netrc", "h/.netrc"]) {
    const at = idx((op) => op.kind === "moveMount" && op.path === path);
    assert.ok(at > write, `${path} covered after the empty file is written`);
    const tree = ops.slice(0, at).findLast((op) => op.kind === "openTree") as Extract<SetupOp, { kind: "openTree" }>;
    assert.equal(tree.path, "/hidden");
    assert.equal((ops[at] as { ignoreMissing?: boolean }).ignoreMissing, true);
  }
});

Deno.test("--hide: without hidden files no empty file is written", () => {
  const ops = buildPlan(spec(["--hide", "~/.ssh", "sh"])).ops;
  assert.ok(!ops.some((op) => op.kind === "writeFile" && op.path === "/hidden"));
});
