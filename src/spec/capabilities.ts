/**
 * Linux capabilities by name, and the set a sandbox's command gets.
 *
 * @module
 */

/** Capability numbers (linux/capability.h), CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40. */
export const CAPABILITIES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
] as const;

/** A capability name without the CAP_ prefix. */
export type Capability = typeof CAPABILITIES[number];

/**
 * What `--root` does not keep unless `--cap-add` asks for it: capabilities
 * that in a user namespace grant nothing but reach into the kernel (modules,
 * raw I/O, time, kernel log, MAC and audit policy, process accounting, wake
 * alarms, suspend, immutable flags, BPF and perf) or let PID 1 be rebooted.
 */
export const ROOT_DENIED: readonly Capability[] = [
  "LINUX_IMMUTABLE",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_PACCT",
  "SYS_BOOT",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "AUDIT_READ",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "PERFMON",
  "BPF",
];

/** The number of a capability name ("net_admin", "CAP_NET_ADMIN", "NET_ADMIN"), or null. */
export function capabilityNumber(name: string): number | null {
  const n = CAPABILITIES.indexOf(name.toUpperCase().replace(/^CAP_/, "") as Capability);
  return n < 0 ? null : n;
}

/**
 * The command's capabilities: none for "user" and everything but
 * {@linkcode ROOT_DENIED} for "root"; then `drops` (or "ALL") and `adds`, in
 * that order, as numbers.
 */
export function capabilitySet(
  mode: "user" | "root",
  adds: readonly number[],
  drops: readonly number[] | "all",
): number[] {
  const set = new Set<number>();
  if (mode === "root") {
    CAPABILITIES.forEach((c, i) => {
      if (!ROOT_DENIED.includes(c)) set.add(i);
    });
  }
  if (drops === "all") set.clear();
  else for (const d of drops) set.delete(d);
  for (const a of adds) set.add(a);
  return [...set].sort((a, b) => a - b);
}
