/**
 * The download test of the network part of `deno task bench`: HTTP
 * throughput of one large body (zeros, from ./zeros_server.ts on the host's
 * 127.0.0.1) fetched with curl
 *
 * - on the host itself (the baseline),
 * - from a sandbox with `--net=pasta --allow-host-loopback`, through the
 *   gateway address (which pasta maps to the host's loopback),
 * - from a sandbox with `--allow-host 127.0.0.1:PORT`, through nsbox's egress
 *   proxy: once as a plain HTTP forward request, once through a `CONNECT`
 *   tunnel (`curl --proxytunnel`, the way HTTPS goes).
 *
 * iperf3 cannot use a proxy, hence curl. The proxy refuses the host's
 * loopback unless an address pattern names it, as `127.0.0.1:PORT` does; curl
 * is told `--noproxy ''` because nsbox's `NO_PROXY` keeps 127.0.0.1 direct
 * (the sandbox's own loopback). Through the proxy, nsbox's `--json` report
 * must show the body's bytes on that destination, or the run counts as
 * failed: a run that bypassed the proxy is never reported as its figure.
 *
 * @module
 */
import { capture, commandLine, gist, type PartContext, Proc, sleep, which } from "./exec.ts";
import { defaultGateway } from "./net.ts";

/** How to measure. */
export interface DownloadConfig {
  /** The body size, bytes. */
  bytes: number;
  /** How many times each contender runs (interleaved). */
  repeats: number;
}

/** The contenders. */
export type DownloadPath = "host" | "pasta" | "proxy" | "proxy-connect";

/** One download's figures, from curl's `-w` line. */
export interface DownloadRun {
  /** Bytes received (curl's `size_download`). */
  bytes: number;
  /** curl's `time_total`: from the start of the transfer (name lookup, connect) to its end, seconds. */
  seconds: number;
}

/** One contender: its command and runs. */
export interface DownloadCase {
  id: DownloadPath;
  /** The exact command line (PORT: the server's port; GATEWAY: pasta's gateway address). */
  command: string;
  runs: DownloadRun[];
  /** Why runs failed (each is retried up to twice). */
  failures: string[];
}

/** Everything the download test found out. */
export interface DownloadResult {
  config: DownloadConfig;
  /** Why the whole test was skipped (no curl), or null. */
  skipped: string | null;
  /** The server's command line. */
  server: string;
  /** Contenders that could not run here, with the reason. */
  skippedPaths: { id: DownloadPath; reason: string }[];
  /** pasta's gateway address, when pasta ran. */
  gateway: string | null;
  cases: DownloadCase[];
  notes: string[];
}

/** curl's `-w` format: bytes received and total time, on a line of its own. */
export const CURL_FORMAT = "\\nnsbox-bench %{size_download} %{time_total}\\n";

/** The figures of curl's `-w` {@linkcode CURL_FORMAT} line in `stdout`; throws when there is none. */
export function parseCurl(stdout: string): DownloadRun {
  const m = /^nsbox-bench (\d+) ([\d.]+)$/m.exec(stdout);
  if (!m) throw new Error(`no transfer figures from curl: ${gist(stdout)}`);
  const run = { bytes: Number(m[1]), seconds: Number(m[2]) };
  if (!(run.seconds > 0)) throw new Error(`curl reported a transfer time of ${m[2]} s`);
  return run;
}

/** Megabytes (10^6 bytes) per second of a run. */
export function mbPerSecond(run: DownloadRun): number {
  return run.bytes / run.seconds / 1e6;
}

/**
 * The bytes the egress proxy fetched from `port` on 127.0.0.1, from nsbox's
 * `--json` report (the last line of its stderr), or null when the report
 * has no such destination.
 */
export function proxiedBytes(stderr: string, port: number): number | null {
  const line = stderr.trimEnd().split("\n").pop() ?? "";
  try {
    const report = JSON.parse(line);
    // deno-lint-ignore no-explicit-any
    const hit = (report?.egress?.allowed ?? []).find((a: any) => a.host === "127.0.0.1" && a.port === port);
    return typeof hit?.bytes_in === "number" ? hit.bytes_in : null;
  } catch {
    return null;
  }
}

/** The argv of one contender; `port` is the server's, `gateway` pasta's. */
export function downloadCommand(
  id: DownloadPath,
  nsbox: readonly string[],
  port: string,
  gateway: string,
  bytes: number,
): string[] {
  const curl = (host: string, extra: string[] = []) => [
    "curl",
    ...["-sS", "--fail", "-o", "/dev/null", "-w", CURL_FORMAT, ...extra],
    `http://${host}:${port}/${bytes}`,
  ];
  switch (id) {
    case "host":
      return curl("127.0.0.1");
    case "pasta":
      return [...nsbox, "run", "--net=pasta", "--allow-host-loopback", "--", ...curl(gateway)];
    case "proxy":
    case "proxy-connect":
      return [
        ...nsbox,
        ...["run", "--json", "--allow-host", `127.0.0.1:${port}`, "--"],
        ...curl("127.0.0.1", ["--noproxy", "", ...(id === "proxy-connect" ? ["--proxytunnel"] : [])]),
      ];
  }
}

/** In what order the contenders run in every repeat. */
export const DOWNLOAD_PATHS: readonly DownloadPath[] = ["host", "pasta", "proxy", "proxy-connect"];

/** Runs one download; resolves to its figures or throws with the reason. */
async function runOnce(
  id: DownloadPath,
  ctx: PartContext,
  port: string,
  gateway: string,
  config: DownloadConfig,
): Promise<DownloadRun> {
  const argv = downloadCommand(id, ctx.nsbox, port, gateway, config.bytes);
  const out = await capture(argv, { cwd: ctx.tree, timeoutMs: 300_000 });
  if (out.code !== 0) throw new Error(`\`${commandLine(argv)}\` exited ${out.code}: ${gist(out.stderr)}`);
  const run = parseCurl(out.stdout);
  if (run.bytes !== config.bytes) throw new Error(`curl received ${run.bytes} of ${config.bytes} bytes`);
  if (id === "proxy" || id === "proxy-connect") {
    const proxied = proxiedBytes(out.stderr, Number(port));
    if (proxied === null || proxied < config.bytes) {
      throw new Error(`nsbox's --json report shows ${proxied ?? "no"} bytes through the proxy, not ${config.bytes}`);
    }
  }
  return run;
}

/** Processes whose command line names the egress proxy, owned by us: none may outlive its nsbox. */
function egressProxies(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.statSync(`/proc/${e.name}`).uid !== Deno.uid()) continue;
      if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0").includes("__egress-proxy")) {
        pids.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return pids;
}

/** Measures download throughput per `config`. */
export async function measureDownload(config: DownloadConfig, ctx: PartContext): Promise<DownloadResult> {
  const serverArgv = [
    ctx.nsbox[0]!,
    ...["run", "--quiet", "--allow-net=127.0.0.1", `${ctx.tree}/scripts/bench/zeros_server.ts`, "0"],
  ];
  const result: DownloadResult = {
    config,
    skipped: null,
    server: commandLine(serverArgv).replaceAll(ctx.tree, "$TREE"),
    skippedPaths: [],
    gateway: null,
    cases: [],
    notes: [],
  };
  if (!which("curl")) {
    result.skipped = "curl is not installed (apt-get install curl)";
    return result;
  }
  const before = new Set(egressProxies());
  const server = new Proc(serverArgv, ctx.tree);
  try {
    if (!await server.waitFor(/^listening \d+$/m, 60_000)) {
      result.skipped = `the HTTP server did not start: ${gist(server.stderr || server.stdout)}`;
      return result;
    }
    const port = /^listening (\d+)$/m.exec(server.stdout)![1]!;
    const paths = [...DOWNLOAD_PATHS];
    const probe = await capture([...ctx.nsbox, "run", "--net=pasta", "--", "cat", "/proc/net/route"], {
      cwd: ctx.tree,
      timeoutMs: 60_000,
    });
    result.gateway = probe.code === 0 ? defaultGateway(probe.stdout) : null;
    if (!result.gateway) {
      result.skippedPaths.push({
        id: "pasta",
        reason: probe.code === 0 ? "no IPv4 default route under --net=pasta" : gist(probe.stderr),
      });
      paths.splice(paths.indexOf("pasta"), 1);
    }
    for (const id of paths) {
      const shown = downloadCommand(id, ctx.nsbox, "PORT", "GATEWAY", config.bytes);
      result.cases.push({ id, command: commandLine(shown), runs: [], failures: [] });
    }
    for (let rep = 1; rep <= config.repeats; rep++) {
      for (const c of result.cases) {
        console.error(`bench: net: download ${c.id}, run ${rep}/${config.repeats} ...`);
        for (let attempt = 1; attempt <= 3; attempt++) {
          try {
            c.runs.push(await runOnce(c.id, ctx, port, result.gateway ?? "", config));
            break;
          } catch (e) {
            const why = (e instanceof Error ? e.message : String(e)).replaceAll(ctx.workDir, "$WORK");
            c.failures.push(why);
            console.error(`bench: net: download ${c.id} failed (attempt ${attempt}/3): ${why}`);
            if (attempt < 3) await sleep(2000);
          }
        }
      }
    }
  } finally {
    const stopped = await server.stop();
    if (stopped) result.notes.push(`download: ${stopped.replace(serverArgv[0]!, "the HTTP server")}`);
  }
  // The proxies nsbox started are gone with their sandboxes (give a straggler a moment).
  let left: number[] = [];
  for (let i = 0; i < 50; i++) {
    left = egressProxies().filter((p) => !before.has(p));
    if (!left.length) break;
    await sleep(100);
  }
  result.notes.push(
    left.length
      ? `download: egress proxies still running after their sandboxes ended: pids ${left.join(", ")}`
      : "download: no egress proxy outlived its sandbox",
  );
  return result;
}
