/**
 * `--publish` parsing and the pasta and slirp4netns command lines.
 *
 * @module
 */
import assert from "node:assert/strict";
import { isIP } from "node:net";
import { formatPublish, parsePublish, type PublishSpec } from "../../src/spec/publish.ts";
import { pastaArgs, slirpArgs } from "../../src/net/network.ts";
import type { NetworkSpec } from "../../src/spec/spec.ts";

const tcp = (hostPort: number, port: number, hostIp = "127.0.0.1"): PublishSpec => ({
  hostIp,
  hostPort,
  port,
  protocol: "tcp",
});
const udp = (hostPort: number, port: number, hostIp = "127.0.0.1"): PublishSpec => ({
  hostIp,
  hostPort,
  port,
  protocol: "udp",
});

Deno.test("parsePublish() reads HOSTPORT:PORT with 127.0.0.1 and tcp by default", () => {
  assert.deepEqual(parsePublish("8080:80"), tcp(8080, 80));
  assert.deepEqual(parsePublish("1:65535"), tcp(1, 65535));
  assert.deepEqual(parsePublish("65535:1"), tcp(65535, 1));
  assert.deepEqual(parsePublish("8080:80/tcp"), tcp(8080, 80));
  assert.deepEqual(parsePublish("5353:53/udp"), udp(5353, 53));
});

Deno.test("parsePublish() reads an IPv4 host address", () => {
  assert.deepEqual(parsePublish("0.0.0.0:8080:80"), tcp(8080, 80, "0.0.0.0"));
  assert.deepEqual(parsePublish("192.168.1.10:53:53/udp"), udp(53, 53, "192.168.1.10"));
  assert.deepEqual(parsePublish("255.255.255.255:1:1"), tcp(1, 1, "255.255.255.255"));
});

Deno.test("parsePublish() reads an IPv6 host address in brackets", () => {
  assert.deepEqual(parsePublish("[::1]:8080:80"), tcp(8080, 80, "::1"));
  assert.deepEqual(parsePublish("[::]:8080:80/tcp"), tcp(8080, 80, "::"));
  assert.deepEqual(parsePublish("[::1]:53:53/udp"), udp(53, 53, "::1"));
  assert.deepEqual(parsePublish("[fe80::1:2]:443:8443"), tcp(443, 8443, "fe80::1:2"));
  assert.deepEqual(parsePublish("[2001:DB8::A]:80:80"), tcp(80, 80, "2001:DB8::A"));
});

Deno.test("parsePublish() refuses ports 0 and above 65535", () => {
  for (
    const spec of ["0:80", "80:0", "65536:80", "80:65536", "99999:80", "123456:80", "127.0.0.1:0:80", "[::1]:80:0"]
  ) {
    assert.equal(parsePublish(spec), null, spec);
  }
});

Deno.test("parsePublish() refuses ports that are not plain numbers", () => {
  for (
    const spec of ["-1:80", "+80:80", "80.0:80", "0x50:80", "http:80", "80:80a", " 80:80", "80 :80", "8080-8090:80"]
  ) {
    assert.equal(parsePublish(spec), null, spec);
  }
});

Deno.test("parsePublish() refuses bad IPv4 addresses and host names", () => {
  for (
    const spec of ["256.0.0.1:80:80", "1.2.3:80:80", "1.2.3.4.5:80:80", "1.2.3.-4:80:80", "localhost:80:80", ":80:80"]
  ) {
    assert.equal(parsePublish(spec), null, spec);
  }
});

Deno.test("parsePublish() refuses malformed IPv6 addresses", () => {
  for (
    const spec of ["[]:80:80", "[:]:80:80", "[:::]:80:80", "[fe80::1::2]:80:80", "[12345::1]:80:80", "[g::1]:80:80"]
  ) {
    assert.equal(parsePublish(spec), null, spec);
  }
});

Deno.test("parsePublish() refuses IPv6 addresses without brackets and unclosed brackets", () => {
  for (const spec of ["::1:80:80", "fe80::1:80:80", "[::1:80:80", "[::1]80:80", "::1]:80:80"]) {
    assert.equal(parsePublish(spec), null, spec);
  }
});

Deno.test("parsePublish() refuses missing parts and unknown protocols", () => {
  for (
    const spec of [
      "",
      "80",
      ":80",
      "80:",
      ":",
      "::",
      "1.2.3.4:80",
      "1.2.3.4::80",
      "[::1]:80",
      "[::1]:",
      "80:80/",
      "80:80/sctp",
      "80:80/TCP",
      "80:80/tcp/udp",
      "/tcp",
      "a:b:c:d",
      "1.2.3.4:80:80:80",
    ]
  ) {
    assert.equal(parsePublish(spec), null, JSON.stringify(spec));
  }
});

Deno.test("parsePublish() refuses extra ports after a bracketed address", () => {
  for (const spec of ["[::1]:80:80:80", "[::1]:80:80:x", "[::1]:80:80:"]) {
    assert.equal(parsePublish(spec), null, spec);
  }
});

Deno.test("formatPublish() writes the full form, bracketing IPv6", () => {
  assert.equal(formatPublish(tcp(8080, 80)), "127.0.0.1:8080:80/tcp");
  assert.equal(formatPublish(udp(53, 5353, "0.0.0.0")), "0.0.0.0:53:5353/udp");
  assert.equal(formatPublish(tcp(443, 8443, "::1")), "[::1]:443:8443/tcp");
  assert.equal(formatPublish(udp(1, 2, "::")), "[::]:1:2/udp");
});

Deno.test("formatPublish() and parsePublish() round-trip", () => {
  for (const spec of ["127.0.0.1:8080:80/tcp", "0.0.0.0:53:53/udp", "[::1]:443:8443/tcp", "[::]:1:65535/udp"]) {
    const p = parsePublish(spec);
    assert.ok(p, spec);
    assert.equal(formatPublish(p), spec);
  }
  for (const p of [tcp(8080, 80), udp(5353, 53, "10.0.0.1"), tcp(1, 65535, "fe80::1"), udp(9, 9, "::")]) {
    assert.deepEqual(parsePublish(formatPublish(p)), p);
  }
  // short forms come back in full
  assert.equal(formatPublish(parsePublish("8080:80")!), "127.0.0.1:8080:80/tcp");
});

// ---------------------------------------------------------------------------
// pasta and slirp4netns command lines

function net(init: Partial<NetworkSpec> = {}): NetworkSpec {
  return { mode: "pasta", publish: [], allowHostLoopback: false, dns: null, hostResolvConf: null, ...init };
}

const DNS = { nameserver: "169.254.1.1", target: "/etc/resolv.conf" };

/** The values given to option `opt` (each occurrence). */
function values(args: readonly string[], opt: string): string[] {
  return args.flatMap((a, i) => (a === opt ? [args[i + 1]!] : []));
}

/**
 * The forwards pasta sets up from its `opt` options (--tcp-ports, --udp-ports),
 * as "ADDR HOSTPORT:PORT", parsed as pasta's conf_ports() does: "none", or an
 * optional ADDR/ prefix (one per option) then comma-separated port[-range][:port[-range]].
 * Fails where pasta would exit with "Invalid port specifier".
 */
function pastaForwards(args: readonly string[], opt: string): string[] {
  const specs = values(args, opt);
  assert.ok(specs.length > 0, `no ${opt}: pasta would forward ports automatically`);
  if (specs.includes("none")) {
    assert.deepEqual(specs, ["none"], `${opt} none mixed with ports: pasta refuses that`);
    return [];
  }
  const out: string[] = [];
  for (const spec of specs) {
    const slash = spec.indexOf("/");
    const addr = slash < 0 ? "*" : spec.slice(0, slash);
    if (slash >= 0) assert.ok(isIP(addr) !== 0, `${opt} ${spec}: pasta cannot read the address ${addr}`);
    for (const chunk of spec.slice(slash + 1).split(",")) {
      const m = /^(\d+)(?:-(\d+))?(?::(\d+)(?:-(\d+))?)?$/.exec(chunk);
      assert.ok(m, `${opt} ${spec}: pasta says "Invalid port specifier" at ${JSON.stringify(chunk)}`);
      const first = Number(m[1]), last = Number(m[2] ?? m[1]);
      const to = m[3] === undefined ? first : Number(m[3]);
      for (let p = first; p <= last; p++) out.push(`${addr} ${p}:${to + p - first}`);
    }
  }
  return out.sort();
}

const forwardsOf = (ps: readonly PublishSpec[]) => ps.map((p) => `${p.hostIp} ${p.hostPort}:${p.port}`).sort();

Deno.test("pastaArgs() without publish forwards nothing and hides the host's loopback", () => {
  assert.deepEqual(pastaArgs(net(), 4242, "/tmp/pasta.log"), [
    "pasta",
    "--config-net",
    "--quiet",
    "--foreground",
    "--mtu",
    "65520",
    "--tcp-ports",
    "none",
    "--udp-ports",
    "none",
    "--tcp-ns",
    "none",
    "--udp-ns",
    "none",
    "--no-map-gw",
    "--log-file",
    "/tmp/pasta.log",
    "4242",
  ]);
});

Deno.test("pastaArgs() ends with the sandbox's pid and logs to the given file", () => {
  const args = pastaArgs(net({ publish: [tcp(8080, 80)], dns: DNS }), 77, "/run/x.log");
  assert.equal(args[0], "pasta");
  assert.equal(args.at(-1), "77");
  assert.deepEqual(values(args, "--log-file"), ["/run/x.log"]);
  assert.deepEqual(values(args, "--tcp-ns"), ["none"]);
  assert.deepEqual(values(args, "--udp-ns"), ["none"]);
});

Deno.test("pastaArgs() maps the gateway to the host's loopback only with allowHostLoopback", () => {
  assert.ok(pastaArgs(net(), 1, "/l").includes("--no-map-gw"));
  assert.ok(!pastaArgs(net({ allowHostLoopback: true }), 1, "/l").includes("--no-map-gw"));
});

Deno.test("pastaArgs() forwards DNS to the sandbox's nameserver only when it has one", () => {
  assert.deepEqual(values(pastaArgs(net({ dns: DNS }), 1, "/l"), "--dns-forward"), ["169.254.1.1"]);
  assert.deepEqual(values(pastaArgs(net(), 1, "/l"), "--dns-forward"), []);
});

Deno.test("pastaArgs() forwards one published port per protocol", () => {
  const args = pastaArgs(net({ publish: [tcp(8080, 80)] }), 1, "/l");
  assert.deepEqual(values(args, "--tcp-ports"), ["127.0.0.1/8080:80"]);
  assert.deepEqual(values(args, "--udp-ports"), ["none"]);
  const u = pastaArgs(net({ publish: [udp(5353, 53, "::1")] }), 1, "/l");
  assert.deepEqual(pastaForwards(u, "--udp-ports"), ["::1 5353:53"]);
  assert.deepEqual(pastaForwards(u, "--tcp-ports"), []);
});

Deno.test("pastaArgs() forwards every published port in a form pasta accepts", () => {
  const cases: PublishSpec[][] = [
    [tcp(8080, 80)],
    [tcp(8080, 80), udp(5353, 53)],
    [tcp(8080, 80), tcp(8443, 443)],
    [tcp(8080, 80, "0.0.0.0"), tcp(9090, 90, "::1"), udp(53, 53, "::"), udp(5353, 5353, "10.1.2.3")],
  ];
  for (const publish of cases) {
    const args = pastaArgs(net({ publish }), 1, "/l");
    const what = publish.map(formatPublish).join(" ");
    assert.deepEqual(pastaForwards(args, "--tcp-ports"), forwardsOf(publish.filter((p) => p.protocol === "tcp")), what);
    assert.deepEqual(pastaForwards(args, "--udp-ports"), forwardsOf(publish.filter((p) => p.protocol === "udp")), what);
  }
});

Deno.test("slirpArgs() passes the ready and exit pipes, the user namespace and tap0", () => {
  assert.deepEqual(slirpArgs(net({ mode: "slirp4netns" }), 4242, null), [
    "slirp4netns",
    "--configure",
    "--mtu=65520",
    "--ready-fd=3",
    "--exit-fd=4",
    "--disable-host-loopback",
    "--userns-path=/proc/4242/ns/user",
    "4242",
    "tap0",
  ]);
});

Deno.test("slirpArgs() reaches the host's loopback only with allowHostLoopback", () => {
  const args = slirpArgs(net({ mode: "slirp4netns", allowHostLoopback: true }), 7, null);
  assert.ok(!args.includes("--disable-host-loopback"));
  assert.deepEqual(args.slice(-3), ["--userns-path=/proc/7/ns/user", "7", "tap0"]);
});

Deno.test("slirpArgs() opens the API socket only when given one (for publish)", () => {
  const publish = [tcp(8080, 80), udp(53, 53)];
  const args = slirpArgs(net({ mode: "slirp4netns", publish, dns: DNS }), 9, "/tmp/nsbox-slirp-x/api.sock");
  assert.deepEqual(args.filter((a) => a.startsWith("--api-socket")), ["--api-socket=/tmp/nsbox-slirp-x/api.sock"]);
  // ports are added through the socket, not on the command line
  assert.ok(!args.some((a) => a.includes("8080")));
  assert.deepEqual(args.slice(-2), ["9", "tap0"]);
  assert.ok(!slirpArgs(net({ mode: "slirp4netns" }), 9, null).some((a) => a.startsWith("--api-socket")));
});
