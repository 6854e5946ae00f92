/**
 * `--help` text, generated from the flag table (completions: completions.ts; man page: man.ts).
 *
 * @module
 */
import { type CommandDef, COMMANDS, type FlagDef } from "./flags.ts";

function flagLabel(f: FlagDef): string {
  const long = `--${f.name}${f.implicit ? `[=${f.value}]` : f.value ? ` ${f.value}` : ""}`;
  return f.short ? `-${f.short}, ${long}` : `    ${long}`;
}

const WIDTH = 100;

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

/** The help of one command. */
export function commandHelp(cmd: CommandDef): string {
  const width = Math.max(...cmd.flags.map((f) => flagLabel(f).length)) + 2;
  const lines = [`Usage: ${cmd.usage}`, "", cmd.description];
  const groups = [...new Set(cmd.flags.map((f) => f.group))];
  for (const g of groups) {
    lines.push("", `${g}:`);
    for (const f of cmd.flags.filter((x) => x.group === g)) {
      const notes = [
        ...(f.repeatable ? ["repeatable"] : []),
        ...(f.aliases?.length ? [`also ${f.aliases.map((a) => `--${a}`).join(", ")}`] : []),
      ];
      const text = wrap(`${f.help}${notes.length ? ` (${notes.join("; ")})` : ""}`, Math.max(40, WIDTH - width - 2));
      lines.push(
        `  ${flagLabel(f).padEnd(width)}${text[0]}`,
        ...text.slice(1).map((t) => `  ${" ".repeat(width)}${t}`),
      );
    }
  }
  lines.push("", "Examples:");
  for (const [ex, what] of cmd.examples) lines.push(`  ${ex}`, `      ${what}`);
  lines.push("", cmd.exits);
  return lines.join("\n");
}

/** The top-level help. */
export function mainHelp(): string {
  const lines = [
    "nsbox - a rootless sandbox for Linux",
    "",
    "Usage: nsbox COMMAND [OPTIONS]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(14)}${c.summary}`),
    `  ${"help".padEnd(14)}this help; \`nsbox help COMMAND\`: a command's (as \`nsbox COMMAND --help\`)`,
    `  ${"version".padEnd(14)}nsbox's version, Deno's and the C helper's ABI (also --version)`,
    "",
    "Run `nsbox COMMAND --help` for a command's options.",
    "",
    "Examples:",
    "  nsbox run -- sh",
    '  nsbox run --bind "$PWD" --chdir "$PWD" -- make',
  ];
  return lines.join("\n");
}
