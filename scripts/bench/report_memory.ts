/**
 * The memory table and section of `docs/benchmarks.md`: the resident memory
 * of nsbox's supervisor and of the sandbox's PID 1 while a command runs,
 * against the 1 MB targets, with bubblewrap's processes as a peer.
 *
 * @module
 */
import { MEMORY_TARGET_KIB, type MemoryMode, type MemoryResult, type MemRole } from "./memory.ts";

const mib = (kib: number | null) => kib === null || !Number.isFinite(kib) ? "n/a" : (kib / 1024).toFixed(2);
const times = (x: number) => `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×`;

const ROLE_NAMES: Record<MemRole["role"], string> = {
  supervisor: "supervisor",
  pid1: "PID 1",
  helper: "helper",
};

/** "**over** (22× the target)" / "**under**" for a Pss figure against the target, or why there is none. */
function verdictOf(r: MemRole): string {
  if (r.figures.pssKiB === null) return `no Pss (${r.unreadable ?? "unreadable"})`;
  return r.figures.pssKiB <= MEMORY_TARGET_KIB
    ? "**under**"
    : `**over** (${times(r.figures.pssKiB / MEMORY_TARGET_KIB)} the target)`;
}

function bwrapRole(m: MemoryResult, role: "supervisor" | "pid1"): MemRole | undefined {
  return m.modes.find((x) => x.id === "bwrap")?.[role];
}

function roleRow(mode: MemoryMode, r: MemRole, first: boolean, m: MemoryResult): string {
  const peer = r.role === "helper" ? undefined : bwrapRole(m, r.role);
  const vsPeer = mode.id === "bwrap"
    ? "1×"
    : peer?.figures.pssKiB && r.figures.pssKiB !== null
    ? times(r.figures.pssKiB / peer.figures.pssKiB)
    : "–";
  const isNsbox = mode.id !== "bwrap";
  const target = r.role === "helper" ? "none" : isNsbox ? "≤ 1 MiB" : "(peer)";
  const verdict = r.role === "helper" ? "–" : isNsbox ? verdictOf(r) : verdictOf(r).replaceAll("**", "");
  return `| ${first ? mode.name : ""} | ${ROLE_NAMES[r.role]} (${r.comm}) | ${mib(r.figures.rssKiB)} | ` +
    `${mib(r.figures.pssKiB)} | ${mib(r.figures.privateKiB)} | ${vsPeer} | ${target} | ${verdict} |`;
}

/** The results table as Markdown. */
export function memoryTable(m: MemoryResult): string {
  const rows = [
    "| mode | process | VmRSS MiB | Pss MiB | Private MiB | Pss × bubblewrap's | target (Pss) | verdict |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const mode of m.modes) {
    if (mode.notMeasured !== null) {
      const short = /^not measurable on this host/.test(mode.notMeasured)
        ? "not measurable on this host (needs the VM suite)"
        : "not measured";
      rows.push(`| ${mode.name} | – | – | – | – | – | ${mode.id === "bwrap" ? "(peer)" : "≤ 1 MiB"} | ${short} |`);
      continue;
    }
    const roles = [mode.supervisor, mode.pid1, ...mode.helpers].filter((r): r is MemRole => r !== undefined);
    roles.forEach((r, i) => rows.push(roleRow(mode, r, i === 0, m)));
  }
  return rows.join("\n");
}

/** One paragraph: the figures against the targets. */
export function memoryVerdict(m: MemoryResult): string {
  const nsboxModes = m.modes.filter((x) => x.id !== "bwrap");
  const measured = nsboxModes.filter((x) => x.notMeasured === null);
  const list = (role: "supervisor" | "pid1") =>
    measured.map((x) => `${mib(x[role]?.figures.pssKiB ?? null)} (${x.name})`).join(", ");
  const all = measured.flatMap((x) => [x.supervisor, x.pid1]).filter((r): r is MemRole => r !== undefined);
  const withPss = all.filter((r) => r.figures.pssKiB !== null);
  const over = withPss.filter((r) => r.figures.pssKiB! > MEMORY_TARGET_KIB);
  const status = !withPss.length
    ? "no verdict (Pss could not be read)"
    : over.length
    ? `**over** the target in ${over.length} of ${withPss.length} measured cases`
    : `**within** the target in all ${withPss.length} measured cases`;
  const lines = [
    `Targets ≤ 1 MiB Pss each for the supervisor and for PID 1: ${status}. ` +
    `Supervisor Pss MiB: ${list("supervisor") || "none measured"}; PID 1 Pss MiB: ${list("pid1") || "none measured"}.`,
  ];
  const priv = all.filter((r) => r.figures.privateKiB !== null);
  if (priv.length) {
    const privOver = priv.filter((r) => r.figures.privateKiB! > MEMORY_TARGET_KIB).length;
    lines[0] += ` By Private (what each process alone holds) instead of Pss: ${privOver} of ${priv.length} over ` +
      `(supervisor ${measured.map((x) => mib(x.supervisor?.figures.privateKiB ?? null)).join(", ")}; PID 1 ` +
      `${measured.map((x) => mib(x.pid1?.figures.privateKiB ?? null)).join(", ")} MiB).`;
  }
  const missing = nsboxModes.filter((x) => x.notMeasured !== null);
  for (const x of missing) lines.push(`${x.name}: ${x.notMeasured}`);
  const bs = bwrapRole(m, "supervisor");
  const bp = bwrapRole(m, "pid1");
  if (bs || bp) {
    lines.push(
      `Peer: bubblewrap's outer process holds ${mib(bs?.figures.pssKiB ?? null)} MiB Pss ` +
        `(VmRSS ${mib(bs?.figures.rssKiB ?? null)}) and its PID 1 ${mib(bp?.figures.pssKiB ?? null)} MiB ` +
        `(VmRSS ${mib(bp?.figures.rssKiB ?? null)}).`,
    );
  }
  return lines.join("\n\n");
}

function interpretation(m: MemoryResult): string[] {
  const out: string[] = [];
  const fg = m.modes.find((x) => x.id === "foreground");
  const det = m.modes.find((x) => x.id === "detached");
  const net = m.modes.find((x) => x.id === "net");
  const s = fg?.supervisor;
  if (s) {
    out.push(
      `- The supervisor is a whole Deno process (V8 heap, the runtime, nsbox's loaded modules) waiting for the ` +
        `sandbox: ${mib(s.figures.rssKiB)} MiB resident, ${mib(s.figures.privateKiB)} MiB of it private to it. ` +
        `Its Pss counts the file pages of the ${s.comm} executable shared with the other processes running it ` +
        `(up to ${s.sameExe} others at a sample, including the other engineers' tests on this machine) at a ` +
        `fraction, so it drops when more of them run; Private does not.`,
    );
  }
  const p = fg?.pid1;
  if (p && s && p.exe !== null && p.exe === s.exe) {
    out.push(
      `- PID 1 (${p.comm}) is a forked child of the supervisor that did not exec another program ` +
        `(its \`/proc/PID/exe\` is the supervisor's, \`${p.exe}\`): it keeps a copy-on-write image of the Deno ` +
        `process (VmRSS ${mib(p.figures.rssKiB)} MiB), of which ${mib(p.figures.privateKiB)} MiB has become its ` +
        `own; its Pss (${mib(p.figures.pssKiB)} MiB) charges it a share of each page it still shares with the ` +
        `supervisor (and with any other process mapping it).`,
    );
  } else if (p) {
    out.push(
      `- PID 1 (${p.comm}, \`${p.exe ?? "exe unreadable"}\`): VmRSS ${mib(p.figures.rssKiB)} MiB, ` +
        `${mib(p.figures.privateKiB)} MiB private, Pss ${mib(p.figures.pssKiB)} MiB.`,
    );
  }
  if (det?.supervisor && s) {
    out.push(
      `- Detached (\`-d\`), the supervisor is a re-executed nsbox that outlives \`nsbox run\`: ` +
        `${mib(det.supervisor.figures.pssKiB)} MiB Pss vs ${mib(s.figures.pssKiB)} in the foreground.`,
    );
  }
  for (const h of net?.helpers ?? []) {
    out.push(
      `- With \`--net\` the supervisor also runs ${h.comm} (no target in the issue, but memory per sandbox all ` +
        `the same): ${mib(h.figures.rssKiB)} MiB VmRSS, ${mib(h.figures.pssKiB)} Pss, ${mib(h.figures.privateKiB)} ` +
        `private.`,
    );
  }
  const bs = bwrapRole(m, "supervisor");
  const bp = bwrapRole(m, "pid1");
  if (bs && bp) {
    out.push(
      `- Bubblewrap's two processes (the outer one that waits, and PID 1 that reaps) are small C programs: ` +
        `${mib(bs.figures.privateKiB)} and ${mib(bp.figures.privateKiB)} MiB private; most of their VmRSS ` +
        `(${mib(bs.figures.rssKiB)}, ${mib(bp.figures.rssKiB)}) is the C library shared with every other process.`,
    );
  }
  out.push(
    `- Which figure: VmRSS counts every resident page including shared ones (libc, the Deno executable), so it ` +
      `overstates what one more sandbox costs; Private is what freeing the process would give back; Pss, between ` +
      `the two, charges each shared page to its sharers in equal parts and is what the verdict uses.`,
  );
  return out;
}

/** The memory section of the page. */
export function memorySection(m: MemoryResult): string[] {
  const c = m.config;
  const lines: string[] = [
    "## Memory of a running sandbox",
    "",
    "What nsbox's own processes hold in memory while the sandbox runs a command (`sleep`), besides the command " +
    "itself: the **supervisor** (the nsbox process that waits for the sandbox: for a foreground run the process " +
    "started, for `-d` the detached supervisor, i.e. the parent of the PID 1 that `nsbox ps --json` names) and " +
    "the sandbox's **PID 1** (the supervisor's child whose `/proc/PID/status` `NSpid` ends in 1; for `-d` the " +
    "benchmark also checks that the sandbox's record, `state.json`, names the same supervisor). Bubblewrap, run " +
    "the same way, is the peer: its outer process and its PID 1.",
    "",
    `Per mode ${c.repeats} sandbox(es), each sampled ${c.samples} times ${c.intervalMs} ms apart starting ` +
    `${c.settleMs} ms after its command was seen running; the figures are medians over the samples, then over ` +
    `the sandboxes. VmRSS from \`/proc/PID/status\`; Pss and Private (\`Private_Clean + Private_Dirty\`) from ` +
    `\`/proc/PID/smaps_rollup\`. 1 MiB = 1024 KiB (the kernel's "kB").`,
    "",
    "### Results",
    "",
    memoryTable(m),
    "",
    memoryVerdict(m),
    "",
  ];
  const notes = [
    ...m.notes,
    ...m.modes.flatMap((x) => x.notes.map((n) => `${x.name}: ${n}`)),
    ...m.modes.filter((x) => x.notMeasured !== null && x.id !== "limits")
      .map((x) => `${x.name} not measured: ${x.notMeasured}`),
    ...m.modes.flatMap((x) =>
      [x.supervisor, x.pid1].filter((r) => r?.unreadable).map((r) =>
        `${x.name}, ${ROLE_NAMES[r!.role]}: \`smaps_rollup\` not readable (${r!.unreadable}) by ${m.sampledAs}`
      )
    ),
  ];
  if (notes.length) lines.push("### Notes", "", ...notes.map((n) => `- ${n}`), "");
  lines.push("### Interpretation", "", ...interpretation(m), "");
  lines.push(
    "### Exact commands",
    "",
    m.launcher
      ? `Each started as the unprivileged user with the prefix \`${m.launcher}\`; \`/proc\` read as ` +
        `${m.sampledAs} (nsbox-init is not dumpable, so its owner may not read its \`smaps_rollup\`). From the ` +
        `nsbox tree as working directory:`
      : `Each started directly; \`/proc\` read as ${m.sampledAs}. From the nsbox tree as working directory:`,
    "",
    "```sh",
    ...m.modes.map((x) => `# ${x.name}\n${x.command}`),
    "```",
    "",
    "NAME is a fresh `bench-mem-XXXXXXXX` per sandbox. Once sampled, a foreground sandbox's `sleep` gets SIGTERM " +
      "(nsbox and bubblewrap then exit); a detached one is stopped with `nsbox kill NAME` and forgotten with " +
      "`nsbox rm NAME`.",
    "",
  );
  return lines;
}
