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
