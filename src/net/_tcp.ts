/**
 * TCP pieces the egress proxy and the publish relay share. node:net loads
 * on first use, not with this module: a bundle hoists static imports of
 * built-in modules to its top, and loading them costs every nsbox start
 * several milliseconds.
 *
 * @module
 */
import type { Socket } from "node:net";

let net: typeof import("node:net") | undefined;

/** node:net, imported on first use. */
export async function nodeNet(): Promise<typeof import("node:net")> {
  return net ??= await import("node:net");
}

/** One connection to `host`:`port` (half-open allowed); rejects with its error, or after `timeoutMs`. */
export async function connectOnce(host: string, port: number, timeoutMs: number): Promise<Socket> {
  const { connect } = await nodeNet();
  return await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(() => s.destroy(new Error("connection timed out")), timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
