/**
 * Facts about the host that validation needs, behind an interface so that
 * validation stays a pure function in tests.
 *
 * @module
 */
import type { MimicEntry, SubIdRange, TerminalMode } from "./spec.ts";
import { terminalMode } from "../../ffi/terminal.ts";
import { cString, getLibc } from "../../ffi/libc.ts";
import { privateDirCandidates } from "../dirs.ts";

/** What a host path is, after following symlinks. */
export type PathInfo =
  | {
    readonly kind: "directory" | "file";
    readonly realPath: string;
    /** A character or block device node (kind "file"). */
    readonly device?: boolean;
  }
  | { readonly kind: "missing"; readonly reason: string };

/** What a host path is, not following a symlink at its end. */
export type HostNode =
  | { readonly type: "directory" | "file" | "other"; readonly mode: number }
  | { readonly type: "symlink"; readonly target: string }
  | { readonly type: "missing" }
  | { readonly type: "error"; readonly reason: string };

/** A host directory's entries (at most a limit of them, sorted by name) and their count, or why it cannot be read. */
export type HostDirListing =
  | { readonly entries: readonly MimicEntry[]; readonly count: number }
  | { readonly error: string };

/** The host as validation sees it. */
export interface HostFacts {
  readonly uid: number;
  readonly gid: number;
  /** The caller's login name, when the password database knows it. */
  readonly userName: string | null;
  /** The CPU architecture, as Deno names it ("x86_64", "aarch64"). */
  readonly arch: string;
  /** nsbox's terminal (see {@linkcode TerminalMode}): decides the command's session and process group. */
  readonly terminal: TerminalMode;
  /**
   * Which of descriptors 0, 1 and 2 the caller had closed (`>&-`): Deno's
   * runtime opens /dev/null read-write on a closed one at start-up, which is
   * what is seen here. The command gets them closed too.
   */
  readonly closedStdio: readonly number[];
  /** Current directory (absolute). */
  readonly cwd: string;
  /** The caller's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Resolves and classifies a host path. */
  inspect(path: string): PathInfo;
  /** What a host path is, not following a symlink at its end (mount points: src/spec/mount_points.ts). */
  lstat(path: string): HostNode;
  /** The entries of a host directory, at most `limit` of them, with their count. */
  readDir(path: string, limit: number): HostDirListing;
  /** The caller's first range in /etc/subuid or /etc/subgid, or null. */
  subIds(kind: "uid" | "gid"): SubIdRange | null;
  /** The text of a host file, or null when it cannot be read. */
  readText(path: string): string | null;
  /** The running kernel's release (uname -r). */
  readonly kernelRelease: string;
  /** Whether an executable is on the host's PATH (for newuidmap, newgidmap). */
  hasProgram(name: string): boolean;
  /** nsbox's own directories that exist (canonical paths): no sandbox may see them (src/dirs.ts). */
  readonly privateDirs: readonly string[];
}

/** Parses /etc/subuid-style text: the first range of `name` or `id`. */
export function parseSubIds(text: string, name: string | null, id: number): SubIdRange | null {
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if (owner === undefined || start === undefined || count === undefined) continue;
    if (owner !== name && owner !== String(id)) continue;
    const s = Number(start), c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s >= 0 && c > 0) return { start: s, count: c };
  }
  return null;
}

/** The text of a file, or null when it cannot be read. */
export function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

function lookupUserName(uid: number): string | null {
  for (const line of (readText("/etc/passwd") ?? "").split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && f[2] === String(uid)) return f[0] ?? null;
  }
  return null;
}

/** nsbox's terminal mode, from its controlling terminal on fd 0, 1 or 2. */
function hostTerminal(): TerminalMode {
  // Without any terminal there is nothing to ask (and no need to open libc).
  if (![Deno.stdin, Deno.stdout, Deno.stderr].some((f) => f.isTerminal())) return "none";
  return terminalMode();
}

const O_ACCMODE = 3, O_RDWR = 2;

/** Descriptors among 0-2 that Deno's runtime filled with /dev/null, read-write, because they were closed. */
function closedStdio(): number[] {
  const closed: number[] = [];
  for (const fd of [0, 1, 2]) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${fd}`) !== "/dev/null") continue;
      // A caller's `</dev/null` or `>/dev/null` is read-only or write-only; the runtime's filler is read-write.
      const flags = /^flags:\s+([0-7]+)$/m.exec(readText(`/proc/self/fdinfo/${fd}`) ?? "")?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & O_ACCMODE) === O_RDWR) closed.push(fd);
    } catch {
      // not there at all
    }
  }
  return closed;
}

const PATH_MAX = 4096;

/**
 * realpath(3) of `path`, or null when it cannot be resolved (missing, not
 * searchable): what Deno.realPathSync does, without the exception that most
 * of the paths asked about on every start (nsbox's own directories, which
 * rarely all exist) would cost.
 */
export function realPathOrNull(path: string): string | null {
  if (path.includes("\0")) return null;
  const out = new Uint8Array(PATH_MAX);
  if (getLibc().realpath(cString(path), out) === null) return null;
  return new TextDecoder().decode(out.subarray(0, out.indexOf(0)));
}

/** A host error's reason, as strerror says it. */
function reasonOf(e: unknown): string {
  return e instanceof Deno.errors.NotFound
    ? "No such file or directory"
    : e instanceof Deno.errors.PermissionDenied
    ? "Permission denied"
    : e instanceof Error
    ? e.message.replace(/ \(os error \d+\).*$/, "")
    : String(e);
}

function hostLstat(path: string): HostNode {
  try {
    const st = Deno.lstatSync(path);
    if (st.isSymlink) return { type: "symlink", target: Deno.readLinkSync(path) };
    return { type: st.isDirectory ? "directory" : st.isFile ? "file" : "other", mode: (st.mode ?? 0o755) & 0o7777 };
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? { type: "missing" } : { type: "error", reason: reasonOf(e) };
  }
}

function hostReadDir(path: string, limit: number): HostDirListing {
  try {
    const entries: MimicEntry[] = [];
    let count = 0;
    for (const e of Deno.readDirSync(path)) {
      if (++count > limit) continue;
      const child = `${path === "/" ? "" : path}/${e.name}`;
      if (e.isSymlink) entries.push({ name: e.name, type: "symlink", target: Deno.readLinkSync(child) });
      else entries.push({ name: e.name, type: e.isDirectory ? "directory" : e.isFile ? "file" : "other" });
    }
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return { entries, count };
  } catch (e) {
    return { error: reasonOf(e) };
  }
}

/** The real host. */
export function realHost(): HostFacts {
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  const env = Deno.env.toObject();
  let userName: string | null | undefined;
  const name = () => userName === undefined ? (userName = lookupUserName(uid)) : userName;
  return {
    uid,
    gid,
    get userName() {
      return name();
    },
    arch: Deno.build.arch,
    kernelRelease: Deno.osRelease(),
    readText,
    lstat: hostLstat,
    readDir: hostReadDir,
    get terminal() {
      return hostTerminal();
    },
    get closedStdio() {
      return closedStdio();
    },
    cwd: Deno.cwd(),
    env,
    get privateDirs() {
      const found = new Set<string>();
      for (const d of privateDirCandidates(env, uid)) {
        const real = realPathOrNull(d);
        if (real !== null) found.add(real); // else not there: nothing to hide
      }
      return [...found];
    },
    inspect(path: string): PathInfo {
      try {
        const realPath = Deno.realPathSync(path);
        const st = Deno.statSync(realPath);
        if (st.isCharDevice || st.isBlockDevice) return { kind: "file", realPath, device: true };
        return { kind: st.isDirectory ? "directory" : "file", realPath };
      } catch (e) {
        return { kind: "missing", reason: reasonOf(e) };
      }
    },
    subIds(kind) {
      const text = readText(kind === "uid" ? "/etc/subuid" : "/etc/subgid");
      return text === null ? null : parseSubIds(text, name(), kind === "uid" ? uid : gid);
    },
    hasProgram(program: string): boolean {
      const dirs = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").concat(["/usr/bin", "/usr/sbin"]);
      return dirs.some((d) => {
        try {
          return (Deno.statSync(`${d}/${program}`).mode ?? 0) & 0o111 ? true : false;
        } catch {
          return false;
        }
      });
    },
  };
}
