/**
 * A detached sandbox's log, held to a size: the sandbox writes into a pipe,
 * and the native supervisor (ffi/nsbox_supervise.c) copies the pipe into the
 * log file. When the
 * log would grow past its cap, the newest half is kept: rewritten into a new
 * file (from a line start when there is one) that replaces the log, then
 * appending goes on. The old file is never written again, so a reader still
 * holding it reads it to its end and finds where to go on in the new one
 * ({@linkcode resumeOffset}). nsbox's own stdout and stderr (the log, opened
 * by its parent) follow each new file.
 *
 * This module makes the pipe, and keeps the rules a reader (`nsbox logs -f`)
 * and nsbox's own last words (before the supervisor took over) need.
 *
 * @module
 */
import { cString, getLibc } from "../../ffi/libc.ts";
import { check } from "../errors.ts";
import type { SetupOp } from "../plan/ops.ts";

const O_WRONLY = 1, O_CREAT = 0o100, O_APPEND = 0o2000, O_CLOEXEC = 0o2000000;
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
 * of it read) goes on in the new one (`next`): after the longest end of the
 * old log that the new one starts with. A rotation keeps the newest half, so
 * after one rotation that is what it kept; after several between two looks
 * (a fast writer), what is left of the old end, if anything: the reader then
 * loses what it never saw but prints nothing twice.
 */
export function resumeOffset(old: Deno.FsFile, oldSize: number, next: Deno.FsFile): number {
  if (oldSize === 0) return 0;
  // what a rotation keeps is at most the newest half
  const tail = readAt(old, Math.floor(oldSize / 2), oldSize - Math.floor(oldSize / 2));
  const head = readAt(next, 0, tail.length);
  return overlap(tail, head);
}

/**
 * The length of the longest suffix of `a` that is a prefix of `b`, in linear
 * time (the prefix function of `b`, run over `a`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const enc = (s: string) => new TextEncoder().encode(s);
 * assert.equal(overlap(enc("line 1\nline 2\nline 3\n"), enc("line 3\nline 4\n")), 7);
 * assert.equal(overlap(enc("abc"), enc("xyz")), 0);
 * ```
 */
export function overlap(a: Uint8Array, b: Uint8Array): number {
  if (b.length === 0) return 0;
  const fail = new Int32Array(b.length);
  for (let i = 1, k = 0; i < b.length; i++) {
    while (k > 0 && b[i] !== b[k]) k = fail[k - 1]!;
    if (b[i] === b[k]) k++;
    fail[i] = k;
  }
  let k = 0;
  for (let i = 0; i < a.length; i++) {
    while (k > 0 && (k === b.length || a[i] !== b[k])) k = fail[k - 1]!;
    if (a[i] === b[k]) k++;
  }
  return k;
}

/** The pipe a sandbox writes its stdout and stderr into. */
export interface LogPipe {
  /** Ops that make the write end the child's stdout and stderr; put them first. */
  readonly ops: readonly SetupOp[];
  /** The read end, for the supervisor. */
  readonly readEnd: number;
  /** Closes nsbox's write end, once the child has been spawned (it holds its own). */
  closeWriteEnd(): void;
  /** Closes both ends. */
  close(): void;
}

/** Creates the pipe for a detached sandbox's log. */
export function logPipe(): LogPipe {
  const libc = getLibc();
  const fds = new Int32Array(2);
  check(libc.pipe2(new Uint8Array(fds.buffer), O_CLOEXEC), "cannot create the log pipe");
  const [rd, wr] = [fds[0]!, fds[1]!];
  let wrOpen = true;
  return {
    ops: [
      { kind: "dup2", from: wr, to: 1, what: "cannot redirect stdout to the log" },
      { kind: "dup2", from: wr, to: 2, what: "cannot redirect stderr to the log" },
      { kind: "close", fd: wr, what: "cannot close the log pipe" },
      { kind: "close", fd: rd, what: "cannot close the log pipe" },
    ],
    readEnd: rd,
    closeWriteEnd() {
      if (wrOpen) libc.close(wr), wrOpen = false;
    },
    close() {
      this.closeWriteEnd();
      libc.close(rd);
    },
  };
}

function openLog(path: string): number {
  return check(libc().open(cString(path), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600), `cannot open ${path}`);
}

const libc = getLibc;

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
