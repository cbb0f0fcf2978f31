import { describe, expect, it } from 'vitest';
import { MIN_SHARE_TOTAL } from '../../../src/routing/score.js';
import { buildPolicy, decided, firstAttemptShares } from './helpers.js';

const N = 10_000;
const policy = buildPolicy({ backends: ['a', 'b', 'c'], routes: { chat: { backends: ['a', 'b', 'c'] } } });

describe('score: health-aware spreading without a split', () => {
  it('equal healthy backends share traffic evenly', () => {
    const shares = firstAttemptShares(policy, N, {
      health: { a: { latencyEwmaMs: 200 }, b: { latencyEwmaMs: 200 }, c: { latencyEwmaMs: 200 } },
    });
    for (const b of ['a', 'b', 'c']) expect(shares[b]).toBeCloseTo(1 / 3, 1);
  });

  it('a backend 10x slower gets well under 10% (about a tenth of the weight of the others)', () => {
    const shares = firstAttemptShares(policy, N, {
      health: { a: { latencyEwmaMs: 200 }, b: { latencyEwmaMs: 200 }, c: { latencyEwmaMs: 2000 } },
    });
    expect(shares.c).toBeLessThan(0.1);
    expect(shares.c).toBeCloseTo(0.1 / 2.1, 1);
    expect(shares.a).toBeGreaterThan(0.4);
    expect(shares.b).toBeGreaterThan(0.4);
  });

  it('a backend with a 30% error ratio gets much less traffic', () => {
    const strict = buildPolicy({
      backends: ['a', 'b', 'c'],
      routes: { chat: { backends: ['a', 'b', 'c'], objective: { latency: 1, errors: 4, cost: 1 } } },
    });
    const shares = firstAttemptShares(strict, N, {
      health: { a: { errorRatio: 0.3, requests: 100, failures: 30 } },
    });
    // errorShare = 30.1 / 120 against 0.1 / 20: the weight underflows; only the exploration floor is left
    expect(shares.a ?? 0).toBeLessThan(0.05);
    expect(shares.b).toBeGreaterThan(0.45);
  });

  it('one failure on a cold backend costs it most of its share, down to the exploration floor', () => {
    const strict = buildPolicy({
      backends: ['a', 'b', 'c'],
      routes: { chat: { backends: ['a', 'b', 'c'], objective: { latency: 1, errors: 4, cost: 1 } } },
    });
    const shares = firstAttemptShares(strict, N, {
      health: { a: { errorRatio: 1, requests: 1, failures: 1 } },
    });
    // errorShare = 1.1 / 21 against 0.1 / 20: weight × exp(-4 × 50 × 0.047) ≈ 1e-4, plus the floor 0.02 / 3
    expect(shares.a ?? 0).toBeGreaterThan(MIN_SHARE_TOTAL / 3 / 2);
    expect(shares.a ?? 0).toBeLessThan(0.03);
  });

  it('the errors objective weight sharpens the penalty', () => {
    const strict = buildPolicy({
      backends: ['a', 'b', 'c'],
      routes: { chat: { backends: ['a', 'b', 'c'], objective: { latency: 1, errors: 4, cost: 1 } } },
    });
    const a = { errorRatio: 0.02, requests: 400, failures: 8 };
    const lenient = firstAttemptShares(policy, N, { health: { a } });
    const harsh = firstAttemptShares(strict, N, { health: { a } });
    expect(harsh.a ?? 0).toBeLessThan((lenient.a ?? 0) / 2);
  });

  it('in-flight load counts: a busy backend looks slower before its EWMA moves (each 4 in flight add the base latency)', () => {
    const shares = firstAttemptShares(policy, N, {
      health: {
        a: { latencyEwmaMs: 200, inflight: 9 },
        b: { latencyEwmaMs: 200 },
        c: { latencyEwmaMs: 200 },
      },
    });
    // 1 + 9 / 4 = 3.25 times slower: 1 / 3.25 of the weight of the others.
    expect(shares.a).toBeLessThan(0.18);
    expect(shares.a).toBeGreaterThan(0.1);
  });

  it('a backend with no latency sample yet is treated as the median and gets a fair share', () => {
    const shares = firstAttemptShares(policy, N, {
      health: { a: { latencyEwmaMs: 100 }, b: { latencyEwmaMs: 300 }, c: {} },
    });
    // c counts as the median (200): weights 1, 1/3, 1/2
    expect(shares.c).toBeCloseTo(0.5 / (1 + 1 / 3 + 0.5), 1);
  });

  it('with a cost weight, the cheaper backend gets proportionally more', () => {
    const priced = buildPolicy({
      backends: { cheap: { price: { input: 1, output: 1 } }, dear: { price: { input: 4, output: 4 } } },
      routes: { chat: { backends: ['cheap', 'dear'] } },
    });
    const shares = firstAttemptShares(priced, N);
    expect(shares.dear).toBeCloseTo(0.25 / 1.25, 1);
  });

  it('orders the attempts after the first by weight and reports terms and weights', () => {
    const d = decided({
      policy,
      health: { a: { latencyEwmaMs: 100 }, b: { latencyEwmaMs: 400 }, c: { latencyEwmaMs: 200 } },
      seed: 3,
    });
    const weight = (n: string) => d.candidates.find((c) => c.backend === n)?.weight ?? -1;
    const rest = d.attempts.slice(1);
    expect(weight(rest[0] as string)).toBeGreaterThanOrEqual(weight(rest[1] as string));
    const b = d.candidates.find((c) => c.backend === 'b');
    expect(b?.terms).toEqual({ latency: 4, errors: 0, cost: 1, load: 1 });
    const total = d.candidates.reduce((s, c) => s + (c.weight ?? 0), 0);
    expect(total).toBeCloseTo(1, 9);
    expect(d.reason).toMatch(/^score -> [abc] \(weight 0\.\d\d; a leads c on latency\)$/);
  });
});
