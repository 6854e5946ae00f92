/**
 * nsbox's egress proxy: the one way out of a sandbox started with
 * `--allow-host`. It runs as a helper process outside the sandbox (the
 * hidden command `nsbox __egress-proxy`, started by ./egress.ts) and serves
 * a listening socket that the sandbox's first process made inside its own
 * network namespace (127.0.0.1:3128 there) and passed out.
 *
 * It speaks, on the same port, HTTP forward proxying (absolute-URI
 * requests, forwarded with `Connection: close`), `CONNECT` (no TLS
 * interception) and SOCKS5 (no authentication; CONNECT with host names,
 * IPv4 and IPv6 addresses). A destination is admitted when a pattern
 * matches it as the client asked for it (src/spec/egress.ts admit()); a
 * name is then resolved with getaddrinfo (node:dns lookup: /etc/hosts, then
 * DNS) and connected to an address that is not loopback, link-local,
 * private, unique local or the host's own — unless an address pattern names
 * it. Refused: HTTP 403 or a SOCKS error to the client, and one line on
 * stderr (nsbox's) per destination. On SIGTERM it writes its report (every
 * destination, allowed or refused, with counts and bytes) as one JSON line
 * into the report descriptor, and exits.
 *
 * @module
 */
import type { Socket } from "node:net";

// node:net (./_tcp.ts), node:dns and node:os are loaded when the proxy starts, not when this module is: a bundle
// hoists static imports of built-in modules to its top, and loading them costs every nsbox start several
// milliseconds.
import { connectOnce, nodeNet } from "./_tcp.ts";
import {
  admit,
  type Destination,
  destination,
  type EgressPattern,
  type EgressReport,
  formatDestination,
  formatIp,
  namedLiterally,
  parseIp,
  specialAddress,
} from "../spec/egress.ts";

/** What the proxy is started with. */
export interface ProxyConfig {
  /** The patterns of `--allow-host`. */
  readonly allow: readonly EgressPattern[];
  /** The listening socket (made in the sandbox's network namespace). */
  readonly listenFd: number;
}

/** How names are resolved and what the host's own addresses are (seams for tests). */
export interface ProxyDeps {
  /** getaddrinfo: every address of `name`. */
  lookup(name: string): Promise<number[][]>;
  /** The host's own addresses. */
  readonly own: readonly (readonly number[])[];
  /** Where "nsbox: blocked ..." lines go. */
  warn(line: string): void;
}

/** The real resolver (getaddrinfo through node:dns) and the host's interface addresses. */
export async function realDeps(): Promise<ProxyDeps> {
  const os = await import("node:os"), dns = await import("node:dns");
  const own = Object.values(os.networkInterfaces()).flat().map((i) => i && parseIp(i.address.replace(/%.*/, "")))
    .filter((a): a is number[] => a !== null && a !== undefined);
  return {
    lookup: async (name) =>
      (await dns.promises.lookup(name, { all: true, verbatim: true })).map((a) => parseIp(a.address)).filter((
        a,
      ): a is number[] => a !== null),
    own,
    warn: (line) => console.error(line),
  };
}

/** Why a refused destination was refused, as the client and the stderr line say. */
type Verdict =
  | { readonly ok: true; readonly addresses: readonly (readonly number[])[] }
  | { readonly ok: false; readonly reason: string; readonly socks: number };

const SOCKS = { OK: 0, FAILURE: 1, NOT_ALLOWED: 2, HOST_UNREACHABLE: 4, REFUSED: 5, BAD_COMMAND: 7, BAD_ADDRESS: 8 };
/** The most a request head (HTTP headers, SOCKS greeting) may take. */
const MAX_HEAD = 64 * 1024;
const HEAD_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 30_000;

interface Tally {
  host: string;
  port: number;
  connections: number;
  bytesOut: number;
  bytesIn: number;
  reason: string | null;
}

/** The admission rules and the tally of one proxy; no sockets (unit-tested). */
export class Egress {
  readonly #allow: readonly EgressPattern[];
  readonly #deps: ProxyDeps;
  readonly #allowed = new Map<string, Tally>();
  readonly #refused = new Map<string, Tally>();
  /** Live upstream connections, counted into the report as they are. */
  readonly live = new Set<{ key: string; socket: { bytesWritten: number; bytesRead: number } }>();

  constructor(allow: readonly EgressPattern[], deps: ProxyDeps) {
    this.#allow = allow;
    this.#deps = deps;
  }

  /** Decides on `d`: the addresses to connect to, or why not (recorded, and warned about once). */
  async decide(d: Destination): Promise<Verdict> {
    const verdict = await this.#judge(d);
    if (!verdict.ok) this.refuse(d, verdict.reason);
    return verdict;
  }

  async #judge(d: Destination): Promise<Verdict> {
    if (!admit(this.#allow, d)) return { ok: false, reason: "not allowed by --allow-host", socks: SOCKS.NOT_ALLOWED };
    const special = (a: readonly number[]) =>
      namedLiterally(this.#allow, a, d.port) ? null : specialAddress(a, this.#deps.own);
    if (d.kind === "address") {
      const what = special(d.address);
      return what ? { ok: false, reason: `${what}`, socks: SOCKS.NOT_ALLOWED } : { ok: true, addresses: [d.address] };
    }
    let addresses: number[][];
    try {
      addresses = await this.#deps.lookup(d.name);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) return { ok: false, reason: "no such host", socks: SOCKS.HOST_UNREACHABLE };
    const usable = addresses.filter((a) => special(a) === null);
    if (usable.length === 0) {
      const a = addresses[0]!;
      return {
        ok: false,
        reason: `resolves to ${special(a)} ${formatIp(a)}`,
        socks: SOCKS.NOT_ALLOWED,
      };
    }
    return { ok: true, addresses: usable };
  }

  /** Records a refusal of `d`; the first for a destination is one line on stderr. */
  refuse(d: Destination, reason: string) {
    const key = formatDestination(d);
    let t = this.#refused.get(key);
    if (!t) {
      t = { ...hostPort(d), connections: 0, bytesOut: 0, bytesIn: 0, reason };
      this.#refused.set(key, t);
      this.#deps.warn(`nsbox: blocked ${key} (${reason})`);
    }
    t.connections++;
  }

  /** Records an allowed connection to `d`; `bytes` once it ended. */
  allowed(d: Destination): { key: string; done(bytesOut: number, bytesIn: number): void } {
    const key = formatDestination(d);
    let t = this.#allowed.get(key);
    if (!t) this.#allowed.set(key, t = { ...hostPort(d), connections: 0, bytesOut: 0, bytesIn: 0, reason: null });
    t.connections++;
    const tally = t;
    return {
      key,
      done(bytesOut, bytesIn) {
        tally.bytesOut += bytesOut, tally.bytesIn += bytesIn;
      },
    };
  }

  /** The report: destinations in the order first seen, live connections' bytes so far included. */
  report(): EgressReport {
    const extra = new Map<string, [number, number]>();
    for (const l of this.live) {
      const [o, i] = extra.get(l.key) ?? [0, 0];
      extra.set(l.key, [o + l.socket.bytesWritten, i + l.socket.bytesRead]);
    }
    return {
      allowed: [...this.#allowed].map(([key, t]) => ({
        host: t.host,
        port: t.port,
        connections: t.connections,
        bytes_out: t.bytesOut + (extra.get(key)?.[0] ?? 0),
        bytes_in: t.bytesIn + (extra.get(key)?.[1] ?? 0),
      })),
      refused: [...this.#refused.values()].map((t) => ({
        host: t.host,
        port: t.port,
        connections: t.connections,
        reason: t.reason!,
      })),
    };
  }
}

function hostPort(d: Destination): { host: string; port: number } {
  return { host: d.kind === "name" ? d.name : formatIp(d.address), port: d.port };
}

/** Reads a client's first bytes until a decision can be made, then lets go of the socket. */
class Intake {
  #buf = Buffer.alloc(0);
  #closed = false;
  #wake: (() => void) | null = null;
  readonly #socket: Socket;
  readonly #onData = (d: Buffer) => {
    this.#buf = Buffer.concat([this.#buf, d]);
    if (this.#buf.length > MAX_HEAD) this.#socket.pause();
    this.#wake?.();
  };
  readonly #onEnd = () => {
    this.#closed = true;
    this.#wake?.();
  };

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onEnd);
    socket.resume();
  }

  /** The first byte, left in place, or null when the client closed first. */
  async peek(): Promise<number | null> {
    while (this.#buf.length < 1) if (!await this.#more()) return null;
    return this.#buf[0]!;
  }

  async #more(): Promise<boolean> {
    if (this.#closed || this.#buf.length > MAX_HEAD) return false;
    await new Promise<void>((r) => this.#wake = r);
    this.#wake = null;
    return true;
  }

  /** The next `n` bytes, or null when the client closed first. */
  async bytes(n: number): Promise<Buffer | null> {
    while (this.#buf.length < n) if (!await this.#more()) return null;
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** The HTTP head up to and with its blank line, or null. */
  async head(): Promise<string | null> {
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.#buf.subarray(0, end + 4).toString("latin1");
        this.#buf = this.#buf.subarray(end + 4);
        return head;
      }
      if (!await this.#more()) return null;
    }
  }

  /** Stops reading; returns what came after the head. */
  release(): Buffer {
    this.#socket.off("data", this.#onData);
    this.#socket.off("end", this.#onEnd);
    this.#socket.off("close", this.#onEnd);
    this.#socket.pause();
    return this.#buf;
  }
}

/** Connects to the first of `addresses` that answers. */
async function connectTo(addresses: readonly (readonly number[])[], port: number): Promise<Socket> {
  let last: unknown = null;
  for (const a of addresses) {
    try {
      return await connectOnce(formatIp(a), port, CONNECT_TIMEOUT_MS);
    } catch (e) {
      last = e;
    }
  }
  throw last ?? new Error("no address");
}

/** Relays between the client and the upstream until both sides are done; counts the bytes. */
function relay(egress: Egress, d: Destination, client: Socket, upstream: Socket, rest: Buffer) {
  const tally = egress.allowed(d);
  const live = { key: tally.key, socket: upstream };
  egress.live.add(live);
  let counted = false;
  const finish = () => {
    if (counted) return;
    counted = true;
    egress.live.delete(live);
    tally.done(upstream.bytesWritten, upstream.bytesRead);
    client.destroy();
    upstream.destroy();
  };
  client.on("error", finish).on("close", finish);
  upstream.on("error", finish).on("close", finish);
  if (rest.length) upstream.write(rest);
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}

const HOP_BY_HOP = /^(proxy-connection|proxy-authorization|connection|keep-alive|te|trailer|upgrade):/i;

function httpReply(client: Socket, status: string, body: string) {
  client.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

async function serveHttp(egress: Egress, client: Socket, intake: Intake) {
  const head = await intake.head();
  if (head === null) return void client.destroy();
  const [requestLine = "", ...headers] = head.slice(0, -4).split("\r\n");
  const m = requestLine.match(/^([A-Z]+) (\S+) (HTTP\/1\.[01])$/);
  if (!m) return httpReply(client, "400 Bad Request", "nsbox: not an HTTP proxy request\n");
  const [, method, target, version] = m as unknown as [string, string, string, string];
  let d: Destination | null;
  let forward: string | null = null;
  if (method === "CONNECT") {
    const a = target.match(/^(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})$/);
    const port = a ? Number(a[2]) : 0;
    d = a && port >= 1 && port <= 65535 ? destination(a[1]!, port) : null;
  } else {
    let url: URL | null = null;
    try {
      url = /^http:\/\//i.test(target) ? new URL(target) : null;
    } catch {
      url = null;
    }
    if (!url) {
      return httpReply(
        client,
        "400 Bad Request",
        "nsbox: this is nsbox's egress proxy: send absolute http:// URIs, CONNECT, or SOCKS5\n",
      );
    }
    d = destination(url.hostname, url.port ? Number(url.port) : 80);
    const kept = headers.filter((h) => !HOP_BY_HOP.test(h));
    forward = [`${method} ${url.pathname}${url.search} ${version}`, ...kept, "Connection: close", "", ""].join("\r\n");
  }
  if (!d) return httpReply(client, "400 Bad Request", `nsbox: bad destination '${target}'\n`);
  const verdict = await egress.decide(d);
  if (!verdict.ok) {
    return httpReply(client, "403 Forbidden", `nsbox: blocked ${formatDestination(d)} (${verdict.reason})\n`);
  }
  let upstream: Socket;
  try {
    upstream = await connectTo(verdict.addresses, d.port);
  } catch (e) {
    return httpReply(client, "502 Bad Gateway", `nsbox: cannot connect to ${formatDestination(d)}: ${message(e)}\n`);
  }
  const rest = intake.release();
  if (forward !== null) {
    upstream.write(Buffer.from(forward, "latin1"));
  } else client.write("HTTP/1.1 200 Connection established\r\n\r\n");
  relay(egress, d, client, upstream, rest);
}

function message(e: unknown): string {
  const code = (e as { code?: string })?.code;
  return code ?? (e instanceof Error ? e.message : String(e));
}

function socksReply(client: Socket, code: number, end: boolean) {
  const reply = Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
  if (end) client.end(reply);
  else client.write(reply);
}

async function serveSocks(egress: Egress, client: Socket, intake: Intake) {
  const greeting = await intake.bytes(2);
  const methods = greeting && await intake.bytes(greeting[1]!);
  if (!methods) return void client.destroy();
  if (!methods.includes(0)) return void client.end(Buffer.from([5, 0xff])); // no acceptable method
  client.write(Buffer.from([5, 0]));
  const req = await intake.bytes(4);
  if (!req || req[0] !== 5) return void client.destroy();
  let host: string | null = null;
  if (req[3] === 1) {
    const a = await intake.bytes(4);
    host = a && [...a].join(".");
  } else if (req[3] === 4) {
    const a = await intake.bytes(16);
    host = a && formatIp([...a]);
  } else if (req[3] === 3) {
    const n = await intake.bytes(1);
    const name = n && await intake.bytes(n[0]!);
    host = name && name.toString("latin1");
  } else return socksReply(client, SOCKS.BAD_ADDRESS, true);
  const p = host === null ? null : await intake.bytes(2);
  if (host === null || !p) return void client.destroy();
  if (req[1] !== 1) return socksReply(client, SOCKS.BAD_COMMAND, true); // CONNECT only
  const port = p.readUInt16BE(0);
  const d = destination(host, port);
  if (!d || port === 0) return socksReply(client, SOCKS.BAD_ADDRESS, true);
  const verdict = await egress.decide(d);
  if (!verdict.ok) return socksReply(client, verdict.socks, true);
  let upstream: Socket;
  try {
    upstream = await connectTo(verdict.addresses, d.port);
  } catch (e) {
    const code = (e as { code?: string })?.code;
    return socksReply(client, code === "ECONNREFUSED" ? SOCKS.REFUSED : SOCKS.HOST_UNREACHABLE, true);
  }
  socksReply(client, SOCKS.OK, false);
  relay(egress, d, client, upstream, intake.release());
}

/** Serves one client connection. */
export async function serveClient(egress: Egress, client: Socket): Promise<void> {
  client.on("error", () => client.destroy());
  const timer = setTimeout(() => client.destroy(), HEAD_TIMEOUT_MS);
  try {
    const intake = new Intake(client);
    const first = await intake.peek();
    if (first === null) return void client.destroy();
    if (first === 5) await serveSocks(egress, client, intake);
    else await serveHttp(egress, client, intake);
  } catch {
    client.destroy();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the proxy on `config.listenFd` until SIGTERM; then writes the report
 * (one JSON line) with `writeReport` and exits 0.
 */
export async function runProxy(
  config: ProxyConfig,
  writeReport: (text: string) => void,
  deps?: ProxyDeps,
): Promise<void> {
  const { createServer } = await nodeNet();
  deps ??= await realDeps();
  const egress = new Egress(config.allow, deps);
  // Out of the terminal's job control (it has a session of its own): Ctrl-C reaches the sandbox, not the proxy.
  for (const sig of ["SIGINT", "SIGQUIT", "SIGHUP"] as const) Deno.addSignalListener(sig, () => {});
  Deno.addSignalListener("SIGTERM", () => {
    try {
      writeReport(JSON.stringify(egress.report()) + "\n");
    } finally {
      Deno.exit(0);
    }
  });
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    void serveClient(egress, client);
  });
  server.on("error", (e) => deps!.warn(`nsbox: egress proxy: ${message(e)}`));
  server.listen({ fd: config.listenFd });
}
