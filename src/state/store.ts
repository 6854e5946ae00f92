/**
 * Where running sandboxes are recorded: one directory per sandbox under
 * `$XDG_RUNTIME_DIR/nsbox/` (or `/tmp/nsbox-UID/`), mode 0700, holding
 * `state.json` and, for a detached sandbox, its `log` and, once it ended,
 * `exit.json`. Records are written atomically (a new file, then rename) and
 * 0600.
 *
 * Records are not trusted by being there: each carries an HMAC-SHA256 (field
 * `mac`) keyed by 32 random bytes in `<root>/.key` (0600, made on first use).
 * A record whose MAC fails (written by something other than nsbox, or under
 * another key) is ignored and reported once on stderr: never followed, never
 * counted as running, never removed except by `nsbox rm NAME`. Those who act
 * on a record (`kill`, `exec`) also check the live process themselves
 * ({@linkcode verifyLive}).
 *
 * A record whose PID 1 is gone, or whose pid now belongs to another process
 * (start time differs), is stale and removed by whoever reads it.
 *
 * @module
 */
import { errnoMessage, NsboxError } from "../errors.ts";
import type { SandboxSpec } from "../spec/spec.ts";
import { NAME_RE } from "../spec/options.ts";
import { nsInode } from "../procfs.ts";
import { endLeftovers } from "./leftovers.ts";

export { NAME_RE };
import { constantTimeEqual, hmacSha256, toHex } from "./hmac.ts";

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
  /** Its start time (absent in records of older versions). */
  readonly supervisorStart?: number;
  /** The command's pid inside the sandbox (null until it is forked, or with --as-pid-1: 1). */
  readonly commandNsPid: number | null;
  /** Namespace inodes of PID 1 at start (user, mnt, pid, net, ...): what `exec` joins. */
  readonly namespaces: Readonly<Record<string, number>>;
  /** The sandbox's cgroup (its leaf) and systemd unit, if it has one. */
  readonly cgroup: string | null;
  readonly unit: string | null;
  /**
   * The inode number of the leaf cgroup's directory (its cgroup id, never reused while the system runs): what a
   * stale-record clean-up checks before it kills the cgroup. Absent in records of older versions.
   */
  readonly cgroupId?: number;
  readonly detached: boolean;
  /** ISO 8601. */
  readonly started: string;
  readonly spec: SandboxSpec;
  /**
   * The helper processes nsbox started for it (the network helper, the egress proxy): what a stale-record
   * clean-up ends if one outlived nsbox, once it has checked the process is that very one (start time, name).
   * Absent in records of older versions.
   */
  readonly helpers?: readonly RecordedHelper[];
}

/** A helper process of a sandbox, as recorded. */
export interface RecordedHelper {
  readonly pid: number;
  /** Its start time (clock ticks since boot, as {@linkcode processStart}). */
  readonly start: number;
  /** Its name (/proc/PID/comm), e.g. "pasta". */
  readonly comm: string;
}

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
  // Looked at before any mkdir: on every start but the first the directory is there, and an exception on the
  // normal path costs 0.5 ms (several ms in the bundled entry).
  let st = lstatOrNull(dir);
  if (st === null) {
    try {
      Deno.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw storeError(dir, e);
    }
    st = Deno.lstatSync(dir);
  }
  if (!st.isDirectory || st.uid !== uid || ((st.mode ?? 0) & 0o077) !== 0) {
    throw new NsboxError(`${dir} is not a private directory of this user: refusing to use it`, {
      hint: `remove it, or set XDG_RUNTIME_DIR to a directory of your own`,
    });
  }
  return dir;
}

/** lstat of `path`, or null when it cannot be had (missing; a mkdir then says why). */
function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch {
    return null;
  }
}

/** Why a file operation failed, in the system's words ("No space left on device"), without Deno's decoration. */
export function ioReason(e: unknown): string {
  const m = /^(.*?) \(os error \d+\)/.exec((e as Error)?.message ?? "");
  return m ? m[1]! : e instanceof Error ? e.message : String(e);
}

/**
 * The error for a store that cannot be written (a full disk, a read-only or foreign runtime directory): one line
 * naming the directory and the system's reason, with a hint. `nsbox run` meets it before it starts anything
 * ({@linkcode Store.reserve} writes first).
 */
export function storeError(dir: string, e: unknown): NsboxError {
  return new NsboxError(`cannot write nsbox's records in ${dir}: ${ioReason(e)}`, {
    hint: `free some space there or make it writable, or set XDG_RUNTIME_DIR to a writable directory of your own ` +
      `(nsbox records its sandboxes in $XDG_RUNTIME_DIR/nsbox)`,
    cause: e,
  });
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

/** Whether process `pid` has ended but was not reaped yet (a zombie); false when it is gone or running. */
export function isZombie(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}

/** Whether the recorded PID 1 is still that very process, and has not ended (a zombie not yet reaped has). */
export function isAlive(s: Pick<SandboxState, "pid" | "pidStart">): boolean {
  return processStart(s.pid) === s.pidStart && !isZombie(s.pid);
}

const OWNER_FILE = ".owner";

/**
 * A claimed directory's owner, `PID START` in `.owner`: the nsbox setting the sandbox up, until its record
 * is written. Whether it still runs is all that is read from it (it is never signalled): a reservation whose
 * owner is gone is removed at once, not after 30 s.
 */
function ownerGone(path: string): boolean | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${path}/${OWNER_FILE}`);
  } catch {
    return null; // none (an older nsbox's reservation, or not written yet)
  }
  const m = /^(\d+) (\d+)\n?$/.exec(text);
  if (!m) return null;
  return processStart(Number(m[1])) !== Number(m[2]) || isZombie(Number(m[1]));
}

/**
 * Whether the nsbox that supervises the sandbox still runs: then a record
 * whose PID 1 is gone is not stale but ending (its nsbox is about to record
 * how it ended, or to remove it).
 */
export function isSupervised(s: Pick<SandboxState, "supervisorPid" | "supervisorStart">): boolean {
  return s.supervisorStart !== undefined && processStart(s.supervisorPid) === s.supervisorStart;
}

/** How a detached sandbox ended. */
export interface SandboxExit {
  /** The status nsbox exits with: the command's code, 128+N for signal N, 125-127 for nsbox's errors. */
  readonly exitCode: number;
  /** ISO 8601. */
  readonly ended: string;
  /**
   * The signal that killed the command, e.g. "SIGTERM"; null when it exited or never ran. Given by the
   * writer ({@linkcode SandboxDir.writeExit}); absent in records of older versions.
   */
  readonly signal?: string | null;
  /** The command, copied from the state record (absent when there was none, and in older records). */
  readonly command?: readonly string[];
  /** The nsbox that supervised it, copied from the state record. */
  readonly supervisorPid?: number;
  /** When it started (ISO 8601), copied from the state record. */
  readonly started?: string;
  /** The ports it published, copied from the state record's spec. */
  readonly publish?: SandboxSpec["network"]["publish"];
}

/** What reading a record found: nothing, a record that fails authentication, or a verified one. */
export type RecordRead<T> = { readonly kind: "missing" } | { readonly kind: "bad" } | {
  readonly kind: "ok";
  readonly value: T;
};

const KEY_FILE = ".key";
/** WebCrypto's import of each record key this process used, by the key's hex (see RecordKey.macAsync). */
const importedKeys = new Map<string, Promise<CryptoKey>>();
const KEY_BYTES = 32;
const MAC_CONTEXT = "nsbox-record-v1";
const encoder = new TextEncoder();

/** Names already reported as failing authentication, so each is reported once per nsbox. */
const reported = new Set<string>();

/** Reports a record that fails authentication on stderr, once per process. */
export function reportBadRecord(path: string, name: string) {
  if (reported.has(path)) return;
  reported.add(path);
  console.error(
    `nsbox: ignoring the record of '${name}': it fails authentication (written by something other than nsbox?)`,
  );
}

/**
 * The key that authenticates a store's records: `<root>/.key`, 32 random
 * bytes, 0600, owned by the caller. Made with an exclusive link of a fully
 * written file, so that a reader never sees half a key; read only after
 * checking it is a regular file of the caller's, unreadable to others.
 */
export class RecordKey {
  readonly path: string;
  #key: Uint8Array<ArrayBuffer> | null = null;

  constructor(root: string) {
    this.path = `${root}/${KEY_FILE}`;
  }

  /** The key; `create`: make it when there is none (else null). A bad key file is an error. */
  get(create: boolean): Uint8Array<ArrayBuffer> | null {
    if (this.#key) return this.#key;
    let key = this.#load();
    if (key === null && create) {
      const tmp = `${this.path}.${Deno.pid}.${generateName()}.tmp`;
      try {
        Deno.writeFileSync(tmp, crypto.getRandomValues(new Uint8Array(KEY_BYTES)), { mode: 0o600, createNew: true });
      } catch (e) {
        try {
          Deno.removeSync(tmp); // a part written before the disk was full
        } catch {
          // never made
        }
        throw storeError(this.path.slice(0, -KEY_FILE.length - 1), e);
      }
      try {
        Deno.linkSync(tmp, this.path);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw storeError(this.path.slice(0, -KEY_FILE.length - 1), e);
        // another nsbox made it first: use theirs
      } finally {
        Deno.removeSync(tmp);
      }
      key = this.#load();
    }
    return this.#key = key;
  }

  #load(): Uint8Array<ArrayBuffer> | null {
    let st: Deno.FileInfo;
    try {
      st = Deno.lstatSync(this.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw this.#bad((e as Error).message);
    }
    if (!st.isFile) throw this.#bad("it is not a regular file");
    if (st.uid !== Deno.uid()) throw this.#bad("it is not owned by this user");
    if (((st.mode ?? 0) & 0o077) !== 0) throw this.#bad("others may read or write it (expected mode 0600)");
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.path, { read: true });
    } catch (e) {
      throw this.#bad((e as Error).message);
    }
    try {
      const fst = file.statSync();
      if (fst.ino !== st.ino || fst.dev !== st.dev) throw this.#bad("it was replaced while being read");
      const key = new Uint8Array(KEY_BYTES + 1);
      let n = 0;
      for (;;) {
        const m = file.readSync(key.subarray(n));
        if (m === null || m === 0) break;
        n += m;
        if (n === key.length) break;
      }
      if (n !== KEY_BYTES) throw this.#bad(`expected ${KEY_BYTES} bytes`);
      return key.slice(0, KEY_BYTES);
    } finally {
      file.close();
    }
  }

  #bad(why: string): NsboxError {
    return new NsboxError(`the key of nsbox's records, ${this.path}, is not usable: ${why}`, {
      hint: `remove it (nsbox makes a new one); the records of sandboxes running now are then ignored until they end`,
    });
  }

  /** The MAC of record `kind` of sandbox `name` with body `json` (synchronous: for readers). */
  mac(kind: string, name: string, json: string, create: boolean): string | null {
    const key = this.get(create);
    return key && toHex(hmacSha256(key, macInput(kind, name, json)));
  }

  /**
   * The same MAC through WebCrypto, for writers: on nsbox's start-up path,
   * where hashing a record in (not yet optimised) TypeScript costs 1-3 ms and
   * WebCrypto about 0.5.
   */
  async macAsync(kind: string, name: string, json: string): Promise<string> {
    const key = this.get(true)!;
    // One imported key per key for the life of the process: Deno keeps every imported CryptoKey, so importing it
    // for each store (the library makes one per run()) grew an embedding program by a few KiB every run.
    const id = toHex(key);
    let imported = importedKeys.get(id);
    if (imported === undefined) {
      imported = crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      importedKeys.set(id, imported);
      imported.catch(() => importedKeys.delete(id));
    }
    return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", await imported, macInput(kind, name, json))));
  }
}

function macInput(kind: string, name: string, json: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${MAC_CONTEXT}\0${kind}\0${name}\0${json}`);
}

/** A sandbox's directory in the store. */
export class SandboxDir {
  readonly name: string;
  readonly path: string;
  readonly #key: RecordKey;

  constructor(root: string, name: string, key = new RecordKey(root)) {
    this.name = name;
    this.path = `${root}/${name}`;
    this.#key = key;
  }

  get logFile(): string {
    return `${this.path}/log`;
  }

  /**
   * Where the native supervisor notes that output of a detached sandbox was dropped (ffi/nsbox_supervise.c):
   * `0` while none was, else the errno of the first write that failed (a full disk, an I/O error, a log that could
   * not be rotated). In the record directory, which no sandbox sees.
   */
  get logStatusFile(): string {
    return `${this.logFile}.status`;
  }

  /**
   * What `nsbox ps` says about the log: "log: output dropped (REASON)" once output could not be written, else
   * null. Shown, never acted on: only a number is read from the file, and its words are nsbox's.
   */
  logNote(): string | null {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.logStatusFile);
    } catch {
      return null; // not detached, or an older supervisor
    }
    const m = /^(\d{1,4})\n$/.exec(text);
    return m && Number(m[1]) > 0 ? `log: output dropped (${errnoMessage(Number(m[1]))})` : null;
  }

  /**
   * Marks this process as the one setting the sandbox up (see `ownerGone`): a reservation whose owner died
   * before the record was written is then removed by the next reader at once. `strict`: a failed write is an
   * error ({@linkcode storeError}; the reservation's first write, which tells that the store cannot be written
   * before anything is started); otherwise it is ignored (the reservation is then removed 30 s after it was made).
   */
  claimOwnership(strict = false) {
    const tmp = `${this.path}/.${OWNER_FILE}.${Deno.pid}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, `${Deno.pid} ${processStart(Deno.pid) ?? 0}\n`, { mode: 0o600 });
      Deno.renameSync(tmp, `${this.path}/${OWNER_FILE}`);
    } catch (e) {
      if (!strict) return;
      this.remove();
      throw storeError(this.path.slice(0, -this.name.length - 1), e);
    }
  }

  /** Reads and authenticates `file` (kind `kind`). */
  #read<T>(file: string, kind: string): RecordRead<T> {
    let text: string;
    try {
      text = Deno.readTextFileSync(`${this.path}/${file}`);
    } catch (e) {
      return e instanceof Deno.errors.NotFound ? { kind: "missing" } : { kind: "bad" };
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { kind: "bad" };
      const { mac, ...body } = parsed as Record<string, unknown>;
      if (typeof mac !== "string") return { kind: "bad" };
      // The MAC covers the body as parsed (re-serialised), so what is verified is exactly what is used.
      const expected = this.#key.mac(kind, this.name, JSON.stringify(body), false);
      if (expected === null || !constantTimeEqual(mac, expected)) return { kind: "bad" };
      return { kind: "ok", value: body as T };
    } catch (e) {
      if (e instanceof NsboxError) throw e; // a bad key file
      return { kind: "bad" };
    }
  }

  /** Writes in the order asked for (each waits for its MAC). */
  #queue: Promise<void> = Promise.resolve();

  /** Writes `file` atomically and 0600, with its MAC, after the writes asked for before it. */
  #write(file: string, kind: string, body: object): Promise<void> {
    const { mac: _, ...fields } = body as Record<string, unknown>; // a record read back carries its old one
    const json = JSON.stringify(fields);
    const mac = this.#key.macAsync(kind, this.name, json);
    const done = this.#queue.then(async () => {
      const text = JSON.stringify({ ...JSON.parse(json), mac: await mac }, null, 2) + "\n";
      const tmp = `${this.path}/.${file}.${Deno.pid}.tmp`;
      // createNew: never through a planted symlink; the mode is the new file's
      try {
        try {
          Deno.writeTextFileSync(tmp, text, { mode: 0o600, createNew: true });
        } catch (e) {
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
          Deno.removeSync(tmp); // a leftover of a killed nsbox of the same pid
          Deno.writeTextFileSync(tmp, text, { mode: 0o600, createNew: true });
        }
        Deno.renameSync(tmp, `${this.path}/${file}`);
      } catch (e) {
        try {
          Deno.removeSync(tmp); // what a full disk let be written: never renamed into place
        } catch {
          // not made
        }
        throw storeError(this.path.slice(0, -this.name.length - 1), e);
      }
    });
    this.#queue = done.catch(() => {});
    return done;
  }

  /** The recorded state, checked: missing, failing authentication, or verified. */
  readState(): RecordRead<SandboxState> {
    return this.#read<SandboxState>("state.json", "state");
  }

  /** How a detached sandbox ended, checked. */
  readExit(): RecordRead<SandboxExit> {
    return this.#read<SandboxExit>("exit.json", "exit");
  }

  /** The recorded state, or null (none yet, or failing authentication: then reported). */
  state(): SandboxState | null {
    return this.#verified(this.readState());
  }

  /** How a detached sandbox ended, once it has (null also when it fails authentication: then reported). */
  exit(): SandboxExit | null {
    return this.#verified(this.readExit());
  }

  #verified<T>(r: RecordRead<T>): T | null {
    if (r.kind === "bad") reportBadRecord(this.path, this.name);
    return r.kind === "ok" ? r.value : null;
  }

  /** Writes `state.json` atomically (after any earlier write of this directory). */
  write(state: SandboxState): Promise<void> {
    return this.#write("state.json", "state", state);
  }

  /**
   * Records how a detached sandbox ended (its log stays for `nsbox logs`):
   * `exitCode`, the `signal` that killed the command (when one did), and what
   * `nsbox ps --all` shows of it, copied from its state record (or `command`
   * when there is none).
   */
  async writeExit(
    exitCode: number,
    more: { readonly signal?: string | null; readonly command?: readonly string[] } = {},
  ): Promise<void> {
    await this.#queue; // a state record still being written
    const s = this.readState();
    const from = s.kind === "ok" ? s.value : null;
    const exit: SandboxExit = {
      exitCode,
      ended: new Date().toISOString(),
      signal: more.signal ?? null,
      ...(from
        ? {
          command: from.spec.command,
          supervisorPid: from.supervisorPid,
          started: from.started,
          publish: from.spec.network.publish,
        }
        : more.command
        ? { command: more.command }
        : {}),
    };
    await this.#write("exit.json", "exit", exit);
    try {
      Deno.removeSync(`${this.path}/state.json`);
    } catch {
      // already gone
    }
  }

  /**
   * How the native supervisor writes this sandbox's exit record: templates
   * (ffi/nsbox_helper.h) that render what {@linkcode writeExit} writes for
   * the running sandbox `state` (the exit code, time and signal filled in),
   * the key, and what precedes the body in the MAC's input.
   */
  exitRecordTemplate(
    state: SandboxState,
  ): { file: string; body: string; text: string; key: Uint8Array; prefix: Uint8Array } {
    // The keys in writeExit's order; what is known now is written here (as JSON: `{` escaped for the template).
    const known = (v: unknown) => JSON.stringify(v).replaceAll("{", "{{");
    const body = '{{"exitCode":{exit},"ended":"{ended}","signal":{signal:q},' +
      `"command":${known(state.spec.command)},"supervisorPid":${known(state.supervisorPid)},` +
      `"started":${known(state.started)},"publish":${known(state.spec.network.publish)}}`;
    return {
      file: "exit.json",
      body,
      // Any JSON of the same object verifies (the reader serialises what it parsed): the body with the MAC.
      text: `${body.slice(0, -1)},"mac":"{mac}"}\n`,
      key: this.#key.get(true)!,
      prefix: macInput("exit", this.name, ""),
    };
  }

  /** Removes the directory and everything in it (a symlink in it is removed, never followed). */
  remove() {
    try {
      Deno.removeSync(this.path, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/** One entry of {@linkcode Store.list}. */
export interface ListedSandbox {
  readonly dir: SandboxDir;
  /** The verified state of a running sandbox; null for an ended or unverified one. */
  readonly state: SandboxState | null;
  readonly status: "running" | "ended" | "unverified";
}

/** The store of the calling user's sandboxes. */
export class Store {
  readonly root: string;
  readonly key: RecordKey;

  constructor(root = stateRoot()) {
    this.root = root;
    this.key = new RecordKey(root);
  }

  dir(name: string): SandboxDir {
    return new SandboxDir(this.root, name, this.key);
  }

  /**
   * Claims `name` for a new sandbox (mkdir is the lock). A name whose
   * sandbox is gone (stale: killed without cleaning up) is taken over; one of
   * a detached sandbox that ended is refused until `nsbox rm NAME` (its log
   * and exit status stay), and so is one whose record fails authentication.
   */
  reserve(name: string, flag = "--name"): SandboxDir {
    const dir = this.dir(name);
    this.key.get(true); // made before anything is recorded under it
    for (let attempt = 0; attempt < 2; attempt++) {
      let made = false;
      try {
        Deno.mkdirSync(dir.path, { mode: 0o700 });
        made = true;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw storeError(this.root, e);
      }
      if (made) {
        // The first write into the store: a full disk or a read-only store is found here, before anything runs.
        dir.claimOwnership(true);
        return dir;
      }
      const s = dir.readState(), x = dir.readExit();
      if (s.kind === "bad" || x.kind === "bad") {
        reportBadRecord(dir.path, name);
        throw new NsboxError(`${flag}: the record of '${name}' fails authentication: not taking over the name`, {
          hint: `nsbox rm ${name} removes it`,
        });
      }
      const reserving = s.kind === "missing" && x.kind === "missing" && reservationLive(dir.path);
      if ((s.kind === "ok" && (isAlive(s.value) || isSupervised(s.value))) || reserving) {
        throw new NsboxError(`${flag}: a sandbox named '${name}' is running already (see nsbox ps)`);
      }
      if (x.kind === "ok") {
        // an ended detached sandbox: its log and exit status stay until `nsbox rm`, as docker keeps a container
        throw new NsboxError(`${flag}: a sandbox named '${name}' exists (ended); nsbox rm ${name} first`);
      }
      this.#removeStale(dir, s.kind === "ok" ? s.value : null);
    }
    throw new NsboxError(`${flag}: cannot claim the name '${name}'`);
  }

  /**
   * Every sandbox of the caller, stale records removed. Ended ones with
   * `includeEnded`; those whose record fails authentication (reported on
   * stderr, never counted as running, never removed here) with
   * `includeUnverified`.
   */
  list(opts: { includeEnded?: boolean; includeUnverified?: boolean } = {}): ListedSandbox[] {
    const out: ListedSandbox[] = [];
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.root)];
    } catch {
      return out;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory || !NAME_RE.test(e.name)) continue;
      const dir = this.dir(e.name);
      const s = dir.readState();
      const x = s.kind === "missing" ? dir.readExit() : s;
      if (s.kind === "bad" || x.kind === "bad") {
        reportBadRecord(dir.path, dir.name);
        if (opts.includeUnverified) out.push({ dir, state: null, status: "unverified" });
      } else if (s.kind === "ok" && isAlive(s.value)) out.push({ dir, state: s.value, status: "running" });
      else if (s.kind === "ok") {
        // PID 1 is gone: ending while its nsbox still runs (left to it), else stale: its supervisor and
        // PID 1 died without cleaning up. What is left of it is ended (staleCleanup: only processes checked
        // on their own terms, never a pid the record merely names), then its directory is removed.
        if (!isSupervised(s.value)) this.#removeStale(dir, s.value);
      } else if (x.kind === "ok") {
        if (opts.includeEnded) out.push({ dir, state: null, status: "ended" });
      } else if (!reservationLive(dir.path)) this.#removeStale(dir, null); // a reservation that never started
    }
    return out;
  }

  /** What the stale-record clean-up removed and ended since this store was made (for `nsbox gc`). */
  readonly collected: Array<{ readonly name: string; readonly ended: readonly string[] }> = [];

  /**
   * Removes a stale record's directory, after ending what its sandbox left running (an authenticated
   * record's only, each process checked on its own terms: src/state/leftovers.ts).
   */
  #removeStale(dir: SandboxDir, state: SandboxState | null) {
    const ended = state ? endLeftovers(state, this.#liveUserNs(dir.name)) : [];
    dir.remove();
    this.collected.push({ name: dir.name, ended });
  }

  /** The user namespaces the records of running sandboxes other than `except` name. */
  #liveUserNs(except: string): Set<number> {
    const live = new Set<number>();
    try {
      for (const e of Deno.readDirSync(this.root)) {
        if (!e.isDirectory || !NAME_RE.test(e.name) || e.name === except) continue;
        const s = this.dir(e.name).readState();
        if (s.kind === "ok" && s.value.namespaces.user !== undefined && (isAlive(s.value) || isSupervised(s.value))) {
          live.add(s.value.namespaces.user);
        }
      }
    } catch {
      // no store: nothing runs
    }
    return live;
  }

  /** The running sandbox `name` (its record verified), or an error naming it. */
  find(name: string): { dir: SandboxDir; state: SandboxState } {
    const found = this.list().find((x) => x.dir.name === name);
    if (!found?.state) throw new NsboxError(`no sandbox named '${name}' (see nsbox ps)`);
    return { dir: found.dir, state: found.state };
  }
}

/** Whether a directory without a record is still being set up: its owner runs (or, without one, it is recent). */
function reservationLive(path: string): boolean {
  const gone = ownerGone(path);
  return gone === null ? ageMs(path) < 30_000 : !gone;
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
    const ino = nsInode(pid, ns);
    if (ino !== null) ids[ns] = ino; // null: not ours to see
  }
  return ids;
}
