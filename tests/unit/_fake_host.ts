/**
 * A fake {@linkcode HostFacts} for unit tests: a small in-memory file system,
 * no access to the real host.
 *
 * @module
 */
import type { HostFacts, PathInfo } from "../../src/spec/host.ts";
import type { SubIdRange, TerminalMode } from "../../src/spec/spec.ts";
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
  /** Absolute path → "directory" | "file" | "device", or a symlink written as `{ link: "/target" }`. */
  paths?: Record<string, "directory" | "file" | "device" | { link: string }>;
  subUids?: SubIdRange | null;
  subGids?: SubIdRange | null;
  programs?: readonly string[];
  /** Host files readText() returns (absolute path → text). */
  files?: Record<string, string>;
  kernelRelease?: string;
  /** nsbox's own directories that exist (default none). */
  privateDirs?: readonly string[];
}

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
  const paths: Record<string, "directory" | "file" | "device" | { link: string }> = {
    "/": "directory",
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
        if (typeof entry === "string") return { kind: entry, realPath: p };
        p = lexical(entry.link);
      }
      return { kind: "missing", reason: "Too many levels of symbolic links" };
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
