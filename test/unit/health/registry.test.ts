import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HealthRegistry, type BreakerTransition } from '../../../src/health/registry.js';
import { UNKNOWN_HEALTH } from '../../../src/health/types.js';
import type {
  BreakerSettings,
  CompiledBackend,
  CompiledPolicy,
  WindowSettings,
} from '../../../src/policy/types.js';
import { classify, type Outcome } from '../../../src/outcome/classify.js';

const T0 = 1_700_000_000_000;
const BREAKER: BreakerSettings = {
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  resetTimeoutMs: 1_000,
  consecutiveFailures: 0,
};
const WINDOW: WindowSettings = { sizeMs: 10_000, buckets: 10 };

function backend(name: string): CompiledBackend {
  return {
    name,
    baseUrl: `http://${name}:8000/v1`,
    model: name,
    price: { inputPerMTok: 1, outputPerMTok: 1, cachedInputPerMTok: 1 },
    tokenizerFactor: 4,
    zone: undefined,
    labels: {},
    maxInflight: Infinity,
    timeouts: { connectMs: 1_000, firstByteMs: 10_000, idleMs: 10_000 },
    apiKeyEnv: undefined,
  };
}

function policy(
  names: string[],
  over: { breaker?: BreakerSettings; window?: WindowSettings } = {},
): CompiledPolicy {
  return {
    version: names.join('+'),
    backends: new Map(names.map((n) => [n, backend(n)])),
    routes: new Map(),
    rules: [],
    breaker: over.breaker ?? BREAKER,
    window: over.window ?? WINDOW,
  };
}

const SUCCESS: Outcome = { kind: 'success' };
const SERVER_ERROR: Outcome = { kind: 'failure', failure: 'server_error' };

describe('HealthRegistry', () => {
  let t: number;
  let registry: HealthRegistry;

  beforeEach(() => {
    vi.useFakeTimers();
    t = T0;
    registry = new HealthRegistry({ now: () => t });
    registry.reconcile(policy(['a', 'b']));
  });

  afterEach(() => {
    registry.shutdown();
    vi.useRealTimers();
  });

  /** One attempt through the registry, as the forwarder runs it: admitted, then recorded. */
  function attempt(name: string, outcome: Outcome, durationMs = 100, ttfbMs: number | undefined = 20): void {
    const admission = registry.admit(name);
    if (!admission) throw new Error(`the breaker of ${name} refused the attempt`);
    registry.record(admission, { outcome, durationMs, ttfbMs });
  }

  /** One attempt through the health gate, as the forwarder runs it: admitted, then recorded. */
  async function run(name: string, outcome: Outcome): Promise<'ok' | 'failed' | 'rejected'> {
    const admission = registry.admit(name);
    if (!admission) return 'rejected';
    registry.record(admission, { outcome, durationMs: 50, ttfbMs: 10 });
    await Promise.resolve(); // opossum settles the call a microtask later
    return outcome.kind === 'failure' ? 'failed' : 'ok';
  }

  it('answers UNKNOWN_HEALTH and nothing else for a backend not in the policy', () => {
    expect(registry.snapshot('nope')).toBe(UNKNOWN_HEALTH);
    expect(registry.lookup('nope')).toBe(UNKNOWN_HEALTH);
    expect(registry.stats('nope')).toBeUndefined();
    expect(registry.admit('nope')).toBeUndefined();
  });

  it('counts attempts in flight and never goes below zero', () => {
    const first = registry.admit('a')!;
    const second = registry.admit('a')!;
    expect(registry.snapshot('a').inflight).toBe(2);
    registry.record(first, { outcome: SUCCESS, durationMs: 10 });
    expect(registry.snapshot('a').inflight).toBe(1);
    // Removed and added back under the second attempt: the fresh entry never saw it start.
    registry.reconcile(policy(['b']));
    registry.reconcile(policy(['a', 'b']));
    registry.record(second, { outcome: SUCCESS, durationMs: 10 });
    expect(registry.snapshot('a').inflight).toBe(0);
    expect(registry.snapshot('b').inflight).toBe(0);
  });

  it('records successes and failures in the window and successes in the EWMAs', () => {
    attempt('a', SUCCESS, 200, 40);
    attempt('a', SERVER_ERROR, 5_000, undefined);
    attempt('a', { kind: 'failure', failure: 'refused' }, 1, undefined);
    const h = registry.snapshot('a');
    expect(h).toMatchObject({
      requests: 3,
      failures: 2,
      latencyEwmaMs: 200,
      ttfbEwmaMs: 40,
      breaker: 'closed',
    });
    expect(h.errorRatio).toBeCloseTo(2 / 3);
    t += 5_000;
    attempt('a', SUCCESS, 400, 80);
    expect(registry.lookup('a').latencyEwmaMs).toBeCloseTo((100 + 400) / 1.5);
    const s = registry.stats('a')!;
    expect(s.failuresByClass).toMatchObject({ server_error: 1, refused: 1, reset: 0 });
    expect(s.latency!.p50).toBeGreaterThan(190);
    expect(s.latency!.p99).toBeGreaterThan(390);
    expect(s.ttfb!.p50).toBeLessThan(82);
    expect(s.window).toEqual(WINDOW);
    // The window rotates on the registry clock.
    t += 10_000;
    expect(registry.snapshot('a').requests).toBe(0);
  });

  it('does not count ignored outcomes as requests', () => {
    attempt('a', { kind: 'ignored', reason: 'client_error' });
    attempt('a', { kind: 'ignored', reason: 'client_gone' });
    attempt('a', { kind: 'ignored', reason: 'breaker_rejected' });
    const h = registry.snapshot('a');
    expect(h).toMatchObject({ requests: 0, failures: 0, inflight: 0, latencyEwmaMs: undefined });
    expect(registry.stats('a')!.latency).toBeUndefined();
  });

  it('cools a backend down for the Retry-After of a 429 (delta-seconds)', () => {
    const outcome = classify({
      status: 429,
      retryAfter: '7',
      responseStarted: true,
      clientGone: false,
      nowMs: t,
    });
    attempt('a', outcome);
    expect(registry.snapshot('a').coolingUntilMs).toBe(T0 + 7_000);
    expect(registry.stats('a')!.coolingUntil).toBe(new Date(T0 + 7_000).toISOString());
    expect(registry.snapshot('a').failures).toBe(1);
    expect(registry.snapshot('b').coolingUntilMs).toBe(0);
    t += 6_999;
    expect(registry.snapshot('a').coolingUntilMs).toBe(T0 + 7_000);
    t += 1;
    expect(registry.snapshot('a').coolingUntilMs).toBe(0);
    expect(registry.stats('a')!.coolingUntil).toBeNull();
  });

  it('cools a backend down until an HTTP-date Retry-After, and a shorter one does not cut it short', () => {
    const until = new Date(T0 + 30_000).toUTCString();
    attempt(
      'a',
      classify({ status: 429, retryAfter: until, responseStarted: true, clientGone: false, nowMs: t }),
    );
    expect(registry.snapshot('a').coolingUntilMs).toBe(T0 + 30_000);
    attempt(
      'a',
      classify({ status: 429, retryAfter: '1', responseStarted: true, clientGone: false, nowMs: t }),
    );
    expect(registry.snapshot('a').coolingUntilMs).toBe(T0 + 30_000);
  });

  it('opens the breaker after the threshold and reports it in the snapshot', async () => {
    const seen: BreakerTransition[] = [];
    registry.onBreakerTransition((tr) => seen.push(tr));
    for (let i = 0; i < 3; i++) expect(await run('a', SERVER_ERROR)).toBe('failed');
    // volumeThreshold is 4: three failures are not enough volume to judge.
    expect(registry.snapshot('a').breaker).toBe('closed');
    expect(await run('a', SERVER_ERROR)).toBe('failed');
    expect(registry.snapshot('a').breaker).toBe('open');
    expect(registry.snapshot('b').breaker).toBe('closed');
    expect(seen).toEqual([{ backend: 'a', state: 'open', atMs: T0 }]);
    expect(await run('a', SUCCESS)).toBe('rejected');
    expect(registry.snapshot('a').inflight).toBe(0);
  });

  it('opens the breaker only when the window failures are strictly above the threshold', async () => {
    registry.reconcile(policy(['a', 'b'], { breaker: { ...BREAKER, consecutiveFailures: 0 } }));
    for (const o of [SUCCESS, SUCCESS, SERVER_ERROR, SERVER_ERROR]) await run('a', o);
    expect(registry.snapshot('a')).toMatchObject({ breaker: 'closed', requests: 4, failures: 2 }); // 50%
    await run('a', SERVER_ERROR); // 3 of 5
    expect(registry.snapshot('a').breaker).toBe('open');
  });

  it('hands decide the same snapshot object until something it shows changes', async () => {
    const first = registry.snapshot('a');
    expect(registry.snapshot('a')).toBe(first);
    const admission = registry.admit('a')!;
    const busy = registry.snapshot('a');
    expect(busy).not.toBe(first);
    expect(busy.inflight).toBe(1);
    expect(registry.snapshot('b')).toBe(registry.snapshot('b'));
    registry.record(admission, { outcome: SUCCESS, durationMs: 80, ttfbMs: 30 });
    const after = registry.snapshot('a');
    expect(after).toMatchObject({ inflight: 0, requests: 1 });
    // Log-spaced bins: quantiles are within 2.5%.
    expect(Math.abs(after.ttfbP95Ms! - 30) / 30).toBeLessThan(0.025);
    expect(registry.snapshot('a')).toBe(after);
    // The window's buckets expire with time alone: a whole window later the counts are gone.
    t += 60_000;
    expect(registry.snapshot('a')).toMatchObject({ requests: 0, ttfbP95Ms: undefined });
  });

  it('opens the breaker after consecutive failures even when earlier successes keep the ratio low', async () => {
    registry.reconcile(policy(['a', 'b'], { breaker: { ...BREAKER, consecutiveFailures: 3 } }));
    for (let i = 0; i < 20; i++) await run('a', SUCCESS);
    // Two failures, a success, then two more: never three in a row, and 4/25 is far under 50%.
    for (const o of [SERVER_ERROR, SERVER_ERROR, SUCCESS, SERVER_ERROR, SERVER_ERROR]) await run('a', o);
    expect(registry.snapshot('a').breaker).toBe('closed');
    await run('a', SERVER_ERROR);
    expect(registry.snapshot('a').breaker).toBe('open');
  });

  it('does not count 429s towards the consecutive failures (busy is not dead)', async () => {
    registry.reconcile(
      policy(['a', 'b'], { breaker: { ...BREAKER, consecutiveFailures: 2, volumeThreshold: 100 } }),
    );
    const limited: Outcome = { kind: 'failure', failure: 'rate_limited', coolDownMs: 1 };
    for (let i = 0; i < 5; i++) await run('a', limited);
    expect(registry.snapshot('a').breaker).toBe('closed');
  });

  it('shows a half-open breaker whose trial is running as open to decide, half-open to admins', async () => {
    for (let i = 0; i < 4; i++) await run('a', SERVER_ERROR);
    vi.advanceTimersByTime(BREAKER.resetTimeoutMs);
    expect(registry.snapshot('a').breaker).toBe('halfOpen');
    const trial = registry.admit('a')!;
    expect(registry.snapshot('a').breaker).toBe('open');
    expect(registry.stats('a')).toMatchObject({ breaker: 'halfOpen', breakerAdmitting: false });
    expect(registry.admit('a')).toBeUndefined();
    registry.record(trial, { outcome: SUCCESS, durationMs: 50, ttfbMs: 10 });
    await Promise.resolve();
    expect(registry.snapshot('a').breaker).toBe('closed');
  });

  it('forgets the window’s failures when the breaker closes after a successful trial', async () => {
    const seen: string[] = [];
    registry.onBreakerTransition((tr) => seen.push(tr.state));
    attempt('a', SUCCESS);
    for (let i = 0; i < 4; i++) await run('a', SERVER_ERROR);
    // The third failure opened it (3 of 4 > 50%); the fourth was refused and is not counted.
    expect(registry.snapshot('a')).toMatchObject({ breaker: 'open', requests: 4, failures: 3 });
    t += BREAKER.resetTimeoutMs;
    vi.advanceTimersByTime(BREAKER.resetTimeoutMs);
    expect(await run('a', SUCCESS)).toBe('ok');
    expect(seen).toEqual(['open', 'halfOpen', 'closed']);
    expect(registry.snapshot('a')).toMatchObject({
      breaker: 'closed',
      requests: 2,
      failures: 0,
      errorRatio: 0,
    });
    expect(registry.stats('a')!.failuresByClass.server_error).toBe(0);
  });

  it('keeps health across a reconcile with the same backends', async () => {
    attempt('a', SUCCESS, 150);
    attempt('a', SERVER_ERROR);
    registry.admit('a');
    for (let i = 0; i < 4; i++) await run('b', SERVER_ERROR);
    t += 1_000;
    registry.reconcile({ ...policy(['a', 'b']), version: 'v2' });
    expect(registry.snapshot('a')).toMatchObject({
      requests: 2,
      failures: 1,
      inflight: 1,
      latencyEwmaMs: 150,
    });
    expect(registry.snapshot('b').breaker).toBe('open');
    // The same breaker, its reset timer still running (a new one would start closed).
    vi.advanceTimersByTime(BREAKER.resetTimeoutMs);
    expect(registry.snapshot('b').breaker).toBe('halfOpen');
  });

  it('adds new backends and shuts down the breakers of removed ones', async () => {
    attempt('b', SUCCESS);
    for (let i = 0; i < 4; i++) await run('a', SERVER_ERROR);
    expect(registry.snapshot('a').breaker).toBe('open');
    const seen: string[] = [];
    registry.onBreakerTransition((tr) => seen.push(`${tr.backend} ${tr.state}`));
    registry.reconcile(policy(['b', 'c']));
    // The removed backend's breaker is shut down: its reset timer never fires.
    vi.advanceTimersByTime(BREAKER.resetTimeoutMs * 2);
    expect(seen).toEqual([]);
    expect(registry.admit('a')).toBeUndefined();
    expect(registry.snapshot('a')).toBe(UNKNOWN_HEALTH);
    expect(registry.snapshot('b').requests).toBe(1);
    expect(registry.snapshot('c')).toMatchObject({ requests: 0, breaker: 'closed' });
    expect(registry.allStats().map((s) => s.backend)).toEqual(['b', 'c']);
  });

  it('applies changed breaker settings without losing the breaker’s state', async () => {
    for (let i = 0; i < 4; i++) await run('a', SERVER_ERROR);
    registry.reconcile(policy(['a', 'b'], { breaker: { ...BREAKER, resetTimeoutMs: 3_000 } }));
    expect(registry.snapshot('a')).toMatchObject({ breaker: 'open', failures: 4 });
    vi.advanceTimersByTime(2_999);
    expect(registry.snapshot('a').breaker).toBe('open');
    vi.advanceTimersByTime(1);
    expect(registry.snapshot('a').breaker).toBe('halfOpen');
  });

  it('resizes windows when the window settings change, keeping their counts', () => {
    attempt('a', SERVER_ERROR);
    t += 5_000;
    attempt('a', SUCCESS);
    registry.reconcile(policy(['a', 'b'], { window: { sizeMs: 60_000, buckets: 6 } }));
    expect(registry.stats('a')!.window).toEqual({ sizeMs: 60_000, buckets: 6 });
    expect(registry.snapshot('a')).toMatchObject({ requests: 2, failures: 1 });
    // Under the old 10 s window both would be gone by now.
    t += 20_000;
    expect(registry.snapshot('a').requests).toBe(2);
  });

  it('drives every breaker’s bucket rotation from one timer and stops it on shutdown', () => {
    registry.reconcile(policy(['a', 'b', 'c', 'd', 'e']));
    expect(vi.getTimerCount()).toBe(1);
    registry.shutdown();
    expect(vi.getTimerCount()).toBe(0);
    expect(registry.snapshot('a')).toBe(UNKNOWN_HEALTH);
  });

  it('keeps notifying other listeners when one throws, and stops notifying after unsubscribe', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const seen: string[] = [];
    registry.onBreakerTransition(() => {
      throw new Error('bad listener');
    });
    const off = registry.onBreakerTransition((tr) => seen.push(tr.state));
    for (let i = 0; i < 4; i++) await run('a', SERVER_ERROR);
    expect(seen).toEqual(['open']);
    expect(warn).toHaveBeenCalledTimes(1);
    off();
    vi.advanceTimersByTime(BREAKER.resetTimeoutMs);
    expect(seen).toEqual(['open']);
    warn.mockRestore();
  });
});
