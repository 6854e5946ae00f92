/**
 * Connects a sandbox's network namespace to the outside through a user-mode
 * network stack: pasta (Debian package passt) or slirp4netns. Started after
 * the child exists and before it is released; stopped when it ends. Both run
 * as helper processes that die with nsbox (PR_SET_PDEATHSIG; slirp4netns also
 * exits when its exit pipe closes).
 *
 * @module
 */
import { getLibc } from "../../ffi/libc.ts";
import { NsboxError } from "../errors.ts";
import type { NetworkSpec } from "../spec/spec.ts";
import { type Daemon, startDaemon } from "../spawn/daemon.ts";
import { formatPublish, type PublishSpec } from "../spec/publish.ts";
import type { SupervisorOp } from "../spawn/abi.ts";
import { cannotListen } from "./publish.ts";

const EACCES = 13, EADDRINUSE = 98, EADDRNOTAVAIL = 99;

/** A running network helper. */
export interface NetworkHandle {
  readonly helper: "pasta" | "slirp4netns";
  readonly pid: number;
  /** Its pidfd (nsbox's child). */
  readonly pidfd: number;
  /** Descriptors whose closing stops it (slirp4netns's exit pipe): whoever supervises the sandbox holds them. */
  readonly holds: readonly number[];
  /** Stops the helper (before the native supervisor took over). */
  stop(): Promise<void>;
  /** How the native supervisor stops it. */
  teardown(): SupervisorOp[];
}

const READY_TIMEOUT_MS = 10_000;
/** How long a network helper gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 1000;

/** The pasta command line for the sandbox whose first process is `pid`. Pure, for tests. */
export function pastaArgs(net: NetworkSpec, pid: number, logFile: string): string[] {
  const args = ["pasta", "--config-net", "--quiet", "--foreground", "--mtu", "65520"];
  const tcp = net.publish.filter((p) => p.protocol === "tcp");
  const udp = net.publish.filter((p) => p.protocol === "udp");
  // One option per port: pasta reads an ADDR/ prefix once per option.
  const ports = (flag: string, ps: readonly PublishSpec[]) =>
    ps.length === 0 ? [flag, "none"] : ps.flatMap((p) => [flag, `${p.hostIp}/${p.hostPort}:${p.port}`]);
  args.push(...ports("--tcp-ports", tcp), ...ports("--udp-ports", udp));
  // Nothing from the sandbox's loopback to the host's; the gateway address
  // reaches the host's loopback only when asked for.
  args.push("--tcp-ns", "none", "--udp-ns", "none");
  if (!net.allowHostLoopback) args.push("--no-map-gw");
  if (net.dns) args.push("--dns-forward", net.dns.nameserver);
  args.push("--log-file", logFile, String(pid));
  return args;
}

/** The slirp4netns command line; fds 3 and 4 are its ready and exit pipes. Pure, for tests. */
export function slirpArgs(net: NetworkSpec, pid: number, apiSocket: string | null): string[] {
  const args = ["slirp4netns", "--configure", "--mtu=65520", "--ready-fd=3", "--exit-fd=4"];
  if (!net.allowHostLoopback) args.push("--disable-host-loopback");
  if (apiSocket) args.push(`--api-socket=${apiSocket}`);
  args.push(`--userns-path=/proc/${pid}/ns/user`, String(pid), "tap0");
  return args;
}

function readTail(path: string): string {
  try {
    const lines = Deno.readTextFileSync(path).split("\n").map((l) => l.trim()).filter(Boolean);
    return lines.slice(-3).join("; ");
  } catch {
    return "";
  }
}

function hasDefaultRoute(pid: number): boolean {
  try {
    const v4 = Deno.readTextFileSync(`/proc/${pid}/net/route`);
    if (/^\S+\t00000000\t/m.test(v4)) return true;
  } catch { /* not there yet */ }
  try {
    // ::/0 through a real interface (the kernel's own unreachable default sits on lo)
    const v6 = Deno.readTextFileSync(`/proc/${pid}/net/ipv6_route`);
    return /^0{32} 00 .* (?!lo$)\S+$/m.test(v6);
  } catch {
    return false;
  }
}

function checkPortsFree(publish: readonly PublishSpec[]) {
  for (const p of publish) {
    if (p.protocol !== "tcp") continue;
    try {
      Deno.listen({ hostname: p.hostIp, port: p.hostPort }).close();
    } catch (e) {
      // the same words as nsbox's own relay's (--allow-host)
      throw cannotListen(
        p,
        e instanceof Deno.errors.AddrInUse
          ? EADDRINUSE
          : e instanceof Deno.errors.PermissionDenied
          ? EACCES
          : e instanceof Deno.errors.AddrNotAvailable
          ? EADDRNOTAVAIL
          : e instanceof Error
          ? e.message.replace(/ \(os error \d+\)$/, "")
          : String(e),
      );
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A new file for a helper's use in `workDir` (the sandbox's record directory: removed with it, whenever nsbox
 * dies), or in /tmp without one.
 */
function helperFile(workDir: string | undefined, name: string, suffix: string): string {
  if (!workDir) return Deno.makeTempFileSync({ prefix: `nsbox-${name}-`, suffix });
  const path = `${workDir}/${name}${suffix}`;
  Deno.writeTextFileSync(path, "", { mode: 0o600, createNew: true });
  return path;
}

async function startPasta(net: NetworkSpec, pid: number, workDir?: string): Promise<NetworkHandle> {
  checkPortsFree(net.publish);
  const logFile = helperFile(workDir, "pasta", ".log");
  let daemon: Daemon | undefined;
  try {
    daemon = await startDaemon(pastaArgs(net, pid, logFile));
    const deadline = performance.now() + READY_TIMEOUT_MS;
    while (!hasDefaultRoute(pid)) {
      if (daemon.exited()) {
        throw new NsboxError(`pasta exited before the network was up${tailNote(logFile)}`);
      }
      if (performance.now() > deadline) {
        throw new NsboxError(
          `pasta did not bring the network up within ${READY_TIMEOUT_MS / 1000} s${tailNote(logFile)}`,
        );
      }
      await sleep(1);
    }
  } catch (e) {
    await daemon?.stop(0);
    Deno.removeSync(logFile);
    throw e;
  }
  // pasta keeps writing to the file it opened: the name can go now, so nothing is left in /tmp whatever happens.
  Deno.removeSync(logFile);
  const d = daemon;
  return {
    helper: "pasta",
    pid: d.pid,
    pidfd: d.pidfd,
    holds: [],
    stop: () => d.stop(),
    teardown: () => [{ kind: "stopHelper", pidfd: d.pidfd, graceMs: STOP_GRACE_MS, ended: helperEnded("pasta") }],
  };
}

function tailNote(logFile: string): string {
  const tail = readTail(logFile);
  return tail ? `: ${tail}` : "";
}

async function startSlirp(net: NetworkSpec, pid: number, workDir?: string): Promise<NetworkHandle> {
  checkPortsFree(net.publish);
  const libc = getLibc();
  const pipes = new Int32Array(4);
  const O_CLOEXEC = 0o2000000;
  if (
    libc.pipe2(new Uint8Array(pipes.buffer, 0, 8), O_CLOEXEC) < 0 ||
    libc.pipe2(new Uint8Array(pipes.buffer, 8, 8), O_CLOEXEC) < 0
  ) {
    throw new NsboxError("cannot create pipes for slirp4netns");
  }
  const [readyR, readyW, exitR, exitW] = pipes as unknown as [number, number, number, number];
  // The API socket's path must fit a sockaddr_un (108 bytes): in the record's directory when it does.
  const inWork = workDir !== undefined && `${workDir}/slirp/api.sock`.length < 100;
  const dir = net.publish.length === 0
    ? null
    : inWork
    ? (Deno.mkdirSync(`${workDir}/slirp`, { mode: 0o700 }), `${workDir}/slirp`)
    : Deno.makeTempDirSync({ prefix: "nsbox-slirp-" });
  const api = dir ? `${dir}/api.sock` : null;
  let daemon: Daemon | undefined;
  const cleanup = () => libc.close(exitW);
  try {
    daemon = await startDaemon(slirpArgs(net, pid, api), { passFds: [[readyW, 3], [exitR, 4]] });
    libc.close(readyW), libc.close(exitR);
    const buf = new Uint8Array(1);
    const ready = await Promise.race([
      libc.read(readyR, buf, 1n).then((n) => n === 1n),
      sleep(READY_TIMEOUT_MS).then(() => false),
    ]);
    if (!ready) throw new NsboxError("slirp4netns did not bring the network up");
    if (api) { for (const p of net.publish) await slirpForward(api, p); }
  } catch (e) {
    await daemon?.stop(0);
    cleanup();
    throw e;
  } finally {
    libc.close(readyR);
    // The API socket was only for the forwards, made above: nothing is left in /tmp whatever happens.
    if (dir) Deno.removeSync(dir, { recursive: true });
  }
  const d = daemon;
  return {
    helper: "slirp4netns",
    pid: d.pid,
    pidfd: d.pidfd,
    holds: [exitW],
    async stop() {
      await d.stop();
      libc.close(exitW);
    },
    teardown: () => [
      { kind: "stopHelper", pidfd: d.pidfd, graceMs: STOP_GRACE_MS, ended: helperEnded("slirp4netns") },
    ],
  };
}

/** Asks slirp4netns, over its API socket, to forward a host port. */
async function slirpForward(api: string, p: PublishSpec) {
  const conn = await Deno.connect({ transport: "unix", path: api });
  try {
    const req = {
      execute: "add_hostfwd",
      arguments: { proto: p.protocol, host_addr: p.hostIp, host_port: p.hostPort, guest_port: p.port },
    };
    await conn.write(new TextEncoder().encode(JSON.stringify(req)));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    const reply = JSON.parse(new TextDecoder().decode(buf.subarray(0, n ?? 0)) || "{}");
    if (reply.error) {
      throw new NsboxError(
        `--publish ${formatPublish(p)}: slirp4netns refused: ${reply.error.desc ?? "unknown error"}`,
      );
    }
  } finally {
    conn.close();
  }
}

/**
 * Connects the sandbox whose first process is `pid`, or returns null when its network needs no helper. The
 * helper's files (pasta's log, slirp4netns's API socket) are made in `workDir` (the sandbox's record
 * directory, so that a killed nsbox leaves none behind in /tmp), else in /tmp; either way they are removed as
 * soon as the helper is up.
 */
export function startNetwork(net: NetworkSpec, pid: number, workDir?: string): Promise<NetworkHandle | null> {
  if (net.mode === "pasta") return startPasta(net, pid, workDir);
  if (net.mode === "slirp4netns") return startSlirp(net, pid, workDir);
  return Promise.resolve(null);
}

/**
 * What the supervisor says when the network helper `name` ends while the command runs (a template: no braces): the
 * sandbox goes on, without a way out.
 */
export function helperEnded(name: string): string {
  return `nsbox: ${name} ended while the sandbox runs: the sandbox has no network from now on\n`;
}
