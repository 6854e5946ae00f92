/**
 * `--seccomp FILE`: an OCI (Docker, podman) seccomp profile, checked and
 * resolved into plain data for one architecture and one capability set.
 * src/plan/seccomp.ts compiles the result to BPF.
 *
 * Supported: defaultAction (and defaultErrnoRet), architectures or archMap,
 * syscalls[].names/action/errnoRet/args (every comparison op), includes and
 * excludes on caps, arches and minKernel. Not supported: SCMP_ACT_TRACE and
 * SCMP_ACT_NOTIFY (nsbox has no tracer or notify listener), which are
 * refused rather than silently weakened.
 *
 * @module
 */
import type { SeccompArch } from "../linux.ts";
import { AARCH64_SYSCALLS, X86_64_SYSCALLS } from "./syscall_table.ts";
import { CAPABILITIES } from "./capabilities.ts";

/** What a rule (or the default) does. */
export type SeccompAction =
  | { readonly kind: "allow" }
  | { readonly kind: "errno"; readonly errno: number }
  | { readonly kind: "kill_process" }
  | { readonly kind: "kill_thread" }
  | { readonly kind: "trap" }
  | { readonly kind: "log" };

/** A comparison of one syscall argument (64-bit values as decimal strings, to stay JSON-safe). */
export interface ArgComparison {
  readonly index: number;
  readonly op: "NE" | "LT" | "LE" | "EQ" | "GE" | "GT" | "MASKED_EQ";
  readonly value: string;
  readonly valueTwo: string;
}

/** One rule: for syscall `nr`, when every comparison holds, `action`. */
export interface SyscallRule {
  readonly name: string;
  readonly nr: number;
  readonly action: SeccompAction;
  readonly args: readonly ArgComparison[];
}

/** A profile resolved for one architecture. */
export interface ResolvedProfile {
  /** The file it came from (for messages). */
  readonly source: string;
  readonly defaultAction: SeccompAction;
  readonly rules: readonly SyscallRule[];
  /** Names this architecture does not have (ignored, as libseccomp does). */
  readonly unknownNames: readonly string[];
}

const ARCH_NAMES: Record<SeccompArch, readonly string[]> = {
  x86_64: ["SCMP_ARCH_X86_64", "amd64", "x86_64"],
  aarch64: ["SCMP_ARCH_AARCH64", "arm64", "aarch64"],
};

const OPS: Record<string, ArgComparison["op"]> = {
  SCMP_CMP_NE: "NE",
  SCMP_CMP_LT: "LT",
  SCMP_CMP_LE: "LE",
  SCMP_CMP_EQ: "EQ",
  SCMP_CMP_GE: "GE",
  SCMP_CMP_GT: "GT",
  SCMP_CMP_MASKED_EQ: "MASKED_EQ",
};

const EPERM = 1;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : null;
}

/** Compares kernel versions "5.10" and "6.1.0-13-amd64": a ≥ b. */
function kernelAtLeast(actual: string, wanted: string): boolean {
  const parse = (v: string) => v.split(/[.-]/).slice(0, 3).map((x) => parseInt(x, 10) || 0);
  const [a, b] = [parse(actual), parse(wanted)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** The facts a profile's includes/excludes are decided on. */
export interface ProfileContext {
  readonly arch: SeccompArch;
  /** The command's capabilities (numbers). */
  readonly capabilities: readonly number[];
  /** The running kernel's release, e.g. "6.1.0-13-amd64". */
  readonly kernel: string;
}

/**
 * Resolves the OCI profile `text` (from `source`) for `ctx`, pushing one
 * problem per defect (naming --seccomp) into `problems`; null when it is
 * unusable.
 */
export function resolveProfile(
  text: string,
  source: string,
  ctx: ProfileContext,
  problems: string[],
): ResolvedProfile | null {
  const start = problems.length;
  const bad = (what: string) => problems.push(`--seccomp: ${source}: ${what}.`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    bad(`not JSON (${e instanceof Error ? e.message : String(e)})`);
    return null;
  }
  if (!isObject(doc)) {
    bad("expected a JSON object with defaultAction and syscalls");
    return null;
  }
  const action = (name: unknown, errnoRet: unknown, where: string): SeccompAction | null => {
    const errno = typeof errnoRet === "number" && Number.isInteger(errnoRet) && errnoRet > 0 && errnoRet < 4096
      ? errnoRet
      : EPERM;
    switch (name) {
      case "SCMP_ACT_ALLOW":
        return { kind: "allow" };
      case "SCMP_ACT_ERRNO":
        return { kind: "errno", errno };
      case "SCMP_ACT_KILL":
      case "SCMP_ACT_KILL_THREAD":
        return { kind: "kill_thread" };
      case "SCMP_ACT_KILL_PROCESS":
        return { kind: "kill_process" };
      case "SCMP_ACT_TRAP":
        return { kind: "trap" };
      case "SCMP_ACT_LOG":
        return { kind: "log" };
      case "SCMP_ACT_TRACE":
      case "SCMP_ACT_NOTIFY":
        bad(`${where}: ${name} is not supported (nsbox has no tracer or notification listener)`);
        return null;
      default:
        bad(`${where}: unknown action ${JSON.stringify(name)}`);
        return null;
    }
  };

  const defaultAction = action(doc.defaultAction, doc.defaultErrnoRet, "defaultAction");

  // architectures / archMap: the profile must cover this architecture (or name none).
  const listed: string[] = [];
  const arches = doc.architectures === undefined ? [] : strings(doc.architectures);
  if (arches === null) bad("architectures must be a list of names");
  else listed.push(...arches);
  if (Array.isArray(doc.archMap)) {
    for (const m of doc.archMap) if (isObject(m) && typeof m.architecture === "string") listed.push(m.architecture);
  }
  if (listed.length > 0 && !listed.some((a) => ARCH_NAMES[ctx.arch].includes(a))) {
    bad(`it does not cover ${ctx.arch} (architectures: ${listed.join(", ")})`);
  }

  const table = ctx.arch === "x86_64" ? X86_64_SYSCALLS : AARCH64_SYSCALLS;
  const capNames = new Set(ctx.capabilities.map((c) => `CAP_${CAPABILITIES[c]}`));
  // Docker's semantics: a rule applies when every `includes` condition holds
  // (all its caps, this arch, the kernel at least minKernel) and no `excludes`
  // condition does (any of its caps, this arch).
  const archIn = (v: unknown) => (strings(v) ?? []).some((a) => ARCH_NAMES[ctx.arch].includes(a));
  const included = (c: unknown): boolean => {
    if (!isObject(c)) return true;
    const caps = strings(c.caps) ?? [];
    if (!caps.every((x) => capNames.has(x))) return false;
    if ((strings(c.arches) ?? []).length > 0 && !archIn(c.arches)) return false;
    return typeof c.minKernel !== "string" || kernelAtLeast(ctx.kernel, c.minKernel);
  };
  const excluded = (c: unknown): boolean => {
    if (!isObject(c)) return false;
    return (strings(c.caps) ?? []).some((x) => capNames.has(x)) || archIn(c.arches);
  };

  const rules: SyscallRule[] = [];
  const unknownNames = new Set<string>();
  const syscalls = doc.syscalls === undefined ? [] : doc.syscalls;
  if (!Array.isArray(syscalls)) bad("syscalls must be a list");
  else {
    syscalls.forEach((s, i) => {
      const where = `syscalls[${i}]`;
      if (!isObject(s)) return void bad(`${where}: expected an object`);
      const names = s.names !== undefined ? strings(s.names) : typeof s.name === "string" ? [s.name] : null;
      if (!names) return void bad(`${where}: expected names, a list of syscall names`);
      const act = action(s.action, s.errnoRet, where);
      const args: ArgComparison[] = [];
      for (const [j, a] of (Array.isArray(s.args) ? s.args : []).entries()) {
        const op = isObject(a) ? OPS[String(a.op)] : undefined;
        const index = isObject(a) ? a.index : undefined;
        const num = (v: unknown) =>
          typeof v === "number" && Number.isInteger(v) && v >= 0 ? BigInt(v).toString() : v === undefined ? "0" : null;
        const value = isObject(a) ? num(a.value) : null, valueTwo = isObject(a) ? num(a.valueTwo) : null;
        if (!op || typeof index !== "number" || index < 0 || index > 5 || value === null || valueTwo === null) {
          bad(`${where}.args[${j}]: expected {index 0-5, value, valueTwo, op SCMP_CMP_*}`);
          continue;
        }
        args.push({ index, op, value, valueTwo });
      }
      if (!act || !included(s.includes) || excluded(s.excludes)) return;
      for (const name of names) {
        const nr = table[name];
        if (nr === undefined) unknownNames.add(name);
        else rules.push({ name, nr, action: act, args });
      }
    });
  }
  if (problems.length > start || !defaultAction) return null;
  return { source, defaultAction, rules, unknownNames: [...unknownNames].sort() };
}
