/**
 * `nsbox run`: flags → {@linkcode RunOptions}.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import {
  DEFAULT_LOG_SIZE,
  type EnvEdit,
  MIN_LOG_SIZE,
  type MountOption,
  type PublishOption,
  type RunOptions,
  type ShareableNamespace,
} from "../spec/options.ts";
import { parsePublish } from "../spec/publish.ts";
import { parseDecimal, parseDuration, parseSize, parseWhole } from "../spec/units.ts";
import type { HostFacts } from "../spec/host.ts";
import { validate } from "../spec/validate.ts";
import { fileErrorReason, type FlagUse, has, type Parsed, typed, value, values } from "./parse.ts";

type Parser = (text: string) => number | null;
const LIMIT_FLAGS: ReadonlyArray<[flag: string, key: string, parse: Parser, expected: string]> = [
  ["mem", "memory", parseSize, "a size such as 256M or 1.5G"],
  ["swap", "swap", parseSize, "a size such as 0, 100M or 1G"],
  ["cpus", "cpus", parseDecimal, "a number of CPUs such as 0.5 or 2"],
  ["pids", "pids", parseWhole, "a whole number"],
  ["io-weight", "ioWeight", parseWhole, "a whole number from 1 to 10000"],
];

/**
 * The cap of a detached sandbox's log (`--log-size`, default 10M). Throws a
 * one-line UsageError when it does not parse, or is given without --detach
 * (`detached`: this run is detached).
 */
export function logSizeFromArgs(parsed: Parsed, detached: boolean): number {
  const text = value(parsed, "log-size");
  if (text === undefined) return DEFAULT_LOG_SIZE;
  if (!detached) throw new UsageError([`--log-size: only with --detach (-d), the log of a detached sandbox.`]);
  const n = parseSize(text);
  if (n === null || n < MIN_LOG_SIZE) {
    throw new UsageError([`--log-size: expected a size of at least 4k such as 64k or 10M, got '${text}'.`]);
  }
  return n;
}

/**
 * Splits a mount argument on the colons that are not escaped: `\:` is a
 * colon inside a part, `\\` a backslash; any other backslash stays as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(splitColons("a\\:b:/b:ro"), ["a:b", "/b", "ro"]);
 * ```
 */
export function splitColons(text: string): string[] {
  const parts: string[] = [];
  let part = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && (text[i + 1] === ":" || text[i + 1] === "\\")) part += text[++i];
    else if (c === ":") {
      parts.push(part);
      part = "";
    } else part += c;
  }
  parts.push(part);
  return parts;
}

/**
 * `--bind`/`-v`/`--volume SRC[:DST[:ro|:rw]]` and `--ro-bind SRC[:DST]`: the
 * mount, or the problem.
 */
function parseBind(use: FlagUse, v: string): Extract<MountOption, { kind: "bind" }> | string {
  const readOnlyFlag = use.flag.name === "ro-bind" || use.flag.name === "ro-bind-try";
  const optional = use.flag.name.endsWith("-try");
  const devices = use.flag.name === "dev-bind"; // SRC[:DST] only, as bubblewrap's
  const extra = { ...(optional && { optional }), ...(devices && { devices }) };
  const form = readOnlyFlag || devices ? "SRC or SRC:DST" : "SRC, SRC:DST or SRC:DST:ro (or :rw)";
  const [source = "", destination, mode, ...more] = splitColons(v);
  const expected = `${use.typed}: expected ${form} with non-empty paths (write \\: for a ':' in a path), got '${v}'.`;
  if (source === "" || destination === "" || more.length > 0) return expected;
  let readOnly = readOnlyFlag;
  if (mode !== undefined && devices) return expected;
  if (mode !== undefined) {
    if (mode === "ro") readOnly = true;
    else if (mode === "rw" && !readOnlyFlag) readOnly = false;
    else if (mode === "rw") return `${use.typed}: ':rw' contradicts ${use.typed} (use --bind for a writable bind).`;
    else return expected;
  }
  return { kind: "bind", source, destination, readOnly, ...extra };
}

/** The value of variable `name` in nsbox's own environment (for `--env NAME`, a bare NAME in `--env-file`). */
function ownValue(name: string, host?: HostFacts): string | undefined {
  return host ? host.env[name] : Deno.env.get(name);
}

/**
 * The edits of an `--env-file` (docker's format): `NAME=VALUE` lines, the
 * value taken as is; a bare `NAME` takes nsbox's own value (and is skipped
 * when there is none); leading blanks are ignored, and blank lines and lines
 * starting with `#` skipped. Adds problems naming the file and line.
 */
export function envFileEdits(
  path: string,
  text: string,
  own: (name: string) => string | undefined,
  problems: string[],
) {
  const edits: EnvEdit[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trimStart();
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    const where = `--env-file: ${path} line ${i + 1}`;
    if (name === "") problems.push(`${where}: expected NAME=VALUE, got '${raw}'.`);
    else if (/\s/.test(name)) problems.push(`${where}: the variable name '${name}' contains white space.`);
    else if (eq >= 0) edits.push({ kind: "set", name, value: line.slice(eq + 1) });
    else {
      const v = own(name);
      if (v !== undefined) edits.push({ kind: "set", name, value: v });
    }
  });
  return edits;
}

function readEnvFile(path: string, problems: string[]): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    problems.push(`--env-file: cannot read '${path}': ${fileErrorReason(e)}.`);
    return null;
  }
}

/**
 * The environment edits of `--setenv`, `--env`/`-e`, `--env-file` and
 * `--unsetenv`, in command-line order (for `run` and `exec`). Adds problems.
 */
export function envEditsFromArgs(parsed: Parsed, problems: string[], host?: HostFacts): EnvEdit[] {
  const edits: EnvEdit[] = [];
  for (const use of parsed.uses) {
    const v = use.value;
    if (typeof v !== "string") continue;
    switch (use.flag.name) {
      case "setenv":
      case "env": {
        const eq = v.indexOf("=");
        if (eq === 0 || (eq < 0 && use.flag.name === "setenv")) {
          problems.push(`${use.typed}: expected NAME=VALUE${use.flag.name === "env" ? " or NAME" : ""}, got '${v}'.`);
        } else if (eq > 0) edits.push({ kind: "set", name: v.slice(0, eq), value: v.slice(eq + 1) });
        else {
          const own = ownValue(v, host); // docker's -e NAME: nsbox's value, or nothing
          if (own !== undefined) edits.push({ kind: "set", name: v, value: own });
        }
        break;
      }
      case "unsetenv":
        edits.push({ kind: "unset", name: v });
        break;
      case "env-file": {
        const text = readEnvFile(v, problems);
        if (text !== null) edits.push(...envFileEdits(v, text, (n) => ownValue(n, host), problems));
        break;
      }
    }
  }
  return edits;
}

/**
 * The `nsbox: --flag: ...` lines to print for flags that are accepted as
 * nsbox's default (`--rm`, `--unshare-all`, ...); silent ones (`-i`, `-t`)
 * give none. One line per flag, however often it is given.
 */
export function compatNotes(parsed: Parsed): string[] {
  const notes = new Map<string, string>();
  for (const u of parsed.uses) {
    if (u.flag.compat?.note && !notes.has(u.flag.name)) notes.set(u.flag.name, `${u.typed}: ${u.flag.compat.note}`);
  }
  return [...notes.values()];
}

/**
 * `--tmpfs DST[:OPT,...]` with OPT `size=SIZE` or `mode=OCTAL`: the mount, or
 * the problem. A last `:` is taken as the start of options only when what
 * follows is a list of them, so other paths with `:` still work.
 */
function parseTmpfs(v: string): Extract<MountOption, { kind: "tmpfs" }> | string {
  const colon = v.lastIndexOf(":");
  const opts = colon < 0 ? "" : v.slice(colon + 1);
  if (colon < 0 || !/^(size|mode)=/.test(opts)) return { kind: "tmpfs", destination: v };
  const expected = `--tmpfs: expected DST[:size=SIZE][,mode=OCTAL] (e.g. /scratch:size=64M), got '${v}'.`;
  let size: number | undefined, mode: number | undefined;
  for (const opt of opts.split(",")) {
    const [key, val = ""] = opt.split("=", 2) as [string, string?];
    if (key === "size" && size === undefined) {
      const n = parseSize(val);
      if (n === null) return expected;
      size = n;
    } else if (key === "mode" && mode === undefined && /^0?[0-7]{3,4}$/.test(val)) mode = parseInt(val, 8);
    else return expected;
  }
  return { kind: "tmpfs", destination: v.slice(0, colon), size, mode };
}

/**
 * Maps a parsed `nsbox run` command line to run options. When some values do
 * not parse and `host` is given, the options that did are validated too, so
 * that every problem is reported at once.
 */
export function runOptionsFromArgs(parsed: Parsed, host?: HostFacts): RunOptions {
  const problems: string[] = [];
  const mounts: MountOption[] = [];
  const envEdits = envEditsFromArgs(parsed, problems, host);
  const publish: PublishOption[] = [];
  for (const use of parsed.uses) {
    const v = use.value;
    if (typeof v !== "string") continue;
    switch (use.flag.name) {
      case "bind":
      case "ro-bind":
      case "bind-try":
      case "ro-bind-try":
      case "dev-bind": {
        const b = parseBind(use, v);
        if (typeof b === "string") problems.push(b);
        else mounts.push(b);
        break;
      }
      case "tmpfs": {
        const t = parseTmpfs(v);
        if (typeof t === "string") problems.push(t);
        else mounts.push(t);
        break;
      }
      case "publish": {
        const p = parsePublish(v);
        if (!p) problems.push(`--publish: expected [IP:]HOSTPORT:PORT[/tcp|/udp] with ports 1 to 65535, got '${v}'.`);
        else publish.push(p);
        break;
      }
    }
  }
  const limits: Record<string, number> = {};
  for (const [flag, key, parse, expected] of LIMIT_FLAGS) {
    const text = value(parsed, flag);
    if (text === undefined) continue;
    const n = parse(text);
    if (n === null) problems.push(`${typed(parsed, flag)}: expected ${expected}, got '${text}'.`);
    else limits[key] = n;
  }
  const durations: Record<string, number> = {};
  for (const [flag, expected] of [["timeout", "30s or 5m"], ["kill-after", "5s"]] as const) {
    const text = value(parsed, flag);
    if (text === undefined) continue;
    const ms = parseDuration(text);
    if (ms === null) {
      problems.push(
        `--${flag}: expected a duration such as ${expected} (units ms, s, m, h, d; s by default), got '${text}'.`,
      );
    } else durations[flag] = ms;
  }
  const share = values(parsed, "share").flatMap((s) => s.split(",")).map((s) => s.trim()) as ShareableNamespace[];
  const options: RunOptions = {
    command: parsed.operands,
    name: value(parsed, "name"),
    share,
    root: has(parsed, "root"),
    user: value(parsed, "user"),
    proc: value(parsed, "proc") as RunOptions["proc"],
    mapUsers: has(parsed, "map-users"),
    hostname: value(parsed, "hostname"),
    rootfs: value(parsed, "rootfs"),
    mounts,
    hide: values(parsed, "hide"),
    chdir: value(parsed, "chdir"),
    clearEnv: has(parsed, "clearenv"),
    envEdits,
    asPid1: has(parsed, "as-pid-1"),
    net: value(parsed, "net") as RunOptions["net"],
    publish,
    allowHosts: values(parsed, "allow-host"),
    allowHostLoopback: has(parsed, "allow-host-loopback"),
    capAdd: values(parsed, "cap-add").flatMap((s) => s.split(",")),
    capDrop: values(parsed, "cap-drop").flatMap((s) => s.split(",")),
    seccomp: value(parsed, "seccomp") as RunOptions["seccomp"],
    allowUserns: has(parsed, "allow-userns"),
    limits,
    timeout: durations.timeout,
    killAfter: durations["kill-after"],
  };
  if (problems.length === 0) return options;
  if (host) {
    try {
      validate(options, host);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      for (const p of e.problems) if (!problems.includes(p)) problems.push(p);
    }
  } else if (parsed.operands.length === 0) {
    problems.push("No command given: expected `nsbox run [OPTIONS] -- CMD [ARGS...]`.");
  }
  throw new UsageError(problems);
}
