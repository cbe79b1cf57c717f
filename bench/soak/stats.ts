/**
 * The soak's figures: nearest-rank percentiles and the least-squares slope (with its standard
 * error, so a trend can be told from the GC's sawtooth). Pure.
 */
import { percentile } from '../lib/stats.js';

export interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), max: sorted[sorted.length - 1] ?? Number.NaN };
}

export interface Trend {
  readonly n: number;
  /** y units per x unit. */
  readonly slope: number;
  /** Standard error of the slope (NaN below 3 points or with no spread in x). */
  readonly slopeStdError: number;
  readonly intercept: number;
}

/** Ordinary least squares y = intercept + slope * x. */
export function linearTrend(points: readonly { readonly x: number; readonly y: number }[]): Trend {
  const n = points.length;
  if (n < 2) return { n, slope: Number.NaN, slopeStdError: Number.NaN, intercept: Number.NaN };
  const meanX = points.reduce((s, p) => s + p.x, 0) / n;
  const meanY = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - meanX) ** 2;
    sxy += (p.x - meanX) * (p.y - meanY);
  }
  if (sxx === 0) return { n, slope: Number.NaN, slopeStdError: Number.NaN, intercept: Number.NaN };
  const slope = sxy / sxx;
  const intercept = meanY - slope * meanX;
  let sse = 0;
  for (const p of points) sse += (p.y - (intercept + slope * p.x)) ** 2;
  const slopeStdError = n > 2 ? Math.sqrt(sse / (n - 2) / sxx) : Number.NaN;
  return { n, slope, slopeStdError, intercept };
}

/** The points whose x lies in the second half of [first x, last x]. */
export function secondHalf<T extends { readonly x: number }>(points: readonly T[]): T[] {
  if (points.length === 0) return [];
  const first = points[0]?.x ?? 0;
  const last = points[points.length - 1]?.x ?? 0;
  const mid = first + (last - first) / 2;
  return points.filter((p) => p.x >= mid);
}

export interface TrendVerdict {
  /** 'flat': judged, no trend; 'upward': judged, growing; 'not judged': too few cycles to tell. */
  readonly verdict: 'flat' | 'upward' | 'not judged';
  readonly reason: string;
}

/**
 * An upward trend is a slope above `maxSlope` that is also more than two standard errors above
 * zero: a leak is steady, the V8 heap's sawtooth is not, and a short run's slope is mostly the
 * sawtooth (so below `minPoints` points nothing is judged, and the slope is only reported).
 */
export function judgeTrend(trend: Trend, maxSlope: number, minPoints: number): TrendVerdict {
  if (trend.n < minPoints || !Number.isFinite(trend.slope)) {
    return { verdict: 'not judged', reason: `${trend.n} cycles in the second half, fewer than ${minPoints}` };
  }
  const significant = Number.isFinite(trend.slopeStdError) ? trend.slope > 2 * trend.slopeStdError : true;
  if (trend.slope > maxSlope && significant) return { verdict: 'upward', reason: `slope ${trend.slope.toFixed(2)} > ${maxSlope} and > 2 standard errors (${trend.slopeStdError.toFixed(2)})` };
  return { verdict: 'flat', reason: trend.slope > maxSlope ? `slope above ${maxSlope} but within 2 standard errors of zero` : `slope at most ${maxSlope}` };
}
