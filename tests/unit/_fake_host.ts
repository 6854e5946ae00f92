/**
 * A fake {@linkcode HostFacts} for unit tests: a small in-memory file system,
 * no access to the real host.
 *
 * @module
 */
import type { HostDirListing, HostFacts, HostNode, PathInfo } from "../../src/spec/host.ts";
import type { MimicEntry, SubIdRange, TerminalMode } from "../../src/spec/spec.ts";
import { parseArgs } from "../../src/cli/parse.ts";
import { RUN } from "../../src/cli/flags.ts";
import { runOptionsFromArgs } from "../../src/cli/run_command.ts";
import type { RunOptions } from "../../src/spec/options.ts";

/** What a fake host is made of; every field has a default. */
export interface FakeHostInit {
  uid?: number;
  gid?: number;
  /** The CPU architecture as Deno names it (default "x86_64"). */
  arch?: string;
  /** nsbox's terminal (default "none"). */
  terminal?: TerminalMode;
  userName?: string | null;
  cwd?: string;
  env?: Record<string, string>;
  /**
   * Absolute path → "directory" | "file" | "device" | "other" (a socket, fifo or other device), or a symlink written as
   * `{ link: "target" }` (absolute or relative to its directory). Directories have mode 0755 unless `modes` says.
   */
  paths?: Record<string, FakePath>;
  /** Permission bits of paths (default 0755 for directories, 0644 otherwise). */
  modes?: Record<string, number>;
  /** Directories readDir() refuses, with the reason. */
  unreadable?: Record<string, string>;
  subUids?: SubIdRange | null;
  subGids?: SubIdRange | null;
  programs?: readonly string[];
  /** Host files readText() returns (absolute path → text). */
  files?: Record<string, string>;
  kernelRelease?: string;
  /** nsbox's own directories that exist (default none). */
  privateDirs?: readonly string[];
}

/** What a fake path is. */
export type FakePath = "directory" | "file" | "device" | "other" | { link: string };

/** Lexically resolves `.` and `..` in an absolute path. */
function lexical(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return "/" + parts.join("/");
}

/** A fake host; `inspected` records every path validation asked about. */
export function fakeHost(init: FakeHostInit = {}): HostFacts & { inspected: string[] } {
  const paths: Record<string, FakePath> = {
    "/": "directory",
    // what every host has: the sandbox's own mounts go there
    "/proc": "directory",
    "/dev": "directory",
    "/tmp": "directory",
    "/run": "directory",
    "/sys": "directory",
    "/sys/fs": "directory",
    "/sys/fs/cgroup": "directory",
    "/var": "directory",
    "/var/tmp": "directory",
    "/home": "directory",
    "/home/user": "directory",
    "/home/user/src": "directory",
    "/home/user/notes.txt": "file",
    "/srv": "directory",
    "/srv/root": "directory",
    "/etc": "directory",
    "/etc/hosts": "file",
    ...init.paths,
  };
  const inspected: string[] = [];
  const host = {
    uid: init.uid ?? 1000,
    gid: init.gid ?? 1000,
    arch: init.arch ?? "x86_64",
    terminal: init.terminal ?? "none",
    closedStdio: [],
    privateDirs: init.privateDirs ?? [],
    userName: init.userName === undefined ? "user" : init.userName,
    cwd: init.cwd ?? "/home/user",
    env: init.env ?? { PATH: "/usr/bin:/bin", HOME: "/home/user", LANG: "C.UTF-8" },
    inspected,
    inspect(path: string): PathInfo {
      inspected.push(path);
      let p = lexical(path);
      for (let hops = 0; hops < 10; hops++) {
        const entry = paths[p];
        if (entry === undefined) return { kind: "missing", reason: "No such file or directory" };
        if (entry === "device") return { kind: "file", realPath: p, device: true };
        if (typeof entry === "string") return { kind: entry === "directory" ? entry : "file", realPath: p };
        p = lexical(entry.link.startsWith("/") ? entry.link : `${p}/../${entry.link}`);
      }
      return { kind: "missing", reason: "Too many levels of symbolic links" };
    },
    lstat(path: string): HostNode {
      const p = lexical(path);
      const entry = paths[p];
      if (entry === undefined) return { type: "missing" };
      if (typeof entry !== "string") return { type: "symlink", target: entry.link };
      const type = entry === "device" ? "other" : entry; // a device node is neither a file nor a directory
      return { type, mode: init.modes?.[p] ?? (entry === "directory" ? 0o755 : 0o644) };
    },
    readDir(path: string, limit: number): HostDirListing {
      const dir = lexical(path);
      if (paths[dir] !== "directory") return { error: "Not a directory" };
      if (init.unreadable?.[dir]) return { error: init.unreadable[dir] };
      const prefix = dir === "/" ? "/" : `${dir}/`;
      const names = Object.keys(paths).filter((p) =>
        p.startsWith(prefix) && p !== dir && !p.slice(prefix.length).includes("/")
      )
        .map((p) => p.slice(prefix.length)).sort();
      const entries: MimicEntry[] = names.slice(0, limit).map((name) => {
        const e = paths[prefix + name]!;
        if (typeof e !== "string") return { name, type: "symlink", target: e.link };
        return { name, type: e === "device" ? "other" : e };
      });
      return { entries, count: names.length };
    },
    subIds(kind: "uid" | "gid"): SubIdRange | null {
      return (kind === "uid" ? init.subUids : init.subGids) ?? null;
    },
    hasProgram(name: string): boolean {
      return (init.programs ?? []).includes(name);
    },
    readText(path: string): string | null {
      return init.files?.[lexical(path)] ?? null;
    },
    kernelRelease: init.kernelRelease ?? "6.1.0-test",
  };
  return host;
}

/** `nsbox run ARGS...` → run options, through the real parser. */
export function runOptions(args: readonly string[]): RunOptions {
  return runOptionsFromArgs(parseArgs(RUN, args));
}
