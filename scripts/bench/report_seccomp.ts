/**
 * The seccomp cost table and section of `docs/benchmarks.md`.
 *
 * @module
 */
import type { SeccompCommand, SeccompResult, SeccompVariantId } from "./seccomp.ts";
import { bootstrapCI } from "./stats.ts";

/** The target: the default filter makes the syscall loop at most this much slower than `--seccomp=unconfined`. */
export const SECCOMP_TARGET = 1.02;

const NAMES: Record<SeccompVariantId, string> = {
  bare: "bare on the host",
  unconfined: "nsbox `--seccomp=unconfined`",
  minimal: "nsbox, minimal filter (allow-all profile)",
  default: "nsbox, default filter",
};

const r3 = (x: number) => `${x.toFixed(3)}×`;
const f0 = (ms: number) => ms.toFixed(0);
const f1 = (x: number) => x.toFixed(1);

interface Figures {
  small: SeccompCommand;
  large: SeccompCommand;
  /** Syscalls between the two counts: 2 per byte (one read, one write). */
  syscalls: number;
}

function figures(s: SeccompResult, v: SeccompVariantId): Figures | null {
  const [a, b] = s.config.counts;
  const small = s.commands.find((c) => c.variant === v && c.count === a);
  const large = s.commands.find((c) => c.variant === v && c.count === b);
  return small && large ? { small, large, syscalls: 2 * (b - a) } : null;
}

/** ns per syscall from the difference of the two counts' medians. */
function perSyscall(f: Figures): number {
  return (f.large.timing.median - f.small.timing.median) / f.syscalls * 1e6;
}

function perSyscallCI(f: Figures): [number, number] {
  return bootstrapCI([f.large.timing.times, f.small.timing.times], ([l, s]) => (l! - s!) / f.syscalls * 1e6);
}

interface Ratio {
  whole: number;
  wholeCI: [number, number];
  slope: number;
  slopeCI: [number, number];
}

/** `x` over `y`: whole runs at the larger count, and per syscall (start-up cancelled). */
function ratioOf(x: Figures, y: Figures): Ratio {
  const sets = [x.large.timing.times, x.small.timing.times, y.large.timing.times, y.small.timing.times];
  return {
    whole: x.large.timing.median / y.large.timing.median,
    wholeCI: bootstrapCI([sets[0]!, sets[2]!], ([a, b]) => a! / b!),
    slope: perSyscall(x) / perSyscall(y),
    slopeCI: bootstrapCI(sets, ([xl, xs, yl, ys]) => (xl! - xs!) / (yl! - ys!)),
  };
}

const ci = ([lo, hi]: [number, number], f: (x: number) => string) => `${f(lo)} … ${f(hi)}`;

/** The per-variant table and the ratio table, as Markdown. */
export function seccompTable(s: SeccompResult): string {
  if (s.skipped) return `Seccomp cost skipped: ${s.skipped}`;
  const [a, b] = s.config.counts;
  const rows = [
    `| where dd runs | /proc/self/status | ${a} bytes: median ms (min) | ${b} bytes: median ms (min) | ` +
    `ns per syscall (95% CI) |`,
    "| --- | --- | ---: | ---: | ---: |",
  ];
  for (const v of ["bare", "unconfined", "minimal", "default"] as const) {
    const f = figures(s, v);
    if (!f) continue;
    rows.push(
      `| ${NAMES[v]} | ${s.status[v] ?? "?"} | ${f0(f.small.timing.median)} (${f0(f.small.timing.min)}) | ` +
        `${f0(f.large.timing.median)} (${f0(f.large.timing.min)}) | ${f1(perSyscall(f))} ` +
        `(${ci(perSyscallCI(f), f1)}) |`,
    );
  }
  const d = figures(s, "default"), u = figures(s, "unconfined"), bare = figures(s, "bare");
  const m = figures(s, "minimal");
  const ratios: [string, Figures | null, Figures | null][] = [
    [`default / unconfined (target ≤ ${SECCOMP_TARGET}×)`, d, u],
    ["unconfined / bare", u, bare],
    ["default / bare", d, bare],
    ["minimal / unconfined (any filter at all)", m, u],
    ["default / minimal (nsbox's rules beyond the minimum)", d, m],
  ];
  const rt = [
    `| ratio of medians | whole runs, ${b} bytes (95% CI) | per syscall, from ${a} → ${b} bytes (95% CI) |`,
    "| --- | ---: | ---: |",
  ];
  for (const [name, x, y] of ratios) {
    if (!x || !y) continue;
    const r = ratioOf(x, y);
    rt.push(`| ${name} | ${r3(r.whole)} (${ci(r.wholeCI, r3)}) | ${r3(r.slope)} (${ci(r.slopeCI, r3)}) |`);
  }
  return [...rows, "", ...rt].join("\n");
}

/** One sentence: the default filter against the target. */
export function seccompVerdict(s: SeccompResult): string {
  if (s.skipped) return "";
  const d = figures(s, "default"), u = figures(s, "unconfined");
  if (!d || !u) return "No verdict: a variant did not run.";
  const r = ratioOf(d, u);
  const [lo, hi] = r.slopeCI;
  // Both sides pay the same start-up (the filter is installed just before exec), which only pulls the whole-run
  // ratio towards 1: a whole-run ratio clearly over the target puts the per-syscall ratio over it too.
  const status = hi <= SECCOMP_TARGET
    ? `**within** the ${SECCOMP_TARGET}× target`
    : lo > SECCOMP_TARGET
    ? `**over** the ${SECCOMP_TARGET}× target`
    : r.wholeCI[0] > SECCOMP_TARGET
    ? `**over** the ${SECCOMP_TARGET}× target (the per-syscall interval is wide, but the whole-run ratio, which the ` +
      `shared start-up can only pull towards 1, is over it with its whole interval)`
    : `**not resolved** against the ${SECCOMP_TARGET}× target (the intervals straddle it)`;
  return `Default filter / \`--seccomp=unconfined\`: **${r3(r.slope)}** per syscall (95% interval ` +
    `${ci(r.slopeCI, r3)}), ${r3(r.whole)} on whole runs of ${s.config.counts[1]} bytes ` +
    `(${ci(r.wholeCI, r3)}): ${status}.`;
}

function interpretation(s: SeccompResult, release: string, specStoreBypass: string): string[] {
  const d = figures(s, "default"), u = figures(s, "unconfined"), bare = figures(s, "bare");
  if (!d || !u || !bare) return ["A variant did not run; nothing to interpret."];
  const [a, b] = s.config.counts;
  const du = ratioOf(d, u), ub = ratioOf(u, bare);
  const out = [
    `- \`dd bs=1\` makes one read(2) and one write(2) per byte, so going from ${a} to ${b} bytes adds ` +
    `${2 * (b - a)} syscalls; dividing the difference of the medians by that count cancels start-up and teardown ` +
    `(nsbox's, and dd's own). Bare on the host a syscall round trip here costs ${f1(perSyscall(bare))} ns ` +
    `(this VM's kernel ${release}, with its Spectre mitigations).`,
    `- ${seccompVerdict(s)} In absolute terms the filter adds ${f1(perSyscall(d) - perSyscall(u))} ns per ` +
    `syscall (difference of the per-syscall figures; ${ci(perSyscallCI(d), f1)} vs ${ci(perSyscallCI(u), f1)} ns).`,
    `- The sandbox itself (namespaces, no filter): unconfined / bare is ${r3(ub.slope)} per syscall ` +
    `(${ci(ub.slopeCI, r3)}) and ${r3(ub.whole)} on whole runs of ${b} bytes; the whole-run figure includes ` +
    `nsbox's start-up and teardown (measured on its own in the start-up section), which the per-syscall ` +
    `figure cancels.`,
    `- The whole-run ratio default / unconfined is ${r3(du.whole)} (${ci(du.wholeCI, r3)}); both sides pay the same ` +
    `start-up, which dilutes it slightly towards 1.`,
    `- Not measured here: on hosts whose \`/sys/devices/system/cpu/vulnerabilities/spec_store_bypass\` reads ` +
    `"… via prctl and seccomp", installing any seccomp filter also turns on Speculative Store Bypass Disable for ` +
    `the process, which can slow ordinary user-space code (nsbox does not pass SECCOMP_FILTER_FLAG_SPEC_ALLOW). ` +
    `This machine reads "${specStoreBypass}".`,
  ];
  const m = figures(s, "minimal");
  if (m) {
    const added = perSyscall(d) - perSyscall(u);
    const any = perSyscall(m) - perSyscall(u);
    const dm = ratioOf(d, m), mu = ratioOf(m, u);
    out.splice(
      2,
      0,
      `- The control, a minimal filter (nsbox's translation of the OCI profile \`${s.minimalProfile}\`: check the ` +
        `ABI, refuse x32, allow), costs ${r3(mu.slope)} (${ci(mu.slopeCI, r3)}) of unconfined per syscall, ` +
        `${f1(any)} ns; nsbox's default filter costs ${r3(dm.slope)} (${ci(dm.slopeCI, r3)}) of the minimal one. ` +
        `Against unconfined, the minimal filter adds ${f1(any)} ns per syscall and the default filter ` +
        `${f1(added)} ns${
          added > 0 && any > 0 && any <= added
            ? ` (${(any / added * 100).toFixed(0)}% of it is there with any filter)`
            : ""
        }. ` +
        `With a filter installed every syscall takes the kernel's syscall-entry work path (\`secure_computing\`) ` +
        `instead of going straight to the call; since Linux 5.11 the kernel also caches, per syscall number, the ` +
        `calls a filter allows whatever their arguments (read and write here, in both filters), so the BPF program ` +
        `itself is normally skipped for them. ` +
        (dm.slopeCI[0] <= 1 && dm.slopeCI[1] >= 1
          ? (mu.slopeCI[0] > 1 || mu.wholeCI[0] > 1
            ? `Here the minimal filter is measurably slower than none, while nsbox's filter cannot be told apart ` +
              `from the minimal one (the interval of their ratio includes 1×): some of the cost comes with having ` +
              `a filter at all; how the total divides between that and nsbox's rules (point estimates ${f1(any)} ` +
              `and ${f1(added - any)} ns) is below this run's resolution.`
            : `Here neither the minimal filter against none nor nsbox's filter against the minimal one is resolved ` +
              `on its own.`)
          : dm.slopeCI[0] > 1
          ? `Here nsbox's filter is measurably slower than the minimal one (${f1(perSyscall(d) - perSyscall(m))} ns ` +
            `per syscall), so its rules cost something on top of having a filter at all.`
          : `Here nsbox's filter even measured faster than the minimal one, which can only be noise.`),
    );
  }
  return out;
}

/** The `## Seccomp cost` section of the page. */
export function seccompSection(s: SeccompResult, release: string, specStoreBypass: string): string[] {
  const lines = ["## Seccomp cost", ""];
  if (s.skipped) return [...lines, `Skipped: ${s.skipped}`, ""];
  const [a, b] = s.config.counts;
  lines.push(
    `What nsbox's default seccomp filter costs a syscall-heavy program: \`dd if=/dev/zero of=/dev/null bs=1\` ` +
      `(${2 * a} and ${2 * b} syscalls for ${a} and ${b} bytes) bare on the host, in nsbox with ` +
      `\`--seccomp=unconfined\`, in nsbox with its default filter, and, as a control, in nsbox with a minimal ` +
      `filter (the allow-all OCI profile \`${s.minimalProfile}\` given to \`--seccomp\`), all in the same ` +
      `hyperfine runs.`,
    "",
    "### Results",
    "",
    seccompTable(s),
    "",
    seccompVerdict(s),
    "",
    "The `/proc/self/status` column is what a process in that variant sees (`Seccomp: 2` is filter mode), checked " +
      "before timing with the commands below.",
    "",
    ...(s.droppedVariants.length || s.notes.length
      ? [
        ...s.droppedVariants.map((d) => `- Left out: ${NAMES[d.variant]}: ${d.reason}`),
        ...s.notes.map((n) => `- ${n}`),
        "",
      ]
      : []),
    "### Interpretation",
    "",
    ...interpretation(s, release, specStoreBypass),
    "",
    "### Exact commands",
    "",
    `${s.config.rounds} hyperfine round(s) of \`${s.hyperfine}\`, pooled: ${s.config.rounds * s.config.runs} ` +
      `timed runs per command (short rounds interleave the commands, so that other load on the machine spreads ` +
      `over all of them), from the nsbox tree as working directory:`,
    "",
    "```sh",
    ...s.commands.map((c) => `# ${c.name}\n${c.command}`),
    ...(["bare", "unconfined", "minimal", "default"] as const).flatMap((v) =>
      s.statusCommands[v] ? [`# check: ${NAMES[v].replaceAll("`", "")}`, s.statusCommands[v]!] : []
    ),
    "```",
    "",
  );
  return lines;
}
