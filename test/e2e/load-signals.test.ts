/**
 * Routing on model-server load signals and on errors, end to end: a real routecar process in
 * front of fake upstreams that serve vLLM's /metrics with settable load. Bounds are generous
 * (the machine is small and busy); the exact curves are in test/unit/routing/score-signals.test.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { countByBackend, failuresOf, runLoad } from '../support/load.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const upstreams: FakeUpstream[] = [];
const routecars: Routecar[] = [];
afterAll(async () => {
  await Promise.all(routecars.map((r) => r.stop()));
  await Promise.all(upstreams.map((u) => u.close()));
});

const CHAT = { model: 'chat', messages: [{ role: 'user', content: 'hello' }] };
const INTERVAL_MS = 500;

interface SignalState {
  readonly backend: string;
  readonly state: 'pending' | 'fresh' | 'stale';
  readonly queued?: number;
  readonly kvCacheUsage?: number;
  readonly scrapes: number;
  readonly failures: number;
  readonly staleTransitions: number;
  readonly lastError: string | null;
}

async function upstream(name: string, latencyMs = 20, seed?: number): Promise<FakeUpstream> {
  const u = await startFakeUpstream({ name, latencyMs, ...(seed === undefined ? {} : { seed }) });
  upstreams.push(u);
  return u;
}

function backendOf(u: FakeUpstream, signals?: { metricsUrl?: string }) {
  return {
    url: u.baseURL,
    model: u.name,
    price: { input: 1, output: 1 },
    ...(signals === undefined
      ? {}
      : {
          signals: {
            metricsUrl: signals.metricsUrl ?? `${u.url}/metrics`,
            format: 'vllm',
            intervalMs: INTERVAL_MS,
          },
        }),
  };
}

async function routecar(backends: Record<string, object>): Promise<Routecar> {
  const r = await startRoutecar({
    policy: { version: 1, backends, routes: { chat: { backends: Object.keys(backends) } } },
  });
  routecars.push(r);
  return r;
}

async function signalStates(r: Routecar): Promise<SignalState[]> {
  const res = await fetch(`${r.adminUrl}/admin/state`);
  return ((await res.json()) as { signals?: SignalState[] }).signals ?? [];
}

async function waitForSignals(r: Routecar, ok: (s: readonly SignalState[]) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await signalStates(r);
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`signals not as expected: ${JSON.stringify(s)}`);
    await sleep(50);
  }
}

const of = (s: readonly SignalState[], name: string) => s.find((x) => x.backend === name);

async function shares(r: Routecar, total: number): Promise<Record<string, number>> {
  const outcomes = await runLoad({ url: `${r.baseURL}/chat/completions`, body: CHAT, total, concurrency: 4 });
  expect(failuresOf(outcomes)).toEqual([]);
  const counts = countByBackend(outcomes);
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / total]));
}

interface ExplainedCandidate {
  readonly backend: string;
  readonly weight?: number;
  readonly terms?: { readonly load?: number };
}

async function explain(r: Routecar): Promise<ExplainedCandidate[]> {
  const res = await fetch(`${r.adminUrl}/admin/explain`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(CHAT),
  });
  const body = (await res.json()) as { result: { decision: { candidates: ExplainedCandidate[] } } };
  return body.result.decision.candidates;
}

describe('load signals', () => {
  it('/admin/explain scores a deep queue and a full KV cache down, and back up when they drain', async () => {
    const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
    a.configure({ queueDepth: 40, kvCacheUsage: 1 });
    const r = await routecar({ a: backendOf(a, {}), b: backendOf(b, {}) });
    await waitForSignals(r, (s) => of(s, 'a')?.state === 'fresh' && of(s, 'b')?.state === 'fresh');
    const loaded = await explain(r);
    const weight = (c: readonly ExplainedCandidate[], name: string) =>
      c.find((x) => x.backend === name)?.weight ?? -1;
    expect(weight(loaded, 'a')).toBeLessThan(0.2);
    expect(loaded.find((x) => x.backend === 'a')?.terms?.load).toBeGreaterThan(5);

    a.configure({ queueDepth: 0, kvCacheUsage: 0 });
    b.configure({ queueDepth: 40, kvCacheUsage: 1 });
    await sleep(3000);
    const reversed = await explain(r);
    expect(weight(reversed, 'b')).toBeLessThan(0.2);
  });

  it('a backend with a deep queue and a full KV cache gets ≤ 20% while its equal-latency peer is idle, and the shares reverse within 3 s', async () => {
    const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
    a.configure({ queueDepth: 40, kvCacheUsage: 1 });
    b.configure({ queueDepth: 0, kvCacheUsage: 0.1 });
    const r = await routecar({ a: backendOf(a, {}), b: backendOf(b, {}) });
    await waitForSignals(r, (s) => of(s, 'a')?.state === 'fresh' && of(s, 'b')?.state === 'fresh');

    const before = await shares(r, 300);
    expect(before.a ?? 0).toBeLessThanOrEqual(0.2);

    a.configure({ queueDepth: 0, kvCacheUsage: 0.1 });
    b.configure({ queueDepth: 40, kvCacheUsage: 1 });
    await sleep(3000);
    const after = await shares(r, 300);
    expect(after.b ?? 0).toBeLessThanOrEqual(0.2);
    const s = await signalStates(r);
    expect(of(s, 'b')).toMatchObject({ state: 'fresh', failures: 0 });
    expect(of(s, 'b')?.queued).toBeGreaterThan(30);
  });

  it('a metrics endpoint that hangs, answers garbage or is gone changes the signal state and nothing else', async () => {
    const [a, b, c] = await Promise.all([upstream('a'), upstream('b'), upstream('c')]);
    a.configure({ metricsMode: 'ok' });
    b.configure({ metricsMode: 'ok' });
    const r = await routecar({
      a: backendOf(a, {}),
      b: backendOf(b, {}),
      c: backendOf(c, { metricsUrl: 'http://127.0.0.1:9/metrics' }),
    });
    await waitForSignals(r, (s) => of(s, 'a')?.state === 'fresh' && of(s, 'b')?.state === 'fresh');
    a.configure({ metricsMode: 'hang' });
    b.configure({ metricsMode: 'garbage' });
    // Stale after three intervals without a good scrape.
    const stale = await waitForSignals(
      r,
      (s) => of(s, 'a')?.state === 'stale' && of(s, 'b')?.state === 'stale',
      3 * INTERVAL_MS + 5_000,
    );
    expect(of(stale, 'a')?.lastError).toBe('timed out');
    expect(of(stale, 'b')?.lastError).toMatch(/no vllm:num_requests_waiting/);
    expect(of(stale, 'c')).toMatchObject({ state: 'pending', scrapes: 0 });
    expect(of(stale, 'c')?.failures).toBeGreaterThan(0);

    // Traffic flows, evenly: no backend is punished or rewarded for a missing signal.
    const spread = await shares(r, 300);
    for (const name of ['a', 'b', 'c']) expect(spread[name] ?? 0).toBeGreaterThan(0.15);
    const after = await signalStates(r);
    expect(of(after, 'a')?.staleTransitions).toBe(1);
  });
});

describe('errors', () => {
  it('a backend failing 5% of its requests gets ≤ 5% of the traffic while its peer is healthy', async () => {
    // Seed 5 fails exactly 1 in 20 of a's first 20, 5 of 100 and 10 of 200 requests: 5%, not a lucky 2%.
    const [a, b] = await Promise.all([upstream('a', 20, 5), upstream('b')]);
    a.configure({ failureRate: 0.05 });
    const r = await routecar({ a: backendOf(a), b: backendOf(b) });
    // Warm-up: the router has to see a fail before it can steer away.
    await runLoad({ url: `${r.baseURL}/chat/completions`, body: CHAT, total: 400, concurrency: 4 });
    a.resetStats();
    b.resetStats();
    const total = 800;
    const outcomes = await runLoad({
      url: `${r.baseURL}/chat/completions`,
      body: CHAT,
      total,
      concurrency: 4,
    });
    // Failover hides a's failures from the client.
    expect(failuresOf(outcomes)).toEqual([]);
    // First attempts: every request a saw (its failures were retried on b).
    expect(a.stats.requests / total).toBeLessThanOrEqual(0.05);
  });
});
