import { describe, expect, it } from 'vitest';
import { FAILURE_CLASSES, RollingWindow } from '../../../src/health/window.js';

const T0 = 1_700_000_000_000; // a bucket boundary for 1 s buckets
const W = { sizeMs: 10_000, buckets: 10 };

/** Deterministic PRNG (mulberry32), so the distributions are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exact nearest-rank quantile of a sample. */
function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(q * sorted.length) - 1]!;
}

describe('RollingWindow counts', () => {
  it('counts successes and failures, by class, with the error ratio', () => {
    const w = new RollingWindow(W, T0);
    w.recordSuccess(T0, 100, 20);
    w.recordSuccess(T0 + 10, 120, 25);
    w.recordFailure(T0 + 20, 'server_error');
    w.recordFailure(T0 + 30, 'refused');
    w.recordFailure(T0 + 40, 'server_error');
    w.advance(T0 + 50);
    expect(w.requests).toBe(5);
    expect(w.failures).toBe(3);
    expect(w.errorRatio).toBeCloseTo(0.6);
    const byClass = w.failuresByClass();
    expect(byClass.server_error).toBe(2);
    expect(byClass.refused).toBe(1);
    expect(Object.keys(byClass).sort()).toEqual([...FAILURE_CLASSES].sort());
  });

  it('reports an empty window as zero, with no quantiles', () => {
    const w = new RollingWindow(W, T0).advance(T0);
    expect(w.requests).toBe(0);
    expect(w.errorRatio).toBe(0);
    expect(w.quantiles('total')).toBeUndefined();
    expect(w.quantiles('ttfb')).toBeUndefined();
  });

  it('rejects a window with no buckets or no size', () => {
    expect(() => new RollingWindow({ sizeMs: 0, buckets: 10 }, T0)).toThrow(RangeError);
    expect(() => new RollingWindow({ sizeMs: 1000, buckets: 0 }, T0)).toThrow(RangeError);
    expect(() => new RollingWindow({ sizeMs: 1000, buckets: 2.5 }, T0)).toThrow(RangeError);
  });
});

describe('RollingWindow rotation', () => {
  it('expires a bucket once the window has moved a whole size past it', () => {
    const w = new RollingWindow(W, T0);
    w.recordFailure(T0, 'reset');
    w.recordSuccess(T0 + 5_000, 50);
    expect(w.advance(T0 + 9_999).requests).toBe(2);
    // T0's bucket [T0, T0+1000) leaves when the bucket starting at T0+10000 begins.
    w.advance(T0 + 10_000);
    expect(w.requests).toBe(1);
    expect(w.failures).toBe(0);
    expect(w.failuresByClass().reset).toBe(0);
    expect(w.advance(T0 + 15_000).requests).toBe(0);
    expect(w.quantiles('total')).toBeUndefined();
  });

  it('expires bucket by bucket while traffic keeps flowing', () => {
    const w = new RollingWindow(W, T0);
    // One request per second for 30 s: the window always holds the last 10 seconds.
    for (let s = 0; s < 30; s++) {
      w.recordSuccess(T0 + s * 1000, 10 + s);
      expect(w.requests).toBe(Math.min(s + 1, 10));
    }
    // Latencies 30..39 ms remain: the median is the 5th, 34 ms, not the all-time 24.
    const q = w.quantiles('total')!;
    expect(Math.abs(q.p50 - 34) / 34).toBeLessThan(0.025);
  });

  it('resets after an idle gap longer than the window, then counts again', () => {
    const w = new RollingWindow(W, T0);
    for (let i = 0; i < 50; i++) w.recordFailure(T0 + i * 100, 'server_error');
    expect(w.requests).toBe(50);
    const later = T0 + 3_600_000;
    expect(w.advance(later).requests).toBe(0);
    expect(w.failures).toBe(0);
    w.recordSuccess(later, 10);
    w.recordSuccess(later + 9_000, 10);
    expect(w.advance(later + 9_000).requests).toBe(2);
    expect(w.advance(later + 10_000).requests).toBe(1);
  });

  it('keeps the part of the window a gap shorter than the window did not cover', () => {
    const w = new RollingWindow(W, T0);
    w.recordFailure(T0, 'server_error');
    w.recordFailure(T0 + 8_000, 'server_error');
    // Jump 9.5 s ahead in one step: T0's bucket is gone, T0+8000's is still live.
    w.recordSuccess(T0 + 17_500, 10);
    expect(w.requests).toBe(2);
    expect(w.failures).toBe(1);
  });

  it('keeps writing into the newest bucket when the clock steps back', () => {
    const w = new RollingWindow(W, T0 + 5_000);
    w.recordSuccess(T0 + 5_000, 10);
    w.recordSuccess(T0 + 1_000, 10);
    expect(w.requests).toBe(2);
    // Both were stored in the T0+5000 bucket, so both leave together.
    expect(w.advance(T0 + 14_999).requests).toBe(2);
    expect(w.advance(T0 + 15_000).requests).toBe(0);
  });
});

describe('RollingWindow quantiles', () => {
  it('match a uniform distribution within bin precision', () => {
    const w = new RollingWindow(W, T0);
    const values: number[] = [];
    for (let i = 1; i <= 1000; i++) {
      values.push(i);
      w.recordSuccess(T0, i, i / 10);
    }
    const q = w.quantiles('total')!;
    for (const [got, p] of [
      [q.p50, 0.5],
      [q.p95, 0.95],
      [q.p99, 0.99],
    ] as const) {
      expect(Math.abs(got - exact(values, p)) / exact(values, p)).toBeLessThan(0.025);
    }
    const t = w.quantiles('ttfb')!;
    expect(Math.abs(t.p50 - 50) / 50).toBeLessThan(0.025);
    expect(Math.abs(t.p99 - 99) / 99).toBeLessThan(0.025);
  });

  it('match a heavy-tailed (log-normal) distribution within bin precision', () => {
    const rand = rng(42);
    const w = new RollingWindow(W, T0);
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Box-Muller: median e^6 ≈ 403 ms, long tail into tens of seconds.
      const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      const v = Math.exp(6 + 1.2 * z);
      values.push(v);
      w.recordSuccess(T0 + (i % 1000), v);
    }
    const q = w.quantiles('total')!;
    expect(Math.abs(q.p50 - exact(values, 0.5)) / exact(values, 0.5)).toBeLessThan(0.026);
    expect(Math.abs(q.p95 - exact(values, 0.95)) / exact(values, 0.95)).toBeLessThan(0.026);
    expect(Math.abs(q.p99 - exact(values, 0.99)) / exact(values, 0.99)).toBeLessThan(0.026);
  });

  it('leave ttfb empty when no success reported one', () => {
    const w = new RollingWindow(W, T0);
    w.recordSuccess(T0, 100);
    expect(w.quantiles('total')).toBeDefined();
    expect(w.quantiles('ttfb')).toBeUndefined();
  });

  it('forget slow samples once their bucket expires', () => {
    const w = new RollingWindow(W, T0);
    for (let i = 0; i < 100; i++) w.recordSuccess(T0, 5_000);
    for (let i = 0; i < 100; i++) w.recordSuccess(T0 + 5_000, 50);
    expect(w.quantiles('total')!.p99).toBeGreaterThan(4_800);
    w.advance(T0 + 10_000);
    expect(w.quantiles('total')!.p99).toBeLessThan(52);
  });
});

describe('RollingWindow clearFailures', () => {
  it('drops failures from the counts and keeps successes and latencies', () => {
    const w = new RollingWindow(W, T0);
    w.recordSuccess(T0, 40);
    w.recordFailure(T0 + 1_000, 'connect_timeout');
    w.recordFailure(T0 + 2_000, 'server_error');
    w.clearFailures();
    expect(w.requests).toBe(1);
    expect(w.failures).toBe(0);
    expect(w.errorRatio).toBe(0);
    expect(w.failuresByClass().server_error).toBe(0);
    expect(w.quantiles('total')).toBeDefined();
    // Nothing negative appears when the cleared buckets expire later.
    w.advance(T0 + 11_000);
    expect(w.failures).toBe(0);
    expect(w.requests).toBe(0);
  });
});

describe('RollingWindow resize', () => {
  it('keeps history that fits the new geometry', () => {
    const w = new RollingWindow(W, T0);
    w.recordFailure(T0, 'server_error');
    w.recordSuccess(T0 + 6_000, 30);
    w.recordSuccess(T0 + 9_500, 30);
    w.resize({ sizeMs: 20_000, buckets: 4 }, T0 + 9_600);
    expect(w.settings).toEqual({ sizeMs: 20_000, buckets: 4 });
    expect(w.requests).toBe(3);
    expect(w.quantiles('total')).toBeDefined();
    // T0 lands in the new bucket [T0, T0+5000) (T0 is a multiple of 5000), which expires at T0+20000.
    expect(w.advance(T0 + 19_999).requests).toBe(3);
    expect(w.advance(T0 + 20_000).failures).toBe(0);
  });

  it('drops history older than a smaller window', () => {
    const w = new RollingWindow(W, T0);
    w.recordFailure(T0, 'server_error');
    w.recordSuccess(T0 + 8_000, 30);
    w.resize({ sizeMs: 4_000, buckets: 4 }, T0 + 9_000);
    expect(w.requests).toBe(1);
    expect(w.failures).toBe(0);
  });
});
