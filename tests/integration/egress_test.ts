// Filtered egress (--allow-host): nsbox's proxy is the one way out. Tests that talk to the test host
// (198.51.100.2, HTTP on port 80, TCP echo on 7; scripts/test.sh makes it, and an /etc/hosts where
// allowed.nsbox.test and denied.nsbox.test name it, loopback.nsbox.test 127.0.0.1, metadata.nsbox.test
// 169.254.169.254, private.nsbox.test 10.1.2.3) are ignored without it. curl runs inside the sandbox.
import assert from "node:assert/strict";
import { hasProgram, lines, nsbox, pidsMatching, sandboxSh } from "./_harness.ts";

const TEST_HOST = Deno.env.get("NSBOX_TEST_HOST") || null;
const NAMES = (() => {
  try {
    return Deno.readTextFileSync("/etc/hosts").includes("allowed.nsbox.test");
  } catch {
    return false;
  }
})();
const ignore = !TEST_HOST || !NAMES || !hasProgram("curl");
const CURL = "curl -s -S --max-time 10";

/** The --json report: the last line of stderr. */
function report(stderr: string): Record<string, unknown> & { egress: Egress } {
  return JSON.parse(lines(stderr).at(-1)!);
}
interface Entry {
  host: string;
  port: number;
  connections: number;
  bytes_out?: number;
  bytes_in?: number;
  reason?: string;
}
interface Egress {
  allowed: Entry[];
  refused: Entry[];
}

function proxyPids(): number[] {
  return pidsMatching("__egress-proxy");
}

Deno.test("egress: the sandbox gets the proxy variables, no route out and no DNS server", async () => {
  const r = await sandboxSh(
    "env | grep -i _proxy= | sort; cat /proc/net/route | wc -l; grep ^nameserver /etc/resolv.conf",
    ["--allow-host", "example.com"],
  );
  assert.equal(r.code, 0, r.stderr);
  const url = "http://127.0.0.1:3128";
  assert.deepEqual(lines(r.stdout), [
    `ALL_PROXY=${url}`,
    `HTTPS_PROXY=${url}`,
    `HTTP_PROXY=${url}`,
    "NO_PROXY=localhost,127.0.0.1,::1",
    `all_proxy=${url}`,
    `http_proxy=${url}`,
    `https_proxy=${url}`,
    "no_proxy=localhost,127.0.0.1,::1",
    "1", // the header line of /proc/net/route: no route at all
    "nameserver 127.0.0.1",
  ]);
  assert.deepEqual(proxyPids(), [], "the proxy ended with the sandbox");
});

Deno.test("egress: --setenv and --unsetenv change the proxy variables", async () => {
  const r = await sandboxSh("echo ${NO_PROXY-unset} ${HTTP_PROXY}", [
    "--allow-host",
    "example.com",
    "--unsetenv",
    "NO_PROXY",
    "--setenv",
    "HTTP_PROXY=http://127.0.0.1:9",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "unset http://127.0.0.1:9\n");
});

Deno.test("egress: bad --allow-host values and conflicting flags are one line each, 125", async () => {
  const r = await nsbox([
    "run",
    "--allow-host",
    "exa mple.com",
    "--allow-host",
    "10.0.0.1/8",
    "--net",
    "--publish",
    "5353:53/udp",
    "--",
    "true",
  ]);
  assert.equal(r.code, 125);
  assert.deepEqual(lines(r.stderr), [
    "nsbox: --allow-host: expected a host name, *.SUFFIX, an IP address or CIDR range, or *, each with an optional " +
    ":PORT (IPv6 in brackets: [::1]:8080), got 'exa mple.com'.",
    "nsbox: --allow-host: 10.0.0.1/8 has bits set past its /8 prefix: expected 10.0.0.0/8, got '10.0.0.1/8'.",
    "nsbox: --allow-host: cannot be used with --net: filtered egress goes through nsbox's proxy alone (drop --net).",
    "nsbox: --publish 127.0.0.1:5353:53/udp: UDP cannot be published with --allow-host (nsbox's relay forwards " +
    "TCP only).",
  ]);
  for (const flags of [["--net=host"], ["--share", "net"]]) {
    const c = await nsbox(["run", "--allow-host", "example.com", ...flags, "--", "true"]);
    assert.equal(c.code, 125, c.stderr);
    assert.match(c.stderr, /^nsbox: --allow-host: cannot be used with (--net=host|--share net)/m);
  }
});

Deno.test("egress: a client that ignores the proxy fails at once (no route), a name lookup too", async () => {
  const target = TEST_HOST ?? "198.51.100.2";
  const started = performance.now();
  const r = await sandboxSh(
    `${CURL} --noproxy '*' http://${target}/; echo "curl=$?"; getent ahosts example.com; echo "getent=$?"`,
    ["--allow-host", "*"],
  );
  const ms = performance.now() - started;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^curl=7$/m, "curl: couldn't connect");
  assert.match(r.stderr, /Network is unreachable|Couldn't connect/);
  assert.match(r.stdout, /^getent=2$/m, "no answer for the name");
  assert.ok(ms < 8000, `took ${ms} ms`);
});

Deno.test({
  name: "egress: HTTP, CONNECT and SOCKS5 to an allowed name pass; another name is refused once, with a line",
  ignore,
  fn: async () => {
    const script = [
      `${CURL} http://allowed.nsbox.test/plain`,
      `${CURL} -p http://allowed.nsbox.test/tunnel`, // CONNECT allowed.nsbox.test:80, then HTTP inside
      `${CURL} --proxy socks5h://127.0.0.1:3128 http://allowed.nsbox.test/socks`,
      `${CURL} -w '%{http_code}\\n' -o /dev/null http://denied.nsbox.test/a`,
      `${CURL} -w '%{http_code}\\n' -o /dev/null http://denied.nsbox.test/b`,
      `${CURL} --proxy socks5h://127.0.0.1:3128 http://denied.nsbox.test/ || echo socks-refused=$?`,
      // a literal address is matched against address patterns only
      `${CURL} --proxy socks5://127.0.0.1:3128 http://${TEST_HOST}/ || echo literal-refused=$?`,
    ].join("; ");
    const r = await sandboxSh(script, ["--json", "--allow-host", "allowed.nsbox.test"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [
      "test host: GET /plain allowed.nsbox.test",
      "test host: GET /tunnel allowed.nsbox.test",
      "test host: GET /socks allowed.nsbox.test",
      "403",
      "403",
      "socks-refused=97",
      "literal-refused=97",
    ]);
    const blocked = lines(r.stderr).filter((l) => l.startsWith("nsbox: blocked"));
    assert.deepEqual(blocked, [
      "nsbox: blocked denied.nsbox.test:80 (not allowed by --allow-host)",
      `nsbox: blocked ${TEST_HOST}:80 (not allowed by --allow-host)`,
    ]);
    const { egress } = report(r.stderr);
    assert.equal(egress.allowed.length, 1);
    const a = egress.allowed[0]!;
    assert.deepEqual([a.host, a.port, a.connections], ["allowed.nsbox.test", 80, 3]);
    assert.ok(a.bytes_out! > 100 && a.bytes_in! > 100, JSON.stringify(a));
    assert.deepEqual(egress.refused, [
      { host: "denied.nsbox.test", port: 80, connections: 3, reason: "not allowed by --allow-host" },
      { host: TEST_HOST, port: 80, connections: 1, reason: "not allowed by --allow-host" },
    ]);
    assert.deepEqual(proxyPids(), []);
  },
});

Deno.test({
  name: "egress: port, suffix and address patterns",
  ignore,
  fn: async () => {
    const script = [
      `${CURL} -w '%{http_code}\\n' -o /dev/null http://allowed.nsbox.test:7/`, // port 7 not allowed
      `${CURL} http://denied.nsbox.test/suffix`,
      `${CURL} --proxy socks5://127.0.0.1:3128 http://${TEST_HOST}/literal`,
    ].join("; ");
    const r = await sandboxSh(script, [
      "--allow-host",
      "allowed.nsbox.test:443",
      "--allow-host",
      "*.NSBOX.test:80",
      "--allow-host",
      `${TEST_HOST}/32:80`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [
      "403",
      "test host: GET /suffix denied.nsbox.test",
      `test host: GET /literal ${TEST_HOST}`,
    ]);
    assert.match(r.stderr, /^nsbox: blocked allowed\.nsbox\.test:7 \(not allowed by --allow-host\)$/m);
  },
});

Deno.test({
  name: "egress: names that resolve to loopback, link-local or private addresses are refused, even with '*'",
  ignore,
  fn: async () => {
    const names = ["loopback", "metadata", "private"].map((n) => `${n}.nsbox.test`);
    const script = [
      ...names.map((n) => `${CURL} -w '%{http_code}\\n' -o /dev/null http://${n}/`),
      `${CURL} -w '%{http_code}\\n' -o /dev/null http://169.254.169.254/latest/meta-data/`,
      `${CURL} http://allowed.nsbox.test/star`,
    ].join("; ");
    const r = await sandboxSh(script, ["--json", "--allow-host", "*"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ["403", "403", "403", "403", "test host: GET /star allowed.nsbox.test"]);
    const blocked = lines(r.stderr).filter((l) => l.startsWith("nsbox: blocked"));
    assert.deepEqual(blocked, [
      "nsbox: blocked loopback.nsbox.test:80 (resolves to a loopback address 127.0.0.1)",
      "nsbox: blocked metadata.nsbox.test:80 (resolves to a link-local address 169.254.169.254)",
      "nsbox: blocked private.nsbox.test:80 (resolves to a private address 10.1.2.3)",
      "nsbox: blocked 169.254.169.254:80 (a link-local address)",
    ]);
    const { egress } = report(r.stderr);
    assert.deepEqual(egress.allowed.map((e) => [e.host, e.port, e.connections]), [["allowed.nsbox.test", 80, 1]]);
    assert.equal(egress.refused.length, 4);
  },
});

Deno.test({
  name: "egress: an address pattern lets the proxy reach the host's loopback it names, nothing else there",
  ignore,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    (async () => {
      for await (const conn of listener) {
        await conn.write(new TextEncoder().encode("HTTP/1.0 200 OK\r\n\r\nhost loopback\n")).catch(() => {});
        conn.close();
      }
    })().catch(() => {});
    try {
      // NO_PROXY has 127.0.0.1: curl is told to use the proxy anyway
      const r = await sandboxSh(
        `${CURL} --noproxy '' http://127.0.0.1:${port}/; ${CURL} -w '%{http_code}\\n' -o /dev/null ` +
          `http://loopback.nsbox.test/`,
        ["--allow-host", `127.0.0.1:${port}`, "--allow-host", "loopback.nsbox.test"],
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lines(r.stdout), ["host loopback", "403"]);
    } finally {
      listener.close();
    }
  },
});

Deno.test({
  name: "egress: a detached sandbox (-d) goes out through its proxy too",
  ignore,
  fn: async () => {
    const name = `egress-d-${Math.random().toString(16).slice(2, 8)}`;
    const r = await nsbox([
      "run",
      "-d",
      "--name",
      name,
      "--allow-host",
      "allowed.nsbox.test",
      "--",
      "sh",
      "-c",
      `${CURL} http://allowed.nsbox.test/detached; ${CURL} -o /dev/null http://denied.nsbox.test/`,
    ]);
    try {
      assert.equal(r.code, 0, r.stderr);
      let logs = "";
      for (let tries = 0; tries < 200; tries++) {
        logs = (await nsbox(["logs", name])).stdout;
        if (logs.includes("blocked")) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(logs, /^test host: GET \/detached allowed\.nsbox\.test$/m);
      assert.match(logs, /^nsbox: blocked denied\.nsbox\.test:80 \(not allowed by --allow-host\)$/m);
    } finally {
      for (let tries = 0; tries < 100 && (await nsbox(["rm", name])).code !== 0; tries++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  },
});
