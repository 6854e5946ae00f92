/**
 * Records are not trusted (issue #9): a sandbox that can write nsbox's record
 * directory (a `--bind` of /tmp or of the runtime directory) could rewrite a
 * sandbox's `state.json` so that `nsbox exec` joins the host's namespaces
 * without a filter and writes a pid into any file of the user's, and so that
 * `nsbox kill` signals a host process. Rewriting the record from the host
 * side, as the test user, simulates that sandbox.
 *
 * - Rewritten without nsbox's key: the record fails authentication; exec,
 *   kill and ps ignore it and say so.
 * - Written with nsbox's key (the worst case: a sandbox that could also read
 *   the key), pointing at a host process: the live checks refuse it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { processStart, type SandboxState, stateRoot, Store } from "../../src/state/store.ts";
import { HAS_PYTHON, hasProgram, nsbox, tempDir, waitUntil } from "./_lib.ts";

const NEEDS_UNSHARE = !hasProgram("unshare") || !HAS_PYTHON;

function uniqueName(prefix: string): string {
  return `${prefix}-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
}

function nsOf(pid: number | "self", ns: string): number {
  return Number(/\[(\d+)\]/.exec(Deno.readLinkSync(`/proc/${pid}/ns/${ns}`))![1]);
}

const alive = (pid: number) => {
  try {
    return !/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
};

const exists = (path: string) => {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

const mode = (path: string) => (Deno.statSync(path).mode ?? 0) & 0o777;

/** A host process of the test user: `sleep`, or `sleep` two user namespaces down (`unshare -Ur` twice). */
function victim(nested: boolean): Deno.ChildProcess {
  const [cmd, args] = nested
    ? ["unshare", ["-Ur", "--", "unshare", "-Urm", "-C", "--", "sleep", "300"]]
    : ["sleep", ["300"]];
  return new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" }).spawn();
}

/**
 * The record a sandbox that can write the store would write: PID 1 and the
 * command are `target` (a host process, with its start time; `userNs` its
 * outer user namespace), every shareable namespace is the host's, no seccomp
 * filter, and the cgroup is a directory of the user's.
 */
function forged(real: SandboxState, target: number, userNs: number, cgroup: string): SandboxState {
  return {
    ...real,
    pid: target,
    pidStart: processStart(target)!,
    commandNsPid: 1,
    namespaces: {
      ...real.namespaces,
      user: userNs,
      pid: nsOf("self", "pid"),
      net: nsOf("self", "net"),
      ipc: nsOf("self", "ipc"),
    },
    cgroup,
    spec: {
      ...real.spec,
      init: "none",
      share: ["net", "pid", "ipc", "uts"],
      hostname: null,
      seccomp: { ...real.spec.seccomp, mode: "unconfined", profile: null },
    },
  };
}

/** The parent of process `pid`'s user namespace (NS_GET_PARENT, through python). */
function parentUserNs(pid: number): number {
  const py = new Deno.Command("python3", {
    args: [
      "-c",
      `import fcntl, os
fd = os.open("/proc/${pid}/ns/user", os.O_RDONLY)
p = fcntl.ioctl(fd, 0xb702)
print(os.readlink("/proc/self/fd/%d" % p))`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const m = /\[(\d+)\]/.exec(new TextDecoder().decode(py.stdout));
  if (!m) throw new Error(`cannot find the outer user namespace: ${new TextDecoder().decode(py.stderr)}`);
  return Number(m[1]);
}

interface Setup {
  name: string;
  dir: string;
  original: string;
  real: SandboxState;
  cgroupDir: string;
  procs: string;
  marker: string;
}

/** Starts a detached sandbox, runs `fn`, then puts its real record back, kills it and removes it. */
async function withSandbox(fn: (s: Setup) => Promise<void>) {
  const name = uniqueName("records");
  const started = await nsbox(["run", "--name", name, "--detach", "--", "sleep", "120"]);
  assert.equal(started.code, 0, started.stderr);
  const dir = `${stateRoot()}/${name}`;
  const original = Deno.readTextFileSync(`${dir}/state.json`);
  await using tmp = await tempDir();
  const cgroupDir = `${tmp.path}/cgroup`;
  Deno.mkdirSync(cgroupDir);
  const procs = `${cgroupDir}/cgroup.procs`;
  Deno.writeTextFileSync(procs, "untouched\n");
  try {
    await fn({ name, dir, original, real: JSON.parse(original), cgroupDir, procs, marker: `${tmp.path}/joined` });
  } finally {
    Deno.writeTextFileSync(`${dir}/state.json`, original);
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
}

/** `nsbox exec NAME` of a command that would leave `marker` and print its network namespace. */
function execJoin(name: string, marker: string) {
  return nsbox(["exec", name, "--", "sh", "-c", `touch ${marker}; readlink /proc/self/ns/net`]);
}

Deno.test({
  name: "escape: a state.json rewritten without nsbox's key is ignored by exec, kill and ps (no join, no pid written)",
  ignore: NEEDS_UNSHARE,
}, async () => {
  await withSandbox(async ({ name, dir, real, cgroupDir, procs, marker }) => {
    // The records are the user's alone.
    assert.equal(mode(`${dir}/state.json`), 0o600);
    assert.equal(mode(`${stateRoot()}/.key`), 0o600);
    // A process two user namespaces down, in the host's network and PID namespaces:
    // joinable by `exec` when the record says those are shared.
    const v = victim(true);
    try {
      await waitUntil(() => {
        try {
          return Deno.readTextFileSync(`/proc/${v.pid}/comm`) === "sleep\n";
        } catch {
          return false;
        }
      }, "the nested victim");
      // Its outer user namespace (what a real record names) is its own one's parent.
      const record = {
        ...forged(real, v.pid, parentUserNs(v.pid), cgroupDir),
        mac: JSON.parse(Deno.readTextFileSync(`${dir}/state.json`)).mac,
      };
      Deno.writeTextFileSync(`${dir}/state.json`, JSON.stringify(record, null, 2) + "\n");

      const ex = await execJoin(name, marker);
      assert.equal(ex.code, 125, `exec followed the rewritten record: ${ex.stdout}${ex.stderr}`);
      assert.ok(!exists(marker), "the command ran joined to the host's namespaces");
      assert.equal(Deno.readTextFileSync(procs), "untouched\n", "exec wrote a pid into the user's file");
      const bad =
        `nsbox: ignoring the record of '${name}': it fails authentication (written by something other than nsbox?)`;
      assert.ok(ex.stderr.includes(bad), ex.stderr);
      assert.match(ex.stderr, new RegExp(`^nsbox: no sandbox named '${name}'`, "m"));

      const k = await nsbox(["kill", name]);
      assert.equal(k.code, 125, k.stderr);
      assert.ok(k.stderr.includes(bad), k.stderr);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(alive(v.pid), "kill signalled the host process the record named");

      const ps = await nsbox(["ps", "--json", "--all"]);
      assert.equal(ps.code, 0, ps.stderr);
      assert.equal(JSON.parse(ps.stdout).some((r: { name: string }) => r.name === name), false, ps.stdout);
      assert.ok(ps.stderr.includes(bad), ps.stderr);
      assert.ok(exists(`${dir}/state.json`), "a record failing authentication was removed without nsbox rm");
    } finally {
      v.kill("SIGKILL");
      await v.status;
    }
  });
});

Deno.test({
  name: "escape: a record with a valid MAC naming a host process is refused by exec and kill (live checks)",
  ignore: !hasProgram("sleep"),
}, async () => {
  await withSandbox(async ({ name, dir, real, cgroupDir, procs, marker }) => {
    const v = victim(false);
    try {
      await waitUntil(() => processStart(v.pid) !== null, "the victim");
      // Written through nsbox's own store, with its key.
      new Store().dir(name).write(forged(real, v.pid, nsOf(v.pid, "user"), cgroupDir));
      assert.equal(mode(`${dir}/state.json`), 0o600);

      const ex = await execJoin(name, marker);
      assert.equal(ex.code, 125, `exec followed the record: ${ex.stdout}${ex.stderr}`);
      assert.match(
        ex.stderr,
        new RegExp(`^nsbox: the sandbox '${name}' does not match its record: .*not joining it`, "m"),
      );
      assert.ok(!exists(marker), "the command ran joined to the host's namespaces");
      assert.equal(Deno.readTextFileSync(procs), "untouched\n", "exec wrote a pid into the user's file");

      const k = await nsbox(["kill", name]);
      assert.equal(k.code, 125, k.stderr);
      assert.match(
        k.stderr,
        new RegExp(`^nsbox: the sandbox '${name}' does not match its record: .*not signalling it`, "m"),
      );
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(alive(v.pid), "kill signalled the host process the record named");
    } finally {
      v.kill("SIGKILL");
      await v.status;
    }
  });
});

Deno.test("records: exit.json of a detached sandbox that ended is 0600 and authenticated", async () => {
  const name = uniqueName("records-exit");
  const r = await nsbox(["run", "--name", name, "--detach", "--", "sh", "-c", "sleep 1; exit 3"]);
  assert.equal(r.code, 0, r.stderr);
  const dir = `${stateRoot()}/${name}`;
  try {
    await waitUntil(() => exists(`${dir}/exit.json`), "exit.json");
    assert.equal(mode(`${dir}/exit.json`), 0o600);
    assert.equal(new Store().dir(name).readExit().kind, "ok");
    const ps = await nsbox(["ps", "--json", "--all"]);
    assert.equal(JSON.parse(ps.stdout).find((x: { name: string }) => x.name === name)?.status, "exited 3", ps.stdout);
  } finally {
    await nsbox(["rm", name]);
  }
});
