/**
 * Where the sandbox's mount points come from. Validation replays the plan's
 * mounts, in the plan's order, on a model of the sandbox's tree (the root, the
 * sandbox's own file systems, the caller's binds), asking the host what its
 * directories hold. For each mount point it decides ({@linkcode MountPointSpec}):
 *
 * - it exists: nothing is created (not even in a writable bind: nsbox never
 *   writes to the host);
 * - it is below a file system of the sandbox's own (a tmpfs): it is created
 *   there, with its missing parents;
 * - it is missing from a directory of the host (or of `--rootfs`): a tmpfs
 *   "mimic" of the nearest existing parent goes over that parent, with every
 *   entry of the real directory bound back into it (symlinks recreated), the
 *   missing mount points created in it, then made read-only, nosuid, nodev
 *   (as snapd's writable mimic). Mount points that later mounts need in the
 *   same mimic are created with it, so there is one mimic per parent.
 *
 * The mimic is a snapshot: its entries are those the directory had when
 * nsbox started. A directory of more than {@linkcode MIMIC_MAX_ENTRIES}
 * entries is refused.
 *
 * @module
 */
import type { HostFacts } from "./host.ts";
import type { MimicEntry, MimicSpec, MountPointSpec } from "./spec.ts";

/** The most entries nsbox reproduces in a mimic (README: Mount points). */
export const MIMIC_MAX_ENTRIES = 4096;

/** Symlinks followed while resolving one destination (as the kernel's limit). */
const MAX_HOPS = 40;

/** A mounted file system in the model, at `at` (a resolved path inside). */
type Layer =
  /** A host directory (or file) shown at `at`: the root, a bind. */
  | { readonly kind: "host"; readonly at: string; readonly source: string }
  /** A file system of the sandbox's own, writable during setup (tmpfs). */
  | { readonly kind: "scratch"; readonly at: string }
  /** A file system of the kernel's (proc, cgroup2): nsbox does not reason about its contents. */
  | { readonly kind: "kernel"; readonly at: string }
  | {
    readonly kind: "mimic";
    readonly at: string;
    readonly entries: ReadonlySet<string>;
    /** What was created in it (paths inside) and what they are. */
    readonly made: Map<string, "directory" | "file">;
    readonly spec: { create: { path: string; type: "directory" | "file" }[] };
  };

type Walk =
  | { readonly kind: "exists"; readonly resolved: string }
  | { readonly kind: "create"; readonly parent: string; readonly names: string[] }
  | { readonly kind: "missing"; readonly parent: string; readonly names: string[]; readonly layer: Layer };

type Node =
  | { readonly type: "directory" | "file" | "other" }
  | { readonly type: "symlink"; readonly target: string }
  /** Missing in a host directory or a mimic: the layer that answered. */
  | { readonly type: "missing"; readonly layer: Layer }
  /** Below a scratch or kernel layer with nothing mounted further down: created there, as is. */
  | { readonly type: "creatable" }
  /** Cannot be known here (a host error, too many symlinks): left to the kernel to say. */
  | { readonly type: "unknown" };

/** `path` split into its components. */
function split(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

/** Joins an absolute `base` and components. */
function join(base: string, ...parts: string[]): string {
  const all = [...split(base), ...parts];
  return "/" + all.join("/");
}

/** Whether `path` is `dir` or below it. */
function within(path: string, dir: string): boolean {
  return path === dir || dir === "/" || path.startsWith(dir + "/");
}

/** The host path of `path` (inside) in a host layer. */
function hostPathOf(layer: { at: string; source: string }, path: string): string {
  const rest = layer.at === "/" ? path : path.slice(layer.at.length);
  return layer.source === "/" ? (rest === "" ? "/" : rest) : layer.source + (rest === "/" ? "" : rest);
}

/**
 * The sandbox's tree as the plan builds it. Validation calls
 * {@linkcode MountTree.need} for every mount point and {@linkcode MountTree.mounted}
 * for every mount, in the plan's order (src/plan/plan.ts).
 */
export class MountTree {
  readonly #layers: Layer[];
  readonly #host: HostFacts;
  readonly #problems: string[];

  /** The root: the host directory `root` ("/" or `--rootfs`), read-only. */
  constructor(root: string, host: HostFacts, problems: string[]) {
    this.#layers = [{ kind: "host", at: "/", source: root }];
    this.#host = host;
    this.#problems = problems;
  }

  #lookup(path: string): Node {
    const candidates = this.#layers
      .map((layer, index) => ({ layer, index }))
      .filter(({ layer }) => within(path, layer.at))
      .sort((a, b) => b.layer.at.length - a.layer.at.length || b.index - a.index);
    for (const { layer, index } of candidates) {
      if (layer.kind === "host") {
        const hostPath = hostPathOf(layer, path);
        const node = this.#host.lstat(hostPath);
        if (node.type === "missing") return { type: "missing", layer };
        if (node.type === "error") return { type: "unknown" };
        return node.type === "symlink" ? { type: "symlink", target: node.target } : { type: node.type };
      }
      if (layer.kind === "scratch" || layer.kind === "kernel") {
        if (path === layer.at) return { type: "directory" };
        // A directory created there for a later mount (which is then on the way).
        const below = this.#layers.some((l, i) => i > index && l.at !== path && within(l.at, path));
        return below ? { type: "directory" } : { type: "creatable" };
      }
      if (path === layer.at) return { type: "directory" };
      const entry = split(path.slice(layer.at.length))[0]!;
      if (layer.entries.has(entry)) continue; // bound back from below: as it was
      const made = layer.made.get(path);
      return made ? { type: made } : { type: "missing", layer };
    }
    return { type: "unknown" };
  }

  /** Follows `path` through the model, symlinks resolved as RESOLVE_IN_ROOT does; no side effects. */
  #walk(path: string): Walk {
    let parts = split(path);
    let cur = "/";
    let hops = 0;
    for (let i = 0; i < parts.length;) {
      const next = join(cur, parts[i]!);
      const node = this.#lookup(next);
      if (node.type === "symlink") {
        // Inside the sandbox: `..` stops at its /.
        if (++hops > MAX_HOPS) return { kind: "exists", resolved: path };
        const resolved = node.target.startsWith("/") ? [] : split(cur);
        for (const p of split(node.target)) {
          if (p === "..") resolved.pop();
          else resolved.push(p);
        }
        parts = [...resolved, ...parts.slice(i + 1)];
        cur = "/";
        i = 0;
        continue;
      }
      if (node.type === "directory" || ((node.type === "file" || node.type === "other") && i === parts.length - 1)) {
        cur = next;
        i++;
        continue;
      }
      const names = parts.slice(i);
      if (node.type === "creatable") return { kind: "create", parent: cur, names };
      // the kernel says why, when the mount is made
      if (node.type !== "missing") return { kind: "exists", resolved: path };
      return { kind: "missing", parent: cur, names, layer: node.layer };
    }
    return { kind: "exists", resolved: cur };
  }

  /**
   * What the mount point `path` (normalised, inside) needs, for a mount of
   * `type`; `flag` names the option in a problem. The answer goes into the
   * spec, in order; `resolved` is where the mount lands (symlinks followed).
   */
  need(path: string, type: "directory" | "file", flag: string): { spec: MountPointSpec; resolved: string } {
    const w = this.#walk(path);
    if (w.kind === "exists") return { spec: { path, how: "exists" }, resolved: w.resolved };
    const resolved = join(w.parent, ...w.names);
    if (w.kind === "create") return { spec: { path, how: "create", parent: w.parent, names: w.names }, resolved };
    if (w.layer.kind === "mimic") {
      // created with that mimic, which is made before this mount
      this.#create(w.layer, w.parent, w.names, type);
      return { spec: { path, how: "exists" }, resolved };
    }
    if (w.layer.kind !== "host") return { spec: { path, how: "exists" }, resolved };
    const mimic = this.#mimic(w.parent, hostPathOf(w.layer, w.parent), path, flag);
    if (mimic === null) return { spec: { path, how: "exists" }, resolved };
    this.#create(mimic.layer, w.parent, w.names, type);
    return { spec: { path, how: "mimic", mimic: mimic.spec }, resolved };
  }

  /** Records what `need()` created in a mimic. */
  #create(layer: Layer & { kind: "mimic" }, parent: string, names: string[], type: "directory" | "file") {
    for (let j = 0; j < names.length; j++) {
      const p = join(parent, ...names.slice(0, j + 1));
      const t = j === names.length - 1 ? type : "directory";
      layer.made.set(p, t);
      layer.spec.create.push({ path: p.slice(layer.at === "/" ? 1 : layer.at.length + 1), type: t });
    }
  }

  /** A new mimic of `dir` (inside; `hostDir` on the host), or null after a problem. */
  #mimic(
    dir: string,
    hostDir: string,
    dest: string,
    flag: string,
  ): { layer: Layer & { kind: "mimic" }; spec: MimicSpec } | null {
    const where = hostDir === dir ? dir : `${dir} (${hostDir} on the host)`;
    const listed = this.#host.readDir(hostDir, MIMIC_MAX_ENTRIES);
    if ("error" in listed) {
      this.#problems.push(
        `${flag}: cannot create the mount point ${dest}: its parent ${where} cannot be listed (${listed.error}).`,
      );
      return null;
    }
    if (listed.count > MIMIC_MAX_ENTRIES) {
      this.#problems.push(
        `${flag}: cannot create the mount point ${dest}: its parent ${where} has ${listed.count} entries, ` +
          `more than the ${MIMIC_MAX_ENTRIES} nsbox reproduces around a missing mount point; ` +
          `choose a destination that exists, or mount a --tmpfs above it first.`,
      );
      return null;
    }
    const st = this.#host.lstat(hostDir);
    const mode = st.type === "directory" ? st.mode & 0o7777 : 0o755;
    const entries: MimicEntry[] = [...listed.entries];
    const spec: MimicSpec & { create: { path: string; type: "directory" | "file" }[] } = {
      path: dir,
      mode,
      entries,
      create: [],
    };
    const layer = {
      kind: "mimic" as const,
      at: dir,
      entries: new Set(entries.map((e) => e.name)),
      made: new Map<string, "directory" | "file">(),
      spec,
    };
    this.#layers.push(layer);
    return { layer, spec };
  }

  /**
   * A mount at `path` (resolved, as returned by `need()`): a host path
   * (`--bind`), a file system of the sandbox's own ("scratch": a tmpfs), or
   * the kernel's ("kernel": proc, cgroup2).
   */
  mounted(path: string, what: { readonly source: string } | "scratch" | "kernel") {
    this.#layers.push(
      typeof what === "string" ? { kind: what, at: path } : { kind: "host", at: path, source: what.source },
    );
  }

  /** Where `path` (inside) is, when it exists (for mounts the plan skips where the root lacks them); else null. */
  existing(path: string): string | null {
    const w = this.#walk(path);
    return w.kind === "exists" ? w.resolved : null;
  }
}
