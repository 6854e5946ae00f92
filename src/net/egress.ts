/**
 * Filtered egress (`--allow-host`): the sandbox's network namespace has only
 * loopback; its first process makes the proxy's listening socket there
 * (127.0.0.1:3128, the plan's listenSend op, after `lo` is up) and sends it
 * out over a unix socket pair made here. nsbox receives it once the child
 * is released and starts the proxy (`nsbox __egress-proxy`, a helper process
 * in a session of its own that dies with nsbox) with that socket and a
 * memfd for its report; the native supervisor stops it (SIGTERM: it writes
 * the report) and reads the report into the `--json` report.
 *
 * The host's loopback is never involved: the socket lives in the sandbox's
 * namespace, and connections queue on it until the proxy accepts them.
 *
 * @module
 */
import { cString, getLibc } from "../../ffi/libc.ts";
import { check, NsboxError } from "../errors.ts";
import type { ChildPlan } from "../plan/ops.ts";
import { type Daemon, nsboxCommand, startDaemon } from "../spawn/daemon.ts";
import { sealedMemfd } from "../spawn/embedded.ts";
import type { SupervisorOp } from "../spawn/abi.ts";
import type { NetworkSpec } from "../spec/spec.ts";
import type { EgressPattern, EgressReport } from "../spec/egress.ts";

/** The hidden command that runs the proxy. */
export const EGRESS_PROXY_COMMAND = "__egress-proxy";

/** What nsbox hands its egress proxy, in a sealed memfd. */
export interface ProxyHandoff {
  readonly allow: readonly EgressPattern[];
  /** The listening socket made in the sandbox's network namespace. */
  readonly listenFd: number;
  /** A memfd the report goes into (one JSON line), on SIGTERM. */
  readonly reportFd: number;
}

const AF_UNIX = 1, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0o2000000, MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1, SCM_RIGHTS = 1, MFD_CLOEXEC = 1, F_DUPFD_CLOEXEC = 1030;
/** How long the proxy gets to write its report after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 2000;
/** The most of a report the supervisor reads (more: `egress` is null). */
const REPORT_CAP = 1024 * 1024;

/** The unix socket pair the sandbox's first process sends the listening socket over. */
export interface EgressChannel {
  /** The plan with the child's end filled into its listenSend op. */
  readonly plan: ChildPlan;
  /** Receives the listening socket once the child is released; null when the child ended first. */
  receive(): Promise<number | null>;
  /** Closes what is left of the pair. */
  close(): void;
}

/** Makes the channel for `plan` (which has a listenSend op). */
export function egressChannel(plan: ChildPlan): EgressChannel {
  const libc = getLibc();
  const fds = new Int32Array(2);
  check(
    libc.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)),
    "cannot create the egress proxy's socket pair",
  );
  let [ours, theirs] = [fds[0]!, fds[1]!];
  const closeTheirs = () => {
    if (theirs >= 0) libc.close(theirs), theirs = -1;
  };
  return {
    plan: { ...plan, ops: plan.ops.map((op) => op.kind === "listenSend" ? { ...op, via: theirs } : op) },
    async receive() {
      closeTheirs(); // the child has its own copy: end of file when it ends without sending
      const data = new Uint8Array(1);
      const iov = new BigUint64Array([BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data))), 1n]);
      const control = new Uint8Array(64);
      const msg = new BigUint64Array(7); // struct msghdr: name, namelen, iov, iovlen, control, controllen, flags
      msg[2] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(iov)));
      msg[3] = 1n;
      msg[4] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(control)));
      msg[5] = BigInt(control.length);
      const n = Number(await libc.recvmsg(ours, new Uint8Array(msg.buffer), MSG_CMSG_CLOEXEC));
      libc.close(ours), ours = -1;
      if (n <= 0) return null;
      const v = new DataView(control.buffer);
      // struct cmsghdr: u64 len, i32 level, i32 type, then the descriptor
      const len = Number(v.getBigUint64(0, true));
      if (
        Number(msg[5]) < 20 || len < 20 || v.getInt32(8, true) !== SOL_SOCKET || v.getInt32(12, true) !== SCM_RIGHTS
      ) {
        return null;
      }
      return v.getInt32(16, true);
    },
    close() {
      closeTheirs();
      if (ours >= 0) libc.close(ours), ours = -1;
    },
  };
}

/** A running egress proxy. */
export interface EgressHandle {
  readonly pid: number;
  readonly pidfd: number;
  /** The memfd the proxy writes its report into: the supervisor's readEgress op reads it. */
  readonly reportFd: number;
  /** Stops the proxy (before the native supervisor took over) and closes the report. */
  stop(): Promise<void>;
  /** How the native supervisor stops it and reads its report (before the end report is rendered). */
  teardown(): SupervisorOp[];
  /** The report the proxy wrote (once it was stopped), or null; once (its descriptor is then closed). */
  readReport(): EgressReport | null;
}

/** Starts the proxy for `net` (mode "filtered") on `listenFd` (which it takes: closed here). */
export async function startEgress(net: NetworkSpec, listenFd: number): Promise<EgressHandle> {
  const libc = getLibc();
  if (!net.egress) throw new NsboxError("internal error: no egress to start");
  let reportFd = -1, cfgFd = -1;
  let daemon: Daemon;
  try {
    reportFd = check(libc.memfd_create(cString("nsbox-egress-report"), MFD_CLOEXEC), "cannot create a memfd");
    const handoff: ProxyHandoff = { allow: net.egress.allow, listenFd: 3, reportFd: 4 };
    cfgFd = sealedMemfd("nsbox-egress", new TextEncoder().encode(JSON.stringify(handoff)));
    daemon = await startDaemon([...nsboxCommand(), EGRESS_PROXY_COMMAND, "5"], {
      stdio: "inherit",
      ownSession: true,
      passFds: [[listenFd, 3], [reportFd, 4], [cfgFd, 5]],
    });
  } catch (e) {
    if (reportFd >= 0) libc.close(reportFd);
    throw e;
  } finally {
    libc.close(listenFd);
    if (cfgFd >= 0) libc.close(cfgFd);
  }
  const d = daemon;
  let open = true;
  // nsbox's own copy for readReport(): the one handed to the supervisor is closed once it has run
  let own = libc.fcntl(reportFd, F_DUPFD_CLOEXEC, 3);
  const closeOwn = () => {
    if (own >= 0) libc.close(own), own = -1;
  };
  return {
    pid: d.pid,
    pidfd: d.pidfd,
    reportFd,
    async stop() {
      await d.stop(STOP_GRACE_MS);
      if (open) libc.close(reportFd), open = false;
      closeOwn();
    },
    teardown: () => [
      {
        kind: "stopHelper",
        pidfd: d.pidfd,
        graceMs: STOP_GRACE_MS,
        ended: "nsbox: the egress proxy ended while the sandbox runs: connections out fail from now on\n",
      },
      { kind: "readEgress", fd: reportFd, cap: REPORT_CAP },
    ],
    readReport() {
      if (own < 0) return null;
      try {
        const text = Deno.readTextFileSync(`/proc/self/fd/${own}`);
        return text.length <= REPORT_CAP && text.endsWith("\n") ? JSON.parse(text) as EgressReport : null;
      } catch {
        return null;
      } finally {
        closeOwn();
      }
    },
  };
}
