import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackendBreaker } from '../../../src/health/breaker.js';
import type { Outcome } from '../../../src/outcome/classify.js';
import type { BreakerState } from '../../../src/health/types.js';

const SETTINGS = {
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  resetTimeoutMs: 1_000,
  consecutiveFailures: 0,
};
const WINDOW = { sizeMs: 10_000, buckets: 10 };

const SUCCESS: Outcome = { kind: 'success' };
const FAILED: Outcome = { kind: 'failure', failure: 'server_error' };

/**
 * One call as the request path makes it: admitted by `enter`, then settled with its outcome.
 * Resolves with whether it was admitted, once opossum has taken a trial's outcome (a microtask
 * later).
 */
async function call(b: BackendBreaker, outcome: Outcome = SUCCESS): Promise<boolean> {
  const settle = b.enter();
  if (settle === undefined) return false;
  settle(outcome);
  await vi.advanceTimersByTimeAsync(0);
  return true;
}

describe('BackendBreaker', () => {
  let transitions: Array<[string, BreakerState]>;
  let breaker: BackendBreaker;

  beforeEach(() => {
    vi.useFakeTimers();
    transitions = [];
    breaker = new BackendBreaker('llama', SETTINGS, WINDOW, {
      onTransition: (backend, state) => transitions.push([backend, state]),
    });
  });

  afterEach(() => {
    breaker.shutdown();
    vi.useRealTimers();
  });

  it('admits calls while closed', async () => {
    expect(await call(breaker)).toBe(true);
    expect(breaker.state).toBe('closed');
    expect(breaker.admitting).toBe(true);
  });

  it('never opens on its own counts: the registry window judges (one window counts attempts)', async () => {
    for (let i = 0; i < 20; i++) expect(await call(breaker, FAILED)).toBe(true);
    expect(breaker.state).toBe('closed');
  });

  it('judge: stays closed below the volume threshold, opens when it is reached', () => {
    expect(breaker.judge(3, 3)).toBe(false);
    expect(breaker.state).toBe('closed');
    expect(breaker.judge(4, 4)).toBe(true);
    expect(breaker.state).toBe('open');
    expect(breaker.admitting).toBe(false);
    expect(transitions).toEqual([['llama', 'open']]);
  });

  it('judge: opens only when the failure percentage is strictly above the threshold', () => {
    expect(breaker.judge(4, 2)).toBe(false); // 50%: not above 50
    expect(breaker.judge(0, 0)).toBe(false);
    expect(breaker.judge(5, 3)).toBe(true);
    expect(breaker.judge(5, 5)).toBe(false); // already open
  });

  it('refuses every call while open', async () => {
    breaker.trip();
    expect(breaker.admitting).toBe(false);
    expect(await call(breaker)).toBe(false);
    expect(breaker.state).toBe('open');
  });

  it('goes half-open after resetTimeout, lets exactly one trial through, and closes on its success', async () => {
    breaker.trip();
    vi.advanceTimersByTime(999);
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(breaker.state).toBe('halfOpen');
    expect(breaker.admitting).toBe(true);

    const settleTrial = breaker.enter()!;
    expect(breaker.admitting).toBe(false);
    expect(await call(breaker)).toBe(false);
    expect(breaker.state).toBe('halfOpen');

    settleTrial(SUCCESS);
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.state).toBe('closed');
    expect(transitions.map(([, s]) => s)).toEqual(['open', 'halfOpen', 'closed']);
    expect(await call(breaker)).toBe(true);
  });

  it('re-opens when the half-open trial fails', async () => {
    breaker.trip();
    vi.advanceTimersByTime(1_000);
    expect(await call(breaker, FAILED)).toBe(true);
    expect(breaker.state).toBe('open');
    expect(transitions.map(([, s]) => s)).toEqual(['open', 'halfOpen', 'open']);
    vi.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('halfOpen');
  });

  it('enter: only the half-open trial decides; calls admitted while closed that end during half-open do not', async () => {
    const settleStale = [breaker.enter()!, breaker.enter()!];
    breaker.trip();
    vi.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('halfOpen');
    // A call that started before the breaker opened ends now: it is not the trial.
    settleStale[0]!(SUCCESS);
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.state).toBe('halfOpen');
    settleStale[1]!(FAILED);
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.state).toBe('halfOpen');
    // The trial is admitted alone, and its success closes the breaker.
    const settleTrial = breaker.enter()!;
    expect(breaker.enter()).toBeUndefined();
    settleTrial(SUCCESS);
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.state).toBe('closed');
    expect(transitions.map(([, s]) => s)).toEqual(['open', 'halfOpen', 'closed']);
  });

  it('enter: a failed half-open trial re-opens the breaker', async () => {
    breaker.trip();
    vi.advanceTimersByTime(1_000);
    breaker.enter()!({ kind: 'failure', failure: 'reset' });
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.state).toBe('open');
    expect(breaker.enter()).toBeUndefined();
  });

  it('keeps its state across a reconfigure and applies the new reset timeout', async () => {
    breaker.trip();
    expect(breaker.reconfigure(SETTINGS, WINDOW)).toBe(false);
    expect(breaker.reconfigure({ ...SETTINGS, resetTimeoutMs: 5_000 }, WINDOW)).toBe(true);
    expect(breaker.settings.resetTimeoutMs).toBe(5_000);
    expect(breaker.state).toBe('open');
    expect(await call(breaker)).toBe(false);
    vi.advanceTimersByTime(4_999);
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(breaker.state).toBe('halfOpen');
    expect(await call(breaker)).toBe(true);
    expect(breaker.state).toBe('closed');
    // The old opossum instance is shut down: only the new one reports.
    expect(transitions.map(([, s]) => s)).toEqual(['open', 'halfOpen', 'closed']);
  });

  it('carries a half-open state across a reconfigure', async () => {
    breaker.trip();
    vi.advanceTimersByTime(1_000);
    breaker.reconfigure({ ...SETTINGS, volumeThreshold: 8 }, WINDOW);
    expect(breaker.state).toBe('halfOpen');
    expect(breaker.admitting).toBe(true);
    expect(await call(breaker)).toBe(true);
    expect(breaker.state).toBe('closed');
  });

  it('refuses every call after shutdown', async () => {
    breaker.shutdown();
    expect(breaker.admitting).toBe(false);
    expect(await call(breaker)).toBe(false);
  });

  it('uses no timeout of its own and no snapshot timer: a slow half-open trial still decides', async () => {
    // Only opossum's bucket-rotation interval remains.
    expect(vi.getTimerCount()).toBe(1);
    breaker.trip();
    vi.advanceTimersByTime(1_000);
    const settleTrial = breaker.enter()!;
    vi.advanceTimersByTime(3_600_000);
    expect(breaker.state).toBe('halfOpen');
    settleTrial(SUCCESS);
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.state).toBe('closed');
  });
});

describe('BackendBreaker with a shared rotation emitter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('starts no timer of its own, and leaves the emitter on shutdown', async () => {
    const rotate = new EventEmitter();
    const b = new BackendBreaker('llama', SETTINGS, WINDOW, { rotate });
    expect(vi.getTimerCount()).toBe(0);
    expect(rotate.listenerCount('rotate')).toBe(1);
    for (let i = 0; i < 3; i++) await call(b, FAILED);
    for (let i = 0; i < WINDOW.buckets; i++) rotate.emit('rotate');
    b.shutdown();
    expect(rotate.listenerCount('rotate')).toBe(0);
  });
});
