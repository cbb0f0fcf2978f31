import { describe, expect, it } from 'vitest';
import type { RequestFeatures } from '../../../src/ingress/features.js';
import { buildPolicy, decided, firstAttemptShares, refused, type RuleSpec } from './helpers.js';

const tenant = (t: string) => (f: RequestFeatures) => f.tenant === t;

function withRules(rules: RuleSpec[], route: { maxAttempts?: number } = {}) {
  return buildPolicy({
    backends: ['a', 'b', 'c', 'p'],
    routes: {
      chat: { backends: ['a', 'b', 'c'], ...route },
      premium: { backends: ['p', 'a'] },
    },
    rules,
  });
}

describe('rules', () => {
  it('first match wins: a later matching rule is not applied', () => {
    const policy = withRules([
      { name: 'acme-to-c', when: tenant('acme'), only: ['c'] },
      { name: 'everyone-to-a', only: ['a'] },
    ]);
    const acme = decided({ policy, features: { tenant: 'acme' } });
    expect(acme.rule).toBe('acme-to-c');
    expect(acme.attempts).toEqual(['c']);
    const other = decided({ policy, features: { tenant: 'globex' } });
    expect(other.rule).toBe('everyone-to-a');
    expect(other.attempts).toEqual(['a']);
  });

  it('no matching rule: the route as written', () => {
    const d = decided({ policy: withRules([{ name: 'acme', when: tenant('acme'), only: ['c'] }]) });
    expect(d.rule).toBeUndefined();
    expect(d.attempts).toHaveLength(3);
  });

  it('deny refuses with the rule message and status', () => {
    const policy = withRules([
      { name: 'blocked', when: tenant('evil'), deny: { message: 'tenant evil is blocked', status: 403 } },
    ]);
    const r = refused({ policy, features: { tenant: 'evil' } });
    expect(r).toMatchObject({
      code: 'denied',
      status: 403,
      message: 'tenant evil is blocked',
      rule: 'blocked',
    });
  });

  it('route switch sends the request to another route', () => {
    const policy = withRules([{ name: 'premium', when: tenant('acme'), route: 'premium' }]);
    const d = decided({ policy, features: { tenant: 'acme' } });
    expect(d).toMatchObject({ requestedRoute: 'chat', route: 'premium', rule: 'premium' });
    expect(new Set(d.attempts)).toEqual(new Set(['p', 'a']));
    expect(d.reason).toMatch(/^rule premium -> route premium; /);
  });

  it('prefer puts the listed available backends first, in the rule order', () => {
    const policy = withRules([{ name: 'pref', prefer: ['c', 'x-not-in-route', 'b'] }]);
    for (let seed = 1; seed <= 20; seed++) {
      expect(decided({ policy, seed }).attempts).toEqual(['c', 'b', 'a']);
    }
  });

  it('prefer skips an unavailable backend', () => {
    const policy = withRules([{ name: 'pref', prefer: ['c', 'b'] }]);
    const d = decided({ policy, health: { c: { breaker: 'open' } } });
    expect(d.attempts).toEqual(['b', 'a']);
    expect(d.reason).toContain('prefer b');
  });

  it('prefer applies before the maxAttempts cut', () => {
    const policy = withRules([{ name: 'pref', prefer: ['c'] }], { maxAttempts: 1 });
    for (let seed = 1; seed <= 20; seed++) expect(decided({ policy, seed }).attempts).toEqual(['c']);
  });

  it('only restricts the candidates', () => {
    const d = decided({ policy: withRules([{ name: 'small', only: ['a', 'b'] }]) });
    expect(new Set(d.attempts)).toEqual(new Set(['a', 'b']));
    expect(d.candidates.find((c) => c.backend === 'c')?.excluded).toBe('not_in_rule_only');
  });

  it('exclude removes candidates', () => {
    const d = decided({ policy: withRules([{ name: 'no-b', exclude: ['b'] }]) });
    expect(new Set(d.attempts)).toEqual(new Set(['a', 'c']));
    expect(d.candidates.find((c) => c.backend === 'b')?.excluded).toBe('excluded_by_rule');
  });

  it('objective override changes the scoring (latency off → slow backend gets its even share)', () => {
    const health = { a: { latencyEwmaMs: 100 }, b: { latencyEwmaMs: 100 }, c: { latencyEwmaMs: 5000 } };
    const plain = firstAttemptShares(withRules([]), 6000, { health });
    const flat = firstAttemptShares(withRules([{ name: 'flat', objective: { latency: 0 } }]), 6000, {
      health,
    });
    expect(plain.c ?? 0).toBeLessThan(0.02);
    expect(flat.c).toBeCloseTo(1 / 3, 1);
  });

  it('a rule split replaces the route split', () => {
    const policy = buildPolicy({
      backends: ['main', 'canary'],
      routes: { chat: { backends: ['main', 'canary'], split: { main: 100 } } },
      rules: [{ name: 'beta', when: tenant('beta'), split: { canary: 100 } }],
    });
    expect(decided({ policy, features: { tenant: 'beta' } }).variant).toBe('canary');
    expect(decided({ policy, features: { tenant: 'ga' } }).variant).toBe('main');
  });
});

describe('rules: pins (x-routecar-backend)', () => {
  const pinPolicy = withRules([{ name: 'debug', when: tenant('ops'), allowPin: true }]);

  it('a pin allowed by the matching rule is the only attempt, variant pin:<name>', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const d = decided({ policy: pinPolicy, seed, features: { tenant: 'ops', pin: 'b' } });
      expect(d.attempts).toEqual(['b']);
      expect(d.variant).toBe('pin:b');
    }
  });

  it('a pin without a rule allowing it is ignored, and the reason says so', () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const d = decided({ policy: pinPolicy, seed, features: { tenant: 'guest', pin: 'b' } });
      expect(d.variant).toBe('default');
      expect(d.reason).toContain('pin ignored');
      seen.add(d.attempts[0] as string);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('a pin to a backend that is not in the route is refused with pin_not_allowed 400', () => {
    const r = refused({ policy: pinPolicy, features: { tenant: 'ops', pin: 'p' } });
    expect(r.code).toBe('pin_not_allowed');
    expect(r.status).toBe(400);
    expect(r.message).toContain('"p"');
    expect(r.message).toContain('route "chat"');
  });

  it('a pin to a backend the rule leaves out is refused', () => {
    const policy = withRules([{ name: 'debug', allowPin: true, exclude: ['b'] }]);
    expect(refused({ policy, features: { pin: 'b' } }).code).toBe('pin_not_allowed');
  });

  it('a pin to a backend that is down is no_healthy_backend, with no silent reroute', () => {
    const r = refused({
      policy: pinPolicy,
      features: { tenant: 'ops', pin: 'b' },
      health: { b: { breaker: 'open' } },
    });
    expect(r.code).toBe('no_healthy_backend');
    expect(r.message).toContain('b breaker_open');
  });

  it('a pin bypasses the split', () => {
    const policy = buildPolicy({
      backends: ['main', 'canary'],
      routes: { chat: { backends: ['main', 'canary'], split: { main: 100 } } },
      rules: [{ name: 'debug', allowPin: true }],
    });
    expect(decided({ policy, features: { pin: 'canary' } }).attempts).toEqual(['canary']);
  });
});
