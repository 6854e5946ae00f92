/**
 * uid_map/gid_map lines for an identity: the caller's own id at the slot the
 * command runs as (its own, 0 with `--root`, or `--user`'s), and with
 * `--map-users` the subordinate range around it.
 *
 * @module
 */
import type { IdentitySpec, SubIdRange } from "../spec/spec.ts";
import type { IdMapLine, IdMapPlan } from "./ops.ts";
import { insideIds } from "../spec/spec.ts";

/** (uid_t)-1: no id; the highest id a map can hold is one less. */
const NO_ID = 4294967295;

/**
 * Maps `own` to inside id `slot`; then fills inside ids from 0 upward,
 * skipping `slot`, with `sub` (if any).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(idMapLines(1000, 0, { start: 100000, count: 65536 }), [
 *   { inside: 0, outside: 1000, count: 1 },
 *   { inside: 1, outside: 100000, count: 65536 },
 * ]);
 * ```
 */
export function idMapLines(own: number, slot: number, sub: SubIdRange | null): IdMapLine[] {
  const lines: IdMapLine[] = [{ inside: slot, outside: own, count: 1 }];
  if (!sub) return lines;
  const below = Math.min(slot, sub.count);
  if (below > 0) lines.push({ inside: 0, outside: sub.start, count: below });
  // ids inside end at 2^32-2 (2^32-1 is the kernel's "no id")
  const rest = Math.min(sub.count - below, NO_ID - (slot + 1));
  if (rest > 0) lines.push({ inside: slot + 1, outside: sub.start + below, count: rest });
  return lines;
}

/**
 * The map of a user namespace nested in one mapped by `lines`: every id of
 * the outer namespace stays the same id inside.
 */
export function nestedMapText(lines: readonly IdMapLine[]): string {
  return lines.map((l) => `${l.inside} ${l.inside} ${l.count}\n`).join("");
}

/** The id maps the parent writes for `identity`. */
export function idMapPlan(identity: IdentitySpec): IdMapPlan {
  const sub = identity.subUids !== null && identity.subGids !== null;
  const inside = insideIds(identity);
  return {
    uid: idMapLines(identity.hostUid, inside.uid, identity.subUids),
    gid: idMapLines(identity.hostGid, inside.gid, identity.subGids),
    setgroups: sub ? "allow" : "deny",
    writer: sub ? "newidmap" : "kernel",
  };
}

/**
 * Whether `id` is inside one of `lines` (the ids a sandbox maps, as its command sees them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isMapped([{ inside: 0, outside: 1000, count: 1 }], 0), true);
 * assert.equal(isMapped([{ inside: 0, outside: 1000, count: 1 }], 1), false);
 * ```
 */
export function isMapped(lines: readonly IdMapLine[], id: number): boolean {
  return lines.some((l) => id >= l.inside && id < l.inside + l.count);
}
