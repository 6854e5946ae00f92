/**
 * `--publish [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]`: parsing and formatting.
 *
 * @module
 */

/** A host port forwarded into the sandbox. */
export interface PublishSpec {
  /** Host address to listen on (default 127.0.0.1). */
  readonly hostIp: string;
  readonly hostPort: number;
  /** Port inside the sandbox. */
  readonly port: number;
  readonly protocol: "tcp" | "udp";
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function validIpv6(ip: string): boolean {
  const halves = ip.split("::");
  if (halves.length > 2) return false;
  const groups = halves.map((h) => (h === "" ? [] : h.split(":")));
  if (!groups.every((g) => g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)))) return false;
  const n = groups.reduce((sum, g) => sum + g.length, 0);
  return halves.length === 2 ? n <= 7 : n === 8;
}

function validIp(ip: string): boolean {
  const m = IPV4.exec(ip);
  if (m) return m.slice(1).every((o) => Number(o) <= 255);
  return validIpv6(ip);
}

function port(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/**
 * Parses a publish spec, or returns null when it is malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parsePublish("8080:80"), { hostIp: "127.0.0.1", hostPort: 8080, port: 80, protocol: "tcp" });
 * assert.deepEqual(parsePublish("[::1]:53:53/udp")?.hostIp, "::1");
 * ```
 */
export function parsePublish(spec: string): PublishSpec | null {
  let rest = spec, protocol: "tcp" | "udp" = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== "tcp" && p !== "udp") return null;
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = "127.0.0.1";
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]:");
    if (close < 0) return null;
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
  } else {
    const parts = rest.split(":");
    if (parts.length === 3) hostIp = parts.shift()!;
    else if (parts.length !== 2) return null;
    rest = parts.join(":");
  }
  const parts = rest.split(":");
  if (parts.length !== 2) return null;
  const [h, c] = parts;
  const hostPort = port(h ?? ""), inner = port(c ?? "");
  if (hostPort === null || inner === null || !validIp(hostIp)) return null;
  return { hostIp, hostPort, port: inner, protocol };
}

/** The spec as the user would write it. */
export function formatPublish(p: PublishSpec): string {
  const ip = p.hostIp.includes(":") ? `[${p.hostIp}]` : p.hostIp;
  return `${ip}:${p.hostPort}:${p.port}/${p.protocol}`;
}
