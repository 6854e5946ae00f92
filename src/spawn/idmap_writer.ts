/**
 * Writes the child's uid_map/gid_map from the parent: directly through /proc
 * for the caller's own ids, or through newuidmap/newgidmap (setuid helpers
 * from shadow's uidmap package) when subordinate ranges are mapped.
 *
 * @module
 */
import { NsboxError, OsError } from "../errors.ts";
import type { IdMapLine, IdMapPlan } from "../plan/ops.ts";
import { readText } from "../spec/host.ts";

/** The text of a uid_map/gid_map file. */
export function mapText(lines: readonly IdMapLine[]): string {
  return lines.map((l) => `${l.inside} ${l.outside} ${l.count}\n`).join("");
}

function osErrno(e: unknown): number {
  if (e instanceof Deno.errors.PermissionDenied) return 1;
  if (e instanceof Deno.errors.NotFound) return 2;
  const m = e instanceof Error ? /os error (\d+)/.exec(e.message) : null;
  return m ? Number(m[1]) : 5;
}

function writeProc(pid: number, file: string, text: string) {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/${file}`, text);
  } catch (e) {
    const err = osErrno(e);
    throw new OsError(`cannot write ${file} of the sandbox`, err, {
      hint: err === 1 ? userNamespaceHint() : undefined,
    });
  }
}

function runIdMapTool(tool: string, pid: number, lines: readonly IdMapLine[]) {
  const args = [String(pid), ...lines.flatMap((l) => [l.inside, l.outside, l.count].map(String))];
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(tool, { args, stdin: "null", stdout: "null", stderr: "piped" }).outputSync();
  } catch (cause) {
    throw new NsboxError(`cannot run ${tool}`, { hint: "install the uidmap package", cause });
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new NsboxError(`${tool} failed: ${why || `exit status ${out.code}`}`, {
      hint: "check the caller's ranges in /etc/subuid and /etc/subgid",
    });
  }
}

/** Writes `maps` for the child `pid`. */
export function writeIdMaps(pid: number, maps: IdMapPlan) {
  if (maps.writer === "none") return;
  if (maps.writer === "newidmap") {
    runIdMapTool("newuidmap", pid, maps.uid);
    runIdMapTool("newgidmap", pid, maps.gid);
    return;
  }
  writeProc(pid, "uid_map", mapText(maps.uid));
  writeProc(pid, "setgroups", maps.setgroups);
  writeProc(pid, "gid_map", mapText(maps.gid));
}

function readSysctl(path: string): string | null {
  return readText(path)?.trim() ?? null;
}

/**
 * The sysctl that stops unprivileged user namespaces on this host, and the fix; null when none does.
 * `read` reads a /proc/sys file (trimmed, null when absent): `nsbox doctor` passes a fake host's.
 */
export function userNamespaceSysctlHint(read: (path: string) => string | null = readSysctl): string | null {
  if (read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") === "1") {
    return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): " +
      "install an AppArmor profile that allows `userns` for nsbox (see README, 'Host requirements'), " +
      "or run `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`";
  }
  if (read("/proc/sys/kernel/unprivileged_userns_clone") === "0") {
    return "unprivileged user namespaces are disabled: run `sudo sysctl kernel.unprivileged_userns_clone=1`";
  }
  if (read("/proc/sys/user/max_user_namespaces") === "0") {
    return "user namespaces are disabled (user.max_user_namespaces=0): run `sudo sysctl user.max_user_namespaces=15000`";
  }
  return null;
}

/** What the host does to stop unprivileged user namespaces, and the fix. */
export function userNamespaceHint(): string {
  return userNamespaceSysctlHint() ??
    "the host does not let this user create user namespaces (a container without them, or a seccomp policy)";
}
