/**
 * The HTTP download test of `deno task bench` (scripts/bench/download.ts): its
 * command lines, how it reads curl's figures and nsbox's --json report, its
 * table, and the zeros server it downloads from.
 */
import assert from "node:assert/strict";
import {
  CURL_FORMAT,
  downloadCommand,
  type DownloadResult,
  mbPerSecond,
  parseCurl,
  proxiedBytes,
} from "../../scripts/bench/download.ts";
import { downloadTable, downloadVerdict } from "../../scripts/bench/report_net.ts";
import { requestedBytes, zeros } from "../../scripts/bench/zeros_server.ts";

const NSBOX = ["deno", "run", "-A", "main.ts"];

Deno.test("download: through the proxy, curl is made to use it for the host's 127.0.0.1, which the pattern names", () => {
  for (const id of ["proxy", "proxy-connect"] as const) {
    const argv = downloadCommand(id, NSBOX, "4321", "192.0.2.1", 1000);
    const sep = argv.indexOf("--");
    const nsboxArgs = argv.slice(NSBOX.length, sep);
    assert.deepEqual(nsboxArgs, ["run", "--json", "--allow-host", "127.0.0.1:4321"]);
    const curl = argv.slice(sep + 1);
    assert.equal(curl[0], "curl");
    // NO_PROXY keeps 127.0.0.1 direct: the empty --noproxy list overrides it
    assert.equal(curl[curl.indexOf("--noproxy") + 1], "");
    assert.equal(curl.at(-1), "http://127.0.0.1:4321/1000");
    assert.equal(curl.includes("--proxytunnel"), id === "proxy-connect");
  }
});

Deno.test("download: pasta goes through the gateway with --allow-host-loopback; the host runs curl bare", () => {
  const pasta = downloadCommand("pasta", NSBOX, "4321", "192.0.2.1", 1000);
  assert.deepEqual(pasta.slice(NSBOX.length, pasta.indexOf("--")), ["run", "--net=pasta", "--allow-host-loopback"]);
  assert.equal(pasta.at(-1), "http://192.0.2.1:4321/1000");
  const host = downloadCommand("host", NSBOX, "4321", "192.0.2.1", 1000);
  assert.equal(host[0], "curl");
  assert.equal(host.at(-1), "http://127.0.0.1:4321/1000");
  assert.equal(host[host.indexOf("-w") + 1], CURL_FORMAT);
});

Deno.test("download: curl's -w line gives bytes and seconds; MB/s are 10^6 bytes per second", () => {
  const run = parseCurl("\nnsbox-bench 200000000 0.5\n");
  assert.deepEqual(run, { bytes: 200_000_000, seconds: 0.5 });
  assert.equal(mbPerSecond(run), 400);
  assert.throws(() => parseCurl("curl: (7) Failed to connect\n"), /no transfer figures/);
  assert.throws(() => parseCurl("\nnsbox-bench 0 0.000000\n"), /transfer time of 0/);
});

Deno.test("download: the bytes through the proxy come from the last line of nsbox's --json report", () => {
  const report = {
    exit_code: 0,
    egress: {
      allowed: [
        { host: "example.org", port: 4321, connections: 1, bytes_out: 10, bytes_in: 5 },
        { host: "127.0.0.1", port: 4321, connections: 1, bytes_out: 98, bytes_in: 1000302 },
      ],
      refused: [],
    },
  };
  const stderr = `some warning\n${JSON.stringify(report)}\n`;
  assert.equal(proxiedBytes(stderr, 4321), 1000302);
  assert.equal(proxiedBytes(stderr, 4322), null);
  assert.equal(proxiedBytes("nsbox: something failed\n", 4321), null);
  assert.equal(proxiedBytes(JSON.stringify({ exit_code: 0, egress: null }), 4321), null);
});

Deno.test("download: the table gives medians and the ratios to the host and to pasta; the verdict proxy / pasta", () => {
  const runs = (...mbs: number[]) => mbs.map((m) => ({ bytes: 1e6 * m, seconds: 1 }));
  const d: DownloadResult = {
    config: { bytes: 1e6, repeats: 3 },
    skipped: null,
    server: "deno run zeros_server.ts 0",
    skippedPaths: [],
    gateway: "192.0.2.1",
    cases: [
      { id: "host", command: "curl", runs: runs(1000, 900, 1100), failures: [] },
      { id: "pasta", command: "nsbox", runs: runs(500, 400, 600), failures: [] },
      { id: "proxy", command: "nsbox", runs: runs(250, 200, 300), failures: [] },
      { id: "proxy-connect", command: "nsbox", runs: [], failures: ["exited 1"] },
    ],
    notes: [],
  };
  const table = downloadTable(d);
  const row = (id: string) => table.split("\n").find((l) => l.startsWith(`| ${id} |`))!.split("|").map((c) => c.trim());
  assert.deepEqual(row("host").slice(3, 7), ["1000.0", "900.0 … 1100.0", "1.00×", "2.00×"]);
  assert.deepEqual(row("pasta").slice(3, 7), ["500.0", "400.0 … 600.0", "0.50×", "1.00×"]);
  assert.deepEqual(row("proxy").slice(3, 7), ["250.0", "200.0 … 300.0", "0.25×", "0.50×"]);
  assert.equal(row("proxy-connect")[3], "failed");
  assert.match(downloadVerdict(d), /no verdict/i);
  d.cases[3]!.runs = runs(125);
  assert.equal(
    downloadVerdict(d),
    "Egress proxy / pasta on one download: 0.50× as an HTTP forward proxy, 0.25× through a `CONNECT` tunnel.",
  );
  assert.equal(
    downloadTable({ ...d, skipped: "curl is not installed" }),
    "HTTP download skipped: curl is not installed",
  );
});

Deno.test("zeros server: GET /N answers N zero bytes; other paths are not sizes", async () => {
  assert.equal(requestedBytes("/12345"), 12345);
  assert.equal(requestedBytes("/"), null);
  assert.equal(requestedBytes("/12/3"), null);
  assert.equal(requestedBytes("/-1"), null);
  const chunk = new Uint8Array(7);
  let total = 0, nonzero = 0;
  for await (const part of zeros(30, chunk)) {
    total += part.length;
    nonzero += part.filter((b) => b !== 0).length;
  }
  assert.equal(total, 30);
  assert.equal(nonzero, 0);
  // and the server itself, as the benchmark starts it
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net=127.0.0.1",
      new URL("../../scripts/bench/zeros_server.ts", import.meta.url)
        .pathname,
      "0",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let out = "";
    while (!/listening (\d+)\n/.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the server ended: ${out}`);
      out += value;
    }
    const port = /listening (\d+)\n/.exec(out)![1];
    const res = await fetch(`http://127.0.0.1:${port}/3000000`);
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 200);
    assert.equal(body.length, 3_000_000);
    assert.ok(body.every((b) => b === 0));
    const bad = await fetch(`http://127.0.0.1:${port}/nope`);
    await bad.body?.cancel();
    assert.equal(bad.status, 404);
  } finally {
    server.kill("SIGTERM");
    await reader.cancel().catch(() => {});
    await server.status;
  }
});
