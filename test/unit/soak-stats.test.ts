import { describe, expect, it } from 'vitest';
import { judgeTrend, linearTrend, percentiles, secondHalf } from '../../bench/soak/stats.js';

describe('soak percentiles', () => {
  it('are nearest-rank p50, p95 and max', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(values)).toEqual({ n: 100, p50: 50, p95: 95, max: 100 });
    expect(percentiles([7])).toEqual({ n: 1, p50: 7, p95: 7, max: 7 });
    const empty = percentiles([]);
    expect(empty.n).toBe(0);
    expect(empty.p50).toBeNaN();
  });
});

describe('soak trend', () => {
  it('recovers an exact line with no error', () => {
    const trend = linearTrend([0, 1, 2, 3, 4].map((x) => ({ x, y: 10 + 0.5 * x })));
    expect(trend.slope).toBeCloseTo(0.5, 12);
    expect(trend.intercept).toBeCloseTo(10, 12);
    expect(trend.slopeStdError).toBeCloseTo(0, 12);
  });

  it('gives a standard error that grows with the scatter', () => {
    const saw = Array.from({ length: 60 }, (_, x) => ({ x, y: 100 + (x % 2 === 0 ? 3 : -3) }));
    const trend = linearTrend(saw);
    expect(Math.abs(trend.slope)).toBeLessThan(0.1);
    expect(trend.slopeStdError).toBeGreaterThan(0);
    expect(linearTrend([{ x: 1, y: 1 }]).slope).toBeNaN();
    expect(linearTrend([{ x: 1, y: 1 }, { x: 1, y: 2 }]).slope).toBeNaN();
  });

  it('keeps the second half by x', () => {
    const points = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((x) => ({ x }));
    expect(secondHalf(points).map((p) => p.x)).toEqual([4, 5, 6, 7, 8]);
    expect(secondHalf([])).toEqual([]);
  });

  it('calls a steady climb upward, a sawtooth flat, a short run not judged', () => {
    const leak = linearTrend(Array.from({ length: 100 }, (_, x) => ({ x: x / 100, y: 180 + 5 * (x / 100) + (x % 3) * 0.5 })));
    expect(judgeTrend(leak, 2, 50).verdict).toBe('upward');
    const saw = linearTrend(Array.from({ length: 100 }, (_, x) => ({ x: x / 100, y: 180 + (x % 10) })));
    expect(judgeTrend(saw, 2, 50).verdict).toBe('flat');
    // Above the threshold, but the scatter is far larger than the slope: not a trend.
    const noisy = linearTrend(Array.from({ length: 60 }, (_, x) => ({ x: x / 100, y: 180 + 3 * (x / 100) + (x % 2 === 0 ? 20 : -20) })));
    expect(judgeTrend(noisy, 2, 50)).toMatchObject({ verdict: 'flat' });
    expect(judgeTrend(leak, 2, 500).verdict).toBe('not judged');
  });
});
