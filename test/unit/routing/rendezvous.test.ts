import { describe, expect, it } from 'vitest';
import { keyHash, unitHash } from '../../../src/routing/hash.js';
import { buildPolicy, decided } from './helpers.js';

const USERS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function assign(canaryWeight: number): Map<string, string> {
  const split: Record<string, number> = { stable: 100 - canaryWeight };
  if (canaryWeight > 0) split.canary = canaryWeight;
  const policy = buildPolicy({
    backends: ['stable', 'canary'],
    routes: {
      chat: { backends: ['stable', 'canary'], split, sticky: { kind: 'header', name: 'x-user-id' } },
    },
  });
  const out = new Map<string, string>();
  for (const user of USERS)
    out.set(user, decided({ policy, features: { headers: { 'x-user-id': user } } }).variant);
  return out;
}

function onCanary(a: Map<string, string>): Set<string> {
  return new Set([...a].filter(([, v]) => v === 'canary').map(([u]) => u));
}

describe('weighted rendezvous: canary rollout 5 → 10 → 50 → 0 over 10,000 users', () => {
  const steps = [5, 10, 50, 0].map((w) => ({ w, canary: onCanary(assign(w)) }));

  it.each(steps.map((s) => [s.w, s]))('canary at %i%% gets its share within 1 point', (_w, { w, canary }) => {
    expect(Math.abs((canary.size / USERS.length) * 100 - w)).toBeLessThanOrEqual(1);
  });

  it('rising weight: nobody leaves the canary (5 → 10 → 50)', () => {
    for (let i = 1; i < 3; i++) {
      const before = steps[i - 1]!.canary;
      const after = steps[i]!.canary;
      for (const u of before) expect(after.has(u)).toBe(true);
      expect(after.size).toBeGreaterThan(before.size);
    }
  });

  it('falling weight: nobody enters the canary (50 → 10 → 5, and 0 leaves it empty)', () => {
    const down = [50, 10, 5, 0].map((w) => onCanary(assign(w)));
    for (let i = 1; i < down.length; i++) {
      for (const u of down[i]!) expect(down[i - 1]!.has(u)).toBe(true);
    }
    expect(down[3]!.size).toBe(0);
  });
});

describe('weighted rendezvous: three arms', () => {
  it('raising one arm moves keys only into it; the other two keep their keys among themselves', () => {
    const run = (b: number) => {
      const policy = buildPolicy({
        backends: ['a', 'b', 'c'],
        routes: {
          chat: {
            backends: ['a', 'b', 'c'],
            split: { a: 40, b, c: 40 },
            sticky: { kind: 'body', field: 'user' },
          },
        },
      });
      return USERS.slice(0, 3000).map((user) => decided({ policy, features: { user } }).variant);
    };
    const before = run(20);
    const after = run(60);
    for (let i = 0; i < before.length; i++) {
      if (before[i] !== after[i]) expect(after[i]).toBe('b');
    }
    expect(after.filter((v) => v === 'b').length).toBeGreaterThan(before.filter((v) => v === 'b').length);
  });
});

describe('hash', () => {
  it('maps (key, backend) into (0, 1) uniformly', () => {
    const buckets = new Array<number>(10).fill(0);
    for (const user of USERS) {
      const u = unitHash(keyHash(user), 'llama-70b');
      expect(u).toBeGreaterThan(0);
      expect(u).toBeLessThan(1);
      buckets[Math.floor(u * 10)]!++;
    }
    for (const n of buckets) expect(Math.abs(n - 1000)).toBeLessThan(120);
  });

  it('is deterministic and separates keys and backend names', () => {
    expect(keyHash('alice')).toBe(keyHash('alice'));
    expect(keyHash('alice')).not.toBe(keyHash('alicf'));
    const k = keyHash('alice');
    expect(unitHash(k, 'a')).toBe(unitHash(k, 'a'));
    expect(unitHash(k, 'a')).not.toBe(unitHash(k, 'b'));
  });
});
