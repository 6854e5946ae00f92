// What a sandbox with limits leaves in the user's systemd and cgroup tree, for the VM tests (limits_test.ts,
// faults_test.ts): its units and cgroups, and a wait until systemd has collected them.
import assert from "node:assert/strict";
import { lines, waitUntil } from "../integration/_harness.ts";

/** nsbox-* units of the user's manager, in any state. */
export async function nsboxUnits(): Promise<string[]> {
  const out = await new Deno.Command("systemctl", {
    args: ["--user", "list-units", "--all", "--no-legend", "--plain", "nsbox-*"],
    stdout: "piped",
  }).output();
  return lines(new TextDecoder().decode(out.stdout));
}

/** nsbox-* cgroups anywhere under the user's slice. */
export function nsboxCgroups(dir = `/sys/fs/cgroup/user.slice/user-${Deno.uid()}.slice`): string[] {
  const found: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return found; // removed while walking (systemd collecting a scope)
    throw e;
  }
  for (const e of entries) {
    if (!e.isDirectory) continue;
    const path = `${dir}/${e.name}`;
    if (e.name.startsWith("nsbox-")) found.push(path);
    found.push(...nsboxCgroups(path));
  }
  return found;
}

/** What a left-over cgroup holds, for the failure message: its processes and events. */
export function describeCgroups(paths: readonly string[]): string {
  return paths.map((p) => {
    const read = (f: string) => {
      try {
        return Deno.readTextFileSync(`${p}/${f}`).trim().replaceAll("\n", ", ");
      } catch (e) {
        return String(e);
      }
    };
    return `${p} (procs: ${read("cgroup.procs") || "none"}; events: ${read("cgroup.events")})`;
  }).join("; ");
}

/**
 * Waits until no nsbox cgroup and no nsbox unit is left: systemd collects an empty scope asynchronously, slowly in
 * an emulated VM under load (nothing here removes a scope's directory: that is systemd's).
 */
export async function assertNothingLeft(what: string) {
  try {
    await waitUntil(() => nsboxCgroups().length === 0, `no nsbox cgroup left ${what}`, 40_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${describeCgroups(nsboxCgroups())}`);
  }
  let units: string[] = [];
  for (let i = 0; i < 100; i++) {
    units = await nsboxUnits();
    if (units.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(units, [], `no nsbox unit left ${what}`);
}

/**
 * Runs `argv` in a transient scope that systemd delegates to the user (`systemd-run --user --scope -p Delegate=yes`),
 * with the user bus out of nsbox's sight (no DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR=/nonexistent) so that nsbox
 * uses the delegated cgroup it starts in; `env` (NAME=VALUE) is added to the environment.
 */
export async function inDelegatedScope(
  argv: readonly string[],
  env: readonly string[] = [],
): Promise<Deno.CommandOutput> {
  return await new Deno.Command("systemd-run", {
    args: [
      ...["--user", "--scope", "--quiet", "-p", "Delegate=yes", "--"],
      ...["env", "-u", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR=/nonexistent", ...env, ...argv],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
}
