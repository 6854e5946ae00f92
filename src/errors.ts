/**
 * nsbox's error types. Every error a user can cause or the host can impose is
 * an {@linkcode NsboxError}: it carries the exit status, a one-line message and
 * an optional hint, and is printed without a stack trace.
 *
 * @module
 */
import { errno } from "../ffi/libc.ts";

/** Linux errno values nsbox names, with the C library's messages. */
const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  3: ["ESRCH", "No such process"],
  4: ["EINTR", "Interrupted system call"],
  5: ["EIO", "Input/output error"],
  7: ["E2BIG", "Argument list too long"],
  8: ["ENOEXEC", "Exec format error"],
  9: ["EBADF", "Bad file descriptor"],
  10: ["ECHILD", "No child processes"],
  11: ["EAGAIN", "Resource temporarily unavailable"],
  12: ["ENOMEM", "Cannot allocate memory"],
  13: ["EACCES", "Permission denied"],
  14: ["EFAULT", "Bad address"],
  15: ["ENOTBLK", "Block device required"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  18: ["EXDEV", "Invalid cross-device link"],
  19: ["ENODEV", "No such device"],
  20: ["ENOTDIR", "Not a directory"],
  21: ["EISDIR", "Is a directory"],
  22: ["EINVAL", "Invalid argument"],
  23: ["ENFILE", "Too many open files in system"],
  24: ["EMFILE", "Too many open files"],
  26: ["ETXTBSY", "Text file busy"],
  27: ["EFBIG", "File too large"],
  28: ["ENOSPC", "No space left on device"],
  30: ["EROFS", "Read-only file system"],
  31: ["EMLINK", "Too many links"],
  32: ["EPIPE", "Broken pipe"],
  34: ["ERANGE", "Numerical result out of range"],
  36: ["ENAMETOOLONG", "File name too long"],
  38: ["ENOSYS", "Function not implemented"],
  39: ["ENOTEMPTY", "Directory not empty"],
  40: ["ELOOP", "Too many levels of symbolic links"],
  71: ["EPROTO", "Protocol error"],
  75: ["EOVERFLOW", "Value too large for defined data type"],
  95: ["EOPNOTSUPP", "Operation not supported"],
  98: ["EADDRINUSE", "Address already in use"],
  110: ["ETIMEDOUT", "Connection timed out"],
  111: ["ECONNREFUSED", "Connection refused"],
  122: ["EDQUOT", "Disk quota exceeded"],
};

let table: (readonly [name: string, message: string])[] | undefined;

/**
 * Every errno value nsbox names, by number from 0 (`["", ""]` where it names
 * none): what the native supervisor says an errno with.
 */
export function errnoTable(): readonly (readonly [name: string, message: string])[] {
  if (table) return table;
  const max = Math.max(...Object.keys(ERRNO).map(Number));
  return table = Array.from({ length: max + 1 }, (_, i) => ERRNO[i] ?? ["", ""] as const);
}

/** The symbolic name of an errno value, e.g. `errnoName(2)` is `"ENOENT"`. */
export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? `E${errno}`;
}

/** The C library's message for an errno value. */
export function errnoMessage(errno: number): string {
  return ERRNO[errno]?.[1] ?? `error ${errno}`;
}

/** Exit statuses nsbox itself uses (the command's own pass through). */
export const EXIT = {
  /** nsbox's own error: bad input, setup failure, host refusal. */
  NSBOX: 125,
  /** The command was found but could not be executed. */
  CANNOT_EXEC: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
} as const;

/** An error nsbox reports to its user as one line (plus an optional hint). */
export class NsboxError extends Error {
  /** The process exit status this error maps to. */
  readonly exitCode: number;
  /** What the user can do about it, if there is something. */
  readonly hint: string | undefined;

  constructor(message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "NsboxError";
    this.exitCode = options.exitCode ?? EXIT.NSBOX;
    this.hint = options.hint;
  }
}

/** Bad input: one message per problem, all reported at once. */
export class UsageError extends NsboxError {
  /** Every problem found, each a complete sentence naming the flag or field. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], hint?: string) {
    super(problems.join("\n"), { hint });
    this.name = "UsageError";
    this.problems = problems;
  }
}

/** A system call that failed: `what` says what nsbox was doing. */
export class OsError extends NsboxError {
  /** The errno value. */
  readonly errno: number;
  /** The errno's symbolic name, e.g. "EPERM". */
  readonly code: string;

  constructor(what: string, errno: number, options: { exitCode?: number; hint?: string } = {}) {
    super(`${what}: ${errnoMessage(errno)}`, options);
    this.name = "OsError";
    this.errno = errno;
    this.code = errnoName(errno);
  }
}

/**
 * Returns `result` when it is not negative; otherwise throws an
 * {@linkcode OsError} for `what` with the current errno.
 */
export function check<T extends number | bigint>(result: T, what: string): T {
  if (result < 0) throw new OsError(what, errno());
  return result;
}
