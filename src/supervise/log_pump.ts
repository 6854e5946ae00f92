/**
 * A detached sandbox's log, held to a size: the sandbox writes into a pipe,
 * and {@linkcode startLogPump} copies the pipe into the log file. When the
 * log would grow past its cap, the newest half is kept: rewritten into a new
 * file (from a line start when there is one) that replaces the log, then
 * appending goes on. The old file is never written again, so a reader still
 * holding it reads it to its end and finds where to go on in the new one
 * ({@linkcode resumeOffset}). nsbox's own stdout and stderr (the log, opened
 * by its parent) follow each new file.
 *
 * Self-contained on purpose: the logic moves to the native supervisor later.
 *
 * @module
 */
import { cString, getLibc } from "../../ffi/libc.ts";
import { check } from "../errors.ts";
import type { SetupOp } from "../plan/ops.ts";

const O_WRONLY = 1, O_CREAT = 0o100, O_APPEND = 0o2000, O_CLOEXEC = 0o2000000;
const POLLIN = 1, POLLHUP = 0x10, POLLERR = 8;
const NL = 10;

/** Where the kept part of a log of `size` bytes starts: the newest half, from the first line start in it. */
export function keptFrom(size: number, read: (offset: number, length: number) => Uint8Array): number {
  const half = size - Math.floor(size / 2);
  const tail = read(half, size - half);
  const nl = tail.indexOf(NL);
  return nl >= 0 && half + nl + 1 < size ? half + nl + 1 : half;
}

function readAt(file: Deno.FsFile, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = file.readSync(buf.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Where a reader that read an old, replaced log (`old`, `oldSize` bytes, all
 * of it read) goes on in the new one (`next`): after what the rotation kept,
 * when `next` starts with it; otherwise (replaced again meanwhile) at 0.
 */
export function resumeOffset(old: Deno.FsFile, oldSize: number, next: Deno.FsFile): number {
  if (oldSize === 0) return 0;
  const cut = keptFrom(oldSize, (o, l) => readAt(old, o, l));
  const kept = readAt(old, cut, oldSize - cut);
  const head = readAt(next, 0, kept.length);
  const match = head.length === kept.length && head.every((b, i) => b === kept[i]);
  return match ? kept.length : 0;
}

/** The pipe a sandbox writes its stdout and stderr into. */
export interface LogPipe {
  /** Ops that make the write end the child's stdout and stderr; put them first. */
  readonly ops: readonly SetupOp[];
  /** Starts copying into the log, once the child has been spawned (closes nsbox's write end). */
  start(): LogPump;
  /** Closes both ends (the child was never spawned). */
  close(): void;
}

/** A running copy of the pipe into the log. */
export interface LogPump {
  /** Copies what is left, until every writer has closed the pipe (or `graceMs` of silence passed). */
  finish(graceMs?: number): Promise<void>;
}

/**
 * Creates the pipe for a log at `path` held to `cap` bytes. nsbox's own fds
 * 1 and 2 are assumed to be the log (a detached sandbox's supervisor): they
 * follow each rotation.
 */
export function logPipe(path: string, cap: number): LogPipe {
  const libc = getLibc();
  const fds = new Int32Array(2);
  check(libc.pipe2(new Uint8Array(fds.buffer), O_CLOEXEC), "cannot create the log pipe");
  const [rd, wr] = [fds[0]!, fds[1]!];
  return {
    ops: [
      { kind: "dup2", from: wr, to: 1, what: "cannot redirect stdout to the log" },
      { kind: "dup2", from: wr, to: 2, what: "cannot redirect stderr to the log" },
      { kind: "close", fd: wr, what: "cannot close the log pipe" },
      { kind: "close", fd: rd, what: "cannot close the log pipe" },
    ],
    start() {
      libc.close(wr);
      return pump(rd, path, cap);
    },
    close() {
      libc.close(wr);
      libc.close(rd);
    },
  };
}

function openLog(path: string): number {
  return check(libc().open(cString(path), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600), `cannot open ${path}`);
}

const libc = getLibc;

function writeAll(fd: number, data: Uint8Array) {
  let off = 0;
  while (off < data.length) {
    const n = Number(libc().write(fd, data.subarray(off), BigInt(data.length - off)));
    if (n <= 0) return; // the log's disk is full or gone: drop it, never block the sandbox
    off += n;
  }
}

/**
 * Replaces the log at `path` (its current descriptor `fd`) by its newest
 * half; returns the new descriptor, also made nsbox's stdout and stderr
 * (unless `ownStdio` is false).
 */
export function rotate(path: string, fd: number, ownStdio = true): number {
  const old = Deno.openSync(`/proc/self/fd/${fd}`, { read: true });
  try {
    const size = old.statSync().size;
    const from = keptFrom(size, (o, l) => readAt(old, o, l));
    const tmp = `${path}.tmp`;
    Deno.writeFileSync(tmp, readAt(old, from, size - from), { mode: 0o600 });
    Deno.renameSync(tmp, path);
  } finally {
    old.close();
  }
  const next = openLog(path);
  if (ownStdio) libc().dup2(next, 1), libc().dup2(next, 2);
  libc().close(fd);
  return next;
}

/** Brings the log at `path` back under `cap` if it is over (after nsbox's last messages). */
export function trimLog(path: string, cap: number) {
  try {
    if (Deno.statSync(path).size <= cap) return;
    libc().close(rotate(path, openLog(path)));
  } catch {
    // the log is gone (removed): nothing to trim
  }
}

function pump(rd: number, path: string, cap: number): LogPump {
  let fd = openLog(path);
  const buf = new Uint8Array(Math.min(65536, Math.floor(cap / 2)));
  const pfd = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
  const view = new DataView(pfd.buffer);
  view.setInt32(0, rd, true);
  view.setInt16(4, POLLIN, true);
  let closing: number | null = null; // deadline once finish() was called
  let eof = false;

  const copy = (n: number) => {
    const size = () => Deno.statSync(`/proc/self/fd/${fd}`).size; // nsbox's own messages count too
    while (size() > 0 && size() + n > cap) fd = rotate(path, fd); // n <= cap / 2: once, unless nsbox wrote much
    writeAll(fd, buf.subarray(0, n));
  };

  const loop = (async () => {
    try {
      while (!eof) {
        if (closing !== null && performance.now() > closing) break;
        const r = await libc().poll(pfd, 1n, 100);
        if (r <= 0) continue; // timeout (or EINTR)
        const revents = view.getInt16(6, true);
        if (!(revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const n = Number(libc().read_now(rd, buf, BigInt(buf.length)));
        if (n <= 0) eof = true; // every writer has closed it
        else copy(n);
      }
    } finally {
      libc().close(rd);
      libc().close(fd);
    }
  })();

  return {
    async finish(graceMs = 2000) {
      closing = performance.now() + graceMs;
      await loop;
    },
  };
}
