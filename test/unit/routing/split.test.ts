import { describe, expect, it } from 'vitest';
import { buildPolicy, decided, firstAttemptShares } from './helpers.js';

const N = 10_000;

function splitPolicy(
  split: Record<string, number>,
  extra: { backends?: string[]; sticky?: 'header' | 'body' } = {},
) {
  const backends = extra.backends ?? Object.keys(split);
  return buildPolicy({
    backends,
    routes: {
      chat: {
        backends,
        split,
        sticky:
          extra.sticky === 'header'
            ? { kind: 'header', name: 'x-user-id' }
            : extra.sticky === 'body'
              ? { kind: 'body', field: 'user' }
              : { kind: 'none' },
      },
    },
  });
}

describe('split: weighted random (not sticky)', () => {
  it('90/10 over 10,000 decisions lands within 1.5 points of 10%', () => {
    const shares = firstAttemptShares(splitPolicy({ main: 90, canary: 10 }), N);
    expect(Math.abs((shares.canary ?? 0) - 0.1)).toBeLessThan(0.015);
  });

  it('the variant is the arm picked', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const d = decided({ policy: splitPolicy({ main: 50, canary: 50 }), seed });
      expect(d.variant).toBe(d.attempts[0]);
      expect(d.reason).toBe(`split weighted -> ${d.variant}`);
    }
  });

  it('renormalises over the remaining arms when one is down', () => {
    const policy = splitPolicy({ a: 60, b: 30, c: 10 });
    const shares = firstAttemptShares(policy, N, { health: { a: { breaker: 'open' } } });
    expect(shares.a).toBeUndefined();
    expect(Math.abs((shares.b ?? 0) - 0.75)).toBeLessThan(0.015);
    const d = decided({ policy, health: { a: { breaker: 'open' } } });
    expect(d.reason).toContain('(a unavailable)');
    expect(d.candidates.find((c) => c.backend === 'b')?.weight).toBeCloseTo(0.75, 12);
  });

  it('an arm absent from the split (weight 0) is never the pick, only a fallback', () => {
    const policy = splitPolicy({ main: 100 }, { backends: ['main', 'canary'] });
    for (let seed = 1; seed <= 200; seed++) {
      const d = decided({ policy, seed });
      expect(d.attempts).toEqual(['main', 'canary']);
      expect(d.variant).toBe('main');
    }
  });

  it('an arm present with weight 0 is never chosen at all, not even as a fallback', () => {
    const policy = splitPolicy({ main: 100, canary: 0 });
    const d = decided({ policy });
    expect(d.attempts).toEqual(['main']);
    expect(d.candidates.find((c) => c.backend === 'canary')?.excluded).toBe('split_weight_zero');
  });

  it('tries the other arms by weight, then the route backends outside the split by score', () => {
    const policy = buildPolicy({
      backends: ['fast', 'a', 'b', 'c', 'slow'],
      routes: {
        chat: { backends: ['slow', 'a', 'b', 'c', 'fast'], split: { a: 10, b: 30, c: 60 }, maxAttempts: 5 },
      },
    });
    const health = { fast: { latencyEwmaMs: 100 }, slow: { latencyEwmaMs: 1000 } };
    for (let seed = 1; seed <= 30; seed++) {
      const d = decided({ policy, health, seed });
      const arms = d.attempts.slice(0, 3);
      expect(new Set(arms)).toEqual(new Set(['a', 'b', 'c']));
      const others = ['c', 'b', 'a'].filter((x) => x !== arms[0]);
      expect(arms.slice(1)).toEqual(others);
      expect(d.attempts.slice(3)).toEqual(['fast', 'slow']);
      expect(d.reason).toMatch(/; 2 fallbacks$/);
    }
  });

  it('falls back to scoring when no arm is usable', () => {
    const policy = splitPolicy({ main: 90, canary: 10 }, { backends: ['main', 'canary', 'spare'] });
    const d = decided({
      policy,
      health: { main: { breaker: 'open' }, canary: { coolingUntilMs: Infinity } },
    });
    expect(d.attempts).toEqual(['spare']);
    expect(d.variant).toBe('default');
    expect(d.reason).toContain('split has no usable arm; score -> spare');
  });
});

describe('split: sticky', () => {
  const policy = splitPolicy({ main: 50, canary: 50 }, { sticky: 'header' });

  it('the same key always gets the same backend, whatever the random source', () => {
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin']) {
      const seen = new Set<string>();
      for (let seed = 1; seed <= 50; seed++) {
        const d = decided({ policy, seed, features: { headers: { 'x-user-id': user } } });
        seen.add(d.variant);
        expect(d.reason).toBe(`split sticky(header:x-user-id) -> ${d.variant}`);
      }
      expect(seen.size).toBe(1);
    }
  });

  it('different keys spread over the arms', () => {
    const shares = firstAttemptShares(policy, N, {
      features: (i) => ({ headers: { 'x-user-id': `user-${i}` } }),
    });
    expect(Math.abs((shares.canary ?? 0) - 0.5)).toBeLessThan(0.015);
  });

  it('without the key the request gets a weighted random arm', () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 50; seed++) {
      const d = decided({ policy, seed });
      seen.add(d.variant);
      expect(d.reason).toContain('split weighted (no header:x-user-id)');
    }
    expect(seen).toEqual(new Set(['main', 'canary']));
  });

  it('body:user keys on the request user', () => {
    const byUser = splitPolicy({ main: 50, canary: 50 }, { sticky: 'body' });
    const seen = new Set<string>();
    for (let seed = 1; seed <= 50; seed++) {
      const d = decided({ policy: byUser, seed, features: { user: 'u-17' } });
      seen.add(d.variant);
      expect(d.reason).toContain('sticky(body:user)');
    }
    expect(seen.size).toBe(1);
  });

  it('a sticky user whose arm is down moves to another arm and comes back on recovery', () => {
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const onCanary = users.filter(
      (u) => decided({ policy, features: { headers: { 'x-user-id': u } } }).variant === 'canary',
    );
    expect(onCanary.length).toBeGreaterThan(50);
    for (const u of onCanary) {
      const f = { headers: { 'x-user-id': u } };
      expect(decided({ policy, features: f, health: { canary: { breaker: 'open' } } }).variant).toBe('main');
      expect(decided({ policy, features: f }).variant).toBe('canary');
    }
  });
});
