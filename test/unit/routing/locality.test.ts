/**
 * Zone locality: a table of (sidecar zone, route locality, health) → where the first attempts go.
 */
import { describe, expect, it } from 'vitest';
import { ZONE_TOLERANCE } from '../../../src/routing/locality.js';
import type { CompiledRoute } from '../../../src/policy/types.js';
import { buildPolicy, decided, firstAttemptShares, refused } from './helpers.js';

const N = 10_000;
const same = { latencyEwmaMs: 100, ttfbEwmaMs: 50, requests: 200 };

function fleet(locality?: CompiledRoute['locality']) {
  return buildPolicy({
    backends: { a1: { zone: 'z1' }, b2: { zone: 'z2' }, c2: { zone: 'z2' }, d: {} },
    routes: { chat: { backends: ['a1', 'b2', 'c2', 'd'], ...(locality === undefined ? {} : { locality }) } },
  });
}
const healthy = { a1: same, b2: same, c2: same, d: same };
const inZone = (shares: Record<string, number>, ...names: string[]) =>
  names.reduce((s, n) => s + (shares[n] ?? 0), 0);

describe('locality', () => {
  it('prefer-zone (the default with a zone): every first attempt stays in the zone while it is healthy', () => {
    const shares = firstAttemptShares(fleet(), N, { health: healthy, zone: 'z1' });
    expect(shares.a1).toBe(1);
    const z2 = firstAttemptShares(fleet(), N, { health: healthy, zone: 'z2' });
    expect(inZone(z2, 'b2', 'c2')).toBe(1);
    expect(z2.b2).toBeCloseTo(0.5, 1);
  });

  it('keeps the others as failover, best first, with no traffic of their own', () => {
    const d = decided({
      policy: fleet(),
      health: { ...healthy, c2: { ...same, latencyEwmaMs: 50, ttfbEwmaMs: 25 } },
      zone: 'z1',
    });
    expect(d.attempts).toEqual(['a1', 'c2', 'b2']);
    expect(d.candidates.find((c) => c.backend === 'c2')?.weight).toBe(0);
    expect(d.reason).toMatch(/^score -> a1 \(weight 1\.00, zone z1\)$/);
  });

  it('without a zone, or with locality any, zones are ignored', () => {
    for (const shares of [
      firstAttemptShares(fleet(), N, { health: healthy }),
      firstAttemptShares(fleet('any'), N, { health: healthy, zone: 'z1' }),
    ]) {
      for (const b of ['a1', 'b2', 'c2', 'd']) expect(shares[b]).toBeCloseTo(0.25, 1);
    }
  });

  it.each([
    ['its breaker is open', { breaker: 'open' as const }],
    ['it fails 5% of its requests', { requests: 200, failures: 10, errorRatio: 0.05 }],
    [`it is ${ZONE_TOLERANCE + 1}x slower`, { latencyEwmaMs: 500, ttfbEwmaMs: 50 * (ZONE_TOLERANCE + 1) }],
  ])('traffic leaves the zone when the local backend %s', (_what, local) => {
    const shares = firstAttemptShares(fleet(), N, {
      health: { ...healthy, a1: { ...same, ...local } },
      zone: 'z1',
    });
    expect(shares.a1 ?? 0).toBeLessThan(0.3);
    expect(inZone(shares, 'b2', 'c2', 'd')).toBeGreaterThan(0.7);
  });

  it('traffic leaves the zone when the local server is saturated (load signal)', () => {
    const shares = firstAttemptShares(fleet(), N, {
      health: healthy,
      signals: {
        a1: { queued: 40, running: 64, kvCacheUsage: 1 },
        b2: { queued: 0, running: 4, kvCacheUsage: 0.2 },
        c2: { queued: 0, running: 4, kvCacheUsage: 0.2 },
        d: { queued: 0, running: 4, kvCacheUsage: 0.2 },
      },
      zone: 'z1',
    });
    expect(shares.a1 ?? 0).toBeLessThan(0.1);
  });

  it('stays in the zone when the local backend is somewhat slower (within the tolerance)', () => {
    const shares = firstAttemptShares(fleet(), N, {
      health: { ...healthy, a1: { ...same, latencyEwmaMs: 200, ttfbEwmaMs: 100 } },
      zone: 'z1',
    });
    expect(shares.a1).toBe(1);
  });

  it('zone-only: other zones are never candidates, and nothing in the zone means 503', () => {
    const d = decided({ policy: fleet('zone-only'), health: healthy, zone: 'z2' });
    expect([...d.attempts].sort()).toEqual(['b2', 'c2']);
    expect(d.candidates.find((c) => c.backend === 'a1')?.excluded).toBe('other_zone');
    const r = refused({ policy: fleet('zone-only'), health: healthy, zone: 'z3' });
    expect(r.code).toBe('no_healthy_backend');
    expect(r.message).toContain('a1 other_zone');
  });

  it('zone-only without a sidecar zone behaves as any', () => {
    const d = decided({ policy: fleet('zone-only'), health: healthy });
    expect(d.attempts).toHaveLength(3);
  });
});
