/**
 * `--publish` for a filtered-egress sandbox (`--allow-host`): no pasta or
 * slirp4netns (their default route would bypass the egress proxy), but a
 * relay of nsbox's own.
 *
 * nsbox makes the host-side listening sockets itself, in the host's network
 * namespace, before anything is started ({@linkcode listenPublished}: a busy
 * port is an error before the sandbox exists). Once the sandbox's first
 * process exists, {@linkcode startRelay} starts the relay (`nsbox
 * __publish-relay`, a helper process in a session of its own that dies with
 * nsbox) through the one launch path: before its exec it joins the sandbox's
 * network namespace (and the user namespace that owns it: NS_GET_USERNS),
 * with the listening sockets passed on. A socket keeps the namespace it was
 * made in: the relay accepts on the host's ports and connects, inside the
 * sandbox's namespace, to the published port on its loopback
 * (./relay.ts). No route out of the sandbox is added.
 *
 * @module
 */
import { cString, errno, getLibc } from "../../ffi/libc.ts";
import { check, NsboxError } from "../errors.ts";
import { type Daemon, nsboxCommand, startDaemon } from "../spawn/daemon.ts";
import { sealedMemfd } from "../spawn/embedded.ts";
import type { SupervisorOp } from "../spawn/abi.ts";
import type { SetupOp } from "../plan/ops.ts";
import { formatPublish, type PublishSpec } from "../spec/publish.ts";
import { parseIp } from "../spec/egress.ts";
import { CLONE } from "../linux.ts";

/** The hidden command that runs the relay. */
export const RELAY_COMMAND = "__publish-relay";

/** What nsbox hands its relay, in a sealed memfd. */
export interface RelayHandoff {
  /** Each listening socket (a descriptor of the relay's) and the port inside it forwards to. */
  readonly ports: ReadonlyArray<{ readonly fd: number; readonly port: number }>;
}

const AF_INET = 2, AF_INET6 = 10, SOCK_STREAM = 1, SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1, SO_REUSEADDR = 2, IPPROTO_IPV6 = 41, IPV6_V6ONLY = 26;
const EACCES = 13, EADDRINUSE = 98, EADDRNOTAVAIL = 99;
const O_RDONLY = 0, O_CLOEXEC = 0o2000000, F_DUPFD_CLOEXEC = 1030;
/** ioctl on a namespace descriptor: the user namespace that owns it (_IO(0xb7, 0x1)). */
const NS_GET_USERNS = 0xb701;
const BACKLOG = 128;
/** How long the relay gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 1000;

/**
 * Why `p`'s host port cannot be listened on, as the error nsbox exits with (125) — the same words for every
 * network mode. `reason` is the errno of bind(2)/listen(2), or a message.
 */
export function cannotListen(p: PublishSpec, reason: number | string): NsboxError {
  let why: string, hint: string | undefined;
  if (reason === EADDRINUSE) why = "the port is already in use";
  else if (reason === EACCES) {
    let start = "1024";
    try {
      start = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start").trim();
    } catch {
      // the kernel's default
    }
    why = `ports below ${start} are privileged`;
    hint = `publish on a port from ${start} up (e.g. -p ${Math.max(8000, Number(start) || 0) + (p.hostPort % 1000)}` +
      `:${p.port}), or lower the sysctl net.ipv4.ip_unprivileged_port_start (needs root)`;
  } else if (reason === EADDRNOTAVAIL) why = `${p.hostIp} is not an address of this host`;
  else if (typeof reason === "number") why = `error ${reason}`;
  else why = reason;
  return new NsboxError(`--publish ${formatPublish(p)}: cannot listen on ${p.hostIp}:${p.hostPort}: ${why}`, { hint });
}

/** The `struct sockaddr_in` or `sockaddr_in6` of `ip`:`port`. Pure, for tests. */
export function sockaddr(ip: string, port: number): Uint8Array<ArrayBuffer> {
  const bytes = parseIp(ip);
  if (!bytes) throw new NsboxError(`internal error: not an address: ${ip}`);
  const v6 = bytes.length === 16;
  const sa = new Uint8Array(v6 ? 28 : 16);
  const v = new DataView(sa.buffer);
  v.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  v.setUint16(2, port, false); // network byte order
  sa.set(bytes, v6 ? 8 : 4); // sin6_flowinfo (4 bytes) before an IPv6 address; sin6_scope_id 0 after it
  return sa;
}

/**
 * Makes the listening socket of each published (TCP) port, in the host's network namespace, close-on-exec:
 * nsbox's until the relay gets them. Throws the error of the first that fails (closing the others).
 */
export function listenPublished(publish: readonly PublishSpec[]): number[] {
  const libc = getLibc();
  const fds: number[] = [];
  const one = new Int32Array([1]);
  try {
    for (const p of publish) {
      if (p.protocol !== "tcp") throw new NsboxError(`internal error: ${formatPublish(p)} cannot be relayed`);
      const sa = sockaddr(p.hostIp, p.hostPort);
      const v6 = sa.length === 28;
      const fd = libc.socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) throw cannotListen(p, errno());
      fds.push(fd);
      const optval = new Uint8Array(one.buffer);
      // as a server does (pasta too): a port just given up (TIME_WAIT) is free again
      if (libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, optval, 4) < 0) throw cannotListen(p, errno());
      // [::] is IPv6 only, as pasta and docker bind it next to 0.0.0.0
      if (v6 && libc.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, optval, 4) < 0) throw cannotListen(p, errno());
      if (libc.bind(fd, sa, sa.length) < 0 || libc.listen(fd, BACKLOG) < 0) throw cannotListen(p, errno());
    }
  } catch (e) {
    for (const fd of fds) libc.close(fd);
    throw e;
  }
  return fds;
}

/** A running relay. */
export interface RelayHandle {
  readonly pid: number;
  readonly pidfd: number;
  /** Stops the relay (before the native supervisor took over). */
  stop(): Promise<void>;
  /** How the native supervisor stops it. */
  teardown(): SupervisorOp[];
}

/**
 * The ops that join, before the exec, the network namespace held by `netFd` and the user namespace that owns
 * it (`userFd`): user first (only with capabilities there may its network namespace be joined). Pure, for tests.
 */
export function joinOps(userFd: number, netFd: number): SetupOp[] {
  return [
    { kind: "setns", fd: userFd, nstype: CLONE.NEWUSER, what: "cannot join the sandbox's user namespace" },
    { kind: "setns", fd: netFd, nstype: CLONE.NEWNET, what: "cannot join the sandbox's network namespace" },
  ];
}

/**
 * Starts the relay of `publish` (whose listening sockets are `listenFds`, in order; they are taken: closed
 * here) in the network namespace of the sandbox whose first process is `pid`.
 */
export async function startRelay(
  publish: readonly PublishSpec[],
  listenFds: readonly number[],
  pid: number,
): Promise<RelayHandle> {
  const libc = getLibc();
  const mine: number[] = [...listenFds];
  let daemon: Daemon;
  try {
    const netFd = check(
      libc.open(cString(`/proc/${pid}/ns/net`), O_RDONLY | O_CLOEXEC, 0),
      "cannot open the sandbox's network namespace",
    );
    mine.push(netFd);
    // the outer user namespace, whichever the first process is in by now
    const userFd = check(
      Number(libc.ioctl(netFd, BigInt(NS_GET_USERNS), 0n)),
      "cannot find the sandbox's user namespace",
    );
    mine.push(userFd);
    // fds 3.. in the relay: the configuration, then the sockets; the sources above them, so no dup2 clobbers one
    const cfg: RelayHandoff = { ports: publish.map((p, i) => ({ fd: 4 + i, port: p.port })) };
    const cfgFd = sealedMemfd("nsbox-relay", new TextEncoder().encode(JSON.stringify(cfg)));
    mine.push(cfgFd);
    const base = 4 + listenFds.length;
    const high = (fd: number) => {
      const h = check(libc.fcntl(fd, F_DUPFD_CLOEXEC, base), "cannot pass a published port's socket");
      mine.push(h);
      return h;
    };
    const passFds: Array<[number, number]> = [
      [high(cfgFd), 3],
      ...listenFds.map((fd, i) => [high(fd), 4 + i] as [number, number]),
    ];
    daemon = await startDaemon([...nsboxCommand(), RELAY_COMMAND, "3"], {
      stdio: "inherit",
      ownSession: true,
      join: joinOps(high(userFd), high(netFd)),
      passFds,
    });
  } finally {
    for (const fd of mine) libc.close(fd);
  }
  const d = daemon;
  return {
    pid: d.pid,
    pidfd: d.pidfd,
    stop: () => d.stop(STOP_GRACE_MS),
    teardown: () => [{
      kind: "stopHelper",
      pidfd: d.pidfd,
      graceMs: STOP_GRACE_MS,
      ended: "nsbox: the relay of --publish ended while the sandbox runs: the published ports are closed from now on\n",
    }],
  };
}
