/**
 * Prompt-prefix affinity: the same leading text reaches the same backend from every pod, spread
 * over the backends, bounded by load, and never pinned to a failing backend.
 */
import { describe, expect, it } from 'vitest';
import type { CompiledRoute } from '../../../src/policy/types.js';
import { buildPolicy, decided } from './helpers.js';

const BACKENDS = ['a', 'b', 'c'];
const same = { latencyEwmaMs: 100, ttfbEwmaMs: 50, requests: 200 };
const healthy = { a: same, b: same, c: same };

function policy(affinity: CompiledRoute['affinity'] = { prefixChars: 2048, maxLoadFactor: 1.5 }) {
  return buildPolicy({ backends: BACKENDS, routes: { chat: { backends: BACKENDS, affinity } } });
}
const prompt = (i: number) => `system\nYou are assistant number ${i}. Answer briefly.\nuser\nhello`;
const withPrefix = (text: string) => ({ prefix: (chars: number) => text.slice(0, chars) });

describe('prefix affinity', () => {
  it('sends one prefix to one backend, whatever the random draw (every pod agrees)', () => {
    for (let i = 0; i < 30; i++) {
      const homes = new Set(
        [1, 2, 3, 4, 5].map(
          (seed) =>
            decided({ policy: policy(), health: healthy, features: withPrefix(prompt(i)), seed }).attempts[0],
        ),
      );
      expect(homes.size).toBe(1);
    }
  });

  it('spreads 300 distinct prefixes over the backends (none above 45%)', () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const first = decided({ policy: policy(), health: healthy, features: withPrefix(prompt(i)) })
        .attempts[0]!;
      counts[first] = (counts[first] ?? 0) + 1;
    }
    for (const b of BACKENDS) expect((counts[b] ?? 0) / 300).toBeLessThan(0.45);
    for (const b of BACKENDS) expect((counts[b] ?? 0) / 300).toBeGreaterThan(0.2);
  });

  it('only the first prefixChars characters count', () => {
    const p = policy({ prefixChars: 20, maxLoadFactor: 1.5 });
    const homeOf = (text: string) =>
      decided({ policy: p, health: healthy, features: withPrefix(text) }).attempts[0];
    const base = 'system\nshared prompt!'; // 21 characters
    const homes = new Set(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => homeOf(`${base}${i} then different text ${i}`)),
    );
    expect(homes.size).toBe(1);
  });

  it('skips a home above maxLoadFactor × the mean load, and says so', () => {
    const text = prompt(7);
    const home = decided({ policy: policy(), health: healthy, features: withPrefix(text) }).attempts[0]!;
    const busy = { ...healthy, [home]: { ...same, inflight: 12 } };
    const d = decided({ policy: policy(), health: busy, features: withPrefix(text) });
    expect(d.attempts[0]).not.toBe(home);
    expect(d.reason).toContain(`affinity prefix -> ${d.attempts[0]} (${home} (load 3.0x mean) skipped;`);
    // A little busier than the others is not enough to move it.
    const slightly = { ...healthy, [home]: { ...same, inflight: 1 } };
    expect(decided({ policy: policy(), health: slightly, features: withPrefix(text) }).attempts[0]).toBe(
      home,
    );
  });

  it('uses the servers’ own queue and batch when every candidate has a load signal', () => {
    const text = prompt(3);
    const home = decided({ policy: policy(), health: healthy, features: withPrefix(text) }).attempts[0]!;
    const idle = { queued: 0, running: 10, kvCacheUsage: 0.3 };
    const signals = Object.fromEntries(
      BACKENDS.map((b) => [b, b === home ? { queued: 30, running: 60, kvCacheUsage: 0.6 } : idle]),
    );
    const d = decided({ policy: policy(), health: healthy, features: withPrefix(text), signals });
    expect(d.attempts[0]).not.toBe(home);
  });

  it('does not keep keys on a failing backend, and a backend that leaves only moves its own keys', () => {
    const homes = Array.from(
      { length: 60 },
      (_, i) => decided({ policy: policy(), health: healthy, features: withPrefix(prompt(i)) }).attempts[0],
    );
    const failing = { ...healthy, a: { ...same, failures: 20, errorRatio: 0.1 } };
    const open = { ...healthy, a: { ...same, breaker: 'open' as const } };
    for (const health of [failing, open]) {
      homes.forEach((home, i) => {
        const now = decided({ policy: policy(), health, features: withPrefix(prompt(i)) }).attempts[0];
        if (home === 'a') expect(now).not.toBe('a');
        else expect(now).toBe(home);
      });
    }
  });

  it('falls back to the score when the request has no text, and failover order stays by weight', () => {
    const d = decided({ policy: policy(), health: healthy, features: withPrefix('') });
    expect(d.reason).toMatch(/^score -> /);
    const withText = decided({ policy: policy(), health: healthy, features: withPrefix(prompt(1)) });
    expect(withText.attempts).toHaveLength(3);
  });

  it('reports the outcome on the decision: home, skipped (load, score or health) or none (no prefix)', () => {
    const text = prompt(11);
    const home = decided({ policy: policy(), health: healthy, features: withPrefix(text) });
    expect(home.affinity).toBe('home');
    const h = home.attempts[0]!;
    const cases: [string, Record<string, object>][] = [
      ['load', { ...healthy, [h]: { ...same, inflight: 12 } }],
      ['score', { ...healthy, [h]: { ...same, failures: 20, errorRatio: 0.1 } }],
      ['breaker', { ...healthy, [h]: { ...same, breaker: 'open' } }],
    ];
    for (const [why, health] of cases) {
      const d = decided({ policy: policy(), health, features: withPrefix(text) });
      expect(d.attempts[0], why).not.toBe(h);
      expect(d.affinity, why).toBe('skipped');
    }
    expect(decided({ policy: policy(), health: healthy, features: withPrefix('') }).affinity).toBe('none');
    const plain = buildPolicy({ backends: BACKENDS, routes: { chat: { backends: BACKENDS } } });
    expect(decided({ policy: plain, health: healthy, features: withPrefix(text) }).affinity).toBeUndefined();
  });

  it('shows the affinity term per candidate: the home, each load factor, and why a better hash was skipped', () => {
    const text = prompt(7);
    const h = decided({ policy: policy(), health: healthy, features: withPrefix(text) }).attempts[0]!;
    const busy = { ...healthy, [h]: { ...same, inflight: 12 } };
    const d = decided({ policy: policy(), health: busy, features: withPrefix(text) });
    const terms = Object.fromEntries(d.candidates.map((c) => [c.backend, c.terms?.affinity]));
    // Mean in flight 4 (12 / 3): the home is at 3x, the others at 0.
    expect(terms[h]).toEqual({ home: false, loadFactor: 3, skipped: 'load' });
    expect(terms[d.attempts[0]!]).toEqual({ home: true, loadFactor: 0 });
    const plain = decided({ policy: policy(), health: healthy, features: withPrefix('') });
    for (const c of plain.candidates) expect(c.terms?.affinity).toBeUndefined();
  });
});
