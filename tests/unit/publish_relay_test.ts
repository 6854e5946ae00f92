/**
 * `--publish` with `--allow-host`: the relay's pure parts (socket addresses, the ops that join the sandbox, the
 * handoff check, the error words) and its copying (relayClient) between local sockets.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { cannotListen, joinOps, sockaddr } from "../../src/net/publish.ts";
import { relayClient } from "../../src/net/relay.ts";
import { isRelayHandoff } from "../../src/cli/publish_relay_command.ts";
import type { PublishSpec } from "../../src/spec/publish.ts";

const spec = (hostIp: string, hostPort: number, port: number): PublishSpec => ({
  hostIp,
  hostPort,
  port,
  protocol: "tcp",
});

Deno.test("sockaddr() lays out sockaddr_in and sockaddr_in6 with the port in network byte order", () => {
  assert.deepEqual([...sockaddr("127.0.0.1", 8080)], [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const v6 = sockaddr("::1", 443);
  assert.equal(v6.length, 28);
  assert.deepEqual([...v6.subarray(0, 8)], [10, 0, 1, 187, 0, 0, 0, 0]); // family, port, flowinfo
  assert.deepEqual([...v6.subarray(8, 24)], [...new Array(15).fill(0), 1]);
  assert.deepEqual([...v6.subarray(24)], [0, 0, 0, 0]); // scope id
  assert.deepEqual([...sockaddr("0.0.0.0", 1).subarray(4, 8)], [0, 0, 0, 0]);
});

Deno.test("joinOps() joins the owning user namespace before the network namespace", () => {
  assert.deepEqual(joinOps(20, 21).map((op) => op.kind === "setns" && [op.fd, op.nstype]), [
    [20, 0x10000000], // CLONE_NEWUSER
    [21, 0x40000000], // CLONE_NEWNET
  ]);
});

Deno.test("cannotListen() names --publish, the address and why, as for pasta", () => {
  const p = spec("127.0.0.1", 8080, 80);
  assert.equal(
    cannotListen(p, 98).message,
    "--publish 127.0.0.1:8080:80/tcp: cannot listen on 127.0.0.1:8080: the port is already in use",
  );
  assert.equal(cannotListen(p, 98).exitCode, 125);
  assert.match(cannotListen(spec("::1", 80, 80), 13).message, /^--publish \[::1\]:80:80\/tcp: .*privileged$/);
  assert.match(cannotListen(p, 13).hint ?? "", /ip_unprivileged_port_start/);
  assert.match(cannotListen(spec("192.0.2.1", 8080, 80), 99).message, /192\.0\.2\.1 is not an address of this host$/);
  assert.match(cannotListen(p, "Too many open files").message, /: Too many open files$/);
});

Deno.test("isRelayHandoff() takes only distinct descriptors above 2 with ports 1 to 65535", () => {
  assert.ok(isRelayHandoff({ ports: [{ fd: 4, port: 80 }, { fd: 5, port: 65535 }] }));
  for (
    const bad of [
      null,
      {},
      { ports: [] },
      { ports: [{ fd: 2, port: 80 }] },
      { ports: [{ fd: 4, port: 0 }] },
      { ports: [{ fd: 4, port: 65536 }] },
      { ports: [{ fd: 4, port: 80 }, { fd: 4, port: 81 }] },
      { ports: [{ fd: "4", port: 80 }] },
    ]
  ) {
    assert.ok(!isRelayHandoff(bad), JSON.stringify(bad));
  }
});

/** A server on 127.0.0.1 that answers, after the client's end of file, with what it got in upper case. */
async function upperServer(host = "127.0.0.1"): Promise<Server & { port: number }> {
  const s = createServer({ allowHalfOpen: true }, (c) => {
    let got = "";
    c.on("data", (d) => got += d.toString()).on("end", () => c.end(got.toUpperCase()));
  });
  await new Promise<void>((r) => s.listen(0, host, r));
  return Object.assign(s, { port: (s.address() as { port: number }).port });
}

/** A relay like the real one, on 127.0.0.1: each client is relayed to `port` on `hosts`. */
async function relayTo(port: number, hosts: readonly string[]): Promise<Server & { port: number }> {
  const s = createServer(
    { allowHalfOpen: true, pauseOnConnect: true },
    (c: Socket) => void relayClient(c, port, hosts),
  );
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return Object.assign(s, { port: (s.address() as { port: number }).port });
}

/** Sends `text`, ends the writing side, and collects the reply until the relay closes. */
async function exchange(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  await conn.closeWrite();
  let got = "";
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (!n) break;
    got += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  return got;
}

const close = (s: Server) => new Promise((r) => s.close(r));

Deno.test("relayClient() copies both ways and passes the client's end of file on (half-close)", async () => {
  const inner = await upperServer();
  const relay = await relayTo(inner.port, ["127.0.0.1"]);
  try {
    assert.equal(await exchange(relay.port, "hello"), "HELLO");
    const big = "abc".repeat(200_000);
    assert.equal(await exchange(relay.port, big), big.toUpperCase());
  } finally {
    await close(relay);
    await close(inner);
  }
});

Deno.test("relayClient() closes the client when nothing listens inside, and tries ::1 after a refusal", async () => {
  const nobody = await upperServer();
  const port = nobody.port;
  await close(nobody); // now refused
  const refused = await relayTo(port, ["127.0.0.1"]);
  try {
    assert.equal(await exchange(refused.port, "anyone?"), "");
  } finally {
    await close(refused);
  }
  let v6: (Server & { port: number }) | null = null;
  try {
    v6 = await upperServer("::1");
  } catch {
    return; // no IPv6 loopback here
  }
  // 127.0.0.1 refuses on v6's port (nothing there), ::1 answers
  const relay = await relayTo(v6.port, ["127.0.0.1", "::1"]);
  try {
    assert.equal(await exchange(relay.port, "six"), "SIX");
  } finally {
    await close(relay);
    await close(v6);
  }
});
