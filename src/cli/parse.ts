/**
 * A small table-driven argv parser. Not node:util's parseArgs, which cannot
 * stop at the first operand (`nsbox run sh -c ...` must leave `-c` to sh, as
 * bwrap and unshare do) and would load Node compatibility on every start.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { CommandDef, FlagDef } from "./flags.ts";

/** A flag occurrence, in command-line order. */
export interface FlagUse {
  readonly flag: FlagDef;
  /** The value; `true` for a boolean flag. */
  readonly value: string | true;
  /** The flag as the user wrote it, without a value: `--memory`, `-e`, `--net`. */
  readonly typed: string;
}

/** A parsed command line. */
export interface Parsed {
  /** Every flag occurrence in order. */
  readonly uses: readonly FlagUse[];
  /** Operands after the options (the command and its arguments). */
  readonly operands: readonly string[];
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The message for an unknown option. A flag is suggested only for a long
 * option at most 2 edits away that keeps more than half of its letters (so
 * `--rm` never suggests `--mem`), never for a one-letter option.
 */
function unknown(cmd: CommandDef, arg: string): string {
  const long = arg.startsWith("--");
  const name = arg.replace(/^-+/, "").split("=")[0]!;
  const names = cmd.flags.flatMap((f) => [f.name, ...(f.aliases ?? [])].map((n) => [n, distance(name, n)] as const));
  const best = names.sort((x, y) => x[1] - y[1])[0];
  const hint = long && best && best[1] <= 2 && best[1] * 2 < name.length ? ` (did you mean --${best[0]}?)` : "";
  return `${quoteArg(arg.split("=")[0]!)}: unknown option for 'nsbox ${cmd.name}'${hint}.`;
}

function quoteArg(s: string): string {
  return `'${s}'`;
}

/** The flag of `cmd` called `name` (its long name or an alias). */
function findLong(cmd: CommandDef, name: string): FlagDef | undefined {
  return cmd.flags.find((f) => f.name === name || f.aliases?.includes(name));
}

/**
 * Parses `args` (after the subcommand) against `cmd`'s flags. Short boolean
 * flags combine (`-it`); a short value flag takes the rest of its word or the
 * next argument (`-p8080:80`, `-p 8080:80`). Options end at `--` and, unless
 * `cmd` is `interleaved`, at the first operand.
 */
export function parseArgs(cmd: CommandDef, args: readonly string[]): Parsed {
  const uses: FlagUse[] = [];
  const problems: string[] = [];
  const operands: string[] = [];
  const seen = new Set<string>();
  let i = 0;
  const use = (flag: FlagDef, typed: string, inline: string | undefined): void => {
    if (seen.has(flag.name) && !flag.repeatable && !flag.compat) problems.push(`${typed}: given more than once.`);
    seen.add(flag.name);
    if (flag.value === undefined) {
      if (inline !== undefined) problems.push(`${typed}: takes no value, got ${quoteArg(inline)}.`);
      uses.push({ flag, value: true, typed });
      return;
    }
    let value = inline;
    if (value === undefined && flag.implicit !== undefined) {
      // `--net host`: a word that is one of its values is its value, anything else an operand
      const next = args[i + 1];
      value = next !== undefined && flag.choices?.includes(next) ? args[++i]! : flag.implicit;
    }
    if (value === undefined) {
      if (i + 1 >= args.length) {
        problems.push(`${typed}: expected ${flag.value} after it.`);
        return;
      }
      value = args[++i]!;
    }
    uses.push({ flag, value, typed });
  };
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (!cmd.interleaved) break; // first operand: the rest is the command's
      operands.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const flag = findLong(cmd, name);
      if (!flag) problems.push(unknown(cmd, arg));
      else use(flag, `--${name}`, eq < 0 ? undefined : arg.slice(eq + 1));
      continue;
    }
    // one or more short flags: -h, -it, -p8080:80, -e NAME
    for (let k = 1; k < arg.length; k++) {
      const short = arg[k]!;
      const flag = cmd.flags.find((f) => f.short === short);
      if (!flag) {
        problems.push(unknown(cmd, `-${short}`).replace(/^'-.'/, (q) => arg.length > 2 ? `${q} in '${arg}'` : q));
        break;
      }
      const rest = arg.slice(k + 1);
      if (flag.value !== undefined || (k === 1 && rest.startsWith("="))) {
        use(flag, `-${short}`, rest === "" ? undefined : rest.replace(/^=/, ""));
        break;
      }
      use(flag, `-${short}`, undefined);
    }
  }
  if (problems.length) throw new UsageError(problems);
  return { uses, operands: [...operands, ...args.slice(i)] };
}

/** The values of a repeatable value flag, in order. */
export function values(parsed: Parsed, name: string): string[] {
  return parsed.uses.filter((u) => u.flag.name === name && typeof u.value === "string").map((u) => u.value as string);
}

/** The single value of a value flag, or undefined. */
export function value(parsed: Parsed, name: string): string | undefined {
  return values(parsed, name).at(-1);
}

/** Whether a boolean flag was given. */
export function has(parsed: Parsed, name: string): boolean {
  return parsed.uses.some((u) => u.flag.name === name);
}

/** How the last use of flag `name` was written (`--memory`, `-e`), or `--NAME` when it was not given. */
export function typed(parsed: Parsed, name: string): string {
  return parsed.uses.findLast((u) => u.flag.name === name)?.typed ?? `--${name}`;
}

/** Why a file given on the command line could not be read, in a few words ("no such file", ...). */
export function fileErrorReason(e: unknown): string {
  return e instanceof Deno.errors.NotFound
    ? "no such file"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : e instanceof Deno.errors.IsADirectory
    ? "it is a directory"
    : (e as Error).message.replace(/ \(os error \d+\)$/, "");
}
