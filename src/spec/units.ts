/**
 * Sizes and CPU counts as people write them on a command line.
 *
 * @module
 */

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a size with an optional binary unit: `512k`, `100M`, `1.5G`, `4096`.
 * Returns the byte count, or null when `text` is not a size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseSize("1.5G"), 1610612736);
 * assert.deepEqual(parseSize("100MiB"), 104857600);
 * ```
 */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtb]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return null;
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/**
 * Formats a byte count with the largest binary unit that keeps one decimal:
 * `formatSize(104857600)` is `"100M"`.
 */
export function formatSize(bytes: number): string {
  const units = [["k", 1024], ["M", 1024 ** 2], ["G", 1024 ** 3], ["T", 1024 ** 4]] as const;
  for (let i = units.length - 1; i >= 0; i--) {
    const [unit, size] = units[i]!;
    if (bytes < size) continue;
    const v = Number((bytes / size).toFixed(1));
    // 1023.96k rounds to "1024k": say "1M" instead
    if (v >= 1024 && i + 1 < units.length) return `${Number((bytes / units[i + 1]![1]).toFixed(1))}${units[i + 1]![0]}`;
    return `${v}${unit}`;
  }
  return `${bytes}`;
}

/** Parses a positive decimal number (`0.5`, `2`), or null. */
export function parseDecimal(text: string): number | null {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) return null;
  return Number(text);
}

/** Parses a whole number, or null. */
export function parseWhole(text: string): number | null {
  if (!/^\d+$/.test(text.trim())) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Parses a duration as timeout(1) takes it: a positive number with an
 * optional unit `ms`, `s` (the default), `m`, `h` or `d`; milliseconds, or
 * null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(parseDuration("2"), 2000);
 * assert.equal(parseDuration("1.5m"), 90_000);
 * assert.equal(parseDuration("250ms"), 250);
 * assert.equal(parseDuration("soon"), null);
 * ```
 */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "s"]!;
  const ms = Math.round(Number(m[1]) * unit);
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}

/**
 * A duration in milliseconds as people write it: `2s`, `1.5s`, `250ms`, `90s`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatDuration(2000), "2s");
 * assert.equal(formatDuration(250), "250ms");
 * ```
 */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}
