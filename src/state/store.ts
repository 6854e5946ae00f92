/**
 * Where running sandboxes are recorded: one directory per sandbox under
 * `$XDG_RUNTIME_DIR/nsbox/` (or `/tmp/nsbox-UID/`), mode 0700, holding
 * `state.json` (written atomically) and, for a detached sandbox, its `log`
 * and, once it ended, `exit.json`. A record whose PID 1 is gone, or whose pid
 * now belongs to another process (start time differs), is stale and removed
 * by whoever reads it.
 *
 * @module
 */
import { NsboxError } from "../errors.ts";
import type { SandboxSpec } from "../spec/spec.ts";

/** What is recorded about a running sandbox. */
export interface SandboxState {
  readonly version: 1;
  readonly name: string;
  /** PID 1 of the sandbox, in nsbox's PID namespace. */
  readonly pid: number;
  /** PID 1's start time (clock ticks since boot), so a reused pid is never mistaken for it. */
  readonly pidStart: number;
  /** The pid of nsbox supervising it. */
  readonly supervisorPid: number;
  /** The command's pid inside the sandbox (null until it is forked, or with --as-pid-1: 1). */
  readonly commandNsPid: number | null;
  /** Namespace inodes of PID 1 at start (user, mnt, pid, net, ...): what `exec` joins. */
  readonly namespaces: Readonly<Record<string, number>>;
  /** The sandbox's cgroup (its leaf) and systemd unit, if it has one. */
  readonly cgroup: string | null;
  readonly unit: string | null;
  readonly detached: boolean;
  /** ISO 8601. */
  readonly started: string;
  readonly spec: SandboxSpec;
}

/** A name for a sandbox: what `--name` accepts. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The directory that holds the caller's sandboxes (created 0700 on first use). */
export function stateRoot(): string {
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  const uid = Deno.uid() ?? 0;
  let dir: string | null = null;
  if (runtime && runtime.startsWith("/")) {
    try {
      const st = Deno.statSync(runtime);
      if (st.isDirectory && st.uid === uid) dir = `${runtime}/nsbox`;
    } catch {
      // not there: fall back
    }
  }
  dir ??= `/tmp/nsbox-${uid}`;
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) {
      throw new NsboxError(`cannot create ${dir}: ${(e as Error).message}`);
    }
  }
  const st = Deno.lstatSync(dir);
  if (!st.isDirectory || st.uid !== uid || ((st.mode ?? 0) & 0o077) !== 0) {
    throw new NsboxError(`${dir} is not a private directory of this user: refusing to use it`, {
      hint: `remove it, or set XDG_RUNTIME_DIR to a directory of your own`,
    });
  }
  return dir;
}

/** The start time of process `pid` (field 22 of /proc/PID/stat), or null when it is gone. */
export function processStart(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]); // field 22 overall; fields[0] is field 3
  } catch {
    return null;
  }
}

/** Whether the recorded PID 1 is still that very process. */
export function isAlive(s: Pick<SandboxState, "pid" | "pidStart">): boolean {
  return processStart(s.pid) === s.pidStart;
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as T;
  } catch {
    return null;
  }
}

/** A sandbox's directory in the store. */
export class SandboxDir {
  readonly name: string;
  readonly path: string;

  constructor(root: string, name: string) {
    this.name = name;
    this.path = `${root}/${name}`;
  }

  get logFile(): string {
    return `${this.path}/log`;
  }

  /** The recorded state, or null (none yet, or unreadable). */
  state(): SandboxState | null {
    return readJson<SandboxState>(`${this.path}/state.json`);
  }

  /** How a detached sandbox ended, once it has. */
  exit(): { exitCode: number; ended: string } | null {
    return readJson(`${this.path}/exit.json`);
  }

  /** Writes `state.json` atomically. */
  write(state: SandboxState) {
    const tmp = `${this.path}/.state.json.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
    Deno.renameSync(tmp, `${this.path}/state.json`);
  }

  /** Records how a detached sandbox ended (its log stays for `nsbox logs`). */
  writeExit(exitCode: number) {
    Deno.writeTextFileSync(
      `${this.path}/exit.json`,
      JSON.stringify({ exitCode, ended: new Date().toISOString() }) + "\n",
    );
    try {
      Deno.removeSync(`${this.path}/state.json`);
    } catch {
      // already gone
    }
  }

  /** Removes the directory and everything in it. */
  remove() {
    try {
      Deno.removeSync(this.path, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/** The store of the calling user's sandboxes. */
export class Store {
  readonly root: string;

  constructor(root = stateRoot()) {
    this.root = root;
  }

  dir(name: string): SandboxDir {
    return new SandboxDir(this.root, name);
  }

  /**
   * Claims `name` for a new sandbox (mkdir is the lock). A name whose
   * sandbox is gone (stale, or a detached one that ended) is taken over.
   */
  reserve(name: string, flag = "--name"): SandboxDir {
    const dir = this.dir(name);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        Deno.mkdirSync(dir.path, { mode: 0o700 });
        return dir;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      const s = dir.state();
      const reserving = s === null && dir.exit() === null && ageMs(dir.path) < 30_000;
      if ((s && isAlive(s)) || reserving) {
        throw new NsboxError(`${flag}: a sandbox named '${name}' is running already (see nsbox ps)`);
      }
      dir.remove();
    }
    throw new NsboxError(`${flag}: cannot claim the name '${name}'`);
  }

  /** Every sandbox of the caller, stale records removed. */
  list(opts: { includeEnded?: boolean } = {}): Array<{ dir: SandboxDir; state: SandboxState | null }> {
    const out: Array<{ dir: SandboxDir; state: SandboxState | null }> = [];
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.root)];
    } catch {
      return out;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory || !NAME_RE.test(e.name)) continue;
      const dir = this.dir(e.name);
      const s = dir.state();
      if (s && isAlive(s)) out.push({ dir, state: s });
      else if (s) {
        // stale: its supervisor and PID 1 died without cleaning up
        dir.remove();
      } else if (dir.exit()) {
        if (opts.includeEnded) out.push({ dir, state: null });
      } else if (ageMs(dir.path) > 30_000) dir.remove(); // a reservation that never started
    }
    return out;
  }

  /** The running sandbox `name`, or an error naming it. */
  find(name: string): { dir: SandboxDir; state: SandboxState } {
    const found = this.list().find((x) => x.dir.name === name);
    if (!found?.state) throw new NsboxError(`no sandbox named '${name}' (see nsbox ps)`);
    return { dir: found.dir, state: found.state };
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0);
  } catch {
    return 0;
  }
}

/** A short random name (8 hex digits). */
export function generateName(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The namespace inodes of process `pid` (what /proc/PID/ns/* point at). */
export function namespaceIds(pid: number): Record<string, number> {
  const ids: Record<string, number> = {};
  for (const ns of ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"]) {
    try {
      const link = Deno.readLinkSync(`/proc/${pid}/ns/${ns}`);
      const m = /\[(\d+)\]/.exec(link);
      if (m) ids[ns] = Number(m[1]);
    } catch {
      // not ours to see
    }
  }
  return ids;
}
