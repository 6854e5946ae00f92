/**
 * `--allow-host` patterns and the egress proxy's admission rules, pure (no
 * I/O): parsing, matching a requested destination, and the address ranges
 * the proxy refuses unless a pattern names them.
 *
 * A pattern is `*` (everything), a host name (`registry.npmjs.org`), a
 * suffix wildcard (`*.githubusercontent.com`: names below it, not the name
 * itself), an IPv4 or IPv6 address, or a CIDR range, each optionally with
 * `:PORT` (an IPv6 address or range then in brackets: `[2001:db8::1]:443`).
 * Names are matched as the client asked for them, case-insensitively,
 * before anything is resolved; address patterns only match addresses the
 * client asked for literally.
 *
 * @module
 */

/** The port inside the sandbox where the egress proxy listens (127.0.0.1 and ::1). */
export const EGRESS_PROXY_PORT = 3128;

/** A parsed `--allow-host` pattern. `port` null: any port. */
export type EgressPattern =
  | { readonly kind: "any"; readonly text: string; readonly port: number | null }
  | { readonly kind: "name"; readonly text: string; readonly name: string; readonly port: number | null }
  | { readonly kind: "suffix"; readonly text: string; readonly suffix: string; readonly port: number | null }
  | {
    readonly kind: "net";
    readonly text: string;
    /** The network's address, 4 or 16 bytes. */
    readonly address: readonly number[];
    /** Prefix length (32 or 128 for a single address). */
    readonly prefix: number;
    readonly port: number | null;
  };

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Whether `name` (lower case, no trailing dot) is a host name: dot-separated labels of letters, digits, `-`, `_`. */
function isHostName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split(".").every((l) => LABEL.test(l)) &&
    !/^[0-9.]+$/.test(name);
}

/**
 * The bytes of an IPv4 (dotted quad) or IPv6 literal (`::` shortening and an
 * IPv4 tail allowed, no zone), or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseIp("10.0.0.1"), [10, 0, 0, 1]);
 * assert.deepEqual(parseIp("::1"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
 * assert.equal(parseIp("example.com"), null);
 * ```
 */
export function parseIp(text: string): number[] | null {
  const v4 = (s: string) => {
    const parts = s.split(".");
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return null;
    return parts.map(Number);
  };
  if (!text.includes(":")) return v4(text);
  let s = text;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const t = v4(s.slice(lastColon + 1));
    if (!t) return null;
    s = s.slice(0, lastColon + 1) + `${((t[0]! << 8) | t[1]!).toString(16)}:${((t[2]! << 8) | t[3]!).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => h === "" ? [] : h.split(":");
  const head = groups(halves[0]!), rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (![...head, ...rest].every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill("0"), ...rest].map((g) => parseInt(g, 16));
  return all.flatMap((w) => [w >> 8, w & 0xff]);
}

/** An address in its usual text form (IPv6 shortened as inet_ntop does, without the IPv4 tail). */
export function formatIp(bytes: readonly number[]): string {
  if (bytes.length === 4) return bytes.join(".");
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) best = i, bestLen = j - i;
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/**
 * Parses one `--allow-host` value; a string is the problem, one line naming
 * the flag.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseAllowHost("*.Example.com:443"), {
 *   kind: "suffix", text: "*.Example.com:443", suffix: "example.com", port: 443,
 * });
 * assert.equal(typeof parseAllowHost("exa mple.com"), "string");
 * ```
 */
export function parseAllowHost(text: string): EgressPattern | string {
  const problem = `--allow-host: expected a host name, *.SUFFIX, an IP address or CIDR range, or *, ` +
    `each with an optional :PORT (IPv6 in brackets: [::1]:8080), got '${text}'.`;
  let host = text, port: number | null = null;
  const bracket = text.match(/^\[([^\]]*)\](?::(.*))?$/);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) {
      if (!/^\d{1,5}$/.test(bracket[2]) || Number(bracket[2]) < 1 || Number(bracket[2]) > 65535) return problem;
      port = Number(bracket[2]);
    }
    if (!host.includes(":")) return problem;
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const at = text.indexOf(":");
    const p = text.slice(at + 1);
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return problem;
    host = text.slice(0, at), port = Number(p);
  }
  if (host === "*") return { kind: "any", text, port };
  const slash = host.indexOf("/");
  if (slash >= 0 || parseIp(host)) {
    const address = parseIp(slash >= 0 ? host.slice(0, slash) : host);
    if (!address) return problem;
    const max = address.length * 8;
    const bits = slash >= 0 ? host.slice(slash + 1) : String(max);
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return problem;
    const prefix = Number(bits);
    if (!inPrefix(address, address, prefix) || masked(address, prefix).some((b, i) => b !== address[i])) {
      return `--allow-host: ${host} has bits set past its /${prefix} prefix: expected ${
        formatIp(masked(address, prefix))
      }/${prefix}, got '${text}'.`;
    }
    return { kind: "net", text, address, prefix, port };
  }
  const name = host.toLowerCase().replace(/\.$/, "");
  if (name.startsWith("*.")) {
    const suffix = name.slice(2);
    return isHostName(suffix) ? { kind: "suffix", text, suffix, port } : problem;
  }
  return isHostName(name) ? { kind: "name", text, name, port } : problem;
}

function masked(address: readonly number[], prefix: number): number[] {
  return address.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    return b & (0xff << (8 - keep)) & 0xff;
  });
}

/** Whether `address` lies in `net`/`prefix` (same family). */
export function inPrefix(address: readonly number[], net: readonly number[], prefix: number): boolean {
  if (address.length !== net.length) return false;
  const a = masked(address, prefix), n = masked(net, prefix);
  return a.every((b, i) => b === n[i]);
}

/** A requested destination: a name, or an address the client gave literally. */
export type Destination =
  | { readonly kind: "name"; readonly name: string; readonly port: number }
  | { readonly kind: "address"; readonly address: readonly number[]; readonly port: number };

/**
 * The destination a client asked for: `host` as it came (a name, an IPv4 or
 * IPv6 literal, brackets allowed), names lower-cased without a trailing dot;
 * null when it is neither.
 */
export function destination(host: string, port: number): Destination | null {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const address = parseIp(bare);
  if (address) return { kind: "address", address, port };
  const name = bare.toLowerCase().replace(/\.$/, "");
  return isHostName(name) ? { kind: "name", name, port } : null;
}

/** The destination as it is reported: `host:port`, an IPv6 address in brackets. */
export function formatDestination(d: Destination): string {
  if (d.kind === "name") return `${d.name}:${d.port}`;
  return d.address.length === 16 ? `[${formatIp(d.address)}]:${d.port}` : `${formatIp(d.address)}:${d.port}`;
}

/** The pattern that admits `d` (names against name patterns, addresses against address patterns; `*` both), or null. */
export function admit(patterns: readonly EgressPattern[], d: Destination): EgressPattern | null {
  for (const p of patterns) {
    if (p.port !== null && p.port !== d.port) continue;
    if (p.kind === "any") return p;
    if (d.kind === "name") {
      if (p.kind === "name" && p.name === d.name) return p;
      if (p.kind === "suffix" && d.name.endsWith("." + p.suffix)) return p;
    } else if (p.kind === "net" && inPrefix(d.address, p.address, p.prefix)) return p;
  }
  return null;
}

/** Whether an address pattern other than a whole address family (`0.0.0.0/0`, `::/0`) names `address`. */
export function namedLiterally(patterns: readonly EgressPattern[], address: readonly number[], port: number): boolean {
  return patterns.some((p) =>
    p.kind === "net" && p.prefix > 0 && (p.port === null || p.port === port) && inPrefix(address, p.address, p.prefix)
  );
}

const RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ["0.0.0.0", 8, "an unspecified address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["169.254.0.0", 16, "a link-local address"],
  ["10.0.0.0", 8, "a private address"],
  ["172.16.0.0", 12, "a private address"],
  ["192.168.0.0", 16, "a private address"],
  ["100.64.0.0", 10, "a shared (carrier-grade NAT) address"],
  ["224.0.0.0", 4, "a multicast address"],
  ["240.0.0.0", 4, "a reserved address"],
  ["::", 128, "an unspecified address"],
  ["::1", 128, "a loopback address"],
  ["fe80::", 10, "a link-local address"],
  ["fc00::", 7, "a unique local address"],
  ["ff00::", 8, "a multicast address"],
];
// Parsed on first use, not when the module loads: every `nsbox run` loads this module, few use --allow-host.
let parsedRanges: ReadonlyArray<readonly [number[], number, string]> | undefined;

/**
 * What makes `address` one the proxy refuses unless a pattern names it: a
 * loopback, link-local (cloud metadata 169.254.169.254, fd00:ec2::254 is
 * unique local), RFC 1918, unique local, shared, multicast or unspecified
 * address, or one of `own` (the host's own addresses). IPv4-mapped IPv6
 * addresses are judged as the IPv4 address. Null: an ordinary address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(specialAddress(parseIp("169.254.169.254")!, []), "a link-local address");
 * assert.equal(specialAddress(parseIp("::ffff:10.1.2.3")!, []), "a private address");
 * assert.equal(specialAddress(parseIp("198.51.100.2")!, []), null);
 * ```
 */
export function specialAddress(address: readonly number[], own: readonly (readonly number[])[]): string | null {
  let a = address;
  if (a.length === 16 && a.slice(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff) a = a.slice(12);
  parsedRanges ??= RANGES.map(([a, p, what]) => [parseIp(a)!, p, what] as const);
  for (const [net, prefix, what] of parsedRanges) if (inPrefix(a, net, prefix)) return what;
  if (own.some((o) => inPrefix(a, o, o.length * 8))) return "an address of this host";
  return null;
}

/** One destination in the report. */
export interface EgressEntry {
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  /** Allowed: bytes sent to it and received from it. */
  readonly bytes_out?: number;
  readonly bytes_in?: number;
  /** Refused: why. */
  readonly reason?: string;
}

/** The proxy's report: the `egress` field of `--json`, `RunResult.egress`. */
export interface EgressReport {
  readonly allowed: readonly EgressEntry[];
  readonly refused: readonly EgressEntry[];
}

/** The environment variables that point a sandbox's programs at the proxy. */
export function proxyEnv(port: number): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  const noProxy = "localhost,127.0.0.1,::1";
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    ALL_PROXY: url,
    NO_PROXY: noProxy,
    http_proxy: url,
    https_proxy: url,
    all_proxy: url,
    no_proxy: noProxy,
  };
}
