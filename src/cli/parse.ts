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

function unknown(cmd: CommandDef, arg: string): string {
  const name = arg.replace(/^-+/, "").split("=")[0]!;
  const best = cmd.flags.map((f) => [f, distance(name, f.name)] as const).sort((x, y) => x[1] - y[1])[0];
  const hint = best && best[1] <= 2 ? ` (did you mean --${best[0].name}?)` : "";
  return `${quoteArg(arg.split("=")[0]!)}: unknown option for 'nsbox ${cmd.name}'${hint}.`;
}

function quoteArg(s: string): string {
  return `'${s}'`;
}

/** Parses `args` (after the subcommand) against `cmd`'s flags. */
export function parseArgs(cmd: CommandDef, args: readonly string[]): Parsed {
  const uses: FlagUse[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break; // first operand
    let flag: FlagDef | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
      flag = cmd.flags.find((f) => f.name === name);
    } else {
      const short = arg.slice(1, 2);
      flag = cmd.flags.find((f) => f.short === short);
      if (arg.length > 2) inline = arg.slice(2);
    }
    if (!flag) {
      problems.push(unknown(cmd, arg));
      continue;
    }
    if (seen.has(flag.name) && !flag.repeatable) {
      problems.push(`--${flag.name}: given more than once.`);
    }
    seen.add(flag.name);
    if (flag.value === undefined) {
      if (inline !== undefined) problems.push(`--${flag.name}: takes no value, got ${quoteArg(inline)}.`);
      uses.push({ flag, value: true });
      continue;
    }
    let value = inline;
    if (value === undefined && flag.implicit !== undefined) value = flag.implicit;
    if (value === undefined) {
      if (i + 1 >= args.length) {
        problems.push(`--${flag.name}: expected ${flag.value} after it.`);
        continue;
      }
      value = args[++i]!;
    }
    uses.push({ flag, value });
  }
  if (problems.length) throw new UsageError(problems);
  return { uses, operands: args.slice(i) };
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
