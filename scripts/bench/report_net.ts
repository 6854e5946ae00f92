/**
 * The network throughput tables and section of `docs/benchmarks.md`.
 *
 * @module
 */
import type { NetCase, NetPath, NetResult } from "./net.ts";
import { type DownloadCase, type DownloadPath, type DownloadResult, mbPerSecond } from "./download.ts";
import { median } from "./stats.ts";

/** A stalled interval: below this fraction of the test's median interval throughput. */
export const STALL_FRACTION = 0.1;

/** What one test's runs add up to. */
export interface CaseStats {
  /** Receiver throughput per run, Gbit/s. */
  gbps: number[];
  median: number;
  min: number;
  max: number;
  /** Full-length intervals of all runs, Gbit/s. */
  intervals: number[];
  medianInterval: number;
  lowestInterval: number;
  bestInterval: number;
  /** Intervals below {@linkcode STALL_FRACTION} of the median interval, or with no data at all. */
  stalls: number;
  /** Intervals with no data at all. */
  empty: number;
  /** Intervals below {@linkcode STALL_FRACTION} of the best interval (a collapse the median-based count misses when most intervals are slow). */
  belowBest: number;
  /** Runs with at least one stalled interval or one below {@linkcode STALL_FRACTION} of the best. */
  runsWithStalls: number;
  retransmits: number | null;
}

/** The statistics of `c`'s runs, or null when it has none. `interval` is iperf3's `-i`. */
export function caseStats(c: NetCase, interval: number): CaseStats | null {
  if (!c.runs.length) return null;
  const gbps = c.runs.map((r) => r.gbps);
  // The last interval can be a sliver (iperf3's clock); keep intervals of at least half the nominal length.
  const full = (r: NetCase["runs"][number]) => r.intervals.filter((i) => i.seconds >= interval / 2).map((i) => i.gbps);
  const intervals = c.runs.flatMap(full);
  const medianInterval = intervals.length ? median(intervals) : NaN;
  const bestInterval = intervals.length ? Math.max(...intervals) : NaN;
  const threshold = STALL_FRACTION * medianInterval;
  // When most intervals are empty the median is 0 and nothing is below 10% of it: an empty interval is a stall anyway.
  const stalled = (g: number) => g < threshold || g === 0;
  const retransmits = c.runs.map((r) => r.retransmits).filter((n): n is number => n !== null);
  return {
    gbps,
    median: median(gbps),
    min: Math.min(...gbps),
    max: Math.max(...gbps),
    intervals,
    medianInterval,
    lowestInterval: intervals.length ? Math.min(...intervals) : NaN,
    bestInterval,
    stalls: intervals.filter(stalled).length,
    empty: intervals.filter((g) => g === 0).length,
    belowBest: intervals.filter((g) => g < STALL_FRACTION * bestInterval).length,
    runsWithStalls: c.runs.filter((r) => full(r).some((g) => stalled(g) || g < STALL_FRACTION * bestInterval))
      .length,
    retransmits: retransmits.length ? median(retransmits) : null,
  };
}

const g2 = (
  x: number,
) => (Number.isFinite(x) ? (x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toFixed(3)) : "–");
const ratio = (x: number, of: number) => {
  const r = x / of;
  return Number.isFinite(r) ? `${r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toFixed(3)}×` : "–";
};

/** How the test connects, in words. */
function connection(c: NetCase, gateway: string | undefined): string {
  const r = c.reverse ? ", `-R`" : "";
  if (c.setup === "loopback") return `client and server on the host's 127.0.0.1${r}`;
  if (c.setup === "out") return `sandbox's client → host's server via gateway ${gateway ?? "?"}${r}`;
  return `host's client → sandbox's server via \`-p\`${r}`;
}

function find(net: NetResult, path: NetPath, setup: NetCase["setup"], reverse: boolean): NetCase | undefined {
  return net.cases.find((c) => c.path === path && c.setup === setup && c.reverse === reverse);
}

/** The loopback test with the same `-R` as `c`: its ceiling. */
function ceilingOf(net: NetResult, c: NetCase): NetCase | undefined {
  return find(net, "loopback", "loopback", c.reverse);
}

function stallCell(s: CaseStats | null): string {
  return s ? `${s.stalls}/${s.intervals.length}` : "–";
}

/** What a download contender is, in words. */
const DOWNLOAD_NAMES: Record<DownloadPath, string> = {
  host: "host, no sandbox",
  pasta: "`--net=pasta --allow-host-loopback`, via the gateway",
  proxy: "`--allow-host 127.0.0.1:PORT`, egress proxy, HTTP forward",
  "proxy-connect": "`--allow-host 127.0.0.1:PORT`, egress proxy, `CONNECT` tunnel",
};

/** Median, min and max MB/s of a download contender's runs, or null when it has none. */
export function downloadStats(c: DownloadCase | undefined): { median: number; min: number; max: number } | null {
  if (!c?.runs.length) return null;
  const mbs = c.runs.map(mbPerSecond);
  return { median: median(mbs), min: Math.min(...mbs), max: Math.max(...mbs) };
}

/** The download table (MB/s, × host, × pasta), as Markdown. */
export function downloadTable(d: DownloadResult): string {
  if (d.skipped) return `HTTP download skipped: ${d.skipped}`;
  const stats = (id: DownloadPath) => downloadStats(d.cases.find((c) => c.id === id));
  const host = stats("host"), pasta = stats("pasta");
  const rows = [
    `HTTP download of ${d.config.bytes / 1e6} MB of zeros from a server on the host's 127.0.0.1 with curl, ` +
    `${d.config.repeats} runs each; MB/s = 10^6 bytes per second of curl's transfer time (the sandbox's start ` +
    `is not in it).`,
    "",
    "| path | connection | median MB/s | min … max | × host | × pasta |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
  ];
  for (const c of d.cases) {
    const s = downloadStats(c);
    rows.push(
      s
        ? `| ${c.id} | ${DOWNLOAD_NAMES[c.id]} | ${g2(s.median)} | ${g2(s.min)} … ${g2(s.max)} | ` +
          `${host ? ratio(s.median, host.median) : "–"} | ${pasta ? ratio(s.median, pasta.median) : "–"} |`
        : `| ${c.id} | ${DOWNLOAD_NAMES[c.id]} | failed | – | – | – |`,
    );
  }
  for (const m of d.skippedPaths) rows.push(`| ${m.id} | ${DOWNLOAD_NAMES[m.id]} | skipped | – | – | – |`);
  return rows.join("\n");
}

/** One sentence: the egress proxy against pasta, or "" when either is missing. */
export function downloadVerdict(d: DownloadResult): string {
  if (d.skipped) return "";
  const stats = (id: DownloadPath) => downloadStats(d.cases.find((c) => c.id === id));
  const pasta = stats("pasta"), proxy = stats("proxy"), tunnel = stats("proxy-connect");
  if (!pasta || !proxy || !tunnel) return "No verdict on the egress proxy: it or pasta did not run.";
  return `Egress proxy / pasta on one download: ${ratio(proxy.median, pasta.median)} as an HTTP forward proxy, ` +
    `${ratio(tunnel.median, pasta.median)} through a \`CONNECT\` tunnel.`;
}

/** The per-test table and the pasta-vs-slirp4netns table, as Markdown. */
export function netTables(net: NetResult): string {
  const download = net.download ? `\n\n${downloadTable(net.download)}\n\n${downloadVerdict(net.download)}` : "";
  return iperfTables(net) + download;
}

function iperfTables(net: NetResult): string {
  if (net.skipped) return `Network throughput skipped: ${net.skipped}`;
  const iv = net.config.interval;
  const rows = [
    `| path | data flows | connection | median Gbit/s | min … max | × loopback | median interval | lowest interval | ` +
    `stalled intervals | < 10% of best interval | retransmits |`,
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const c of net.cases) {
    const s = caseStats(c, iv);
    const ceiling = ceilingOf(net, c);
    const cs = ceiling && caseStats(ceiling, iv);
    if (!s) {
      rows.push(
        `| ${c.path} | ${c.direction} | ${
          connection(c, net.gateways[c.path as NetPath])
        } | failed | – | – | – | – | – | – | – |`,
      );
      continue;
    }
    rows.push(
      `| ${c.path} | ${c.direction} | ${connection(c, net.gateways[c.path])} | ${g2(s.median)} | ` +
        `${g2(s.min)} … ${g2(s.max)} | ${cs ? ratio(s.median, cs.median) : "–"} | ${g2(s.medianInterval)} | ` +
        `${g2(s.lowestInterval)} | ${stallCell(s)} | ${s.belowBest}/${s.intervals.length} | ` +
        `${s.retransmits ?? "–"} |`,
    );
  }
  for (const m of net.skippedModes) rows.push(`| ${m.path} | – | skipped | – | – | – | – | – | – | – | – |`);
  const cmp = [
    "| data flows | connection | pasta Gbit/s | slirp4netns Gbit/s | pasta / slirp4netns | pasta stalls | " +
    "slirp4netns stalls | pasta ≥ slirp4netns, no stalls |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const row of comparisons(net)) {
    cmp.push(
      `| ${row.direction} | ${row.connection} | ${g2(row.pasta?.median ?? NaN)} | ${g2(row.slirp?.median ?? NaN)} | ` +
        `${row.pasta && row.slirp ? ratio(row.pasta.median, row.slirp.median) : "–"} | ${stallCell(row.pasta)} | ` +
        `${stallCell(row.slirp)} | ${row.met === null ? "–" : row.met ? "yes" : "**no**"} |`,
    );
  }
  return [
    `TCP, one stream, ${net.config.seconds} s per test, ${net.config.repeats} runs per test; Gbit/s at the ` +
    `receiver; "median interval" and "lowest interval" are over the ${iv} s intervals of all runs; a *stalled* ` +
    `interval carries less than 10% of the test's median interval throughput, or no data at all (the second ` +
    `count: less than 10% of its best interval, which also catches a test whose median interval has collapsed).`,
    "",
    ...rows,
    "",
    "pasta against slirp4netns (medians):",
    "",
    ...cmp,
  ].join("\n");
}

interface Comparison {
  direction: "sandbox→host" | "host→sandbox";
  connection: string;
  pasta: CaseStats | null;
  slirp: CaseStats | null;
  /** pasta ≥ slirp4netns and no stalled (nor below 10% of best) interval for pasta; null when either is missing. */
  met: boolean | null;
}

/** pasta vs slirp4netns for each direction and way of connecting. */
export function comparisons(net: NetResult): Comparison[] {
  const iv = net.config.interval;
  const rows: [Comparison["direction"], NetCase["setup"], boolean, string][] = [
    ["sandbox→host", "out", false, "sandbox connects out (client in the sandbox)"],
    ["sandbox→host", "in", true, "host connects in (`-p`, `-R`)"],
    ["host→sandbox", "out", true, "sandbox connects out (`-R`)"],
    ["host→sandbox", "in", false, "host connects in (`-p`)"],
  ];
  return rows.map(([direction, setup, reverse, conn]) => {
    const p = find(net, "pasta", setup, reverse);
    const s = find(net, "slirp4netns", setup, reverse);
    const pasta = p ? caseStats(p, iv) : null;
    const slirp = s ? caseStats(s, iv) : null;
    const met = pasta && slirp ? pasta.median >= slirp.median && pasta.stalls === 0 && pasta.belowBest === 0 : null;
    return { direction, connection: conn, pasta, slirp, met };
  });
}

/** One paragraph: pasta vs slirp4netns in each direction against the target. */
export function netVerdict(net: NetResult): string {
  if (net.skipped) return "";
  const rows = comparisons(net);
  if (rows.every((r) => r.met === null)) return "No verdict: pasta or slirp4netns did not run.";
  const parts = (["sandbox→host", "host→sandbox"] as const).map((dir) => {
    const rs = rows.filter((r) => r.direction === dir && r.met !== null);
    const each = rs.map((r) =>
      `${ratio(r.pasta!.median, r.slirp!.median)} when the ${
        r.connection.startsWith("sandbox") ? "sandbox" : "host"
      } ` +
      `connects${
        r.pasta!.stalls || r.pasta!.belowBest
          ? ` (pasta: ${r.pasta!.stalls} stalled intervals, ${r.pasta!.belowBest} below 10% of its best)`
          : ""
      }`
    );
    const met = rs.every((r) => r.met);
    return `${dir}: pasta / slirp4netns = ${each.join(", ")} — target ${met ? "**met**" : "**not met**"}`;
  });
  return `Target pasta ≥ slirp4netns with no stalls: ${parts.join("; ")}.`;
}

/** The largest (max − min) / median over the tests without a stalled interval, in percent. */
function spread(net: NetResult): number {
  const all = net.cases.map((c) => caseStats(c, net.config.interval))
    .filter((s): s is CaseStats => s !== null && s.stalls === 0 && s.belowBest === 0);
  return Math.max(0, ...all.map((s) => (s.max - s.min) / s.median * 100));
}

/** Which pasta tests stalled or collapsed, in words. */
function stalledNote(net: NetResult): string {
  const bad = net.cases.filter((c) => c.path === "pasta").flatMap((c) => {
    const s = caseStats(c, net.config.interval);
    return s && (s.stalls > 0 || s.belowBest > 0) ? [`${c.id} (${c.direction})`] : [];
  });
  return bad.length
    ? `Stalled or collapsed pasta tests: ${bad.join(", ")}; the others ran without a stalled interval.`
    : "No pasta test had a stalled interval.";
}

/** The interpretation bullets. `passt` is the installed passt version. */
function interpretation(net: NetResult, passt: string): string[] {
  const iv = net.config.interval;
  const out: string[] = [];
  const stats = (path: NetPath, setup: NetCase["setup"], reverse: boolean) => {
    const c = find(net, path, setup, reverse);
    return c ? caseStats(c, iv) : null;
  };
  const lo = stats("loopback", "loopback", false);
  const loR = stats("loopback", "loopback", true);
  if (lo && loR) {
    out.push(
      `- The ceiling, iperf3 over the host's own loopback, is ${g2(lo.median)} Gbit/s (${g2(loR.median)} with ` +
        `\`-R\`): one stream, bound by the CPU (client, server and kernel share the machine's cores; in the ` +
        `sandboxed tests the user-mode network helper competes for them too).`,
    );
  }
  const up = stats("pasta", "out", false);
  const upSlirp = stats("slirp4netns", "out", false);
  if (up) {
    const stalled = up.stalls > 0 || up.belowBest > 0;
    out.push(
      `- Uploads through pasta (${passt}), i.e. a client in the sandbox sending to the host through the gateway ` +
        `address: ${g2(up.median)} Gbit/s median (${g2(up.min)} … ${g2(up.max)}); its intervals have a median of ` +
        `${g2(up.medianInterval)} Gbit/s and a best of ${g2(up.bestInterval)}; ${up.stalls} of ` +
        `${up.intervals.length} intervals stalled (${up.empty} with no data at all) and ${up.belowBest} carried ` +
        `less than 10% of the best one, in ${up.runsWithStalls} of ${up.gbps.length} runs${
          up.retransmits !== null ? `; median ${up.retransmits} retransmits per run` : ""
        }. ${
          stalled
            ? `So the reported upload stall of Debian bookworm's pasta **is reproduced here**: the sender ` +
              `manages bursts of up to ${g2(up.bestInterval)} Gbit/s per interval and spends ` +
              `${up.belowBest} of ${up.intervals.length} intervals sending little or nothing.`
            : `So the reported upload stall of Debian bookworm's pasta is **not** reproduced on this machine.`
        }${
          upSlirp
            ? ` slirp4netns does the same upload at ${g2(upSlirp.median)} Gbit/s with ${upSlirp.stalls} stalled ` +
              `intervals.`
            : ""
        }`,
    );
  }
  const inUp = stats("pasta", "in", true);
  const down = stats("pasta", "out", true);
  const inDown = stats("pasta", "in", false);
  if (inUp && down && inDown) {
    out.push(
      `- The other pasta paths: host→sandbox on a connection the sandbox opened (\`-R\`) ${g2(down.median)} Gbit/s; ` +
        `through a published port, host→sandbox ${g2(inDown.median)} and sandbox→host ${g2(inUp.median)} Gbit/s. ` +
        `A connection from the host's loopback to a port published with \`-p\` is spliced by pasta between two ` +
        `sockets (the host's and one on the sandbox's loopback), while a connection the sandbox opens to the gateway ` +
        `goes through the sandbox's tap interface and pasta's own TCP translation. ${stalledNote(net)}`,
    );
  }
  const slirpAll = (["out", "in"] as const).flatMap((s) => [false, true].map((r) => stats("slirp4netns", s, r)));
  if (slirpAll.every((s) => s)) {
    const meds = slirpAll.map((s) => s!.median);
    out.push(
      `- slirp4netns moves every byte through libslirp's TCP/IP stack in user space in both directions: ` +
        `${g2(Math.min(...meds))} … ${g2(Math.max(...meds))} Gbit/s here, with ${
          slirpAll.reduce((a, s) => a + s!.stalls, 0)
        } stalled intervals over all its tests.`,
    );
  }
  out.push(`- ${netVerdict(net)}`);
  out.push(
    `- Noise: ${net.config.repeats} runs of ${net.config.seconds} s per test on a small VM; the runs of the ` +
      `tests are interleaved (every test once, then again) so that a slow drift of the machine spreads over all ` +
      `of them. Repeats of the same test without stalls differ by up to ${spread(net).toFixed(0)}% of its median ` +
      `here (min … max), so smaller differences between single-stream figures mean little.`,
  );
  return out;
}

/** The `## Network throughput` section of the page. */
export function netSection(net: NetResult, passt: string): string[] {
  const lines: string[] = ["## Network throughput (iperf3)", ""];
  if (net.skipped) {
    return [
      ...lines,
      `Skipped: ${net.skipped}`,
      "",
      ...(net.download ? [downloadTable(net.download), "", downloadVerdict(net.download), ""] : []),
      ...downloadSection(net.download),
    ];
  }
  lines.push(
    `TCP throughput between the host and a sandbox through nsbox's two user-mode network helpers, against the ` +
      `host's own loopback as the ceiling, in both directions and both ways of connecting: the sandbox connects ` +
      `out to an iperf3 server on the host's 127.0.0.1 through its gateway address (\`--allow-host-loopback\`, ` +
      `which maps the gateway to the host's loopback), or the host connects in to an iperf3 server in the sandbox ` +
      `through a port published on the host's 127.0.0.1 (\`-p 127.0.0.1:HOSTPORT:5201\`); \`-R\` makes the server ` +
      `send. Every server listens on a loopback address and no traffic leaves the machine.`,
    "",
    "### Results",
    "",
    netTables(net),
    "",
    netVerdict(net),
    "",
  );
  if (net.skippedModes.length) {
    lines.push("### Skipped", "", ...net.skippedModes.map((m) => `- **${m.path}**: ${m.reason}`), "");
  }
  const failures = net.cases.filter((c) => c.failures.length);
  if (failures.length || net.notes.length) {
    lines.push(
      "### Notes",
      "",
      ...failures.map((c) =>
        `- ${c.id}: ${c.failures.length} failed attempt(s) (retried; ${c.runs.length} runs succeeded): ` +
        c.failures.map((f) => f.replaceAll("|", "\\|")).join("; ")
      ),
      ...net.notes.map((n) => `- ${n}`),
      "",
    );
  }
  lines.push("### Interpretation", "", ...interpretation(net, passt), "");
  lines.push(
    "### Exact commands",
    "",
    "Per run, in this order: the server (until it prints `Server listening`), then the client; ports are picked " +
      "free on 127.0.0.1 per run (PORT, HOSTPORT); `-1` makes the server exit after one test, and the sandbox " +
      "with it. The gateway is the sandbox's IPv4 default route, read from its `/proc/net/route` with " +
      "`nsbox run --net=MODE -- cat /proc/net/route` before the tests" +
      (Object.keys(net.gateways).length
        ? ` (${Object.entries(net.gateways).map(([p, g]) => `${p}: ${g}`).join(", ")}).`
        : "."),
    "",
    "```sh",
    ...net.cases.flatMap((c) => [`# ${c.id}: ${c.direction}`, `${c.server} &`, c.client]),
    "```",
    "",
    "The throughput is the client's JSON `end.sum_received.bits_per_second` (the receiver's count); intervals are " +
      "its `intervals[].sum` (what the client sent, or with `-R` received, per interval). The server in the " +
      "sandbox binds 127.0.0.1 under pasta, which delivers published ports to the sandbox's loopback; under " +
      "slirp4netns it binds 10.0.2.100, the sandbox's own address in its private network namespace, because " +
      "slirp4netns forwards published ports to that address and a loopback-bound server would never see them.",
    "",
    ...downloadSection(net.download),
  );
  return lines;
}

/** How the HTTP download test ran: its commands and notes (its table is in the results). */
function downloadSection(d: DownloadResult | undefined): string[] {
  if (!d || d.skipped) return [];
  const failures = d.cases.filter((c) => c.failures.length);
  return [
    "### HTTP download: egress proxy against pasta",
    "",
    "iperf3 cannot use a proxy, so `--allow-host`'s egress proxy is measured with one HTTP download per run: " +
    "a server on the host's 127.0.0.1 (`" + d.server + "`, port PORT picked free) answers `GET /N` with N " +
    "zeros, and curl fetches them on the host, through pasta (the gateway" +
    (d.gateway ? ` ${d.gateway}` : "") + " is the host's loopback with `--allow-host-loopback`) and through the " +
    "proxy, which reaches the host's loopback only because the address pattern `127.0.0.1:PORT` names it. curl " +
    "gets `--noproxy ''` because nsbox's `NO_PROXY` keeps 127.0.0.1 direct (the sandbox's own loopback); a " +
    "proxied run counts only if nsbox's `--json` report shows the body's bytes through the proxy. The runs " +
    "are interleaved (every contender once, then again).",
    "",
    "```sh",
    ...d.cases.map((c) => `${c.command}   # ${c.id}`),
    "```",
    "",
    ...failures.map((c) =>
      `- ${c.id}: ${c.failures.length} failed attempt(s) (retried; ${c.runs.length} runs succeeded): ` +
      c.failures.map((f) => f.replaceAll("|", "\\|")).join("; ")
    ),
    ...d.skippedPaths.map((m) => `- ${m.id} skipped: ${m.reason}`),
    ...d.notes.map((n) => `- ${n}`),
    "",
  ];
}
