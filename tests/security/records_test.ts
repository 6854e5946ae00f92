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
import { exists, HAS_PYTHON, hasProgram, nsbox, tempDir, waitUntil } from "./_lib.ts";

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
    // Its real record back (an nsbox that followed the forged one may have removed the directory), then end it.
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.writeTextFileSync(`${dir}/state.json`, original);
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
}

/** `nsbox exec NAME` of a command that would leave `marker` and print its network namespace. */
function execJoin(name: string, marker: string) {
  return nsbox(["exec", name, "--", "sh", "-c", `touch ${marker}; readlink /proc/self/ns/net`]);
}

/** What a test of a forged record gets: the sandbox, the host process the record names, the user's files. */
interface Forged extends Setup {
  victim: number;
}

/**
 * Runs `fn` with the record of a running sandbox forged to name a host
 * process: "rewritten" from outside without nsbox's key (its old MAC kept),
 * naming a process two user namespaces down in the host's network and PID
 * namespaces (what `exec` could join); or "authenticated", written with
 * nsbox's key, naming a plain host process.
 */
async function withForged(how: "rewritten" | "authenticated", fn: (f: Forged) => Promise<void>) {
  await withSandbox(async (setup) => {
    const v = victim(how === "rewritten");
    try {
      await waitUntil(() => {
        try {
          return Deno.readTextFileSync(`/proc/${v.pid}/comm`) === "sleep\n";
        } catch {
          return false;
        }
      }, "the victim");
      const path = `${setup.dir}/state.json`;
      if (how === "rewritten") {
        // Its outer user namespace (what a real record names) is its own one's parent.
        const record = {
          ...forged(setup.real, v.pid, parentUserNs(v.pid), setup.cgroupDir),
          mac: JSON.parse(Deno.readTextFileSync(path)).mac,
        };
        Deno.writeTextFileSync(path, JSON.stringify(record, null, 2) + "\n");
      } else {
        await new Store().dir(setup.name).write(forged(setup.real, v.pid, nsOf(v.pid, "user"), setup.cgroupDir));
      }
      await fn({ ...setup, victim: v.pid });
    } finally {
      try {
        v.kill("SIGKILL");
      } catch {
        // killed already (by an nsbox that followed the record)
      }
      await v.status;
    }
  });
}

const failsAuthentication = (name: string) =>
  `nsbox: ignoring the record of '${name}': it fails authentication (written by something other than nsbox?)`;

Deno.test({
  name: "escape: exec of a state.json rewritten without nsbox's key refuses (no join, no pid written into a file)",
  ignore: NEEDS_UNSHARE,
}, async () => {
  await withForged("rewritten", async ({ name, procs, marker }) => {
    const ex = await execJoin(name, marker);
    assert.equal(ex.code, 125, `exec followed the rewritten record: ${ex.stdout}${ex.stderr}`);
    assert.ok(!exists(marker), "the command ran joined to the host's namespaces");
    assert.equal(Deno.readTextFileSync(procs), "untouched\n", "exec wrote a pid into the user's file");
    assert.ok(ex.stderr.includes(failsAuthentication(name)), ex.stderr);
    assert.match(ex.stderr, new RegExp(`^nsbox: no sandbox named '${name}'`, "m"));
  });
});

Deno.test({
  name: "escape: kill of a state.json rewritten without nsbox's key signals nothing",
  ignore: NEEDS_UNSHARE,
}, async () => {
  await withForged("rewritten", async ({ name, victim }) => {
    const k = await nsbox(["kill", name]);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(victim), "kill signalled the host process the record named");
    assert.equal(k.code, 125, k.stderr);
    assert.ok(k.stderr.includes(failsAuthentication(name)), k.stderr);
  });
});

Deno.test({
  name: "escape: ps does not list a state.json rewritten without nsbox's key, says so, and leaves it for nsbox rm",
  ignore: NEEDS_UNSHARE,
}, async () => {
  await withForged("rewritten", async ({ name, dir }) => {
    const ps = await nsbox(["ps", "--json", "--all"]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.equal(JSON.parse(ps.stdout).some((r: { name: string }) => r.name === name), false, ps.stdout);
    assert.ok(ps.stderr.includes(failsAuthentication(name)), ps.stderr);
    assert.ok(exists(`${dir}/state.json`), "a record failing authentication was removed without nsbox rm");
  });
});

Deno.test({
  name: "escape: exec of a record with a valid MAC naming a host process refuses (live checks; no pid written)",
  ignore: !hasProgram("sleep"),
}, async () => {
  await withForged("authenticated", async ({ name, procs, marker }) => {
    const ex = await execJoin(name, marker);
    assert.equal(Deno.readTextFileSync(procs), "untouched\n", "exec wrote a pid into the user's file");
    assert.ok(!exists(marker), "the command ran joined to the host's namespaces");
    assert.equal(ex.code, 125, `exec followed the record: ${ex.stdout}${ex.stderr}`);
    assert.match(
      ex.stderr,
      new RegExp(`^nsbox: the sandbox '${name}' does not match its record: .*; not joining it$`, "m"),
    );
  });
});

Deno.test({
  name: "escape: kill of a record with a valid MAC naming a host process signals nothing (live checks)",
  ignore: !hasProgram("sleep"),
}, async () => {
  await withForged("authenticated", async ({ name, victim }) => {
    const k = await nsbox(["kill", name]);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(victim), "kill signalled the host process the record named");
    assert.equal(k.code, 125, k.stderr);
    assert.match(
      k.stderr,
      new RegExp(`^nsbox: the sandbox '${name}' does not match its record: .*; not signalling it$`, "m"),
    );
  });
});

Deno.test("records: state.json and the key are 0600", async () => {
  await withSandbox(({ dir }) => {
    assert.equal(mode(`${dir}/state.json`), 0o600);
    assert.equal(mode(`${stateRoot()}/.key`), 0o600);
    return Promise.resolve();
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
