/**
 * Cgroup managers: how a sandbox gets a cgroup v2 of its own when limits are
 * asked for. Like crun's, one interface with several implementations:
 *
 * - "systemd": a transient scope with Delegate=yes from the user's systemd
 *   manager (the normal case on a desktop or CI host);
 * - "delegated": nsbox already runs in a cgroup subtree it owns (a container
 *   with a cgroup namespace, `systemd-run --user --scope -p Delegate=yes`).
 *
 * Either way the sandbox's processes live in a leaf `sandbox` below the
 * cgroup that carries the limits; the leaf becomes the root of the sandbox's
 * cgroup namespace and mirrors the limits so they are readable inside.
 *
 * @module
 */
import { NsboxError } from "../errors.ts";
import type { LimitsSpec } from "../spec/spec.ts";
import {
  availableControllers,
  cgroup2Root,
  cgroupOf,
  type CgroupStats,
  controllersFor,
  enableControllers,
  isUnifiedOnly,
  readStats,
  removeCgroup,
  writeLimits,
} from "./fs.ts";
import { startScope } from "./systemd.ts";
import type { SupervisorOp } from "../spawn/abi.ts";

/** How long removing a cgroup waits for its killed processes to exit. */
const REMOVE_WAIT_MS = 5000;

/** The cgroup a running sandbox lives in. */
export interface SandboxCgroup {
  readonly kind: "systemd" | "delegated";
  /** The systemd unit, for "systemd". */
  readonly unit: string | null;
  /** Absolute path of the sandbox's leaf cgroup. */
  readonly path: string;
  /** Every cgroup the sandbox's processes may be in (the leaf, PID 1's sibling). */
  readonly cgroups: readonly string[];
  /** Reads the leaf's statistics. */
  stats(): CgroupStats;
  /**
   * Moves the sandbox's PID 1 (`pid`), once it has forked the command, out of
   * the leaf into a sibling cgroup of its own: an OOM kill (memory.oom.group
   * on the leaf) then takes the command and all its processes but not PID 1,
   * which holds the cgroup while nsbox reads its statistics.
   */
  adoptInit(pid: number): void;
  /** Kills what is left and removes the cgroups nsbox made (before the native supervisor took over). */
  destroy(): Promise<void>;
  /** The same as ops for the native supervisor. */
  teardown(): SupervisorOp[];
}

/** How the cgroup will be obtained, decided before anything is spawned. */
export interface CgroupRoute {
  readonly kind: "systemd" | "delegated";
  /** Mount point of the cgroup v2 hierarchy. */
  readonly root: string;
}

/** How to get the io and cpuset controllers (or any missing one) delegated to the user. */
export const DELEGATE_HINT = "ask the administrator for a drop-in /etc/systemd/system/user@.service.d/delegate.conf " +
  "with `[Service]` and `Delegate=cpu cpuset io memory pids`, then log in again";

/** The flags behind `limits` (or behind those of `only` controllers), for messages: "--mem and --cpus". */
function flagsFor(limits: LimitsSpec, only?: readonly string[]): string {
  const flags: string[] = [];
  const want = (c: string) => !only || only.includes(c);
  if (want("memory") && limits.memoryMax !== null) flags.push("--mem");
  else if (want("memory") && limits.swapMax !== null) flags.push("--swap");
  if (want("cpu") && limits.cpus !== null) flags.push("--cpus");
  if (want("pids") && limits.pidsMax !== null) flags.push("--pids");
  if (want("io") && limits.ioWeight !== null) flags.push("--io-weight");
  return flags.length <= 1 ? flags.join("") : `${flags.slice(0, -1).join(", ")} and ${flags.at(-1)}`;
}

function needs(limits: LimitsSpec): string {
  const f = flagsFor(limits);
  return `${f} ${f.includes(" and ") ? "need" : "needs"}`;
}

/** How to get a user bus (or do without one). */
export const USER_BUS_HINT = "log in through a systemd session, or `loginctl enable-linger $USER`, with " +
  "dbus-user-session installed; or run nsbox in a delegated cgroup (systemd-run --user --scope -p Delegate=yes nsbox ...)";

/** Whether the user's systemd manager is reachable: DBUS_SESSION_BUS_ADDRESS, or a socket at $XDG_RUNTIME_DIR/bus. */
export function userBusPresent(
  env: Readonly<Record<string, string | undefined>> = Deno.env.toObject(),
  isSocket: (path: string) => boolean = (path) => {
    try {
      return Deno.statSync(path).isSocket === true;
    } catch {
      return false;
    }
  },
): boolean {
  if (env.DBUS_SESSION_BUS_ADDRESS) return true;
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime ? isSocket(`${runtime}/bus`) : false;
}

function writable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.uid === Deno.uid();
  } catch {
    return false;
  }
}

/**
 * Decides how to get a cgroup for `limits`, or throws an NsboxError that says
 * why this host cannot enforce them and what would fix it. Never returns
 * "no limits": nsbox does not run silently unlimited.
 */
export function routeFor(limits: LimitsSpec): CgroupRoute {
  const root = cgroup2Root();
  if (!root || !isUnifiedOnly()) {
    throw new NsboxError(
      `${needs(limits)} cgroup v2, but this host uses cgroup v1 controllers (a hybrid or legacy layout)`,
      {
        hint: "boot with systemd.unified_cgroup_hierarchy=1 (the default since systemd 247), or run without limits",
      },
    );
  }
  if (userBusPresent()) return { kind: "systemd", root };
  const own = cgroupOf("self");
  if (own !== null && writable(`${root}${own}/cgroup.procs`)) return { kind: "delegated", root };
  throw new NsboxError(`${needs(limits)} a cgroup from systemd, but there is no user bus ($XDG_RUNTIME_DIR/bus)`, {
    hint: USER_BUS_HINT,
  });
}

function checkControllers(dir: string, limits: LimitsSpec) {
  const have = availableControllers(dir);
  const missing = controllersFor(limits).filter((c) => !have.includes(c));
  if (missing.length > 0) {
    throw new NsboxError(
      `${flagsFor(limits, missing)}: the ${missing.join(", ")} controller${missing.length > 1 ? "s are" : " is"} ` +
        `not delegated to this user (available: ${have.join(" ") || "none"})`,
      { hint: DELEGATE_HINT },
    );
  }
}

function moveInto(dir: string, pid: number) {
  try {
    Deno.mkdirSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(pid));
}

/**
 * The cgroup of a sandbox whose leaf `sandbox` (and PID 1's sibling `init`)
 * live under `parent`; `cleanUp` runs after both are removed.
 */
function leafCgroup(
  kind: SandboxCgroup["kind"],
  unit: string | null,
  parent: string,
  cleanUp: () => Promise<void> = () => Promise.resolve(),
  cleanUpOps: () => SupervisorOp[] = () => [],
): SandboxCgroup {
  const leaf = `${parent}/sandbox`, init = `${parent}/init`;
  return {
    kind,
    unit,
    path: leaf,
    cgroups: [leaf, init],
    stats: () => readStats(leaf),
    adoptInit: (initPid) => moveInto(init, initPid),
    destroy: async () => {
      if (kind === "systemd") return; // see teardown
      await removeCgroup(leaf);
      await removeCgroup(init);
      await cleanUp();
    },
    // A systemd scope's whole tree, nsbox's two cgroups in it included, is systemd's to remove: it does so once the
    // scope is empty (PID 1's exit ends every process in it; with --share pid the sweep op has killed them). nsbox
    // removing them too raced systemd's removal: systemd then gave up on the scope's directory and forgot the unit,
    // and an empty nsbox-NAME.scope directory was left for good (seen in the VM, about one run in ten with
    // --cpus/--io-weight). A delegated cgroup has no one else to remove it.
    teardown: () =>
      kind === "systemd" ? [] : [
        { kind: "removeCgroup", path: leaf, waitMs: REMOVE_WAIT_MS },
        { kind: "removeCgroup", path: init, waitMs: REMOVE_WAIT_MS },
        ...cleanUpOps(),
      ],
  };
}

function systemdCgroup(
  route: CgroupRoute,
  name: string,
  pid: number,
  limits: LimitsSpec,
  what: string,
): SandboxCgroup {
  const unit = `nsbox-${name}.scope`;
  startScope(unit, pid, limits, `nsbox sandbox ${name}: ${what}`);
  const scope = `${route.root}${cgroupOf(pid)}`;
  const wanted = controllersFor(limits);
  checkControllers(scope, limits);
  const cgroup = leafCgroup("systemd", unit, scope); // the scope goes when empty (CollectMode=inactive-or-failed)
  moveInto(cgroup.path, pid);
  enableControllers(scope, wanted);
  writeLimits(cgroup.path, limits);
  return cgroup;
}

function delegatedCgroup(route: CgroupRoute, name: string, pid: number, limits: LimitsSpec): SandboxCgroup {
  const own = `${route.root}${cgroupOf("self")}`;
  const wanted = controllersFor(limits);
  checkControllers(own, limits);
  // A cgroup with processes cannot enable controllers for its children (the
  // "no internal processes" rule), so nsbox steps into a child of its own.
  // The child was cloned into nsbox's own cgroup; both leave it first.
  const supervisor = `${own}/nsbox-supervisor-${Deno.pid}`;
  const enabled = (Deno.readTextFileSync(`${own}/cgroup.subtree_control`)).trim().split(/\s+/);
  const moved = !wanted.every((c) => enabled.includes(c));
  if (moved) moveInto(supervisor, Deno.pid);
  const base = `${own}/nsbox-${name}`;
  Deno.mkdirSync(base);
  const disable = wanted.map((c) => `-${c}`).join(" ");
  const cgroup = leafCgroup("delegated", null, base, async () => {
    await removeCgroup(base);
    if (!moved) return;
    // Back to where nsbox was: the controllers it enabled go first, or the
    // "no internal processes" rule refuses the move.
    try {
      Deno.writeTextFileSync(`${own}/cgroup.subtree_control`, disable);
      Deno.writeTextFileSync(`${own}/cgroup.procs`, String(Deno.pid));
      await removeCgroup(supervisor);
    } catch {
      // someone else uses the controllers now: nsbox stays in its supervisor cgroup, which goes with it
    }
  }, () => [
    { kind: "removeCgroup", path: base, waitMs: REMOVE_WAIT_MS },
    ...(moved
      ? [
        { kind: "writeFile", path: `${own}/cgroup.subtree_control`, text: disable },
        // nsbox's process, and the supervisor itself ("0": the writer) when it is a child of it (the library)
        { kind: "writeFile", path: `${own}/cgroup.procs`, text: String(Deno.pid) },
        { kind: "writeFile", path: `${own}/cgroup.procs`, text: "0" },
        { kind: "removeCgroup", path: supervisor, waitMs: REMOVE_WAIT_MS },
      ] satisfies SupervisorOp[]
      : []),
  ]);
  moveInto(cgroup.path, pid);
  if (moved) enableControllers(own, wanted);
  enableControllers(base, wanted);
  writeLimits(base, limits);
  writeLimits(cgroup.path, limits);
  return cgroup;
}

/** Puts `pid` in a cgroup with `limits` along `route`. */
export function placeInCgroup(
  route: CgroupRoute,
  name: string,
  pid: number,
  limits: LimitsSpec,
  what: string,
): SandboxCgroup {
  try {
    return route.kind === "systemd"
      ? systemdCgroup(route, name, pid, limits, what)
      : delegatedCgroup(route, name, pid, limits);
  } catch (e) {
    if (e instanceof NsboxError) throw e;
    throw new NsboxError(`cannot set up the sandbox's cgroup: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}
