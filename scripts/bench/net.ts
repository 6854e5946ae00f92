/**
 * The network part of `deno task bench`: TCP throughput with iperf3 over the
 * host's loopback (the ceiling) and through `nsbox --net=pasta` and
 * `--net=slirp4netns`, in both directions and both ways of connecting (the
 * sandbox connects out to a server on the host's loopback through the gateway
 * address, or the host connects in to a server in the sandbox through a
 * published port). Runs as the unprivileged user, like the rest.
 *
 * Every server listens on a loopback address — the host's 127.0.0.1, or for
 * slirp4netns's published port the sandbox's own address in its private
 * network namespace (see {@linkcode innerAddress}) — so no traffic leaves the
 * machine; every process started here (iperf3, nsbox, and through nsbox pasta
 * or slirp4netns) is tracked by pid and checked to be gone afterwards.
 *
 * @module
 */
import { capture, commandLine, gist, type PartContext, Proc, sleep, which } from "./exec.ts";
import { type DownloadConfig, type DownloadResult, measureDownload } from "./download.ts";

/** How to measure. */
export interface NetConfig {
  /** iperf3 `-t`: seconds per test. */
  seconds: number;
  /** How many times each test runs (interleaved: every test once, then again). */
  repeats: number;
  /** iperf3 `-i`: seconds per reported interval. */
  interval: number;
  /** The HTTP download test (./download.ts): through the egress proxy, pasta, and on the host. */
  download: DownloadConfig;
}

/** The networks measured. */
export type NetPath = "loopback" | "pasta" | "slirp4netns";

/** One test run's figures, from the iperf3 client's `--json` report. */
export interface NetRun {
  /** Receiver's throughput over the whole test (`end.sum_received`), Gbit/s. */
  gbps: number;
  /** Sender's throughput (`end.sum_sent`), Gbit/s. */
  senderGbps: number;
  /** The sender's TCP retransmits, when iperf3 reports them. */
  retransmits: number | null;
  /** Each interval's throughput as the client saw it (sent, or with -R received), Gbit/s. */
  intervals: { seconds: number; gbps: number }[];
}

/** One test: a path, a way of connecting, a direction; its runs. */
export interface NetCase {
  id: string;
  path: NetPath;
  /** Who connects: the sandbox out to the host's server, the host in to the sandbox's published server, or host to host. */
  setup: "out" | "in" | "loopback";
  /** Whether iperf3 runs with `-R` (the server sends). */
  reverse: boolean;
  /** Where the data flows. */
  direction: "sandbox→host" | "host→sandbox" | "client→server" | "server→client";
  /** The exact server and client command lines (ports as PORT / HOSTPORT: they are picked free per run). */
  server: string;
  client: string;
  runs: NetRun[];
  /** Why runs failed (each failed run is retried; a case with no runs is reported as failed). */
  failures: string[];
}

/** Everything the network part found out. */
export interface NetResult {
  config: NetConfig;
  /** Why the whole part was skipped (e.g. no iperf3), or null. */
  skipped: string | null;
  /** Modes that could not run here, with the reason. */
  skippedModes: { path: NetPath; reason: string }[];
  /** The sandbox's default gateway per mode, read from its `/proc/net/route`. */
  gateways: Partial<Record<NetPath, string>>;
  cases: NetCase[];
  /** Housekeeping: processes that had to be stopped, the final check that none is left. */
  notes: string[];
  /** The HTTP download test, when it ran (it needs curl, not iperf3). */
  download?: DownloadResult;
}

/** The port the iperf3 server listens on inside a sandbox (its own network namespace: no clash). */
const INNER_PORT = "5201";

/** The user-mode network helpers nsbox starts; tracked so that none outlives its test. */
const HELPERS = new Set(["pasta", "passt", "passt.avx2", "pasta.avx2", "slirp4netns"]);

/**
 * The address the iperf3 server in the sandbox binds to for the host-connects-in
 * tests. pasta splices connections from the host's loopback to the sandbox's
 * loopback, so 127.0.0.1 works there. slirp4netns's `add_hostfwd` connects to the
 * guest's address on its tap device (10.0.2.100 with `--configure`), which a
 * loopback-bound server never sees; that address exists only in the sandbox's own
 * network namespace, reachable from outside only through the forwarded port, which
 * nsbox binds to the host's 127.0.0.1.
 */
export function innerAddress(path: NetPath): string {
  return path === "slirp4netns" ? "10.0.2.100" : "127.0.0.1";
}

/** The IPv4 default gateway in a `/proc/net/route` text, or null. */
export function defaultGateway(routeTable: string): string | null {
  for (const line of routeTable.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== "00000000" || !f[2] || !/^[0-9A-Fa-f]{8}$/.test(f[2])) continue;
    // Little-endian hex: 010200C0 is 192.0.2.1.
    const n = parseInt(f[2], 16);
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".");
  }
  return null;
}

function iperfServer(addr: string, port: string): string[] {
  return ["iperf3", "-s", "-1", "-B", addr, "-p", port, "--forceflush"];
}

function iperfClient(host: string, port: string, config: NetConfig, reverse: boolean): string[] {
  return [
    "iperf3",
    ...["-c", host, "-p", port, "-t", String(config.seconds), "-i", String(config.interval), "--json"],
    ...(reverse ? ["-R"] : []),
  ];
}

interface CaseDef {
  id: string;
  path: NetPath;
  setup: NetCase["setup"];
  reverse: boolean;
  direction: NetCase["direction"];
}

/** The tests, in the order each repeat runs them. */
function caseDefs(modes: NetPath[]): CaseDef[] {
  const defs: CaseDef[] = [
    { id: "loopback", path: "loopback", setup: "loopback", reverse: false, direction: "client→server" },
    { id: "loopback-R", path: "loopback", setup: "loopback", reverse: true, direction: "server→client" },
  ];
  for (const path of modes) {
    defs.push(
      { id: `${path}-out`, path, setup: "out", reverse: false, direction: "sandbox→host" },
      { id: `${path}-out-R`, path, setup: "out", reverse: true, direction: "host→sandbox" },
      { id: `${path}-in`, path, setup: "in", reverse: false, direction: "host→sandbox" },
      { id: `${path}-in-R`, path, setup: "in", reverse: true, direction: "sandbox→host" },
    );
  }
  return defs;
}

/** Server and client argv of a test; `port` is the host's server or published port. */
function commands(
  d: CaseDef,
  port: string,
  gateway: string,
  config: NetConfig,
  ctx: PartContext,
): { server: string[]; client: string[] } {
  if (d.setup === "loopback") {
    return { server: iperfServer("127.0.0.1", port), client: iperfClient("127.0.0.1", port, config, d.reverse) };
  }
  if (d.setup === "out") {
    return {
      server: iperfServer("127.0.0.1", port),
      client: [
        ...ctx.nsbox,
        ...["run", `--net=${d.path}`, "--allow-host-loopback", "--"],
        ...iperfClient(gateway, port, config, d.reverse),
      ],
    };
  }
  return {
    server: [
      ...ctx.nsbox,
      ...["run", `--net=${d.path}`, "-p", `127.0.0.1:${port}:${INNER_PORT}`, "--"],
      ...iperfServer(innerAddress(d.path), INNER_PORT),
    ],
    client: iperfClient("127.0.0.1", port, config, d.reverse),
  };
}

/** A free TCP port on 127.0.0.1 (free a moment ago; a clash makes the run fail and be retried). */
function freePort(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return String(port);
}

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** Start time in clock ticks since boot (`/proc/PID/stat` field 22): tells a reused pid apart. */
  start: string;
}

function readStat(pid: number): ProcInfo | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const close = s.lastIndexOf(")");
    const rest = s.slice(close + 2).split(" ");
    return { pid, ppid: Number(rest[1]), comm: s.slice(s.indexOf("(") + 1, close), start: rest[19] ?? "" };
  } catch {
    return null;
  }
}

/** The network helpers among the descendants of `root`. */
function helpersBelow(root: number): ProcInfo[] {
  const all: ProcInfo[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const info = readStat(Number(e.name));
    if (info) all.push(info);
  }
  const below = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (!below.has(p.pid) && below.has(p.ppid)) below.add(p.pid), grew = true;
    }
  }
  return all.filter((p) => p.pid !== root && below.has(p.pid) && HELPERS.has(p.comm));
}

function alive(p: ProcInfo): boolean {
  return readStat(p.pid)?.start === p.start;
}

/** Records the network helper nsbox (`proc`) starts, as soon as it appears (one per sandbox). */
async function watchHelpers(proc: Proc, into: ProcInfo[]): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!proc.exit && performance.now() < deadline) {
    const found = helpersBelow(proc.pid).filter((h) => !into.some((k) => k.pid === h.pid && k.start === h.start));
    if (found.length) {
      into.push(...found);
      return;
    }
    await sleep(20);
  }
}

/** The figures of an iperf3 client's `--json` report; throws with iperf3's own error. */
export function parseIperf(json: string): NetRun {
  const start = json.indexOf("{");
  if (start < 0) throw new Error(`no JSON from iperf3: ${gist(json)}`);
  // deno-lint-ignore no-explicit-any
  const j: any = JSON.parse(json.slice(start));
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const received = j.end?.sum_received?.bits_per_second;
  const sent = j.end?.sum_sent?.bits_per_second;
  if (typeof received !== "number" || typeof sent !== "number") throw new Error("iperf3's report has no end sums");
  const retransmits = j.end?.sum_sent?.retransmits;
  return {
    gbps: received / 1e9,
    senderGbps: sent / 1e9,
    retransmits: typeof retransmits === "number" ? retransmits : null,
    // deno-lint-ignore no-explicit-any
    intervals: (j.intervals ?? []).map((i: any) => ({ seconds: i.sum.seconds, gbps: i.sum.bits_per_second / 1e9 })),
  };
}

/** Runs one test once; resolves to its figures or throws with the reason. Stops everything it started. */
async function runOnce(
  d: CaseDef,
  gateway: string,
  config: NetConfig,
  ctx: PartContext,
  notes: string[],
): Promise<NetRun> {
  const port = freePort();
  const { server: serverArgv, client: clientArgv } = commands(d, port, gateway, config, ctx);
  const helpers: ProcInfo[] = [];
  const procs: Proc[] = [];
  const watches: Promise<void>[] = [];
  const start = (argv: string[], inSandbox: boolean) => {
    const p = new Proc(argv, ctx.tree);
    procs.push(p);
    if (inSandbox) watches.push(watchHelpers(p, helpers));
    return p;
  };
  try {
    const server = start(serverArgv, d.setup === "in");
    if (!await server.waitFor(/Server listening/, 30_000)) {
      throw new Error(
        `the server did not start: \`${commandLine(serverArgv)}\`: ${gist(server.stderr || server.stdout)}`,
      );
    }
    const client = start(clientArgv, d.setup === "out");
    if (!await client.exited((config.seconds + 30) * 1000)) {
      throw new Error(`the client did not finish within ${config.seconds + 30} s`);
    }
    const run = (() => {
      try {
        return parseIperf(client.stdout);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new Error(`\`${commandLine(clientArgv)}\` exited ${client.exit?.code}: ${why}; ${gist(client.stderr)}`);
      }
    })();
    // A one-off server (-1) exits after its test, and a sandbox with it.
    if (!await server.exited(10_000)) notes.push(`${d.id}: the server did not exit after its test; stopped`);
    return run;
  } finally {
    for (const p of procs) {
      const what = await p.stop();
      if (what) notes.push(`${d.id}: ${what}`);
    }
    await Promise.all(watches);
    for (const h of helpers) {
      for (let i = 0; i < 50 && alive(h); i++) await sleep(100);
      if (alive(h)) {
        Deno.kill(h.pid, "SIGTERM");
        notes.push(`${d.id}: ${h.comm} (pid ${h.pid}) outlived its nsbox; stopped it with SIGTERM`);
      }
    }
    trackedHelpers.push(...helpers);
    trackedProcs.push(...procs);
  }
}

/** Every process this part started, directly or through nsbox: checked at the end. */
const trackedHelpers: ProcInfo[] = [];
const trackedProcs: Proc[] = [];

/** Runs `nsbox run --net=MODE -- cat /proc/net/route`; resolves to the gateway or the reason it failed. */
async function probe(path: NetPath, ctx: PartContext): Promise<{ gateway: string } | { reason: string }> {
  const argv = [...ctx.nsbox, "run", `--net=${path}`, "--", "cat", "/proc/net/route"];
  let last = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const out = await capture(argv, { cwd: ctx.tree, timeoutMs: 60_000 });
    const gateway = out.code === 0 ? defaultGateway(out.stdout) : null;
    if (gateway) return { gateway };
    last = out.code === 0
      ? `no IPv4 default route in the sandbox's /proc/net/route`
      : `\`${commandLine(argv)}\` exited ${out.code}: ${gist(out.stderr)}`;
    if (attempt < 3) {
      console.error(`bench: net: --net=${path} failed (attempt ${attempt}/3), retrying in 5 s: ${last}`);
      await sleep(5000);
    }
  }
  return { reason: last };
}

/** Measures TCP throughput per `config`. */
export async function measureNet(config: NetConfig, ctx: PartContext): Promise<NetResult> {
  const result: NetResult = { config, skipped: null, skippedModes: [], gateways: {}, cases: [], notes: [] };
  if (!which("iperf3")) {
    result.skipped = "iperf3 is not installed (apt-get install iperf3; `deno task bench` does that when run as root)";
    result.download = await measureDownload(config.download, ctx);
    return result;
  }
  const modes: NetPath[] = [];
  for (const path of ["pasta", "slirp4netns"] as const) {
    console.error(`bench: net: checking --net=${path} ...`);
    const p = await probe(path, ctx);
    if ("reason" in p) result.skippedModes.push({ path, reason: p.reason.replaceAll(ctx.workDir, "$WORK") });
    else modes.push(path), result.gateways[path] = p.gateway;
  }
  const defs = caseDefs(modes);
  for (const d of defs) {
    const gw = result.gateways[d.path] ?? "GATEWAY";
    const shown = commands(d, d.setup === "in" ? "HOSTPORT" : "PORT", gw, config, ctx);
    result.cases.push({
      ...d,
      server: commandLine(shown.server),
      client: commandLine(shown.client),
      runs: [],
      failures: [],
    });
  }
  for (let rep = 1; rep <= config.repeats; rep++) {
    for (const [i, d] of defs.entries()) {
      const c = result.cases[i]!;
      console.error(`bench: net: ${d.id} (${c.direction}), run ${rep}/${config.repeats} ...`);
      for (let attempt = 1; attempt <= 3; attempt++) {
        try {
          c.runs.push(await runOnce(d, result.gateways[d.path] ?? "", config, ctx, result.notes));
          break;
        } catch (e) {
          const why = (e instanceof Error ? e.message : String(e)).replaceAll(ctx.workDir, "$WORK");
          c.failures.push(why);
          console.error(`bench: net: ${d.id} failed (attempt ${attempt}/3): ${why}`);
          if (attempt < 3) await sleep(5000);
        }
      }
    }
  }
  // The final check: nothing this part started is left.
  const left = [
    ...trackedProcs.filter((p) => !p.exit).map((p) => `${p.argv[0]} (pid ${p.pid})`),
    ...trackedHelpers.filter(alive).map((h) => `${h.comm} (pid ${h.pid})`),
  ];
  result.notes.push(
    left.length
      ? `still running after the network tests: ${left.join(", ")}`
      : `after the network tests none of the ${trackedProcs.length} processes started (iperf3 servers and clients, ` +
        `nsbox) nor the ${trackedHelpers.length} pasta/slirp4netns helpers nsbox started for them was still running`,
  );
  result.download = await measureDownload(config.download, ctx);
  return result;
}
