/**
 * `nsbox profile list` and `nsbox profile show NAME|FILE`.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { BUILTIN_PROFILES, PROFILE } from "./flags.ts";
import { has, parseArgs } from "./parse.ts";
import {
  BUILTIN_SUMMARY,
  loadProfile,
  profileFlags,
  type ProfileHost,
  profilesDir,
  realProfileHost,
  userProfiles,
} from "./profile.ts";
import { commandHelp } from "./help.ts";

/** The output of `nsbox profile ARGS...` on `host` (throws a UsageError for bad input). */
export function profileOutput(args: readonly string[], host: ProfileHost): string {
  const parsed = parseArgs(PROFILE, args);
  if (has(parsed, "help")) return commandHelp(PROFILE);
  const [sub, ...rest] = parsed.operands;
  if (sub === "list" && rest.length === 0) {
    const lines = BUILTIN_PROFILES.map((n) => `${n.padEnd(16)}built-in: ${BUILTIN_SUMMARY[n]}`);
    for (const [name, file] of userProfiles(host)) {
      const reserved = (BUILTIN_PROFILES as readonly string[]).includes(name);
      if (reserved) lines.push(`${name.padEnd(16)}${file} (not used: ${name} is a built-in name)`);
      else {
        let description = "";
        try {
          const d = loadProfile(file, host).description;
          if (d) description = `: ${d}`;
        } catch (e) {
          if (!(e instanceof UsageError)) throw e;
          description = ` (bad: ${e.problems[0]!.replace(/^--profile [^:]+: /, "")})`;
        }
        lines.push(`${name.padEnd(16)}${file}${description}`);
      }
    }
    if (lines.length === BUILTIN_PROFILES.length) {
      lines.push(`(none of yours: put NAME.json in ${profilesDir(host.env) ?? "~/.config/nsbox/profiles"})`);
    }
    return lines.join("\n");
  }
  if (sub === "show" && rest.length === 1) {
    const profile = loadProfile(rest[0]!, host);
    const from = profile.source === "built-in" ? "built-in" : profile.source;
    const here = profile.source === "built-in" ? ` in ${host.cwd}` : "";
    const head = `# --profile ${rest[0]} (${from})${here} is the same as these flags of nsbox run:`;
    const flags = profileFlags(profile);
    return flags === "" ? `${head}\n# (none)` : `${head}\n${flags}`;
  }
  const got = parsed.operands.length ? `'${parsed.operands.join(" ")}'` : "nothing";
  throw new UsageError([`profile: expected 'list' or 'show NAME|FILE', got ${got}.`]);
}

/** `nsbox profile ...`: prints the output; 0. */
export function profileCommand(args: readonly string[]): number {
  console.log(profileOutput(args, realProfileHost()));
  return 0;
}
