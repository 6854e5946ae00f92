// Networking: isolated by default, --net through pasta or slirp4netns,
// --publish, --allow-host-loopback. Tests that need the test host (a network
// namespace scripts/test.sh makes as root, 198.51.100.2 with TCP/UDP echo on
// port 7) are ignored without it.
import assert from "node:assert/strict";
import { hasProgram, lines, nsbox, ROOT, startNsbox } from "./_harness.ts";

const TOOL = `${ROOT}/tests/integration/_net_tool.ts`;
const TEST_HOST = Deno.env.get("NSBOX_TEST_HOST") || null;
const HELPERS = ["pasta", "slirp4netns"].filter(hasProgram) as Array<"pasta" | "slirp4netns">;

/** nsbox run FLAGS -- deno run _net_tool.ts ARGS (Deno inside the sandbox, caching under its /tmp). */
function tool(flags: readonly string[], args: readonly string[], env?: Record<string, string>) {
  return nsbox([
    "run",
    "--setenv",
    "DENO_DIR=/tmp/deno",
    ...flags,
    "--",
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-net",
    "--quiet",
    TOOL,
    ...args,
  ], { timeoutMs: 60_000, env });
}

const HELPER_NAMES = ["pasta", "passt", "slirp4netns"];

/**
 * What marks one test's nsbox runs and the network helpers they start, so that helpers of other programs of the
 * test user (other tests running meanwhile, benchmarks) are not counted: a runtime directory of the test's own
 * (pasta's log file is made in the sandbox's record directory there, so pasta's command line names it) and
 * NSBOX_NET_TEST_MARK in nsbox's environment, which nsbox hands on to the helpers it starts (slirp4netns's
 * environment has it; pasta's cannot be read, pasta makes itself undumpable).
 */
function marked(): Disposable & { env: Record<string, string>; helpers(): string[] } {
  const runtime = Deno.makeTempDirSync({ prefix: "nsbox-net-rt-" });
  const id = `${Deno.pid}-${crypto.randomUUID()}`;
  return {
    env: { XDG_RUNTIME_DIR: runtime, NSBOX_NET_TEST_MARK: id },
    /**
     * The network helpers of this test's runs still running, "PID COMM": the test user's processes whose name
     * (comm: pasta runs as passt.avx2, its command line still says pasta) is a helper's, with the mark.
     */
    helpers() {
      const found: string[] = [];
      for (const e of Deno.readDirSync("/proc")) {
        if (!/^\d+$/.test(e.name)) continue;
        try {
          if (Deno.statSync(`/proc/${e.name}`).uid !== Deno.uid()) continue;
          const comm = Deno.readTextFileSync(`/proc/${e.name}/comm`).trim();
          if (!HELPER_NAMES.some((h) => comm.startsWith(h))) continue;
          if (/\) Z /.test(Deno.readTextFileSync(`/proc/${e.name}/stat`))) continue;
          const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
          let env = "";
          try {
            env = Deno.readTextFileSync(`/proc/${e.name}/environ`);
          } catch {
            // not dumpable (pasta): its command line tells
          }
          if (cmd.includes(`${runtime}/`) || env.split("\0").includes(`NSBOX_NET_TEST_MARK=${id}`)) {
            found.push(`${e.name} ${comm}`);
          }
        } catch {
          // gone meanwhile
        }
      }
      return found;
    },
    [Symbol.dispose]() {
      Deno.removeSync(runtime, { recursive: true });
    },
  };
}

function assertNoHelperLeft(mark: ReturnType<typeof marked>) {
  assert.deepEqual(mark.helpers(), [], "no network helper of this test's runs left");
}

/** A TCP server on the host's loopback answering "host-loopback"; closed at the end of the scope. */
function loopbackServer(): Disposable & { port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      await conn.write(new TextEncoder().encode("host-loopback")).catch(() => {});
      conn.close();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, [Symbol.dispose]: () => listener.close() };
}

Deno.test("net: by default only lo, up, and loopback works inside", async () => {
  const r = await nsbox(["run", "--", "sh", "-c", "cat /proc/net/dev; cat /sys/class/net/lo/flags"]);
  assert.equal(r.code, 0, r.stderr);
  const ifaces = lines(r.stdout).slice(2, -1).map((l) => l.split(":")[0]!.trim());
  assert.deepEqual(ifaces, ["lo"]);
  assert.equal(Number(lines(r.stdout).at(-1)) & 1, 1, "IFF_UP");
  const t = await nsbox([
    "run",
    "--setenv",
    "DENO_DIR=/tmp/deno",
    "--",
    "sh",
    "-c",
    `${Deno.execPath()} run -A --unstable-net --quiet ${TOOL} echo-server 127.0.0.1 7000 & sleep 1; ` +
    `${Deno.execPath()} run -A --quiet ${TOOL} tcp 127.0.0.1 7000 ping-lo; kill $!`,
  ], { timeoutMs: 60_000 });
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout.trim(), "ping-lo");
});

Deno.test("net: the host's loopback services are unreachable by default", async () => {
  using server = loopbackServer();
  const r = await tool([], ["tcp", "127.0.0.1", String(server.port), "x"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ConnectionRefused/);
});

Deno.test("net: a host abstract unix socket is unreachable inside", {
  ignore: !hasProgram("python3"),
}, async () => {
  const name = `nsbox-test-${Deno.pid}`;
  const server = new Deno.Command("python3", {
    args: [
      "-c",
      `import socket,time; s=socket.socket(socket.AF_UNIX); s.bind("\\0${name}"); s.listen(); time.sleep(30)`,
    ],
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 300));
    const probeScript = `import socket; s=socket.socket(socket.AF_UNIX); s.connect("\\0${name}"); print("connected")`;
    const host = await new Deno.Command("python3", { args: ["-c", probeScript], stderr: "null" }).output();
    assert.equal(new TextDecoder().decode(host.stdout).trim(), "connected", "reachable on the host itself");
    for (const flags of [[], ...HELPERS.map((h) => [`--net=${h}`])]) {
      const r = await nsbox(["run", ...flags, "--", "python3", "-c", probeScript]);
      assert.notEqual(r.code, 0, `flags ${flags}`);
      assert.match(r.stderr, /ConnectionRefusedError|FileNotFoundError/, `flags ${flags}`);
    }
  } finally {
    server.kill("SIGKILL");
    await server.status;
  }
});

for (const helper of HELPERS) {
  Deno.test({
    name: `net: --net=${helper} reaches the test host over TCP and UDP`,
    ignore: !TEST_HOST,
    async fn() {
      using mark = marked();
      const [tcp, udp] = await Promise.all([
        tool([`--net=${helper}`], ["tcp", TEST_HOST!, "7", `tcp-through-${helper}`], mark.env),
        tool([`--net=${helper}`], ["udp", TEST_HOST!, "7", `udp-through-${helper}`], mark.env),
      ]);
      assert.equal(tcp.code, 0, tcp.stderr);
      assert.equal(tcp.stdout.trim(), `tcp-through-${helper}`);
      assert.equal(udp.code, 0, udp.stderr);
      assert.equal(udp.stdout.trim(), `udp-through-${helper}`);
      assertNoHelperLeft(mark);
    },
  });

  Deno.test(`net: --net=${helper} configures an interface, a default route and resolv.conf`, async () => {
    using mark = marked();
    const r = await nsbox(["run", `--net=${helper}`, "--", "sh", "-c", "cat /proc/net/route /etc/resolv.conf"], {
      env: mark.env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\S+\t00000000\t/m, "a default route");
    assert.match(
      r.stdout,
      new RegExp(`^nameserver ${helper === "pasta" ? "169\\.254\\.1\\.1" : "10\\.0\\.2\\.3"}$`, "m"),
    );
    assert.doesNotMatch(Deno.readTextFileSync("/etc/resolv.conf"), /written by nsbox/, "the host's is untouched");
    assertNoHelperLeft(mark);
  });

  Deno.test(`net: --net=${helper} keeps the host's loopback out unless --allow-host-loopback`, async () => {
    using server = loopbackServer();
    using mark = marked();
    const gwArgs = [
      "sh",
      "-c",
      `${Deno.execPath()} run -A --quiet ${TOOL} tcp $(${Deno.execPath()} run -A --quiet ${TOOL} gateway) ${server.port} x`,
    ];
    const run = (flags: string[]) =>
      nsbox(["run", "--setenv", "DENO_DIR=/tmp/deno", `--net=${helper}`, ...flags, "--", ...gwArgs], {
        timeoutMs: 60_000,
        env: mark.env,
      });
    const [closed, open] = await Promise.all([run([]), run(["--allow-host-loopback"])]);
    assert.notEqual(closed.code, 0, closed.stdout);
    assert.equal(open.code, 0, open.stderr);
    assert.equal(open.stdout.trim(), "host-loopback");
    assertNoHelperLeft(mark);
  });

  Deno.test(`net: --net=${helper} --publish reaches a server inside from the host's loopback`, async () => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const hostPort = (probe.addr as Deno.NetAddr).port;
    probe.close();
    using mark = marked();
    const run = startNsbox([
      "run",
      "--setenv",
      "DENO_DIR=/tmp/deno",
      `--net=${helper}`,
      "--publish",
      `${hostPort}:8080`,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      TOOL,
      "serve-once",
      "8080",
      `served-by-${helper}`,
    ], { env: mark.env });
    try {
      await run.waitForStdout("listening", 60_000);
      // The mark finds this run's helper while it runs (so that none found afterwards means none is left).
      const found = mark.helpers();
      assert.equal(found.length, 1, `${helper} of this run found by its mark: ${found}`);
      let reply = "";
      for (let i = 0; i < 50 && reply === ""; i++) {
        try {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: hostPort });
          const buf = new Uint8Array(100);
          const n = await conn.read(buf);
          conn.close();
          reply = new TextDecoder().decode(buf.subarray(0, n ?? 0));
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(reply, `served-by-${helper}`);
      const done = await run.finish(30_000);
      assert.equal(done.code, 0, done.stderr);
    } finally {
      await run[Symbol.asyncDispose]();
    }
    assertNoHelperLeft(mark);
  });
}

Deno.test("net: bad --net, --publish and --allow-host-loopback uses are refused with 125", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--net=carrier-pigeon"], /^nsbox: --net: expected one of pasta, slirp4netns, host, got 'carrier-pigeon'\.$/m],
    [["--net", "--publish", "80"], /^nsbox: --publish: expected \[IP:\]HOSTPORT:PORT/m],
    [["--net", "--publish", "1:2:3:4"], /^nsbox: --publish: expected/m],
    [["--net", "-p", "8080:99999"], /^nsbox: --publish: expected/m],
    [["-p", "8080:80"], /^nsbox: --publish: needs --net/m],
    [["--allow-host-loopback"], /^nsbox: --allow-host-loopback: needs --net/m],
    [
      ["--share", "net", "--net=pasta"],
      /^nsbox: --net: 'pasta' cannot be used with --share net \(the host's network\)\.$/m,
    ],
    [["--share", "net", "--net"], /^nsbox: --net: cannot be used with --share net \(the host's network\)\.$/m],
  ];
  for (const [flags, expected] of cases) {
    const r = await nsbox(["run", ...flags, "--", "true"]);
    assert.equal(r.code, 125, `${flags}: ${r.stderr}`);
    assert.match(r.stderr, expected, `${flags}`);
    assert.doesNotMatch(r.stderr, /\.ts:\d+/, "no stack trace");
  }
});

function unprivilegedPortStart(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start").trim());
  } catch {
    return 1024;
  }
}

Deno.test({
  name: "net: a privileged published port is refused with 125 and a hint at the sysctl, no Deno error class",
  ignore: HELPERS.length === 0 || unprivilegedPortStart() <= 80,
  async fn() {
    const r = await nsbox(["run", "--net", "-p", "80:80", "--", "sh", "-c", "echo ran"]);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^nsbox: --publish 127\.0\.0\.1:80:80\/tcp: cannot listen on 127\.0\.0\.1:80: ports below \d+ are privileged$/m,
    );
    assert.match(r.stderr, /^nsbox: hint: .*net\.ipv4\.ip_unprivileged_port_start/m);
    assert.doesNotMatch(r.stderr, /PermissionDenied|Error|os error/);
  },
});

Deno.test({
  name: "net: a published port already in use is refused with 125, naming --publish",
  ignore: HELPERS.length === 0,
  async fn() {
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using mark = marked();
    try {
      const port = (busy.addr as Deno.NetAddr).port;
      const r = await nsbox(["run", "--net", "-p", `${port}:80`, "--", "true"], { env: mark.env });
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`^nsbox: --publish 127\\.0\\.0\\.1:${port}:80/tcp: .*already in use`, "m"));
    } finally {
      busy.close();
    }
    assertNoHelperLeft(mark);
  },
});

Deno.test("net: --net=host shares the host's interfaces", async () => {
  const r = await nsbox(["run", "--net=host", "--", "cat", "/proc/net/dev"]);
  assert.equal(r.code, 0, r.stderr);
  const inside = lines(r.stdout).slice(2).map((l) => l.split(":")[0]!.trim()).sort();
  const host = lines(Deno.readTextFileSync("/proc/net/dev")).slice(2).map((l) => l.split(":")[0]!.trim()).sort();
  assert.deepEqual(inside, host);
});

const TEST_DNS = Deno.env.get("NSBOX_TEST_DNS") || null;

for (const helper of HELPERS) {
  Deno.test({
    name: `net: --net=${helper} forwards DNS to the host's resolver`,
    ignore: !TEST_DNS,
    async fn() {
      // scripts/test.sh points the host's resolv.conf (in the tests' own mount namespace) at the test host's DNS
      // server, which answers every A query with NSBOX_TEST_DNS.
      using mark = marked();
      const r = await nsbox(["run", `--net=${helper}`, "--", "getent", "ahostsv4", "box.nsbox.test"], {
        env: mark.env,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${TEST_DNS!.replaceAll(".", "\\.")}\\s`, "m"));
      const none = await nsbox(["run", "--", "getent", "ahostsv4", "box.nsbox.test"]);
      assert.equal(none.code, 2, "no DNS without --net");
      assertNoHelperLeft(mark);
    },
  });
}
