/**
 * Reads README.md's examples and its flag table, for tests/unit/readme_test.ts and
 * tests/integration/readme_test.ts (no FFI, nothing run here).
 *
 * Marker scheme (HTML comments in README.md's source): `<!-- example ... -->` right before a code
 * block (indented by 4 spaces, or fenced) makes each of its lines an example that the integration
 * test runs, in order; `<!-- example: not run (REASON) -->` marks a block that is not run. Every
 * block with a line starting with `nsbox ` or `scripts/` carries one of the two. `(needs X)` in a
 * line's `#` comment, or in the marker for the whole block, names what the example needs (up to a comma).
 *
 * @module
 */

/** README.md of the checkout. */
export const README_PATH = new URL("../../README.md", import.meta.url);

/** One line of an example block. */
export interface ExampleLine {
  /** The line as written (the block's indentation removed). */
  readonly text: string;
  /** 1-based line number in README.md. */
  readonly lineNo: number;
  /** What `(needs X)` names, in the line's comment or the block's marker. */
  readonly needs: readonly string[];
}

/** A code block and the marker before it (if any). */
export interface CodeBlock {
  /** The marker's text after `example` (e.g. `: not run (the synopsis)`), or null without a marker. */
  readonly marker: string | null;
  /** The fence's language (`ts`), `""` for an indented block. */
  readonly lang: string;
  /** 1-based line number of the block's first line. */
  readonly lineNo: number;
  readonly lines: readonly ExampleLine[];
}

const NEEDS = /\(needs ([^)]+)\)/g;

function needsOf(text: string): string[] {
  return [...text.matchAll(NEEDS)].map((m) => m[1]!.split(",")[0]!.trim()); // "(needs cgroup v2, see ...)"
}

/** The part of a shell line after its comment sign (` # `, outside quotes), or "". */
export function shellComment(line: string): string {
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = "";
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "\\") i++;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(i + 1);
  }
  return "";
}

/** Every code block of `readme` (indented by 4 spaces after a blank line, or fenced), with its marker. */
export function codeBlocks(readme: string): CodeBlock[] {
  const lines = readme.split("\n");
  const blocks: CodeBlock[] = [];
  let marker: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^<!-- example(.*)$/.exec(line);
    if (m) {
      let text = m[1]!;
      while (!text.includes("-->") && i + 1 < lines.length) text += " " + lines[++i]!.trim();
      marker = text.slice(0, text.indexOf("-->")).trim();
      continue;
    }
    if (line.trim() === "") continue;
    const fence = /^```(\w*)$/.exec(line);
    const indented = line.startsWith("    ") && (i === 0 || lines[i - 1]!.trim() === "");
    if (!fence && !indented) {
      marker = null;
      continue;
    }
    const start = i;
    const body: ExampleLine[] = [];
    const blockNeeds = marker === null ? [] : needsOf(marker);
    const add = (text: string, at: number) => {
      if (text.trim() !== "") {
        body.push({ text, lineNo: at + 1, needs: [...blockNeeds, ...needsOf(shellComment(text))] });
      }
    };
    if (fence) {
      for (i++; i < lines.length && lines[i] !== "```"; i++) add(lines[i]!, i);
    } else {
      for (; i < lines.length && (lines[i]!.startsWith("    ") || lines[i]!.trim() === ""); i++) {
        add(lines[i]!.slice(4), i);
      }
      i--;
    }
    blocks.push({ marker, lang: fence ? fence[1]! : "", lineNo: start + 1, lines: body });
    marker = null;
  }
  return blocks;
}

/** Whether a marked block is to be run (its marker does not say `not run`). */
export function isRun(block: CodeBlock): boolean {
  return block.marker !== null && !/^:\s*not run\b/.test(block.marker);
}

/** Whether a block shows commands (a line starting with `nsbox ` or `scripts/`): those must carry a marker. */
export function showsCommands(block: CodeBlock): boolean {
  return block.lines.some((l) => /^(nsbox |scripts\/)/.test(l.text));
}

/**
 * The flag names (`--bind`, `-v`, ...) in the first column of the table under "### Flags of `nsbox run`".
 */
export function runFlagTableNames(readme: string): Set<string> {
  const at = readme.indexOf("### Flags of `nsbox run`");
  if (at < 0) throw new Error("README.md has no '### Flags of `nsbox run`' section");
  const rows = readme.slice(at).split("\n").slice(1);
  const names = new Set<string>();
  let inTable = false;
  for (const row of rows) {
    if (!row.startsWith("|")) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    // the first column: up to the first `|` that is not escaped (`\|` is a `|` inside a cell)
    const cell = /^\|((?:[^|\\]|\\.)*)\|/.exec(row)?.[1] ?? "";
    for (const span of cell.matchAll(/`([^`]*)`/g)) {
      for (const f of span[1]!.matchAll(/(?<![\w-])(--[a-z0-9][a-z0-9-]*|-[a-zA-Z](?![\w-]))/g)) names.add(f[1]!);
    }
  }
  return names;
}
