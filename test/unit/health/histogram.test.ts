import { describe, expect, it } from 'vitest';
import {
  HISTOGRAM_BINS,
  HISTOGRAM_MAX_MS,
  HISTOGRAM_MIN_MS,
  binOf,
  binValue,
  newHistogram,
  quantilesOf,
} from '../../../src/health/histogram.js';

describe('log-spaced bins', () => {
  it('report every value in range within 2.5% of itself', () => {
    for (let v = HISTOGRAM_MIN_MS; v < HISTOGRAM_MAX_MS; v *= 1.013) {
      const reported = binValue(binOf(v));
      expect(Math.abs(reported - v) / v).toBeLessThanOrEqual(0.0247);
    }
  });

  it('are monotonic', () => {
    let last = -1;
    for (let v = 0.05; v < 2 * HISTOGRAM_MAX_MS; v *= 1.01) {
      const b = binOf(v);
      expect(b).toBeGreaterThanOrEqual(last);
      last = b;
    }
  });

  it('clamp below the minimum, above the maximum and for junk', () => {
    expect(binOf(0)).toBe(0);
    expect(binOf(-5)).toBe(0);
    expect(binOf(Number.NaN)).toBe(0);
    expect(binValue(binOf(0.01))).toBe(HISTOGRAM_MIN_MS);
    expect(binOf(1e12)).toBe(HISTOGRAM_BINS - 1);
    expect(binOf(Number.POSITIVE_INFINITY)).toBe(HISTOGRAM_BINS - 1);
    expect(binValue(binOf(1e12))).toBe(HISTOGRAM_MAX_MS);
  });

  it('stay a few hundred bins (the cost of a quantile walk)', () => {
    expect(HISTOGRAM_BINS).toBeGreaterThan(300);
    expect(HISTOGRAM_BINS).toBeLessThan(340);
  });
});

describe('quantilesOf', () => {
  it('is undefined without samples', () => {
    expect(quantilesOf(newHistogram(), 0)).toBeUndefined();
  });

  it('uses nearest rank', () => {
    const h = newHistogram();
    // 98 samples at 10 ms, 1 at 100 ms, 1 at 1000 ms: p99 is the 99th sample (100 ms).
    h[binOf(10)]! += 98;
    h[binOf(100)]! += 1;
    h[binOf(1000)]! += 1;
    const q = quantilesOf(h, 100)!;
    expect(q.p50).toBeCloseTo(binValue(binOf(10)));
    expect(q.p95).toBeCloseTo(binValue(binOf(10)));
    expect(q.p99).toBeCloseTo(binValue(binOf(100)));
  });
});
