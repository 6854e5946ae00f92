/**
 * Profiles (`--profile NAME|FILE`, `nsbox profile list|show`): a JSON object whose keys are the long flag
 * names of `nsbox run`, turned into the same flag uses the parser makes, so that one code path handles flags
 * from both. The profile's uses come first and the command line's after them: list flags add, single-valued
 * flags replace (the last value wins), boolean flags can only be turned on.
 *
 * Built-in profiles (`untrusted`, `build`) are made for the current directory and the caller's home.
 *
 * @module
 */
import { sha256, toHex } from "../state/hmac.ts";
import { UsageError } from "../errors.ts";
import { configDir, projectHomesDir } from "../dirs.ts";
import { BUILTIN_PROFILES, type FlagDef, RUN } from "./flags.ts";
import { fileErrorReason, type FlagUse, type Parsed } from "./parse.ts";
import { runOptionsFromArgs } from "./run_command.ts";

/** What profiles need of the host; {@linkcode realProfileHost} is the real one. */
export interface ProfileHost {
  /** The current directory, canonical. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly uid: number;
  /** The names in a directory ([] when it cannot be read). */
  list(dir: string): string[];
  /** The canonical path, or null when it does not resolve. */
  realPath(path: string): string | null;
  /** A file's text, or why it cannot be read. */
  read(path: string): { text: string } | { error: string };
  /** Creates a directory and its parents (mode 0700); returns an error, or null. */
  makeDir(path: string): string | null;
}

/** The variables the built-in profiles keep from the caller's environment (and every `LC_*` one). */
export const ENV_ALLOWLIST = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "TERM",
  "COLORTERM",
  "TZ",
  "CI",
] as const;

/** The places under the caller's home that `untrusted` hides (`~` is the home). */
export const SECRET_PLACES = [
  "~/.ssh",
  "~/.gnupg",
  "~/.aws",
  "~/.azure",
  "~/.config/gcloud",
  "~/.kube",
  "~/.docker",
  "~/.netrc",
  "~/.npmrc",
  "~/.pypirc",
  "~/.git-credentials",
  "~/.config/gh",
  "~/.cargo/credentials",
  "~/.cargo/credentials.toml",
  "~/.gem/credentials",
  "~/.m2/settings.xml",
  "~/.password-store",
  "~/.local/share/keyrings",
] as const;

/** The hosts `build` lets the sandbox reach (HTTPS only): package registries and source hosts. */
export const BUILD_ALLOWED_HOSTS = [
  "registry.npmjs.org:443",
  "registry.yarnpkg.com:443",
  "pypi.org:443",
  "files.pythonhosted.org:443",
  "crates.io:443",
  "static.crates.io:443",
  "index.crates.io:443",
  "proxy.golang.org:443",
  "sum.golang.org:443",
  "repo.maven.apache.org:443",
  "repo1.maven.org:443",
  "rubygems.org:443",
  "index.rubygems.org:443",
  "github.com:443",
  "codeload.github.com:443",
  "*.githubusercontent.com:443",
] as const;

/** What `nsbox profile list` says of each built-in. */
export const BUILTIN_SUMMARY: Readonly<Record<typeof BUILTIN_PROFILES[number], string>> = {
  untrusted: "no network; only the current directory writable; clean environment; secrets and other homes hidden",
  build: "as untrusted, with HTTPS to package registries and GitHub, and a home of its own per project",
};

/** A profile made into flag uses. */
export interface Profile {
  /** Its name (built-in) or file, as messages name it. */
  readonly where: string;
  /** "built-in" or the file it was read from. */
  readonly source: string;
  readonly uses: readonly FlagUse[];
  /** Its `description`, if any. */
  readonly description?: string;
}

type Json = Record<string, unknown>;

function isBuiltin(name: string): name is typeof BUILTIN_PROFILES[number] {
  return (BUILTIN_PROFILES as readonly string[]).includes(name);
}

/** The directory of the user's profiles (`$XDG_CONFIG_HOME/nsbox/profiles`), or null without a home. */
export function profilesDir(env: Readonly<Record<string, string | undefined>>): string | null {
  const dir = configDir(env);
  return dir === null ? null : `${dir}/profiles`;
}

/** Whether a `--profile` argument names a file rather than a profile. */
function isFileArg(arg: string): boolean {
  return arg.includes("/") || arg.endsWith(".json");
}

/** The per-project home of `build` for project directory `cwd` (canonical), or null without a cache directory. */
export function projectHome(env: Readonly<Record<string, string | undefined>>, cwd: string): string | null {
  const homes = projectHomesDir(env);
  if (homes === null) return null;
  // not node:crypto: importing it costs every nsbox start (this module is on the `run` path) many milliseconds
  const hash = toHex(sha256(new TextEncoder().encode(cwd))).slice(0, 32);
  return `${homes}/${hash}`;
}

/**
 * The JSON object of a built-in profile for `host`'s current directory. Throws a UsageError when the
 * current directory is `/`, the home or above it (the profile would make everything it hides writable).
 */
export function builtinProfile(name: typeof BUILTIN_PROFILES[number], host: ProfileHost): Json {
  const home = host.env.HOME && host.env.HOME.startsWith("/") ? host.realPath(host.env.HOME) ?? host.env.HOME : null;
  const cwd = host.cwd;
  if (cwd === "/" || (home !== null && (home === cwd || home.startsWith(cwd + "/")))) {
    const at = cwd === "/" ? "/" : cwd === home ? `your home (${cwd})` : `${cwd}, above your home`;
    throw new UsageError([
      `--profile ${name}: refuses to run with the current directory at ${at}: it would be writable inside, ` +
      "with what the profile hides; cd into a project first.",
    ]);
  }
  const env = [...ENV_ALLOWLIST, ...Object.keys(host.env).filter((k) => k.startsWith("LC_")).sort()];
  const others = host.list("/home").map((n) => `/home/${n}`).filter((p) =>
    p !== home && (home === null || !home.startsWith(p + "/"))
  );
  if (host.uid !== 0 && home !== "/root") others.push("/root");
  const base: Json = { clearenv: true, env };
  if (name === "untrusted") {
    const secrets = home === null ? [] : SECRET_PLACES.map((p) => home + p.slice(1));
    return { ...base, net: "none", bind: [escapeColons(cwd)], hide: [...secrets, ...others] };
  }
  // build: the real home replaced by the project's own, the project bound on top
  const own = projectHome(host.env, cwd);
  if (home === null || own === null) {
    throw new UsageError([`--profile build: needs HOME (an absolute path) for the project's own home.`]);
  }
  return {
    ...base,
    "allow-host": [...BUILD_ALLOWED_HOSTS],
    bind: [`${escapeColons(own)}:${escapeColons(home)}`, escapeColons(cwd)],
    hide: others,
  };
}

/** An absolute path with `.`, `..` and `//` resolved lexically. */
function lexical(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== "" && p !== ".") parts.push(p);
  }
  return "/" + parts.join("/");
}

/** `path` with `\` and `:` escaped for a --bind value. */
function escapeColons(path: string): string {
  return path.replaceAll("\\", "\\\\").replaceAll(":", "\\:");
}

/** Keys of a profile that hold host paths, where a leading `~` is the caller's home. */
const PATH_KEYS = new Set(["bind", "volume", "ro-bind", "hide", "rootfs", "env-file", "seccomp"]);
/** Keys that are not flags of a profile. */
const NOT_KEYS = new Set(["help", "profile"]);

function runFlag(key: string): FlagDef | undefined {
  if (NOT_KEYS.has(key)) return undefined;
  return RUN.flags.find((f) => f.name === key || f.aliases?.includes(key));
}

/**
 * The flag uses of profile `obj` (read from `where`), in key order. Adds a problem per unknown key, wrong
 * type or bad value, each naming `where` and the key.
 */
export function profileUses(obj: unknown, where: string, env: Readonly<Record<string, string>>, problems: string[]) {
  const uses: FlagUse[] = [];
  let description: string | undefined;
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    problems.push(`--profile ${where}: expected a JSON object whose keys are flags of nsbox run.`);
    return { uses, description };
  }
  const bad = (key: string, why: string) => problems.push(`--profile ${where}: "${key}": ${why}.`);
  const home = env.HOME && env.HOME.startsWith("/") ? env.HOME.replace(/\/+$/, "") : null;
  for (const [key, v] of Object.entries(obj as Json)) {
    if (key === "description") {
      if (typeof v === "string") description = v;
      else bad(key, "expected a string");
      continue;
    }
    const flag = runFlag(key);
    if (!flag) {
      bad(key, 'unknown key: expected a long flag name of nsbox run, such as "bind", "net" or "mem"');
      continue;
    }
    const typed = `--${key}`;
    const add = (value: string | true) => {
      if (typeof value === "string" && PATH_KEYS.has(flag.name) && (value === "~" || value.startsWith("~/"))) {
        if (home === null) return bad(key, `cannot expand '~' in '${value}': HOME is not an absolute path`);
        value = home + value.slice(1);
      }
      uses.push({ flag, value, typed });
    };
    const scalar = (x: unknown) => typeof x === "string" || (typeof x === "number" && Number.isFinite(x));
    if (flag.value === undefined) {
      if (typeof v !== "boolean") bad(key, `expected true or false, got ${JSON.stringify(v)}`);
      else if (v) add(true);
    } else if (flag.name === "setenv" && typeof v === "object" && v !== null && !Array.isArray(v)) {
      for (const [name, val] of Object.entries(v as Json)) {
        if (typeof val !== "string") bad(key, `expected a string value for ${name}, got ${JSON.stringify(val)}`);
        else add(`${name}=${val}`);
      }
    } else if (flag.repeatable) {
      const what = flag.name === "setenv" ? "an array of NAME=VALUE strings or an object" : "an array of strings";
      if (!Array.isArray(v) || !v.every(scalar)) bad(key, `expected ${what}, got ${JSON.stringify(v)}`);
      else for (const x of v) add(String(x));
    } else if (v === true && flag.implicit !== undefined) add(flag.implicit);
    else if (!scalar(v)) bad(key, `expected ${flag.value} as a string, got ${JSON.stringify(v)}`);
    else {
      const s = String(v);
      const allowed = flag.choices && [...flag.choices, ...(flag.implicit ? [flag.implicit] : [])];
      if (allowed && !allowed.includes(s)) bad(key, `expected one of ${allowed.join(", ")}, got '${s}'`);
      else add(s);
    }
  }
  return { uses, description };
}

/** The profile `arg` names: a built-in, `NAME.json` among the user's profiles, or a JSON file. */
export function loadProfile(arg: string, host: ProfileHost): Profile {
  const problems: string[] = [];
  let where: string, source: string, obj: unknown;
  if (isBuiltin(arg)) {
    where = arg;
    source = "built-in";
    obj = builtinProfile(arg, host);
  } else {
    let file: string;
    if (isFileArg(arg)) file = lexical(arg.startsWith("/") ? arg : `${host.cwd}/${arg}`);
    else {
      const dir = profilesDir(host.env);
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(arg) || dir === null) {
        throw new UsageError([
          `--profile: no profile '${arg}': expected ${BUILTIN_PROFILES.join(", ")}, a NAME of ` +
          `${dir ?? "~/.config/nsbox/profiles"}/NAME.json, or a FILE path.`,
        ]);
      }
      file = `${dir}/${arg}.json`;
    }
    where = file;
    source = file;
    const read = host.read(file);
    if ("error" in read) {
      const known = isFileArg(arg) ? "" : ` (built-in: ${BUILTIN_PROFILES.join(", ")})`;
      throw new UsageError([`--profile: cannot read profile ${file}: ${read.error}${known}.`]);
    }
    try {
      obj = JSON.parse(read.text);
    } catch (e) {
      throw new UsageError([`--profile ${file}: not JSON: ${(e as Error).message}.`]);
    }
  }
  const { uses, description } = profileUses(obj, where, host.env, problems);
  if (problems.length === 0) {
    // values checked as on the command line, each problem naming the profile
    try {
      runOptionsFromArgs({ uses, operands: ["true"] });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      problems.push(...e.problems.map((p) => `--profile ${where}: ${p}`));
    }
  }
  if (problems.length > 0) throw new UsageError(problems);
  return { where, source, uses, ...(description !== undefined && { description }) };
}

/**
 * `parsed` with its `--profile` applied: the profile's flag uses, then the command line's. Unchanged without
 * `--profile`. A built-in `build` profile's project home is created here (mode 0700).
 */
export function applyProfile(parsed: Parsed, host: ProfileHost): Parsed {
  const arg = parsed.uses.findLast((u) => u.flag.name === "profile")?.value;
  if (typeof arg !== "string") return parsed;
  const profile = loadProfile(arg, host);
  if (arg === "build") {
    const own = projectHome(host.env, host.cwd)!;
    // The project's directory is bound on top of this home: its mount point is made here, in nsbox's own cache,
    // so that the home stays the writable bind it is (a missing point would get a read-only copy over its parent).
    const home = host.env.HOME ?? "";
    const point = home && host.cwd.startsWith(home + "/") ? own + host.cwd.slice(home.length) : own;
    const error = host.makeDir(point);
    if (error !== null) throw new UsageError([`--profile build: cannot create the project's home ${own}: ${error}.`]);
  }
  return {
    uses: [...profile.uses, ...parsed.uses.filter((u) => u.flag.name !== "profile")],
    operands: parsed.operands,
  };
}

/** Quotes `s` for a POSIX shell when it needs it. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A profile's flag uses as `nsbox run` flags, one a line, continued with ` \`. */
export function profileFlags(profile: Profile): string {
  const words = profile.uses.map((u) =>
    u.value === true
      ? `--${u.flag.name}`
      : u.flag.implicit !== undefined
      ? `--${u.flag.name}=${shellWord(u.value)}`
      : `--${u.flag.name} ${shellWord(u.value)}`
  );
  return words.join(" \\\n");
}

/** The user's profiles: [name, file] for each `NAME.json` in the profiles directory, sorted. */
export function userProfiles(host: ProfileHost): Array<[string, string]> {
  const dir = profilesDir(host.env);
  if (dir === null) return [];
  return host.list(dir).filter((n) => n.endsWith(".json") && n.length > 5).sort().map((n) => [
    n.slice(0, -5),
    `${dir}/${n}`,
  ]);
}

/** The real host. */
export function realProfileHost(): ProfileHost {
  const why = fileErrorReason;
  const realPath = (p: string) => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return null;
    }
  };
  return {
    cwd: realPath(Deno.cwd()) ?? Deno.cwd(),
    env: Deno.env.toObject(),
    uid: Deno.uid() ?? 0,
    list(dir) {
      try {
        return [...Deno.readDirSync(dir)].map((e) => e.name);
      } catch {
        return [];
      }
    },
    realPath,
    read(path) {
      try {
        return { text: Deno.readTextFileSync(path) };
      } catch (e) {
        return { error: why(e) };
      }
    },
    makeDir(path) {
      try {
        Deno.mkdirSync(path, { recursive: true, mode: 0o700 });
        return null;
      } catch (e) {
        return why(e);
      }
    },
  };
}
