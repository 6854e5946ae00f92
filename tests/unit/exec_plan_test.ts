/**
 * buildExecPlan() tests. The golden tests compare
 * `JSON.stringify(buildExecPlan(...), null, 2)` with tests/unit/golden/NAME.json;
 * after an intended change, regenerate them and review the diff:
 *
 *     UPDATE_GOLDEN=1 sh scripts/deno test -A tests/unit/exec_plan_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import { buildExecPlan, type ExecRequest } from "../../src/plan/exec_plan.ts";
import { commandOps, DEFAULT_PATH, FORWARDED_SIGNALS } from "../../src/plan/plan.ts";
import { CLONE, PR, SIGNALS } from "../../src/linux.ts";
import type { ChildPlan, SetupOp } from "../../src/plan/ops.ts";
import type { SandboxSpec, TerminalMode } from "../../src/spec/spec.ts";
import { validate } from "../../src/spec/validate.ts";
import { fakeHost, runOptions } from "./_fake_host.ts";

const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";
const PID = 4242;
const FD_BASE = 10;

/** The spec `nsbox run ARGS...` gets on a fixed fake host. */
function spec(args: string[]): SandboxSpec {
  const host = fakeHost({
    cwd: "/home/user",
    env: { PATH: "/usr/bin:/bin", HOME: "/home/user", TERM: "xterm" },
    paths: { "/srv/root/etc": "directory", "/srv/root/etc/resolv.conf": "file" },
  });
  return validate(runOptions(args), host);
}

function execPlan(
  args: string[],
  req: ExecRequest = { command: ["sh"] },
  terminal: TerminalMode = "none",
): ChildPlan {
  return buildExecPlan(spec(args), PID, req, { fdBase: FD_BASE, terminal });
}

function golden(name: string, args: string[], req: ExecRequest) {
  Deno.test(`buildExecPlan() matches golden/${name}.json for a sandbox of nsbox run ${args.join(" ")}`, () => {
    const url = new URL(`./golden/${name}.json`, import.meta.url);
    const actual = JSON.stringify(execPlan(args, req), null, 2) + "\n";
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

golden("exec_default", ["sh"], { command: ["ps", "-e"] });
golden("exec_share_net_uts_pid", ["--share", "net,uts,pid", "sh"], { command: ["ps", "-e"] });

const NS_TYPE: Record<string, number> = {
  pid: CLONE.NEWPID,
  net: CLONE.NEWNET,
  ipc: CLONE.NEWIPC,
  cgroup: CLONE.NEWCGROUP,
  mnt: CLONE.NEWNS,
  uts: CLONE.NEWUTS,
};
const NAME_OF: Record<number, string> = Object.fromEntries(Object.entries(NS_TYPE).map(([k, v]) => [v, k]));

/** The namespaces joined, in order, by name: "outer-user" and "user" for the two user namespaces. */
function joinOrder(ops: readonly SetupOp[]): string[] {
  const opened = new Map<number, string>();
  const out: string[] = [];
  for (const op of ops) {
    if (op.kind === "open") {
      const m = /^\/proc\/\d+\/ns\/(\w+)$/.exec(op.path);
      assert.ok(m, op.path);
      opened.set(op.fd, m[1]!);
    } else if (op.kind === "nsParent") {
      assert.equal(opened.get(op.fd), "user", "NS_GET_PARENT of something else than the user namespace");
      opened.set(op.to, "outer-user");
    } else if (op.kind === "setns") {
      const ns = opened.get(op.fd);
      assert.ok(ns, `setns of descriptor ${op.fd}, which nothing opened`);
      const expectedType = ns === "user" || ns === "outer-user" ? CLONE.NEWUSER : NS_TYPE[ns];
      assert.equal(op.nstype, expectedType, `setns ${ns} with type ${op.nstype}`);
      out.push(ns);
    }
  }
  return out;
}

Deno.test("buildExecPlan() joins the outer user namespace, pid, net, ipc, cgroup, the inner one, then mnt and uts", () => {
  assert.deepEqual(joinOrder(execPlan(["sh"]).ops), [
    "outer-user",
    "pid",
    "net",
    "ipc",
    "cgroup",
    "user",
    "mnt",
    "uts",
  ]);
  assert.deepEqual(joinOrder(execPlan(["--root", "sh"]).ops), [
    "outer-user",
    "pid",
    "net",
    "ipc",
    "cgroup",
    "user",
    "mnt",
    "uts",
  ]);
});

Deno.test("buildExecPlan() finds the outer user namespace as the parent of the sandbox's", () => {
  const ops = execPlan(["sh"]).ops;
  const openUser = ops.find((op) => op.kind === "open" && op.path === `/proc/${PID}/ns/user`);
  assert.ok(openUser?.kind === "open");
  assert.equal(openUser.flags, 0); // O_RDONLY
  const parent = ops.findIndex((op) => op.kind === "nsParent");
  const op = ops[parent];
  assert.ok(op?.kind === "nsParent");
  assert.equal(op.fd, openUser.fd);
  assert.deepEqual(ops[parent + 1], {
    kind: "setns",
    fd: op.to,
    nstype: CLONE.NEWUSER,
    what: "cannot join the sandbox's outer user namespace",
  });
  // every namespace is opened before the first setns: after it, /proc/PID may no longer be reachable
  const firstSetns = ops.findIndex((o) => o.kind === "setns");
  assert.ok(ops.findLastIndex((o) => o.kind === "open") < parent && parent < firstSetns);
});

Deno.test("buildExecPlan() opens every namespace of the sandbox's command pid", () => {
  const opens = execPlan(["sh"]).ops.filter((op) => op.kind === "open");
  assert.deepEqual(
    opens.map((op) => op.kind === "open" && op.path),
    ["user", "pid", "net", "ipc", "cgroup", "mnt", "uts"].map((ns) => `/proc/${PID}/ns/${ns}`),
  );
});

Deno.test("buildExecPlan() does not join the namespaces the sandbox shares with the host", () => {
  const cases: Array<[string, string[]]> = [
    ["net", ["outer-user", "pid", "ipc", "cgroup", "user", "mnt", "uts"]],
    ["pid", ["outer-user", "net", "ipc", "cgroup", "user", "mnt", "uts"]],
    ["ipc", ["outer-user", "pid", "net", "cgroup", "user", "mnt", "uts"]],
    ["uts", ["outer-user", "pid", "net", "ipc", "cgroup", "user", "mnt"]],
    ["net,uts,pid", ["outer-user", "ipc", "cgroup", "user", "mnt"]],
    ["net,ipc,uts,pid", ["outer-user", "cgroup", "user", "mnt"]],
  ];
  for (const [share, order] of cases) {
    const ops = execPlan(["--share", share, "sh"]).ops;
    assert.deepEqual(joinOrder(ops), order, `--share ${share}`);
    for (const ns of share.split(",")) {
      assert.ok(!ops.some((op) => op.kind === "open" && op.path.endsWith(`/ns/${ns}`)), `${ns} opened`);
      assert.ok(!ops.some((op) => op.kind === "setns" && NAME_OF[op.nstype] === ns), `${ns} joined`);
    }
  }
});

Deno.test("buildExecPlan() uses only descriptors from fdBase and closes all of them before chdir", () => {
  for (const args of [["sh"], ["--share", "net,uts,pid", "sh"], ["--share", "net,ipc,uts,pid", "sh"]]) {
    for (const fdBase of [3, 10, 1000]) {
      const ops = buildExecPlan(spec(args), PID, { command: ["sh"] }, { fdBase, terminal: "none" }).ops;
      const used = new Set<number>();
      for (const op of ops) {
        if (op.kind === "open") used.add(op.fd);
        if (op.kind === "nsParent") used.add(op.to);
      }
      const n = used.size;
      assert.deepEqual(
        [...used].sort((a, b) => a - b),
        Array.from({ length: n }, (_, i) => fdBase + i),
        args.join(" "),
      );
      assert.ok(n <= 8, "more than fdBase..fdBase+7");
      const chdir = ops.findIndex((op) => op.kind === "chdir");
      assert.ok(chdir > 0);
      const closed = ops.slice(0, chdir).flatMap((op) => op.kind === "close" ? [op.fd] : []);
      assert.deepEqual(
        closed.toSorted((a, b) => a - b),
        [...used].sort((a, b) => a - b),
        `${args.join(" ")} fdBase ${fdBase}`,
      );
      // each close comes after the last use of its descriptor
      const lastSetns = ops.findLastIndex((op) => op.kind === "setns");
      assert.ok(ops.findIndex((op) => op.kind === "close") > lastSetns);
      assert.ok(!ops.slice(chdir).some((op) => op.kind === "close" || op.kind === "open"));
    }
  }
});

Deno.test("buildExecPlan() ends with the command ops of the spec: no_new_privs, capabilities, seccomp, cloexec", () => {
  for (const args of [["sh"], ["--root", "sh"], ["--cap-add", "NET_RAW", "sh"], ["--seccomp=unconfined", "sh"]]) {
    const s = spec(args);
    const ops = buildExecPlan(s, PID, { command: ["id"] }, { fdBase: FD_BASE, terminal: "none" }).ops;
    const tail = commandOps(s);
    assert.deepEqual(ops.slice(-tail.length), tail, args.join(" "));
    assert.equal(ops[ops.length - tail.length - 1]?.kind, "chdir", args.join(" "));
    assert.deepEqual(ops.at(-1), { kind: "cloexecFrom", fd: 3, what: "cannot close inherited file descriptors" });
  }
  const ops = execPlan(["sh"]).ops;
  const kinds = ops.slice(ops.findIndex((op) => op.kind === "chdir") + 1).map((op) => op.kind);
  assert.deepEqual(kinds, ["prctl", "capbsetDrop", "capset", "seccomp", "cloexecFrom"]);
  const nnp = ops.find((op) => op.kind === "prctl");
  assert.ok(nnp?.kind === "prctl" && nnp.option === PR.SET_NO_NEW_PRIVS && nnp.arg2 === 1);
  assert.ok(!execPlan(["--seccomp=unconfined", "sh"]).ops.some((op) => op.kind === "seccomp"));
  assert.ok(execPlan(["--allow-userns", "sh"]).ops.some((op) => op.kind === "seccomp"));
});

Deno.test("buildExecPlan() has a reaper, no clone flags and no id maps to write", () => {
  for (const args of [["sh"], ["--root", "sh"], ["--as-pid-1", "sh"], ["--share", "pid", "sh"]]) {
    const p = execPlan(args);
    assert.equal(p.init, "reaper", args.join(" "));
    assert.equal(p.cloneFlags, 0);
    assert.deepEqual(p.idMaps, { uid: [], gid: [], setgroups: "deny", writer: "none" });
    assert.equal(p.holdExit, false);
    assert.equal(p.killOrphans, false);
    assert.deepEqual(p.forwardSignals, FORWARDED_SIGNALS.map((s) => SIGNALS[s]));
    assert.equal(p.pdeathsig, SIGNALS.SIGKILL);
  }
  for (const mode of ["foreground", "background", "none"] as const) {
    assert.equal(execPlan(["sh"], { command: ["sh"] }, mode).terminal, mode);
  }
});

Deno.test("buildExecPlan() runs the requested command with the sandbox's environment by default", () => {
  const p = execPlan(["--setenv", "A=1", "sh"], { command: ["make", "-j4"] });
  assert.deepEqual(p.exec, {
    file: "make",
    argv: ["make", "-j4"],
    env: ["PATH=/usr/bin:/bin", "HOME=/home/user", "TERM=xterm", "A=1"],
    searchPath: "/usr/bin:/bin",
  });
});

Deno.test("buildExecPlan() takes env from the request over the spec's", () => {
  const p = execPlan(["--setenv", "A=1", "sh"], { command: ["env"], env: { B: "2", PATH: "/opt/bin" } });
  assert.deepEqual(p.exec.env, ["B=2", "PATH=/opt/bin"]);
  assert.equal(p.exec.searchPath, "/opt/bin");
  const bare = execPlan(["sh"], { command: ["env"], env: {} });
  assert.deepEqual(bare.exec.env, []);
  assert.equal(bare.exec.searchPath, DEFAULT_PATH);
  const clean = execPlan(["--clearenv", "sh"], { command: ["env"] });
  assert.equal(clean.exec.searchPath, DEFAULT_PATH);
});

Deno.test("buildExecPlan() changes to the sandbox's directory, falling back to / only when not required", () => {
  const chdir = (p: ChildPlan) => p.ops.find((op) => op.kind === "chdir");
  assert.deepEqual(chdir(execPlan(["sh"])), {
    kind: "chdir",
    path: "/home/user",
    fallback: "/",
    what: "cannot change directory to /home/user",
  });
  assert.deepEqual(chdir(execPlan(["--chdir", "/srv", "sh"])), {
    kind: "chdir",
    path: "/srv",
    fallback: null,
    what: "cannot change directory to /srv",
  });
});

Deno.test("buildExecPlan() takes chdir from the request over the spec's, with no fallback", () => {
  for (const args of [["sh"], ["--chdir", "/srv", "sh"]]) {
    const p = execPlan(args, { command: ["ls"], chdir: "/tmp" });
    const chdirs = p.ops.filter((op) => op.kind === "chdir");
    assert.deepEqual(chdirs, [{
      kind: "chdir",
      path: "/tmp",
      fallback: null,
      what: "cannot change directory to /tmp",
    }]);
  }
});

Deno.test("buildExecPlan() gives every op a `what`", () => {
  for (const op of execPlan(["--root", "--share", "net", "sh"]).ops) {
    assert.ok(op.what.startsWith("cannot "), JSON.stringify(op));
  }
});

Deno.test("buildExecPlan() is pure: the same input gives the same plan and the spec is left unchanged", () => {
  const s = spec(["--root", "sh"]);
  const before = JSON.stringify(s);
  const req: ExecRequest = { command: ["id"], env: { A: "1" }, chdir: "/" };
  const opts = { fdBase: 20, terminal: "none" as const };
  assert.deepEqual(buildExecPlan(s, 1, req, opts), buildExecPlan(s, 1, req, opts));
  assert.equal(JSON.stringify(s), before);
});
