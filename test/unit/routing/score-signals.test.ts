/**
 * The scoring terms added for the adaptive loop: steep error penalty, tail-aware latency,
 * the model server's load, and the exploration floor. Seeded tables; shares of first attempts.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../../src/routing/decide.js';
import { MIN_SHARE_TOTAL } from '../../../src/routing/score.js';
import type { LoadSignal } from '../../../src/signals/types.js';
import {
  buildPolicy,
  features,
  firstAttemptShares,
  healthTable,
  mulberry32,
  NOW,
  signalTable,
} from './helpers.js';

const N = 20_000;
const two = buildPolicy({
  backends: ['a', 'b'],
  routes: { chat: { backends: ['a', 'b'], objective: { latency: 1, errors: 4, cost: 0, load: 1 } } },
});
const three = buildPolicy({
  backends: ['a', 'b', 'c'],
  routes: { chat: { backends: ['a', 'b', 'c'], objective: { latency: 1, errors: 4, cost: 0, load: 1 } } },
});
const idle: LoadSignal = { queued: 0, running: 2, kvCacheUsage: 0.2 };
const swamped: LoadSignal = { queued: 40, running: 64, kvCacheUsage: 1 };
const same = { latencyEwmaMs: 100, ttfbEwmaMs: 50 };

describe('score: errors', () => {
  it.each([
    // [error ratio of a, requests in the window, most share a may get]
    [0.05, 400, 0.03],
    [0.05, 2000, 0.02],
    [0.1, 400, 0.015],
  ])('a backend failing %d of %d requests gets under %d while a clean peer has room', (ratio, n, most) => {
    const shares = firstAttemptShares(two, N, {
      health: {
        a: { ...same, requests: n, failures: ratio * n, errorRatio: ratio },
        b: { ...same, requests: n },
      },
    });
    expect(shares.a ?? 0).toBeLessThan(most);
  });

  it('a backend at 1% errors keeps a real share (the penalty is steep, not a cliff)', () => {
    const shares = firstAttemptShares(two, N, {
      health: {
        a: { ...same, requests: 1000, failures: 10, errorRatio: 0.01 },
        b: { ...same, requests: 1000 },
      },
    });
    // errorExcess ≈ 0.0098: exp(-4 × 50 × 0.0098) ≈ 0.14 of the weight.
    expect(shares.a).toBeGreaterThan(0.07);
    expect(shares.a).toBeLessThan(0.2);
  });

  it('when every backend fails alike, they still share evenly', () => {
    const bad = { ...same, requests: 500, failures: 50, errorRatio: 0.1 };
    const shares = firstAttemptShares(two, N, { health: { a: bad, b: bad } });
    expect(shares.a).toBeCloseTo(0.5, 1);
  });

  it('keeps an exploration floor of MIN_SHARE_TOTAL / n for a backend that fails everything', () => {
    const shares = firstAttemptShares(three, N, {
      health: { a: { requests: 100, failures: 100, errorRatio: 1 } },
    });
    expect(shares.a ?? 0).toBeGreaterThan((MIN_SHARE_TOTAL / 3) * 0.6);
    expect(shares.a ?? 0).toBeLessThan((MIN_SHARE_TOTAL / 3) * 1.6);
  });
});

describe('score: tail latency', () => {
  it('a backend with a long TTFB tail (EWMA 32 ms, p95 306 ms) loses to a steady one (55 / 60 ms)', () => {
    const shares = firstAttemptShares(two, N, {
      health: {
        a: { ttfbEwmaMs: 32, ttfbP95Ms: 306, latencyEwmaMs: 40 },
        b: { ttfbEwmaMs: 55, ttfbP95Ms: 60, latencyEwmaMs: 70 },
      },
    });
    // (32 + 306) / 2 = 169 against 57.5: about a third of the weight.
    expect(shares.a).toBeLessThan(0.3);
    // On the EWMA alone it would have had most of the traffic.
    const ewmaOnly = firstAttemptShares(two, N, {
      health: { a: { ttfbEwmaMs: 32, latencyEwmaMs: 40 }, b: { ttfbEwmaMs: 55, latencyEwmaMs: 70 } },
    });
    expect(ewmaOnly.a).toBeGreaterThan(0.55);
  });
});

describe('score: model-server load', () => {
  it('a deep queue and a full KV cache get under 10% against an idle peer of equal latency', () => {
    const shares = firstAttemptShares(two, N, {
      health: { a: same, b: same },
      signals: { a: swamped, b: idle },
    });
    expect(shares.a ?? 0).toBeLessThan(0.1);
    const reversed = firstAttemptShares(two, N, {
      health: { a: same, b: same },
      signals: { a: idle, b: swamped },
    });
    expect(reversed.a).toBeGreaterThan(0.9);
  });

  it('KV-cache usage below the knee costs nothing; a few queued requests cost a little', () => {
    const cool = firstAttemptShares(two, N, {
      health: { a: same, b: same },
      signals: {
        a: { queued: 0, running: 8, kvCacheUsage: 0.6 },
        b: { queued: 0, running: 1, kvCacheUsage: 0 },
      },
    });
    expect(cool.a).toBeCloseTo(0.5, 1);
    const queued = firstAttemptShares(two, N, {
      health: { a: same, b: same },
      signals: { a: { queued: 2, running: 8, kvCacheUsage: 0.5 }, b: idle },
    });
    // 1 + 2/4 = 1.5 times the cost: 40% of the traffic.
    expect(queued.a).toBeCloseTo(0.4, 1);
  });

  it('a backend without a fresh signal is neither rewarded nor punished (median of the others)', () => {
    const shares = firstAttemptShares(three, N, {
      health: { a: same, b: same, c: same },
      signals: { a: idle, c: { queued: 8, running: 8, kvCacheUsage: 0.5 } },
    });
    // Costs 0 and 2; b counts as 1: weights 1, 1/2, 1/3.
    expect(shares.b).toBeCloseTo(0.5 / (1 + 0.5 + 1 / 3), 1);
    expect(shares.a).toBeGreaterThan(shares.b ?? 0);
    expect(shares.b).toBeGreaterThan(shares.c ?? 0);
  });

  it('objective.load 0 switches the term off', () => {
    const off = buildPolicy({
      backends: ['a', 'b'],
      routes: { chat: { backends: ['a', 'b'], objective: { latency: 1, errors: 4, cost: 0, load: 0 } } },
    });
    const shares = firstAttemptShares(off, N, {
      health: { a: same, b: same },
      signals: { a: swamped, b: idle },
    });
    expect(shares.a).toBeCloseTo(0.5, 1);
  });

  it('reports the load term per candidate', () => {
    const r = decide({
      policy: two,
      health: healthTable({ a: same, b: same }),
      signals: signalTable({ a: { queued: 4, running: 1, kvCacheUsage: 0 }, b: idle }),
      features: features(),
      nowMs: NOW,
      random: mulberry32(1),
    });
    if (!r.ok) throw new Error(r.refusal.message);
    expect(r.decision.candidates.find((c) => c.backend === 'a')?.terms?.load).toBe(2);
    expect(r.decision.candidates.find((c) => c.backend === 'b')?.terms?.load).toBe(1);
  });
});

describe('score: the reason names the leading term', () => {
  const reasonOf = (health: Parameters<typeof healthTable>[0], signals: Record<string, LoadSignal> = {}) => {
    const r = decide({
      policy: two,
      health: healthTable(health),
      signals: signalTable(signals),
      features: features(),
      nowMs: NOW,
      random: mulberry32(1),
    });
    if (!r.ok) throw new Error(r.refusal.message);
    return r.decision.reason;
  };

  it.each([
    [
      'errors',
      { a: { ...same, requests: 400, failures: 20, errorRatio: 0.05 }, b: same },
      {},
      'b leads a on errors',
    ],
    ['latency', { a: { ...same, ttfbEwmaMs: 200 }, b: same }, {}, 'b leads a on latency'],
    ['load', { a: same, b: same }, { a: swamped, b: idle }, 'b leads a on load'],
  ])('%s', (_term, health, signals, expected) => {
    expect(reasonOf(health, signals)).toContain(`; ${expected})`);
  });

  it('names none when the candidates are close', () => {
    expect(reasonOf({ a: same, b: same })).toMatch(/^score -> [ab] \(weight 0\.50\)$/);
  });
});

describe('score: no herding', () => {
  it('equal backends split evenly, whatever the seed (a draw, never the top one outright)', () => {
    for (const seed of [1, 2, 3]) {
      const shares = firstAttemptShares(three, 6000, { health: { a: same, b: same, c: same }, seed });
      for (const b of ['a', 'b', 'c']) expect(shares[b]).toBeCloseTo(1 / 3, 1);
    }
  });
});
