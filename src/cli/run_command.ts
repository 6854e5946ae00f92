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
import { parseDecimal, parseSize, parseWhole } from "../spec/units.ts";
import type { HostFacts } from "../spec/host.ts";
import { validate } from "../spec/validate.ts";
import { has, type Parsed, value, values } from "./parse.ts";

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

function splitBind(spec: string): { source: string; destination?: string } {
  const colon = spec.indexOf(":");
  return colon < 0 ? { source: spec } : { source: spec.slice(0, colon), destination: spec.slice(colon + 1) };
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
  const envEdits: EnvEdit[] = [];
  const publish: PublishOption[] = [];
  for (const use of parsed.uses) {
    const v = use.value;
    if (typeof v !== "string") continue;
    switch (use.flag.name) {
      case "bind":
      case "ro-bind": {
        const { source, destination } = splitBind(v);
        if (source === "" || destination === "") {
          problems.push(`--${use.flag.name}: expected SRC or SRC:DST with non-empty paths, got '${v}'.`);
        } else mounts.push({ kind: "bind", source, destination, readOnly: use.flag.name === "ro-bind" });
        break;
      }
      case "tmpfs": {
        const t = parseTmpfs(v);
        if (typeof t === "string") problems.push(t);
        else mounts.push(t);
        break;
      }
      case "setenv": {
        const eq = v.indexOf("=");
        if (eq <= 0) problems.push(`--setenv: expected NAME=VALUE, got '${v}'.`);
        else envEdits.push({ kind: "set", name: v.slice(0, eq), value: v.slice(eq + 1) });
        break;
      }
      case "unsetenv":
        envEdits.push({ kind: "unset", name: v });
        break;
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
    if (n === null) problems.push(`--${flag}: expected ${expected}, got '${text}'.`);
    else limits[key] = n;
  }
  const share = values(parsed, "share").flatMap((s) => s.split(",")).map((s) => s.trim()) as ShareableNamespace[];
  const options: RunOptions = {
    command: parsed.operands,
    name: value(parsed, "name"),
    share,
    root: has(parsed, "root"),
    mapUsers: has(parsed, "map-users"),
    hostname: value(parsed, "hostname"),
    rootfs: value(parsed, "rootfs"),
    mounts,
    chdir: value(parsed, "chdir"),
    clearEnv: has(parsed, "clearenv"),
    envEdits,
    asPid1: has(parsed, "as-pid-1"),
    net: value(parsed, "net") as RunOptions["net"],
    publish,
    allowHostLoopback: has(parsed, "allow-host-loopback"),
    capAdd: values(parsed, "cap-add").flatMap((s) => s.split(",")),
    capDrop: values(parsed, "cap-drop").flatMap((s) => s.split(",")),
    seccomp: value(parsed, "seccomp") as RunOptions["seccomp"],
    allowUserns: has(parsed, "allow-userns"),
    limits,
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
