/**
 * Escape attempts through sockets of host processes: abstract unix sockets
 * (per network namespace), TCP on the host's loopback, and unix sockets with
 * a path: under /run (the D-Bus session bus, systemd --user, docker.sock) and
 * elsewhere in the tree the sandbox sees through the read-only root.
 */
import assert from "node:assert/strict";
import { attack, HAS_PYTHON, homeDir, NEEDS_PY_X86, results, sandboxPy, visibleHome } from "./_lib.ts";

/** A host listener (python3, outside any sandbox), told when to stop through its stdin. */
const LISTENER_PY = `
import os, select, socket, sys
kind, addr = sys.argv[1], sys.argv[2]
if kind == "tcp":
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    addr = str(s.getsockname()[1])
else:
    s = socket.socket(socket.AF_UNIX)
    s.bind(("\\0" + addr) if kind == "abstract" else addr)
s.listen(8)
print("listening " + addr, flush=True)
got = []
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [], 60)
    if s in ready:
        c, _ = s.accept()
        c.settimeout(2)
        got.append("accepted " + repr(c.recv(100)))
    elif sys.stdin in ready or not ready:
        break
print("; ".join(got) or "nothing", flush=True)
`;

/** Starts a host listener of `kind` on `addr`; `stop()` returns what it saw ("nothing" or "accepted ..."). */
async function hostListener(kind: "abstract" | "path" | "tcp", addr: string) {
  const child = new Deno.Command("python3", {
    args: ["-c", LISTENER_PY, kind, addr],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the host listener did not start: ${seen}`);
    seen += value;
  }
  const address = seen.trim().replace(/^listening /, "");
  return {
    address,
    async stop(): Promise<string> {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("stop\n"));
      await w.close();
      let rest = seen.slice(seen.indexOf("\n") + 1);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += value;
      }
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.code, 0, "the host listener failed");
      return rest.trim();
    },
  };
}

/** Python that connects to a socket (`family`, `address` as Python source) and sends a line. */
function connectScript(family: string, address: string): string {
  return `
s = socket.socket(${family})
s.settimeout(5)
try:
    s.connect(${address})
    s.sendall(b"escaped\\n")
    out("connect", "ok")
except OSError as e:
    out("connect", ename(e.errno))
`;
}

Deno.test({
  name: "escape: a host abstract unix socket is unreachable: ECONNREFUSED (default and --root)",
  ignore: !HAS_PYTHON,
}, async () => {
  const name = `nsbox-escape-${crypto.randomUUID()}`;
  const host = await hostListener("abstract", name);
  const script = connectScript("socket.AF_UNIX", JSON.stringify(`\0${name}`));
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const saw = await host.stop();
  assert.deepEqual(plain, { connect: "ECONNREFUSED" });
  assert.deepEqual(root, { connect: "ECONNREFUSED" });
  assert.equal(saw, "nothing");
});

Deno.test({
  name: "escape: a TCP service on the host's 127.0.0.1 is unreachable: ECONNREFUSED (default and --root)",
  ignore: !HAS_PYTHON,
}, async () => {
  const host = await hostListener("tcp", "");
  const script = connectScript("socket.AF_INET", `("127.0.0.1", ${host.address})`);
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const saw = await host.stop();
  assert.deepEqual(plain, { connect: "ECONNREFUSED" });
  assert.deepEqual(root, { connect: "ECONNREFUSED" });
  assert.equal(saw, "nothing");
});

/** A world-writable directory under the host's /run (Debian's /run/lock), where the test can stand for a host service. */
const RUN_DIR = ["/run/lock", `/run/user/${Deno.uid()}`].find((d) => {
  try {
    const st = Deno.statSync(d);
    return st.isDirectory && (st.uid === Deno.uid() || ((st.mode ?? 0) & 0o1002) === 0o1002);
  } catch {
    return false;
  }
}) ?? null;

Deno.test({
  name: "escape: host sockets under /run and the session bus at $XDG_RUNTIME_DIR/bus are unreachable (ENOENT)",
  ignore: !HAS_PYTHON || RUN_DIR === null,
}, async () => {
  // A listener at RUNTIME/bus stands for the D-Bus session bus (through which
  // \`systemd-run --user\` starts commands outside any sandbox), and nsbox is
  // told XDG_RUNTIME_DIR=RUNTIME, as in a desktop session.
  const runtime = await Deno.makeTempDir({ dir: RUN_DIR!, prefix: "nsbox-escape-" });
  try {
    const bus = `${runtime}/bus`;
    const host = await hostListener("path", bus);
    const script = connectScript("socket.AF_UNIX", JSON.stringify(bus)) + `
out("runtime dir", " ".join(os.listdir(${JSON.stringify(runtime)})) or "empty")
out("env", os.environ.get("XDG_RUNTIME_DIR"))
`;
    const opts = { env: { XDG_RUNTIME_DIR: runtime } };
    const [plain, root] = await Promise.all([
      sandboxPy(script, [], opts).then(results),
      sandboxPy(script, ["--root"], opts).then(results),
    ]);
    const saw = await host.stop();
    assert.equal(saw, "nothing", `a host process accepted a connection from inside the sandbox`);
    for (const r of [plain, root]) assert.deepEqual(r, { connect: "ENOENT", "runtime dir": "empty", env: runtime });
  } finally {
    await Deno.remove(runtime, { recursive: true });
  }
});

// KNOWN HOLE (README, Limitations): nothing in the kernels nsbox runs on today
// lets an unprivileged sandbox refuse connect() to a pathname socket it can
// see; Landlock's LANDLOCK_ACCESS_FS_RESOLVE_UNIX (newer kernels) will. Until
// nsbox uses it, this test is ignored rather than red, and stays as the
// specification of the fix. The workaround, --tmpfs over the directory, is
// tested below.
const PATHNAME_SOCKETS_CONFINED = false;

Deno.test({
  name: "escape: a host process's unix socket elsewhere in the visible tree (e.g. ~/.ssh ControlMaster) is unreachable",
  ignore: !PATHNAME_SOCKETS_CONFINED || NEEDS_PY_X86 || visibleHome() === null,
}, async () => {
  // The host's root is visible read-only, and connect() on a socket file needs
  // no write access to the filesystem: a listener in the caller's home stands
  // for an ssh ControlMaster socket, a gpg-agent or an editor's server.
  await using dir = await homeDir();
  const path = `${dir.path}/sock`;
  const host = await hostListener("path", path);
  const script = connectScript("socket.AF_UNIX", JSON.stringify(path));
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const saw = await host.stop();
  assert.equal(
    saw,
    "nothing",
    `a host process accepted a connection from inside the sandbox (connect: ${plain.connect}; --root: ${root.connect})`,
  );
  for (const r of [plain, root]) assert.match(r.connect!, /^(ENOENT|ECONNREFUSED|EACCES|EPERM)$/);
});

Deno.test({
  name: "escape: --tmpfs over a directory hides the host sockets in it: connect fails with ENOENT",
  ignore: NEEDS_PY_X86 || visibleHome() === null,
}, async () => {
  await using dir = await homeDir();
  const path = `${dir.path}/sock`;
  const host = await hostListener("path", path);
  const script = connectScript("socket.AF_UNIX", JSON.stringify(path));
  const [plain, root] = await Promise.all([
    attack(script, ["--tmpfs", dir.path]),
    attack(script, ["--root", "--tmpfs", dir.path]),
  ]);
  const saw = await host.stop();
  assert.equal(saw, "nothing");
  assert.deepEqual(plain, { connect: "ENOENT" });
  assert.deepEqual(root, { connect: "ENOENT" });
});
