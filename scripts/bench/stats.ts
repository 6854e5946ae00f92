/**
 * Small statistics for the benchmark reports: medians and seeded bootstrap
 * confidence intervals.
 *
 * @module
 */

/** The median of `xs` (which need not be sorted). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A small seeded PRNG (mulberry32), so the bootstrap is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 95% percentile-bootstrap confidence interval for `median(a) − median(b)`. */
export function medianDiffCI(a: readonly number[], b: readonly number[], resamples = 4000): [number, number] {
  const rand = mulberry32(0x5eed);
  const resample = (xs: readonly number[]) => Array.from(xs, () => xs[Math.floor(rand() * xs.length)]!);
  const diffs = Array.from({ length: resamples }, () => median(resample(a)) - median(resample(b)))
    .sort((x, y) => x - y);
  return [diffs[Math.floor(0.025 * resamples)]!, diffs[Math.ceil(0.975 * resamples) - 1]!];
}

/**
 * A 95% percentile-bootstrap confidence interval for `f` of the medians of
 * `sets` (each set resampled independently), e.g. a ratio of two medians.
 */
export function bootstrapCI(
  sets: readonly (readonly number[])[],
  f: (medians: number[]) => number,
  resamples = 4000,
): [number, number] {
  const rand = mulberry32(0x5eed);
  const resample = (xs: readonly number[]) => Array.from(xs, () => xs[Math.floor(rand() * xs.length)]!);
  const values = Array.from({ length: resamples }, () => f(sets.map((s) => median(resample(s)))))
    .sort((x, y) => x - y);
  return [values[Math.floor(0.025 * resamples)]!, values[Math.ceil(0.975 * resamples) - 1]!];
}
