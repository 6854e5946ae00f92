// --allow-host: patterns, admission, special addresses (src/spec/egress.ts), validation, and the proxy's
// decisions and report (src/net/egress_proxy.ts Egress) with a fake resolver.
import assert from "node:assert/strict";
import {
  admit,
  destination,
  type EgressPattern,
  formatDestination,
  formatIp,
  namedLiterally,
  parseAllowHost,
  parseIp,
  specialAddress,
} from "../../src/spec/egress.ts";
import { Egress, type ProxyDeps } from "../../src/net/egress_proxy.ts";
import { validate } from "../../src/spec/validate.ts";
import { UsageError } from "../../src/errors.ts";
import { fakeHost, runOptions } from "./_fake_host.ts";

function patterns(...texts: string[]): EgressPattern[] {
  return texts.map((t) => {
    const p = parseAllowHost(t);
    assert.ok(typeof p !== "string", p as string);
    return p;
  });
}

Deno.test("parseIp() and formatIp() read and write IPv4 and IPv6 literals as inet_pton/inet_ntop", () => {
  const cases: Array<[string, string]> = [
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["::", "::"],
    ["::1", "::1"],
    ["fd00:ec2::254", "fd00:ec2::254"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["::ffff:10.1.2.3", "::ffff:a01:203"],
  ];
  for (const [text, formatted] of cases) assert.equal(formatIp(parseIp(text)!), formatted, text);
  for (const bad of ["256.0.0.1", "01.2.3.4", "1.2.3", "1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "g::1", "a.b", ""]) {
    assert.equal(parseIp(bad), null, bad);
  }
});

Deno.test("parseAllowHost() reads names, *.suffix, *, addresses and CIDR ranges with optional ports", () => {
  assert.deepEqual(parseAllowHost("Registry.NPMjs.org."), {
    kind: "name",
    text: "Registry.NPMjs.org.",
    name: "registry.npmjs.org",
    port: null,
  });
  assert.deepEqual(parseAllowHost("*.githubusercontent.com:443"), {
    kind: "suffix",
    text: "*.githubusercontent.com:443",
    suffix: "githubusercontent.com",
    port: 443,
  });
  assert.deepEqual(parseAllowHost("*"), { kind: "any", text: "*", port: null });
  assert.deepEqual(parseAllowHost("*:80"), { kind: "any", text: "*:80", port: 80 });
  assert.deepEqual(parseAllowHost("10.0.0.0/8"), {
    kind: "net",
    text: "10.0.0.0/8",
    address: [10, 0, 0, 0],
    prefix: 8,
    port: null,
  });
  const v6 = parseAllowHost("[2001:db8::/32]:8443");
  assert.ok(typeof v6 !== "string" && v6.kind === "net");
  assert.deepEqual([v6.prefix, v6.port, formatIp(v6.address)], [32, 8443, "2001:db8::"]);
  const bare = parseAllowHost("::1");
  assert.ok(typeof bare !== "string" && bare.kind === "net" && bare.prefix === 128 && bare.port === null);
  const expected = (t: string) =>
    `--allow-host: expected a host name, *.SUFFIX, an IP address or CIDR range, or *, each with an optional :PORT ` +
    `(IPv6 in brackets: [::1]:8080), got '${t}'.`;
  for (const bad of ["", "a b", "x:0", "x:65536", "x:http", "*.*", "**", "a.*.b", "-a.com", "10.0.0.0/33", "[x]:80"]) {
    assert.equal(parseAllowHost(bad), expected(bad), bad);
  }
  assert.equal(
    parseAllowHost("192.168.1.1/16"),
    "--allow-host: 192.168.1.1/16 has bits set past its /16 prefix: expected 192.168.0.0/16, got '192.168.1.1/16'.",
  );
});

Deno.test("admit(): names against name patterns (case-insensitive, suffixes below the name), addresses against ranges", () => {
  const p = patterns("registry.npmjs.org", "*.github.com:443", "10.0.0.0/8", "fd00::/8");
  const name = (n: string, port: number) => admit(p, destination(n, port)!)?.text ?? null;
  assert.equal(name("REGISTRY.npmjs.org.", 80), "registry.npmjs.org");
  assert.equal(name("api.github.com", 443), "*.github.com:443");
  assert.equal(name("a.b.github.com", 443), "*.github.com:443");
  assert.equal(name("github.com", 443), null, "*.github.com is below github.com only");
  assert.equal(name("api.github.com", 80), null, "the port");
  assert.equal(name("evilgithub.com", 443), null);
  assert.equal(name("10.1.2.3", 22), "10.0.0.0/8");
  assert.equal(name("11.1.2.3", 22), null);
  assert.equal(name("[fd12::1]", 22), "fd00::/8");
  // an address the client gave is not matched against names, nor a name against address ranges
  assert.equal(admit(patterns("localhost"), destination("127.0.0.1", 80)!), null);
  assert.equal(admit(patterns("127.0.0.0/8"), destination("localhost", 80)!), null);
  assert.equal(admit(patterns("*"), destination("anything.example", 1)!)?.kind, "any");
  assert.equal(admit(patterns("*:443"), destination("anything.example", 80)!), null);
  assert.equal(formatDestination(destination("[::1]", 443)!), "[::1]:443");
  assert.equal(destination("bad host", 80), null);
});

Deno.test("specialAddress(): loopback, link-local, private, unique local, the host's own; namedLiterally()", () => {
  const is = (a: string, own: string[] = []) => specialAddress(parseIp(a)!, own.map((o) => parseIp(o)!));
  assert.equal(is("127.0.0.53"), "a loopback address");
  assert.equal(is("::1"), "a loopback address");
  assert.equal(is("169.254.169.254"), "a link-local address");
  assert.equal(is("fe80::1"), "a link-local address");
  assert.equal(is("fd00:ec2::254"), "a unique local address");
  for (const a of ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "::ffff:192.168.1.1"]) {
    assert.equal(is(a), "a private address", a);
  }
  assert.equal(is("0.0.0.0"), "an unspecified address");
  assert.equal(is("203.0.113.9", ["203.0.113.9"]), "an address of this host");
  for (const a of ["172.32.0.1", "8.8.8.8", "198.51.100.2", "2001:db8::1"]) assert.equal(is(a), null, a);
  const p = patterns("10.1.0.0/16:80", "0.0.0.0/0", "*");
  assert.equal(namedLiterally(p, parseIp("10.1.2.3")!, 80), true);
  assert.equal(namedLiterally(p, parseIp("10.1.2.3")!, 81), false, "another port");
  assert.equal(namedLiterally(p, parseIp("127.0.0.1")!, 80), false, "a /0 range and * name nothing");
});

/** An Egress with a fake resolver; `warned` collects its stderr lines. */
function egress(allow: string[], hosts: Record<string, string[]>, own: string[] = []) {
  const warned: string[] = [];
  const deps: ProxyDeps = {
    lookup: (name) =>
      name in hosts ? Promise.resolve(hosts[name]!.map((a) => parseIp(a)!)) : Promise.reject(new Error("ENOTFOUND")),
    own: own.map((a) => parseIp(a)!),
    warn: (l) => warned.push(l),
  };
  return { e: new Egress(patterns(...allow), deps), warned };
}

Deno.test("Egress.decide(): resolves allowed names, skips private addresses, refuses with reasons, warns once", async () => {
  const { e, warned } = egress(["*.example.com", "internal.corp", "10.9.0.0/16"], {
    "www.example.com": ["10.0.0.5", "93.184.216.34"],
    "loop.example.com": ["127.0.0.1"],
    "own.example.com": ["203.0.113.7"],
    "internal.corp": ["10.9.8.7"],
  }, ["203.0.113.7"]);
  const d = (h: string, port = 443) => e.decide(destination(h, port)!);
  const ok = await d("www.example.com");
  assert.ok(ok.ok);
  assert.deepEqual(ok.addresses.map(formatIp), ["93.184.216.34"], "the private address is left out");
  const internal = await d("internal.corp");
  assert.ok(internal.ok, "a range pattern names the private address it resolves to");
  assert.deepEqual(await d("loop.example.com"), {
    ok: false,
    reason: "resolves to a loopback address 127.0.0.1",
    socks: 2,
  });
  assert.deepEqual(await d("own.example.com"), {
    ok: false,
    reason: "resolves to an address of this host 203.0.113.7",
    socks: 2,
  });
  assert.deepEqual(await d("nowhere.example.com"), { ok: false, reason: "no such host", socks: 4 });
  assert.deepEqual(await d("bad.example"), { ok: false, reason: "not allowed by --allow-host", socks: 2 });
  assert.deepEqual(await d("bad.example"), { ok: false, reason: "not allowed by --allow-host", socks: 2 });
  assert.deepEqual(await d("169.254.169.254", 80), { ok: false, reason: "not allowed by --allow-host", socks: 2 });
  assert.deepEqual(warned, [
    "nsbox: blocked loop.example.com:443 (resolves to a loopback address 127.0.0.1)",
    "nsbox: blocked own.example.com:443 (resolves to an address of this host 203.0.113.7)",
    "nsbox: blocked nowhere.example.com:443 (no such host)",
    "nsbox: blocked bad.example:443 (not allowed by --allow-host)",
    "nsbox: blocked 169.254.169.254:80 (not allowed by --allow-host)",
  ]);
  const metadata = egress(["*"], {}).e;
  assert.deepEqual(await metadata.decide(destination("169.254.169.254", 80)!), {
    ok: false,
    reason: "a link-local address",
    socks: 2,
  });
});

Deno.test("Egress.report(): allowed and refused destinations in the order seen, with counts and bytes", async () => {
  const { e } = egress(["a.example"], { "a.example": ["198.51.100.2"] });
  await e.decide(destination("b.example", 80)!);
  await e.decide(destination("b.example", 80)!);
  const first = e.allowed(destination("a.example", 443)!);
  first.done(100, 2000);
  const second = e.allowed(destination("A.example", 443)!);
  const socket = { bytesWritten: 7, bytesRead: 9 };
  e.live.add({ key: second.key, socket }); // still open: counted as it is
  assert.deepEqual(e.report(), {
    allowed: [{ host: "a.example", port: 443, connections: 2, bytes_out: 107, bytes_in: 2009 }],
    refused: [{ host: "b.example", port: 80, connections: 2, reason: "not allowed by --allow-host" }],
  });
});

Deno.test("validate(): --allow-host makes a filtered network with the proxy's variables; conflicts are problems", () => {
  const s = validate(runOptions(["--allow-host", "example.com", "--allow-host", "*.x.org:443", "sh"]), fakeHost());
  assert.equal(s.network.mode, "filtered");
  assert.deepEqual(s.network.egress?.allow.map((p) => p.text), ["example.com", "*.x.org:443"]);
  assert.equal(s.network.egress?.port, 3128);
  assert.equal(s.network.dns?.nameserver, "127.0.0.1");
  assert.equal(s.env.HTTPS_PROXY, "http://127.0.0.1:3128");
  assert.equal(s.env.no_proxy, "localhost,127.0.0.1,::1");
  assert.equal(validate(runOptions(["sh"]), fakeHost()).env.HTTP_PROXY, undefined);
  const problems = (args: string[]) => {
    try {
      validate(runOptions(args), fakeHost({ programs: ["pasta"] }));
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e.problems;
    }
    assert.fail("accepted");
  };
  assert.deepEqual(problems(["--allow-host", "a.com", "--net", "sh"]), [
    "--allow-host: cannot be used with --net: filtered egress goes through nsbox's proxy alone (drop --net).",
  ]);
  assert.deepEqual(problems(["--allow-host", "a.com", "--net=host", "sh"]), [
    "--allow-host: cannot be used with --net=host: filtered egress goes through nsbox's proxy alone (drop --net).",
  ]);
  assert.deepEqual(problems(["--allow-host", "a.com", "--share", "net", "sh"]), [
    "--allow-host: cannot be used with --share net (the host's network has routes out).",
  ]);
  assert.deepEqual(problems(["--allow-host", "a.com", "-p", "53:53/udp", "--allow-host-loopback", "sh"]), [
    "--publish 127.0.0.1:53:53/udp: UDP cannot be published with --allow-host (nsbox's relay forwards TCP only).",
    "--allow-host-loopback: cannot be used with --allow-host: name the address instead (e.g. --allow-host " +
    "127.0.0.1:8080).",
  ]);
});

Deno.test("validate: --allow-host with TCP --publish ports keeps them (published through nsbox's relay)", () => {
  const s = validate(
    runOptions(["--allow-host", "a.com", "-p", "8080:80", "-p", "[::1]:8443:443/tcp", "sh"]),
    fakeHost(),
  );
  assert.equal(s.network.mode, "filtered");
  assert.deepEqual(s.network.publish, [
    { hostIp: "127.0.0.1", hostPort: 8080, port: 80, protocol: "tcp" },
    { hostIp: "::1", hostPort: 8443, port: 443, protocol: "tcp" },
  ]);
});
