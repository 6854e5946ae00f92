/**
 * `nsbox run` namespaces: PID, UTS, IPC, network, mount, cgroup, user, and
 * `--share` for each shareable one.
 */
import { assert } from "./_assert.ts";
import { hasProgram, lines, nsbox, probe, sandboxSh } from "./_harness.ts";

const NAMESPACES = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"] as const;

/** The namespaces the sandbox's command is in, as `type:[inode]` by type. */
async function sandboxNamespaces(flags: string[]): Promise<Record<string, string>> {
  const r = await sandboxSh(`for n in ${NAMESPACES.join(" ")}; do echo "$n $(readlink /proc/self/ns/$n)"; done`, flags);
  assert.equal(r.code, 0, r.stderr);
  return Object.fromEntries(lines(r.stdout).map((l) => l.split(" ") as [string, string]));
}

function hostNamespace(type: string): string {
  return Deno.readLinkSync(`/proc/self/ns/${type}`);
}

Deno.test("run: the command is in new user, mount, PID, UTS, IPC, network and cgroup namespaces", async () => {
  const inside = await sandboxNamespaces([]);
  for (const type of NAMESPACES) {
    assert.ok(inside[type]?.startsWith(`${type}:[`), `${type}: ${inside[type]}`);
    assert.notEqual(inside[type], hostNamespace(type), `${type} namespace is the host's`);
  }
});

Deno.test("run: --share keeps exactly the host namespaces named (repeatable, comma-separated)", async () => {
  const cases: Array<[string[], string[]]> = [
    [["--share", "net"], ["net"]],
    [["--share", "ipc"], ["ipc"]],
    [["--share", "uts"], ["uts"]],
    [["--share", "pid"], ["pid"]],
    [["--share", "net,ipc", "--share", "uts"], ["net", "ipc", "uts"]],
  ];
  await Promise.all(cases.map(async ([flags, shared]) => {
    const inside = await sandboxNamespaces(flags);
    for (const type of NAMESPACES) {
      if (shared.includes(type)) assert.equal(inside[type], hostNamespace(type), `${flags.join(" ")}: ${type}`);
      else assert.notEqual(inside[type], hostNamespace(type), `${flags.join(" ")}: ${type}`);
    }
  }));
});

Deno.test("run: `ps -e` shows only the sandbox's processes", async () => {
  const [plain, pid1] = await Promise.all([
    sandboxSh("ps -e -o pid=,comm="),
    sandboxSh("ps -e -o pid=,comm=", ["--as-pid-1"]),
  ]);
  for (const r of [plain, pid1]) assert.equal(r.code, 0, r.stderr);
  const procs = (out: string) =>
    lines(out).map((l) => {
      const [pid, comm] = l.trim().split(/\s+/);
      return { pid: Number(pid), comm };
    });
  const p = procs(plain.stdout);
  assert.deepEqual(p[0], { pid: 1, comm: "nsbox-init" }, plain.stdout);
  assert.deepEqual(p.slice(1).map((x) => x.comm), ["sh", "ps"], plain.stdout);
  const q = procs(pid1.stdout);
  assert.deepEqual(q[0], { pid: 1, comm: "sh" }, pid1.stdout);
  assert.deepEqual(q.slice(1).map((x) => x.comm), ["ps"], pid1.stdout);
});

Deno.test("run: the sandbox's /proc does not show host processes; --share pid does", async () => {
  const script = `test -d /proc/${Deno.pid} && echo visible || echo hidden; echo $$`;
  const [own, shared] = await Promise.all([sandboxSh(script), sandboxSh(script, ["--share", "pid"])]);
  assert.equal(own.code, 0, own.stderr);
  assert.equal(shared.code, 0, shared.stderr);
  const [hidden, ownPid] = lines(own.stdout);
  assert.equal(hidden, "hidden");
  assert.ok(Number(ownPid) < 10, `the command's pid in its own PID namespace: ${ownPid}`);
  const [vis, pid] = lines(shared.stdout);
  assert.equal(vis, "visible");
  assert.ok(Number(pid) > 10, `with --share pid the command has a host pid, got ${pid}`);
});

Deno.test("run: the hostname is nsbox by default, --hostname sets it, --share uts keeps the host's", async () => {
  const [def, named, shared, probed] = await Promise.all([
    nsbox(["run", "--", "hostname"]),
    nsbox(["run", "--hostname", "foo", "--", "hostname"]),
    nsbox(["run", "--share", "uts", "--", "hostname"]),
    probe(["--hostname", "box.example-1"]),
  ]);
  assert.deepEqual([def.code, def.stdout], [0, "nsbox\n"], def.stderr);
  assert.deepEqual([named.code, named.stdout], [0, "foo\n"], named.stderr);
  assert.deepEqual([shared.code, shared.stdout], [0, `${Deno.hostname()}\n`], shared.stderr);
  assert.equal(probed.hostname, "box.example-1");
});

Deno.test("run: `hostname bar` inside (with --root) does not change the host's hostname", async () => {
  const before = Deno.hostname();
  const r = await sandboxSh("hostname bar && hostname", ["--root"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "bar\n");
  assert.equal(Deno.hostname(), before);
  assert.notEqual(before, "bar");
});

/** The msqid column of `ipcs -q`. */
function queueIds(ipcsOutput: string): string[] {
  return lines(ipcsOutput).filter((l) => /^0x[0-9a-f]+\s/.test(l)).map((l) => l.split(/\s+/)[1]!);
}

Deno.test("run: a host System V message queue is invisible inside, and visible with --share ipc", async () => {
  const made = await new Deno.Command("ipcmk", { args: ["-Q"], stdin: "null", stderr: "piped" }).output();
  const dec = new TextDecoder();
  assert.equal(made.code, 0, dec.decode(made.stderr));
  const id = /(\d+)\s*$/.exec(dec.decode(made.stdout))?.[1];
  assert.ok(id, `ipcmk printed ${dec.decode(made.stdout)}`);
  try {
    const host = await new Deno.Command("ipcs", { args: ["-q"], stdin: "null" }).output();
    assert.ok(queueIds(dec.decode(host.stdout)).includes(id), "the queue is not visible on the host");
    const [own, shared] = await Promise.all([
      nsbox(["run", "--", "ipcs", "-q"]),
      nsbox(["run", "--share", "ipc", "--", "ipcs", "-q"]),
    ]);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(shared.code, 0, shared.stderr);
    assert.deepEqual(queueIds(own.stdout), [], own.stdout);
    assert.ok(queueIds(shared.stdout).includes(id), shared.stdout);
  } finally {
    await new Deno.Command("ipcrm", { args: ["-q", id], stdin: "null" }).output();
  }
});

function hostInterfaces(): string[] {
  return lines(Deno.readTextFileSync("/proc/net/dev")).filter((l) => l.includes(":")).map((l) =>
    l.split(":")[0]!.trim()
  );
}

Deno.test("run: the network namespace has only lo, and it is up", async () => {
  const p = await probe();
  assert.deepEqual(p.interfaces, ["lo"]);
  assert.deepEqual(p.up_interfaces, ["lo"]);
  const r = await sandboxSh("cat /proc/net/dev");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout).filter((l) => l.includes(":")).map((l) => l.split(":")[0]!.trim()), ["lo"]);
});

Deno.test({
  name: "run: `ip -o link` inside shows lo UP and nothing else",
  ignore: !hasProgram("ip"),
}, async () => {
  const r = await sandboxSh("ip -o link");
  assert.equal(r.code, 0, r.stderr);
  const links = lines(r.stdout);
  assert.equal(links.length, 1, r.stdout);
  assert.match(links[0]!, /^1: lo: <[A-Z_,]*\bUP\b[A-Z_,]*>/);
});

Deno.test("run: --share net shows the host's interfaces", async () => {
  const p = await probe(["--share", "net"]);
  assert.deepEqual(p.interfaces, hostInterfaces());
});

Deno.test("run: a mount made inside (with --root) is not visible on the host", async () => {
  const hostMounts = () =>
    lines(Deno.readTextFileSync("/proc/self/mountinfo")).map((l) => l.split(" ")[4]!).filter((m) =>
      m === "/mnt" || m.startsWith("/mnt/")
    );
  const before = hostMounts();
  const r = await sandboxSh(
    "mount -t tmpfs none /mnt && touch /mnt/inside && grep -c ' /mnt rw' /proc/self/mountinfo",
    ["--root"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "1\n");
  assert.deepEqual(hostMounts(), before);
  assert.ok(!before.includes("/mnt"));
  let exists = true;
  try {
    Deno.statSync("/mnt/inside");
  } catch {
    exists = false;
  }
  assert.equal(exists, false, "/mnt/inside leaked to the host");
});
