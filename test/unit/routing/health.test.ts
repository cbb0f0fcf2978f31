import { describe, expect, it } from 'vitest';
import type { BackendHealth } from '../../../src/health/types.js';
import { buildPolicy, decided, NOW } from './helpers.js';

const policy = buildPolicy({
  backends: { a: {}, b: { maxInflight: 4 }, c: {} },
  routes: { chat: { backends: ['a', 'b', 'c'] } },
});

interface Row {
  readonly name: string;
  readonly health: Record<string, Partial<BackendHealth>>;
  /** Backends that must not be attempted, with the reason reported. */
  readonly excluded: Record<string, string>;
  /** Expected first attempt, when the scenario fixes it. */
  readonly first?: string;
  /** Expected last attempt, when the scenario fixes it. */
  readonly last?: string;
}

const rows: Row[] = [
  { name: 'all healthy: nobody excluded', health: {}, excluded: {} },
  { name: 'open breaker is excluded', health: { a: { breaker: 'open' } }, excluded: { a: 'breaker_open' } },
  {
    name: 'half-open with no trial in flight is allowed and goes first',
    health: { c: { breaker: 'halfOpen' } },
    excluded: {},
    first: 'c',
  },
  {
    name: 'half-open with its trial in flight is kept but goes last',
    health: { a: { breaker: 'halfOpen', inflight: 1 } },
    excluded: {},
    last: 'a',
  },
  {
    name: 'cooling down (Retry-After) is excluded',
    health: { b: { coolingUntilMs: NOW + 1 } },
    excluded: { b: 'cooling_down' },
  },
  {
    name: 'a cool-down that has expired no longer excludes',
    health: { b: { coolingUntilMs: NOW } },
    excluded: {},
  },
  { name: 'at maxInflight is excluded', health: { b: { inflight: 4 } }, excluded: { b: 'at_max_inflight' } },
  { name: 'below maxInflight is allowed', health: { b: { inflight: 3 } }, excluded: {} },
  {
    name: 'several exclusions at once leave the survivor alone',
    health: { a: { breaker: 'open' }, b: { inflight: 9 } },
    excluded: { a: 'breaker_open', b: 'at_max_inflight' },
    first: 'c',
  },
];

describe('candidates: health exclusions (scenario table)', () => {
  it.each(rows)('$name', ({ health, excluded, first, last }) => {
    for (let seed = 1; seed <= 10; seed++) {
      const d = decided({ policy, health, seed });
      for (const [backend, reason] of Object.entries(excluded)) {
        expect(d.attempts).not.toContain(backend);
        expect(d.candidates.find((c) => c.backend === backend)?.excluded).toBe(reason);
      }
      expect(d.attempts).toHaveLength(3 - Object.keys(excluded).length);
      if (first !== undefined) expect(d.attempts[0]).toBe(first);
      if (last !== undefined) expect(d.attempts.at(-1)).toBe(last);
    }
  });

  it('says so in the reason when a half-open backend gets its trial', () => {
    const d = decided({ policy, health: { b: { breaker: 'halfOpen' } } });
    expect(d.attempts[0]).toBe('b');
    expect(d.reason).toContain('half-open trial b');
  });

  it('puts the half-open trial first even when a split would pick another arm', () => {
    const split = buildPolicy({
      backends: ['main', 'canary'],
      routes: { chat: { backends: ['main', 'canary'], split: { main: 99, canary: 1 } } },
    });
    for (let seed = 1; seed <= 20; seed++) {
      const d = decided({ policy: split, health: { canary: { breaker: 'halfOpen' } }, seed });
      expect(d.attempts).toEqual(['canary', 'main']);
    }
  });
});
