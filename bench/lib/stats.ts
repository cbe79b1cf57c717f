/** Small-sample summaries for the benchmarks (nearest-rank percentiles: no interpolation between runs). */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? Number.NaN;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  // The median of an even count is the mean of the middle two.
  const median = n === 0 ? Number.NaN : n % 2 === 1 ? (sorted[(n - 1) / 2] ?? Number.NaN) : ((sorted[n / 2 - 1] ?? 0) + (sorted[n / 2] ?? 0)) / 2;
  return { n, median, p90: percentile(sorted, 0.9), min: sorted[0] ?? Number.NaN, max: sorted[n - 1] ?? Number.NaN };
}

export function ms(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value)}` : '-';
}

export function mb(kb: number): string {
  return (kb / 1024).toFixed(1);
}
