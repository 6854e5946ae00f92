/**
 * nsbox's own directories on the host: where it keeps its records, and the
 * user's nsbox configuration and caches. No sandbox may see them (a sandbox
 * that could write a record could steer a later `nsbox exec`), so every
 * sandbox gets an empty read-only tmpfs wherever its root or a bind would
 * show one (src/spec/validate.ts decides where, src/plan/plan.ts covers).
 *
 * Neutral: used by src/state (where records live) and src/spec (what to
 * cover); imports nothing of either.
 *
 * @module
 */

/** The environment variables the locations depend on. */
export type DirsEnv = Readonly<Record<string, string | undefined>>;

/**
 * Where records may live, in order of preference: `$XDG_RUNTIME_DIR/nsbox`
 * (when XDG_RUNTIME_DIR is absolute), then `/tmp/nsbox-UID`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(recordRoots({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000), ["/run/user/1000/nsbox", "/tmp/nsbox-1000"]);
 * ```
 */
export function recordRoots(env: DirsEnv, uid: number): string[] {
  const runtime = env.XDG_RUNTIME_DIR;
  const roots = runtime && runtime.startsWith("/") ? [`${runtime.replace(/\/+$/, "")}/nsbox`] : [];
  roots.push(`/tmp/nsbox-${uid}`);
  return roots;
}

/** The user's nsbox configuration directory (`$XDG_CONFIG_HOME/nsbox`, default `~/.config/nsbox`), or null without a home. */
export function configDir(env: DirsEnv): string | null {
  return xdg(env, "XDG_CONFIG_HOME", ".config");
}

/** The user's nsbox cache directory (`$XDG_CACHE_HOME/nsbox`, default `~/.cache/nsbox`), or null without a home. */
export function cacheDir(env: DirsEnv): string | null {
  return xdg(env, "XDG_CACHE_HOME", ".cache");
}

/**
 * Where `--profile build` keeps each project's own home (`CACHE/homes/HASH`), or null without a home.
 * Binds from below it are the one exception to hiding the cache directory.
 */
export function projectHomesDir(env: DirsEnv): string | null {
  const cache = cacheDir(env);
  return cache === null ? null : `${cache}/homes`;
}

function xdg(env: DirsEnv, name: string, fallback: string): string | null {
  const set = env[name];
  if (set && set.startsWith("/")) return `${set.replace(/\/+$/, "")}/nsbox`;
  const home = env.HOME;
  if (!home || !home.startsWith("/")) return null;
  return `${home.replace(/\/+$/, "")}/${fallback}/nsbox`;
}

/** Every directory of nsbox's own that a sandbox must not see (whether or not it exists). */
export function privateDirCandidates(env: DirsEnv, uid: number): string[] {
  const dirs = [...recordRoots(env, uid), configDir(env), cacheDir(env)].filter((d): d is string => d !== null);
  return [...new Set(dirs)];
}
