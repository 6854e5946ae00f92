// --publish with --allow-host: nsbox's relay (nsbox __publish-relay), not pasta, forwards a host port into a
// filtered sandbox; the sandbox still has no route out. The server inside is tests/integration/_net_tool.ts,
// run with the test's own Deno.
import assert from "node:assert/strict";
import { lines, nsbox, pidsMatching, ROOT, startNsbox, waitUntil } from "./_harness.ts";

const TOOL = `${ROOT}/tests/integration/_net_tool.ts`;
/** The test host (scripts/test.sh makes it), or an address no route leads to. */
const OUTSIDE = Deno.env.get("NSBOX_TEST_HOST") || "198.51.100.2";

/** A filtered sandbox (so `-p` goes through nsbox's relay), whose Deno can write its cache. */
const FILTERED = ["--allow-host", "example.com", "--setenv", "DENO_DIR=/tmp/deno"] as const;

function relayPids(): number[] {
  return pidsMatching("__publish-relay");
}

/** A port nothing listens on now. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Whether `port` on 127.0.0.1 can be listened on (nobody holds it). */
function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** Sends `text` to 127.0.0.1:`port`, ends its side (half-close), and reads until the other end closes. */
async function exchange(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(text));
    await conn.closeWrite();
    let got = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (!n) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    return got;
  } finally {
    conn.close();
  }
}

/** `exchange`, retried while the server inside is not up yet (the relay closes the client then). */
async function exchangeWhenUp(port: number, text: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const got = await exchange(port, text).catch(() => "");
    if (got !== "") return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  return "";
}

const server = (port: number, host = "127.0.0.1") => [
  Deno.execPath(),
  "run",
  "-A",
  "--quiet",
  TOOL,
  "upper-server",
  host,
  String(port),
];

Deno.test("publish+allow-host: a server on the sandbox's loopback is reachable through -p; no route out", async () => {
  const [hostPort, unused] = [freePort(), freePort()];
  const run = startNsbox([
    "run",
    ...FILTERED,
    "-p",
    `${hostPort}:8080`,
    "-p",
    `${unused}:8081`, // nothing listens on 8081 inside
    "--",
    "sh",
    "-c",
    // the routes, a connection that ignores the proxy, then the server (in the foreground, until killed)
    `wc -l < /proc/net/route; ${
      [Deno.execPath(), "run", "-A", "--quiet", TOOL, "tcp", OUTSIDE, "7", "x"].join(" ")
    }; echo "direct=$?"; exec ${server(8080).join(" ")}`,
  ]);
  try {
    await run.waitForStdout("listening", 60_000);
    assert.equal(lines(run.stdout())[0], "1", "no route at all: only the header line of /proc/net/route");
    assert.match(run.stdout(), /^direct=1$/m, "a connection out without the proxy fails");
    assert.match(run.stderr(), /^NetworkUnreachable$/m);
    // both directions, with the client's end of file passed on (the server answers only after it)
    assert.equal(await exchangeWhenUp(hostPort, "hello relay"), "HELLO RELAY");
    assert.equal(await exchange(hostPort, "x".repeat(300_000)), "X".repeat(300_000));
    // a port nothing listens on inside: the client's connection is just closed
    assert.equal(await exchange(unused, "anyone?"), "");
    assert.equal(relayPids().length, 1, "one relay process");
    run.kill("SIGTERM"); // to nsbox: forwarded to the command
    const done = await run.finish(30_000);
    assert.notEqual(done.code, 125, done.stderr);
  } finally {
    await run[Symbol.asyncDispose]();
  }
  await waitUntil(() => relayPids().length === 0, "the relay to end with the sandbox");
  assert.ok(portFree(hostPort) && portFree(unused), "the host ports are free again");
});

Deno.test("publish+allow-host: a host port in use is refused with 125, naming --publish, before the sandbox starts", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const r = await nsbox(["run", "--allow-host", "example.com", "-p", `${port}:80`, "--", "sh", "-c", "echo ran"]);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stdout, "", "the command never ran");
    assert.deepEqual(lines(r.stderr), [
      `nsbox: --publish 127.0.0.1:${port}:80/tcp: cannot listen on 127.0.0.1:${port}: the port is already in use`,
    ]);
  } finally {
    busy.close();
  }
  assert.deepEqual(relayPids(), []);
});

Deno.test("publish+allow-host: the host IP of -p is honoured (an address not of this host is refused)", async () => {
  const port = freePort();
  const r = await nsbox(["run", "--allow-host", "example.com", "-p", `192.0.2.1:${port}:80`, "--", "true"]);
  assert.equal(r.code, 125, r.stderr);
  assert.deepEqual(lines(r.stderr), [
    `nsbox: --publish 192.0.2.1:${port}:80/tcp: cannot listen on 192.0.2.1:${port}: 192.0.2.1 is not an address ` +
    "of this host",
  ]);
});

Deno.test("publish+allow-host: UDP is refused with 125, one line", async () => {
  const r = await nsbox(["run", "--allow-host", "example.com", "-p", "5353:53/udp", "--", "true"]);
  assert.equal(r.code, 125, r.stderr);
  assert.deepEqual(lines(r.stderr), [
    "nsbox: --publish 127.0.0.1:5353:53/udp: UDP cannot be published with --allow-host (nsbox's relay forwards " +
    "TCP only).",
  ]);
});

Deno.test("publish+allow-host: with -d it is published, and after kill no relay and no listening socket is left", async () => {
  const name = `pub-d-${Math.random().toString(16).slice(2, 8)}`;
  const hostPort = freePort();
  const r = await nsbox([
    "run",
    "-d",
    "--name",
    name,
    ...FILTERED,
    "-p",
    `${hostPort}:8080`,
    "--",
    ...server(8080, "0.0.0.0"),
  ]);
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await exchangeWhenUp(hostPort, "detached"), "DETACHED");
    assert.equal(relayPids().length, 1, "one relay process");
    const k = await nsbox(["kill", name]);
    assert.equal(k.code, 0, k.stderr);
    await waitUntil(() => relayPids().length === 0, "the relay to end with the sandbox");
    await waitUntil(() => portFree(hostPort), "the host port to be free");
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    for (let tries = 0; tries < 100 && (await nsbox(["rm", name])).code !== 0; tries++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});

Deno.test("publish+allow-host: the relay dies with nsbox (SIGKILL), and the host port is free again", async () => {
  const hostPort = freePort();
  const run = startNsbox([
    "run",
    ...FILTERED,
    "-p",
    `${hostPort}:8080`,
    "--",
    ...server(8080),
  ]);
  try {
    await run.waitForStdout("listening", 60_000);
    assert.equal(await exchangeWhenUp(hostPort, "up"), "UP");
    assert.equal(relayPids().length, 1, "one relay process");
    run.kill("SIGKILL"); // nsbox (by now the native supervisor, in the same process)
    await run.finish(30_000);
  } finally {
    await run[Symbol.asyncDispose]();
  }
  await waitUntil(() => relayPids().length === 0, "the relay to die with nsbox");
  await waitUntil(() => portFree(hostPort), "the host port to be free");
  await nsbox(["gc"]); // the stale record
});
