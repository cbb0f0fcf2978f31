import { describe, expect, it } from 'vitest';
import type { BackendStats, BreakerTransition } from '../../../src/health/registry.js';
import type { PolicyStatus } from '../../../src/policy/store-types.js';
import { ROUTECAR } from '../../../src/telemetry/names.js';
import { StateMetricsProducer } from '../../../src/telemetry/state-metrics.js';
import { collect, only, points, RESOURCE } from './fixtures.js';

function stats(backend: string, over: Partial<BackendStats> = {}): BackendStats {
  return {
    backend,
    breaker: 'closed',
    breakerAdmitting: true,
    coolingUntil: null,
    coolingUntilMs: 0,
    inflight: 0,
    requests: 10,
    failures: 1,
    errorRatio: 0.1,
    latencyEwmaMs: 100,
    ttfbEwmaMs: 20,
    latency: { p50: 100, p95: 250, p99: 400 },
    ttfb: { p50: 20, p95: 40, p99: 80 },
    failuresByClass: {} as BackendStats['failuresByClass'],
    window: { sizeMs: 60_000, buckets: 12 },
    ...over,
  };
}

function status(over: Partial<PolicyStatus> = {}): PolicyStatus {
  return {
    version: 'v1',
    contentHash: 'h',
    origin: { source: 'file', location: '/etc/routecar/policy.yaml' },
    loadedAt: '2026-11-26T00:00:00Z',
    splitOverrides: {},
    splitsOrigin: undefined,
    refusedSplits: [],
    lastError: undefined,
    reloads: { accepted: 1, refused: 0 },
    ...over,
  };
}

/** A producer over mutable state, with a way to fire breaker transitions. */
function setup() {
  const state = { backends: [stats('alpha'), stats('beta')], policy: status() };
  const listeners: ((t: BreakerTransition) => void)[] = [];
  const producer = new StateMetricsProducer(RESOURCE, () => 1_700_000_000_000);
  producer.attach({
    health: {
      allStats: () => state.backends,
      onBreakerTransition: (l) => {
        listeners.push(l);
        return () => {};
      },
    },
    policy: { status: () => state.policy },
  });
  const transition = (backend: string, s: BreakerTransition['state']) =>
    listeners.forEach((l) => l({ backend, state: s, atMs: 0 }));
  return { state, producer, transition };
}

describe('StateMetricsProducer', () => {
  it('reports nothing before it is attached to a running routecar', async () => {
    expect((await collect(new StateMetricsProducer(RESOURCE))).size).toBe(0);
  });

  it('reports each breaker as a state set: 1 for its current state, 0 for the other two', async () => {
    const { state, producer } = setup();
    state.backends = [
      stats('alpha'),
      stats('beta', { breaker: 'open' }),
      stats('gamma', { breaker: 'halfOpen' }),
    ];
    const breaker = (await collect(producer)).get(ROUTECAR.breakerState);
    const current = points(breaker)
      .filter(([, v]) => v === 1)
      .map(([a]) => [a['routecar.backend'], a['state']]);
    expect(current).toEqual([
      ['alpha', 'closed'],
      ['beta', 'open'],
      ['gamma', 'half_open'],
    ]);
    expect(points(breaker)).toHaveLength(9);
  });

  it('follows a breaker that opens, from one collection to the next', async () => {
    const { state, producer } = setup();
    expect(
      only((await collect(producer)).get(ROUTECAR.breakerState), {
        'routecar.backend': 'beta',
        state: 'open',
      }),
    ).toBe(0);
    state.backends = [stats('alpha'), stats('beta', { breaker: 'open' })];
    expect(
      only((await collect(producer)).get(ROUTECAR.breakerState), {
        'routecar.backend': 'beta',
        state: 'open',
      }),
    ).toBe(1);
  });

  it('reports window quantiles in seconds, the error ratio, window requests and attempts in flight', async () => {
    const { state, producer } = setup();
    state.backends = [stats('alpha', { inflight: 3, errorRatio: 0.25, requests: 8 })];
    const data = await collect(producer);
    const latency = points(data.get(ROUTECAR.windowLatencyQuantileSeconds));
    expect(latency.map(([a, v]) => [a['routecar.quantile'], v])).toEqual([
      ['0.5', 0.1],
      ['0.95', 0.25],
      ['0.99', 0.4],
    ]);
    // Prometheus reserves `quantile` for summaries: these gauges never carry it.
    expect(latency.every(([a]) => !('quantile' in a))).toBe(true);
    expect(only(data.get(ROUTECAR.windowTtfbQuantileSeconds), { 'routecar.quantile': '0.99' })).toBe(0.08);
    expect(only(data.get(ROUTECAR.windowErrorRatio), { 'routecar.backend': 'alpha' })).toBe(0.25);
    expect(only(data.get(ROUTECAR.windowRequests), { 'routecar.backend': 'alpha' })).toBe(8);
    expect(only(data.get(ROUTECAR.inflightRequests), { 'routecar.backend': 'alpha' })).toBe(3);
  });

  it('leaves out quantiles of a backend without samples', async () => {
    const { state, producer } = setup();
    state.backends = [stats('alpha', { latency: undefined, ttfb: undefined })];
    expect((await collect(producer)).get(ROUTECAR.windowLatencyQuantileSeconds)).toBeUndefined();
  });

  it('drops the series of a backend that left the policy', async () => {
    const { state, producer } = setup();
    state.backends = [stats('alpha')];
    const backends = points((await collect(producer)).get(ROUTECAR.windowErrorRatio)).map(
      ([a]) => a['routecar.backend'],
    );
    expect(backends).toEqual(['alpha']);
  });

  it('reports the serving policy version as an info gauge, and only the serving one', async () => {
    const { state, producer } = setup();
    expect(points((await collect(producer)).get(ROUTECAR.policyInfo))).toEqual([
      [{ 'routecar.policy.version': 'v1', 'routecar.policy.source': 'file' }, 1],
    ]);
    state.policy = status({ version: 'v2', origin: { source: 'consul', location: 'routecar/policy' } });
    expect(points((await collect(producer)).get(ROUTECAR.policyInfo))).toEqual([
      [{ 'routecar.policy.version': 'v2', 'routecar.policy.source': 'consul' }, 1],
    ]);
  });

  it('counts policy reloads accepted and refused as the store does', async () => {
    const { state, producer } = setup();
    state.policy = status({ reloads: { accepted: 4, refused: 2 } });
    const reloads = (await collect(producer)).get(ROUTECAR.policyReloads);
    expect(points(reloads).map(([a, v]) => [a['result'], v])).toEqual([
      ['accepted', 4],
      ['refused', 2],
    ]);
  });

  it('counts breaker transitions by backend and the state entered', async () => {
    const { producer, transition } = setup();
    transition('beta', 'open');
    transition('beta', 'halfOpen');
    transition('beta', 'open');
    const t = (await collect(producer)).get(ROUTECAR.breakerTransitions);
    expect(points(t).map(([a, v]) => [a['routecar.backend'], a['state'], v])).toEqual([
      ['beta', 'open', 2],
      ['beta', 'half_open', 1],
    ]);
  });
});
