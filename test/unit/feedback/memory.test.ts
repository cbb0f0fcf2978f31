import { describe, expect, it } from 'vitest';
import { MAX_ID_CHARS, RequestMemory } from '../../../src/feedback/memory.js';

describe('RequestMemory', () => {
  it('remembers a request for its TTL, then forgets it', () => {
    const m = new RequestMemory({ ttlMs: 1000 });
    m.remember('r1', 'chat', 'a', 'a', 0);
    expect(m.lookup('r1', 1000)).toMatchObject({ route: 'chat', backend: 'a', variant: 'a' });
    expect(m.lookup('r1', 1001)).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const m = new RequestMemory({ maxEntries: 3 });
    for (let i = 0; i < 5; i++) m.remember(`r${i}`, 'chat', 'a', 'a', i);
    expect(m.size).toBe(3);
    expect(m.lookup('r0', 5)).toBeUndefined();
    expect(m.lookup('r1', 5)).toBeUndefined();
    expect(m.lookup('r4', 5)).toBeDefined();
  });

  it('prunes expired entries as new ones arrive, so the size follows the rate × TTL', () => {
    const m = new RequestMemory({ ttlMs: 100 });
    for (let t = 0; t < 1000; t++) m.remember(`r${t}`, 'chat', 'a', 'a', t);
    expect(m.size).toBe(101);
  });

  it('does not remember ids past the length bound', () => {
    const m = new RequestMemory();
    m.remember('x'.repeat(MAX_ID_CHARS + 1), 'chat', 'a', 'a', 0);
    expect(m.size).toBe(0);
  });

  it('defaults: 15 minutes and 100k entries', () => {
    const m = new RequestMemory();
    expect([m.ttlMs, m.maxEntries]).toEqual([15 * 60_000, 100_000]);
  });
});

describe('RequestMemory against a plain Map (seeded random operations)', () => {
  it.each([
    { seed: 42, ttlMs: 500, maxEntries: 64, ids: 200 },
    { seed: 7, ttlMs: 100_000, maxEntries: 16, ids: 40 }, // the size bound drives eviction, repeats fill the ring
    { seed: 9, ttlMs: 30, maxEntries: 1_000, ids: 5_000 }, // expiry drives it
    { seed: 3, ttlMs: 100_000, maxEntries: 1, ids: 3 },
  ])(
    'answers every lookup as the reference model does (seed $seed, ttl $ttlMs, max $maxEntries, $ids ids)',
    ({ seed: start, ttlMs, maxEntries, ids }) => {
      let seed = start;
      const rand = (): number => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed / 2 ** 32;
      };
      const m = new RequestMemory({ ttlMs, maxEntries });
      // The reference: insertion-ordered, the oldest evicted first, a repeat moves to the back.
      const ref = new Map<string, { route: string; backend: string; variant: string; atMs: number }>();
      let now = 0;
      for (let step = 0; step < 20_000; step++) {
        now += Math.floor(rand() * 3);
        for (const [id, e] of ref) {
          if (now - e.atMs <= ttlMs) break;
          ref.delete(id);
        }
        const id = `req-${Math.floor(rand() * ids)}`;
        if (rand() < 0.6) {
          const entry = {
            route: `r${step % 3}`,
            backend: `b${step % 5}`,
            variant: `v${step % 2}`,
            atMs: now,
          };
          m.remember(id, entry.route, entry.backend, entry.variant, now);
          ref.delete(id);
          ref.set(id, entry);
          while (ref.size > maxEntries) ref.delete(ref.keys().next().value!);
        } else {
          const expected = ref.get(id);
          const got = m.lookup(id, now);
          expect(got, `step ${step}, ${id}`).toEqual(
            expected !== undefined && now - expected.atMs <= ttlMs ? expected : undefined,
          );
        }
      }
      expect(m.size).toBeLessThanOrEqual(maxEntries);
    },
  );
});
