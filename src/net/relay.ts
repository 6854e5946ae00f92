/**
 * The publish relay of a filtered-egress sandbox (`--allow-host` with
 * `--publish`): the hidden command `nsbox __publish-relay`, started by
 * ./publish.ts in the sandbox's network namespace with listening sockets
 * nsbox made in the host's. It accepts on each, connects to the published
 * port on the sandbox's loopback (127.0.0.1, then ::1 when that refuses), and
 * copies both ways until both sides are done: an end of one direction is
 * passed on (half-close), an error or a refused connection closes the
 * client. It never makes a connection out of the sandbox's namespace.
 *
 * @module
 */
import type { Socket } from "node:net";

import { connectOnce, nodeNet } from "./_tcp.ts"; // node:net loads when the relay starts, not with this module

/** One published port: the listening socket and the port inside it goes to. */
export interface RelayPort {
  readonly fd: number;
  readonly port: number;
}

/** Where a published port is looked for inside, in order. */
export const INNER_HOSTS = ["127.0.0.1", "::1"] as const;
const CONNECT_TIMEOUT_MS = 10_000;

/** Connects to `port` on the first of `hosts` that accepts; rejects with the last error. */
async function connectInside(port: number, hosts: readonly string[]): Promise<Socket> {
  let last: unknown = null;
  for (const host of hosts) {
    try {
      return await connectOnce(host, port, CONNECT_TIMEOUT_MS);
    } catch (e) {
      last = e;
      if ((e as { code?: string })?.code !== "ECONNREFUSED") break; // only a refusal is worth the next address
    }
  }
  throw last ?? new Error("no address");
}

/** Relays one accepted client to `port` inside (paused until connected). */
export async function relayClient(client: Socket, port: number, hosts: readonly string[] = INNER_HOSTS) {
  client.on("error", () => client.destroy());
  let upstream: Socket;
  try {
    upstream = await connectInside(port, hosts);
  } catch {
    return void client.destroy(); // nothing listens inside (yet): the client sees the connection closed
  }
  const finish = () => {
    client.destroy();
    upstream.destroy();
  };
  // "close" comes once both directions are done (allowHalfOpen): an end of one is passed on by pipe()
  client.on("error", finish).on("close", finish);
  upstream.on("error", finish).on("close", finish);
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}

/** Serves `ports` until the process is ended (SIGTERM, or SIGKILL when nsbox dies). */
export async function runRelay(ports: readonly RelayPort[], warn: (line: string) => void): Promise<void> {
  const { createServer } = await nodeNet();
  // Out of the terminal's job control (a session of its own): Ctrl-C reaches the sandbox, not the relay.
  for (const sig of ["SIGINT", "SIGQUIT", "SIGHUP"] as const) Deno.addSignalListener(sig, () => {});
  for (const { fd, port } of ports) {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
      void relayClient(client, port);
    });
    server.on("error", (e) => warn(`nsbox: publish relay: ${e instanceof Error ? e.message : String(e)}`));
    server.listen({ fd });
  }
}
