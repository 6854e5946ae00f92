/**
 * The seccomp part of `deno task bench`: what nsbox's default syscall filter
 * costs a syscall-heavy program. `dd bs=1` copies COUNT bytes from /dev/zero
 * to /dev/null with one read(2) and one write(2) per byte; it runs bare on the
 * host, in a sandbox with `--seccomp=unconfined`, in one with the default
 * filter, and — as a control that separates "a filter at all" from "nsbox's
 * filter" — in one with a minimal filter (an OCI profile that allows
 * everything), at two counts, all in the same hyperfine runs. The difference between
 * the two counts cancels start-up and teardown and leaves the time per syscall.
 *
 * @module
 */
import { capture, commandLine, gist, type PartContext, sleep, which } from "./exec.ts";
import { timeAll, type Timing } from "./hyperfine.ts";

/** How to measure. */
export interface SeccompConfig {
  /** The two byte counts (syscalls = 2 × count). */
  counts: [number, number];
  /** hyperfine `--runs` per round. */
  runs: number;
  /** hyperfine runs over all commands, pooled. */
  rounds: number;
  /** hyperfine `--warmup`. */
  warmup: number;
}

/** Where `dd` ran. */
export type SeccompVariantId = "bare" | "unconfined" | "minimal" | "default";

/** One timed command. */
export interface SeccompCommand {
  variant: SeccompVariantId;
  count: number;
  name: string;
  /** The exact command hyperfine ran. */
  command: string;
  timing: Timing;
}

/** Everything the seccomp part found out. */
export interface SeccompResult {
  config: SeccompConfig;
  /** Why it was skipped, or null. */
  skipped: string | null;
  /** Variants left out, with the reason (only the optional `minimal` control may be). */
  droppedVariants: { variant: SeccompVariantId; reason: string }[];
  /** The allow-all OCI profile the `minimal` variant loads. */
  minimalProfile: string;
  /** The `Seccomp:` and `Seccomp_filters:` lines of /proc/self/status in each variant (proof the filter is there or not). */
  status: Partial<Record<SeccompVariantId, string>>;
  /** The exact commands that checked `status`. */
  statusCommands: Partial<Record<SeccompVariantId, string>>;
  commands: SeccompCommand[];
  /** Housekeeping: hyperfine rounds that failed and were rerun. */
  notes: string[];
  /** The hyperfine command line of one round (commands elided). */
  hyperfine: string;
}

/** An OCI seccomp profile that allows every syscall: nsbox turns it into a filter that checks only the ABI. */
const ALLOW_ALL_PROFILE = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [] };

function variants(profile: string): { id: SeccompVariantId; name: string; flags: string[] | null }[] {
  return [
    { id: "bare", name: "bare on the host", flags: null },
    { id: "unconfined", name: "nsbox --seccomp=unconfined", flags: ["--seccomp=unconfined"] },
    { id: "minimal", name: "nsbox --seccomp=allow-all profile", flags: [`--seccomp=${profile}`] },
    { id: "default", name: "nsbox (default filter)", flags: [] },
  ];
}

function wrap(ctx: PartContext, flags: string[] | null, argv: string[]): string[] {
  return flags === null ? argv : [...ctx.nsbox, "run", ...flags, "--", ...argv];
}

/** Measures the seccomp filter's cost per `config`. */
export async function measureSeccomp(config: SeccompConfig, ctx: PartContext): Promise<SeccompResult> {
  const profile = `${ctx.workDir}/allow-all.json`;
  await Deno.writeTextFile(profile, JSON.stringify(ALLOW_ALL_PROFILE));
  const hide = (text: string) => text.replaceAll(ctx.workDir, "$WORK");
  const result: SeccompResult = {
    config,
    skipped: null,
    droppedVariants: [],
    notes: [],
    minimalProfile: JSON.stringify(ALLOW_ALL_PROFILE),
    status: {},
    statusCommands: {},
    commands: [],
    hyperfine: `hyperfine -N --warmup ${config.warmup} --runs ${config.runs} --style basic ` +
      `--export-json FILE --command-name NAME 'COMMAND' ...`,
  };
  const dd = which("dd");
  const grep = which("grep");
  if (!dd || !grep) {
    result.skipped = `${dd ? "grep" : "dd"} is not on PATH`;
    return result;
  }
  // Check each variant runs, and that the filter is on or off as claimed.
  const runs = variants(profile);
  for (const v of [...runs]) {
    const argv = wrap(ctx, v.flags, [grep, "^Seccomp", "/proc/self/status"]);
    result.statusCommands[v.id] = hide(commandLine(argv));
    let out = await capture(argv, { cwd: ctx.tree, timeoutMs: 60_000 });
    for (let attempt = 2; out.code !== 0 && attempt <= 3; attempt++) {
      console.error(`bench: seccomp: ${v.name} failed, retrying in 5 s: ${gist(out.stderr)}`);
      await sleep(5000);
      out = await capture(argv, { cwd: ctx.tree, timeoutMs: 60_000 });
    }
    const status = out.stdout.trim().split("\n").map((l) => l.replace(/\s+/g, " ")).join(", ");
    if (v.id === "minimal" && (out.code !== 0 || !status.startsWith("Seccomp: 2"))) {
      // The control is optional: an nsbox without OCI profiles is still measured.
      const why = out.code !== 0 ? `exited ${out.code}: ${gist(out.stderr)}` : `showed ${status}`;
      result.droppedVariants.push({ variant: v.id, reason: hide(`\`${commandLine(argv)}\` ${why}`) });
      runs.splice(runs.indexOf(v), 1);
      continue;
    }
    if (out.code !== 0) {
      result.skipped = hide(`\`${commandLine(argv)}\` exited ${out.code}: ${gist(out.stderr)}`);
      return result;
    }
    result.status[v.id] = status;
  }
  const runnable: { variant: SeccompVariantId; count: number; name: string; argv: string[] }[] = [];
  for (const count of config.counts) {
    for (const v of runs) {
      const argv = wrap(ctx, v.flags, [dd, "if=/dev/zero", "of=/dev/null", "bs=1", `count=${count}`, "status=none"]);
      runnable.push({ variant: v.id, count, name: `${v.name}, ${count} bytes`, argv });
    }
  }
  console.error(`bench: seccomp: timing dd bs=1 (${config.counts.join(" and ")} bytes) bare and in nsbox ...`);
  const timings = await timeAll(
    { tree: ctx.tree, workDir: ctx.workDir, runs: config.runs, warmup: config.warmup, rounds: config.rounds },
    runnable,
    result.notes,
  );
  result.commands = runnable.map((r, i) => ({
    variant: r.variant,
    count: r.count,
    name: r.name,
    command: hide(commandLine(r.argv)),
    timing: timings[i]!,
  }));
  return result;
}
