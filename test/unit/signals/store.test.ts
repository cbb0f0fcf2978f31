import { describe, expect, it } from 'vitest';
import { SignalStore, STALE_AFTER_INTERVALS } from '../../../src/signals/store.js';

const T0 = 1_700_000_000_000;
const SOURCE = { metricsUrl: 'http://a:8000/metrics', format: 'vllm', intervalMs: 1000 } as const;

function setup() {
  let now = T0;
  const store = new SignalStore({ now: () => now });
  store.track('a', SOURCE);
  return { store, advance: (ms: number) => (now += ms) };
}

describe('SignalStore', () => {
  it('has nothing for decide before the first scrape', () => {
    const { store } = setup();
    expect(store.lookup('a')).toBeUndefined();
    expect(store.stats()[0]).toMatchObject({ backend: 'a', state: 'pending', scrapes: 0 });
  });

  it('answers the first reading as is, then smooths later ones halfway', () => {
    const { store, advance } = setup();
    store.record('a', { queued: 40, running: 8, kvCacheUsage: 1 });
    expect(store.lookup('a')).toEqual({ queued: 40, running: 8, kvCacheUsage: 1 });
    advance(1000);
    store.record('a', { queued: 0, running: 8, kvCacheUsage: 0 });
    expect(store.lookup('a')).toEqual({ queued: 20, running: 8, kvCacheUsage: 0.5 });
  });

  it(`goes stale after ${STALE_AFTER_INTERVALS} intervals without a good scrape: ignored, counted, shown`, () => {
    const { store, advance } = setup();
    store.record('a', { queued: 5, running: 1, kvCacheUsage: 0.5 });
    advance(STALE_AFTER_INTERVALS * 1000);
    store.fail('a', 'HTTP 503');
    expect(store.lookup('a')).toBeDefined();
    advance(1);
    expect(store.lookup('a')).toBeUndefined();
    expect(store.lookup('a')).toBeUndefined();
    expect(store.stats()[0]).toMatchObject({
      state: 'stale',
      staleTransitions: 1,
      failures: 1,
      lastError: 'HTTP 503',
      queued: 5,
      ageMs: STALE_AFTER_INTERVALS * 1000 + 1,
    });
  });

  it('starts afresh after a stale gap instead of smoothing with the old value', () => {
    const { store, advance } = setup();
    store.record('a', { queued: 40, running: 1, kvCacheUsage: 1 });
    advance(10_000);
    store.record('a', { queued: 2, running: 1, kvCacheUsage: 0.1 });
    expect(store.lookup('a')).toEqual({ queued: 2, running: 1, kvCacheUsage: 0.1 });
    expect(store.stats()[0]).toMatchObject({ state: 'fresh', staleTransitions: 1, lastError: null });
  });

  it('forgets a backend that is untracked, and a changed source starts over', () => {
    const { store } = setup();
    store.record('a', { queued: 1, running: 1, kvCacheUsage: 0 });
    store.track('a', SOURCE);
    expect(store.lookup('a')).toBeDefined();
    store.track('a', { ...SOURCE, format: 'sglang' });
    expect(store.lookup('a')).toBeUndefined();
    store.untrack('a');
    store.record('a', { queued: 1, running: 1, kvCacheUsage: 0 });
    expect(store.lookup('a')).toBeUndefined();
    expect(store.stats()).toEqual([]);
  });
});
