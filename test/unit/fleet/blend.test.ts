import { describe, expect, it } from 'vitest';
import { UNKNOWN_HEALTH, type BackendHealth } from '../../../src/health/types.js';
import { blendedLookup, blendHealth, FLEET_PRIOR_REQUESTS } from '../../../src/fleet/blend.js';

const fleet = { requests: 5000, errorRatio: 0.4, ttfbP95Ms: 300 };

describe('blendHealth', () => {
  it('a new pod starts from the fleet: its error ratio and its TTFB', () => {
    const h = blendHealth(UNKNOWN_HEALTH, fleet);
    expect(h.requests).toBe(FLEET_PRIOR_REQUESTS);
    expect(h.errorRatio).toBeCloseTo(0.4, 9);
    expect(h.ttfbEwmaMs).toBe(300);
    expect(h.ttfbP95Ms).toBe(300);
    expect(h.breaker).toBe('closed');
  });

  it('a busy pod trusts itself', () => {
    const local: BackendHealth = {
      ...UNKNOWN_HEALTH,
      requests: 2000,
      failures: 0,
      ttfbEwmaMs: 40,
      ttfbP95Ms: 60,
    };
    const h = blendHealth(local, fleet);
    expect(h.errorRatio).toBeLessThan(0.01);
    expect(h.ttfbEwmaMs).toBe(40);
    expect(h.ttfbP95Ms).toBeLessThan(70);
  });

  it('a fleet that has seen little counts for little', () => {
    const h = blendHealth(
      { ...UNKNOWN_HEALTH, requests: 10 },
      { requests: 2, errorRatio: 1, ttfbP95Ms: undefined },
    );
    expect(h.requests).toBe(12);
    expect(h.failures).toBe(2);
  });

  it('no figures: the local snapshot as is', () => {
    expect(blendHealth(UNKNOWN_HEALTH, undefined)).toBe(UNKNOWN_HEALTH);
  });
});

describe('blendedLookup', () => {
  it('caches per local snapshot and fleet figures', () => {
    const local = { ...UNKNOWN_HEALTH, requests: 3 };
    let f = fleet;
    const lookup = blendedLookup(
      () => local,
      () => f,
    );
    const a = lookup('x');
    expect(lookup('x')).toBe(a);
    f = { ...fleet, errorRatio: 0 };
    expect(lookup('x')).not.toBe(a);
    expect(blendedLookup(() => local, undefined)('x')).toBe(local);
  });
});
