/**
 * How `nsbox run --detach` hands its sandbox to the supervisor it starts:
 * the parent validates the options, claims the name and writes a small JSON
 * handoff (`{ spec, name, log }`) into a sealed memfd, passed to the
 * supervisor as a descriptor of the hidden command
 * `nsbox __detached-supervisor FD`. Nothing is parsed or validated twice,
 * and nothing goes through the environment.
 *
 * @module
 */
import { cString, getLibc } from "../../ffi/libc.ts";
import { check, EXIT, NsboxError, UsageError } from "../errors.ts";
import { errorLines, jsonReport, type RunResult } from "../report/report.ts";
import { MIN_LOG_SIZE, NAME_RE } from "../spec/options.ts";
import type { SandboxSpec } from "../spec/spec.ts";
import { Store } from "../state/store.ts";
import { trimLog } from "../supervise/log_pump.ts";

/** The hidden command (not in help or completions). */
export const SUPERVISOR_COMMAND = "__detached-supervisor";

/** What the parent hands the supervisor. */
export interface Handoff {
  /** Validated by the parent, for the supervisor's host (no terminal). */
  readonly spec: SandboxSpec;
  /** The name the parent claimed. */
  readonly name: string;
  /** The sandbox's log (the supervisor's stdout and stderr) and its cap (`--log-size`). */
  readonly log: { readonly path: string; readonly cap: number };
  /** `--json`: the report goes into the log as JSON. */
  readonly json?: boolean;
}

const MFD_CLOEXEC = 0x1, MFD_ALLOW_SEALING = 0x2;
const F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
const F_SEAL_SEAL = 0x1, F_SEAL_SHRINK = 0x2, F_SEAL_GROW = 0x4, F_SEAL_WRITE = 0x8;
const SEALED = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
/** More than any spec needs; a descriptor holding more is not a handoff. */
const MAX_HANDOFF = 64 << 20;

/** Writes `handoff` into a sealed, close-on-exec memfd; returns its descriptor (the caller closes it). */
export function writeHandoff(handoff: Handoff): number {
  const libc = getLibc();
  const fd = check(
    libc.memfd_create(cString("nsbox-handoff"), MFD_CLOEXEC | MFD_ALLOW_SEALING),
    "cannot create the detached sandbox's handoff",
  );
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(handoff));
    let off = 0;
    while (off < bytes.length) {
      const chunk = bytes.subarray(off);
      off += Number(check(libc.write(fd, chunk, BigInt(chunk.length)), "cannot write the detached sandbox's handoff"));
    }
    check(libc.fcntl(fd, F_ADD_SEALS, SEALED | F_SEAL_SEAL), "cannot seal the detached sandbox's handoff");
  } catch (e) {
    libc.close(fd);
    throw e;
  }
  return fd;
}

/**
 * The JSON value a hidden command's one argument hands over, a sealed memfd's descriptor number; null when the
 * argument names no such descriptor or its text is not JSON.
 */
export function readHandoff(args: readonly string[]): unknown {
  const arg = args.length === 1 ? args[0]! : "";
  const text = /^\d{1,9}$/.test(arg) ? readSealed(Number(arg)) : null;
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

/** The text of the sealed memfd `fd` (then closed), or null when `fd` is not one. */
export function readSealed(fd: number): string | null {
  const libc = getLibc();
  const seals = libc.fcntl(fd, F_GET_SEALS, 0); // fails on anything but a memfd (or a sealable shmem file)
  if (seals < 0 || (seals & SEALED) !== SEALED) return null;
  try {
    // A new open file description: the parent's offset is at the end.
    using file = Deno.openSync(`/proc/self/fd/${fd}`, { read: true });
    const size = file.statSync().size;
    if (size > MAX_HANDOFF) return null;
    const bytes = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = file.readSync(bytes.subarray(off));
      if (n === null) break;
      off += n;
    }
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, off));
  } catch {
    return null;
  } finally {
    libc.close(fd);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const strOrNull = (v: unknown) => v === null || isStr(v);
const isStrArray = (v: unknown) => Array.isArray(v) && v.every(isStr);

/** Whether `spec` has the shape of a {@linkcode SandboxSpec} (the parent made it: this catches corruption). */
function isSpec(spec: unknown): spec is SandboxSpec {
  if (!isObj(spec)) return false;
  const { command, env, cwd, share, identity, mounts, covered, network, seccomp, limits } = spec;
  return Array.isArray(command) && command.length > 0 && isStrArray(command) &&
    isObj(env) && Object.values(env).every(isStr) &&
    isObj(cwd) && isStr(cwd.path) && typeof cwd.required === "boolean" &&
    isStrArray(share) &&
    isObj(identity) && (identity.mode === "user" || identity.mode === "root") &&
    Number.isInteger(identity.hostUid) && Number.isInteger(identity.hostGid) && Array.isArray(identity.capabilities) &&
    strOrNull(spec.hostname) && strOrNull(spec.rootfs) &&
    Array.isArray(mounts) && mounts.every((m) => isObj(m) && isStr(m.kind) && isStr(m.destination)) &&
    isStrArray(covered) &&
    Array.isArray(spec.hidden) && spec.hidden.every((h) => isObj(h) && isStr(h.path)) &&
    (spec.init === "reaper" || spec.init === "none") &&
    ["foreground", "background", "none"].includes(spec.terminal as string) &&
    isObj(network) && isStr(network.mode) && Array.isArray(network.publish) &&
    isObj(seccomp) && isStr(seccomp.mode) &&
    (limits === null || isObj(limits));
}

/** Whether `h` is a well-formed handoff for a sandbox of `store`'s. */
export function isHandoff(h: unknown, store: Store): h is Handoff {
  if (!isObj(h) || !isStr(h.name) || !NAME_RE.test(h.name) || !isObj(h.log)) return false;
  const { path, cap } = h.log;
  return path === store.dir(h.name).logFile && Number.isSafeInteger(cap) && (cap as number) >= MIN_LOG_SIZE &&
    (h.json === undefined || typeof h.json === "boolean") && isSpec(h.spec);
}

/**
 * `nsbox __detached-supervisor FD`: runs the sandbox handed over in the
 * sealed memfd FD, its stdout and stderr being the sandbox's log (started so
 * by `nsbox run --detach`). A descriptor without a handoff is refused with
 * one line (125); a malformed handoff too, with an exit record when it
 * names a sandbox.
 */
export async function supervisorCommand(args: readonly string[]): Promise<number> {
  const handoff = readHandoff(args);
  const store = new Store();
  if (!isHandoff(handoff, store)) {
    const name = isObj(handoff) && isStr(handoff.name) && NAME_RE.test(handoff.name) ? handoff.name : null;
    // Its parent claimed the name (a directory, no state yet) and waits for it: it reads the exit record.
    const dir = name === null ? null : store.dir(name);
    if (dir && dir.readState().kind === "missing") await dir.writeExit(EXIT.NSBOX).catch(() => {});
    throw new UsageError([
      `${SUPERVISOR_COMMAND}: expected a descriptor holding a detached sandbox's handoff (from nsbox run --detach), got '${
        args.join(" ")
      }'.`,
    ]);
  }
  const { spec, name, log, json = false } = handoff;
  let result: RunResult | null = null;
  try {
    const { runSpec } = await import("../run.ts"); // not loaded by `nsbox ps` and the rest, which import this module
    // Once the command runs this process becomes the native supervisor: it pumps the log, writes the exit
    // record (and the --json report) and exits; runSpec returns only when the command never ran.
    result = await runSpec(spec, {
      store,
      claimed: store.dir(name),
      detached: true,
      log,
      supervisor: "exec",
      report: { json, stats: false },
    });
    return result.exitCode;
  } catch (e) {
    if (!(e instanceof NsboxError)) throw e;
    if (json) console.error(JSON.stringify(jsonReport(null, e)));
    else for (const line of errorLines(e)) console.error(`nsbox: ${line}`);
    return e.exitCode;
  } finally {
    if (json && result) console.error(JSON.stringify(jsonReport(result, null)));
    trimLog(log.path, log.cap); // nsbox's own last lines count too
  }
}
