/**
 * `nsbox __egress-proxy FD`, hidden: the egress proxy of a sandbox started
 * with `--allow-host` (src/net/egress.ts starts it). FD is a sealed memfd
 * holding its configuration (ProxyHandoff, as JSON):
 * nothing comes through argv or the environment.
 *
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";
import { UsageError } from "../errors.ts";
import { runProxy } from "../net/egress_proxy.ts";
import type { EgressPattern } from "../spec/egress.ts";
import { EGRESS_PROXY_COMMAND, type ProxyHandoff } from "../net/egress.ts";
import { readHandoff } from "./detached_supervisor.ts";

const isFd = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 2;

function isPattern(p: unknown): p is EgressPattern {
  if (typeof p !== "object" || p === null) return false;
  const o = p as Record<string, unknown>;
  const port = o.port === null || (Number.isInteger(o.port) && (o.port as number) > 0 && (o.port as number) < 65536);
  if (!port || typeof o.text !== "string") return false;
  switch (o.kind) {
    case "any":
      return true;
    case "name":
      return typeof o.name === "string";
    case "suffix":
      return typeof o.suffix === "string";
    case "net":
      return Array.isArray(o.address) && (o.address.length === 4 || o.address.length === 16) &&
        o.address.every((b) => Number.isInteger(b) && b >= 0 && b < 256) && Number.isInteger(o.prefix) &&
        (o.prefix as number) >= 0 && (o.prefix as number) <= o.address.length * 8;
  }
  return false;
}

/** Whether `h` is a well-formed handoff (nsbox made it: this catches corruption and a hand-started proxy). */
export function isProxyHandoff(h: unknown): h is ProxyHandoff {
  if (typeof h !== "object" || h === null) return false;
  const o = h as Record<string, unknown>;
  return Array.isArray(o.allow) && o.allow.every(isPattern) && isFd(o.listenFd) && isFd(o.reportFd) &&
    o.listenFd !== o.reportFd;
}

/** Runs the proxy; returns only when the descriptor holds no handoff (125). */
export async function egressProxyCommand(args: readonly string[]): Promise<number> {
  const handoff = readHandoff(args);
  if (!isProxyHandoff(handoff)) {
    throw new UsageError([
      `${EGRESS_PROXY_COMMAND}: expected a descriptor holding an egress proxy's configuration (from nsbox run ` +
      `--allow-host), got '${args.join(" ")}'.`,
    ]);
  }
  const { reportFd } = handoff;
  const libc = getLibc();
  await runProxy(handoff, (report) => {
    const bytes = new TextEncoder().encode(report);
    for (let off = 0; off < bytes.length;) {
      const chunk = bytes.subarray(off);
      const n = Number(libc.write(reportFd, chunk, BigInt(chunk.length)));
      if (n <= 0) break;
      off += n;
    }
  });
  // Serves until SIGTERM (the listener keeps the process alive).
  return new Promise(() => {});
}
