/**
 * `nsbox __publish-relay FD`, hidden: the publish relay of a sandbox started
 * with `--allow-host` and `--publish` (src/net/publish.ts starts it, in the
 * sandbox's network namespace). FD is a sealed memfd holding its
 * configuration (RelayHandoff, as JSON): nothing comes through argv or the
 * environment.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { RELAY_COMMAND, type RelayHandoff } from "../net/publish.ts";
import { runRelay } from "../net/relay.ts";
import { readHandoff } from "./detached_supervisor.ts";

/** Whether `h` is a well-formed handoff (nsbox made it: this catches corruption and a hand-started relay). */
export function isRelayHandoff(h: unknown): h is RelayHandoff {
  if (typeof h !== "object" || h === null || !Array.isArray((h as RelayHandoff).ports)) return false;
  const ports = (h as RelayHandoff).ports as unknown[];
  const ok = ports.every((p) => {
    if (typeof p !== "object" || p === null) return false;
    const { fd, port } = p as Record<string, unknown>;
    return Number.isInteger(fd) && (fd as number) > 2 && Number.isInteger(port) && (port as number) >= 1 &&
      (port as number) <= 65535;
  });
  return ok && ports.length > 0 && new Set(ports.map((p) => (p as { fd: number }).fd)).size === ports.length;
}

/** Runs the relay; returns only when the descriptor holds no handoff (125). */
export async function publishRelayCommand(args: readonly string[]): Promise<number> {
  const handoff = readHandoff(args);
  if (!isRelayHandoff(handoff)) {
    throw new UsageError([
      `${RELAY_COMMAND}: expected a descriptor holding a publish relay's configuration (from nsbox run ` +
      `--allow-host --publish), got '${args.join(" ")}'.`,
    ]);
  }
  await runRelay(handoff.ports, (line) => console.error(line));
  // Serves until SIGTERM (the listeners keep the process alive).
  return new Promise(() => {});
}
