/**
 * `nsbox run`: flags → {@linkcode RunOptions}.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { EnvEdit, MountOption, RunOptions, ShareableNamespace } from "../spec/options.ts";
import { has, type Parsed, value, values } from "./parse.ts";

function splitBind(spec: string): { source: string; destination?: string } {
  const colon = spec.indexOf(":");
  return colon < 0 ? { source: spec } : { source: spec.slice(0, colon), destination: spec.slice(colon + 1) };
}

/** Maps a parsed `nsbox run` command line to run options; reports every problem at once. */
export function runOptionsFromArgs(parsed: Parsed): RunOptions {
  const problems: string[] = [];
  const mounts: MountOption[] = [];
  const envEdits: EnvEdit[] = [];
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
      case "tmpfs":
        mounts.push({ kind: "tmpfs", destination: v });
        break;
      case "setenv": {
        const eq = v.indexOf("=");
        if (eq <= 0) problems.push(`--setenv: expected NAME=VALUE, got '${v}'.`);
        else envEdits.push({ kind: "set", name: v.slice(0, eq), value: v.slice(eq + 1) });
        break;
      }
      case "unsetenv":
        envEdits.push({ kind: "unset", name: v });
        break;
    }
  }
  const share = values(parsed, "share").flatMap((s) => s.split(",")).map((s) => s.trim()) as ShareableNamespace[];
  if (parsed.operands.length === 0) problems.push("No command given: expected `nsbox run [OPTIONS] -- CMD [ARGS...]`.");
  if (problems.length) throw new UsageError(problems);
  return {
    command: parsed.operands,
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
  };
}
