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
