// Asserts that the VM test bed offers what the systemd/cgroup-v2 tests need.
// Runs inside the guest (scripts/vm/suite.sh) as `user` in its login session.
// Plain throws, no imports: node:assert would need @types/node to type-check.

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function equal<T>(actual: T, expected: T, msg = ""): void {
  check(
    actual === expected,
    `${msg}${msg ? ": " : ""}expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
  );
}

/** Runs cmd, throws unless it exits 0, returns its stdout. */
async function ok(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
  const dec = new TextDecoder();
  const what = `${cmd} ${args.join(" ")}`;
  equal(out.code, 0, `${what} (stderr: ${dec.decode(out.stderr).trim()})`);
  return dec.decode(out.stdout);
}

/** The unified-hierarchy path of this process, e.g. /user.slice/user-1000.slice/session-3.scope */
function ownCgroup(): string {
  const lines = Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n");
  const [line] = lines;
  if (lines.length !== 1 || !line?.startsWith("0::/")) {
    throw new Error(`not a pure cgroup v2 layout: ${JSON.stringify(lines)}`);
  }
  return line.slice(3);
}

function userManagerCgroup(): string {
  const uid = Deno.uid();
  const path = `/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service`;
  const own = ownCgroup();
  check(
    own.startsWith(`/user.slice/user-${uid}.slice/`),
    `not in the user's slice: ${own}`,
  );
  return path;
}

function controllers(cgroupDir: string): string[] {
  return Deno.readTextFileSync(`${cgroupDir}/cgroup.controllers`).trim().split(
    /\s+/,
  );
}

Deno.test("testbed: runs as an unprivileged user in a login session", () => {
  check(Deno.uid() !== 0, "runs as root");
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  equal(runtime, `/run/user/${Deno.uid()}`, "XDG_RUNTIME_DIR");
});

Deno.test("testbed: user@.service delegates memory, pids and cpu", () => {
  const have = controllers(userManagerCgroup());
  for (const c of ["memory", "pids", "cpu"]) {
    check(have.includes(c), `${c} missing from [${have}]`);
  }
});

Deno.test("testbed: the drop-in delegates io and cpuset too", () => {
  const have = controllers(userManagerCgroup());
  for (const c of ["io", "cpuset"]) {
    check(have.includes(c), `${c} missing from [${have}]`);
  }
});

Deno.test("testbed: the user bus socket exists", () => {
  const bus = `${Deno.env.get("XDG_RUNTIME_DIR")}/bus`;
  check(Deno.statSync(bus).isSocket, `${bus} is not a socket`);
});

Deno.test("testbed: systemd-run --user --scope applies MemoryMax", async () => {
  const out = await ok(
    "systemd-run",
    "--user",
    "--scope",
    "--quiet",
    "-p",
    "MemoryMax=50M",
    "-p",
    "Delegate=yes",
    "--",
    "sh",
    "-c",
    'cat "/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max"',
  );
  equal(out.trim(), String(50 * 1024 * 1024), "memory.max");
});

Deno.test("testbed: pasta and slirp4netns run", async () => {
  check(/pasta/.test(await ok("pasta", "--version")), "pasta --version");
  const slirp = await ok("slirp4netns", "--version");
  check(/slirp4netns/.test(slirp), "slirp4netns --version");
});

Deno.test("testbed: unprivileged user namespaces work", async () => {
  equal((await ok("unshare", "-Urn", "id", "-u")).trim(), "0", "uid inside");
});
