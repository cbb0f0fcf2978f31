/**
 * The fleet view end to end: a routecar process with ROUTECAR_PROMETHEUS_URL pointing at a
 * Prometheus query API (an in-test server answering the fleet's queries from a table, so the
 * figures are exactly what the test says the fleet saw), in front of two healthy fake upstreams.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET_QUERIES } from '../../src/fleet/fleet-view.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { countByBackend, failuresOf, runLoad } from '../support/load.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const CHAT = { model: 'chat', messages: [{ role: 'user', content: 'hello' }] };
let mode: 'ok' | 'hang' | 'garbage' = 'ok';
// What the rest of the fleet saw: a fails 40% of its requests, b is fine.
const TABLE: Record<string, Record<string, number>> = {
  [FLEET_QUERIES.requests]: { a: 4000, b: 4000 },
  [FLEET_QUERIES.errorRatio]: { a: 0.4, b: 0.002 },
  [FLEET_QUERIES.ttfbP95Seconds]: { a: 0.02, b: 0.02 },
};
const prometheus = http.createServer((req, res) => {
  if (mode === 'hang') return;
  if (mode === 'garbage') return void res.end('<html>502</html>');
  const query = new URL(req.url ?? '/', 'http://p').searchParams.get('query') ?? '';
  const result = Object.entries(TABLE[query] ?? {}).map(([b, v]) => ({
    metric: { routecar_backend: b },
    value: [Date.now() / 1000, String(v)],
  }));
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
});

const upstreams: FakeUpstream[] = [];
const routecars: Routecar[] = [];
let promUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => prometheus.listen(0, '127.0.0.1', resolve));
  promUrl = `http://127.0.0.1:${(prometheus.address() as AddressInfo).port}`;
  for (const name of ['a', 'b']) upstreams.push(await startFakeUpstream({ name, latencyMs: 10 }));
});
afterAll(async () => {
  await Promise.all(routecars.map((r) => r.stop()));
  await Promise.all(upstreams.map((u) => u.close()));
  prometheus.closeAllConnections();
  await new Promise<void>((resolve) => prometheus.close(() => resolve()));
});

async function pod(withFleet: boolean): Promise<Routecar> {
  const backends = Object.fromEntries(
    upstreams.map((u) => [u.name, { url: u.baseURL, model: u.name, price: { input: 1, output: 1 } }]),
  );
  const r = await startRoutecar({
    policy: { version: 1, backends, routes: { chat: { backends: ['a', 'b'] } } },
    env: withFleet ? { ROUTECAR_PROMETHEUS_URL: promUrl, ROUTECAR_FLEET_INTERVAL_MS: '500' } : {},
  });
  routecars.push(r);
  return r;
}

interface FleetState {
  readonly state: 'pending' | 'fresh' | 'stale';
  readonly failures: number;
  readonly lastError: string | null;
  readonly backends: Record<string, { errorRatio: number }>;
}
async function fleetState(r: Routecar): Promise<FleetState> {
  const res = await fetch(`${r.adminUrl}/admin/state`);
  return ((await res.json()) as { fleet: FleetState }).fleet;
}
async function waitFleet(
  r: Routecar,
  ok: (f: FleetState) => boolean,
  timeoutMs = 10_000,
): Promise<FleetState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = await fleetState(r);
    if (ok(f)) return f;
    if (Date.now() > deadline) throw new Error(`fleet state not as expected: ${JSON.stringify(f)}`);
    await sleep(50);
  }
}
async function shareOfA(r: Routecar, total: number): Promise<number> {
  const outcomes = await runLoad({ url: `${r.baseURL}/chat/completions`, body: CHAT, total, concurrency: 2 });
  expect(failuresOf(outcomes)).toEqual([]);
  return (countByBackend(outcomes).a ?? 0) / total;
}

describe('fleet view', () => {
  it('a new pod prefers the backend the fleet knows is healthy from its first requests', async () => {
    const fresh = await pod(true);
    const f = await waitFleet(fresh, (s) => s.state === 'fresh');
    expect(f.backends.a?.errorRatio).toBe(0.4);
    // Its first 40 requests: the fleet's 40% error ratio on a keeps it almost all on b.
    expect(await shareOfA(fresh, 40)).toBeLessThanOrEqual(0.1);
    // A pod without the fleet view splits them evenly (both upstreams are fine here).
    const blind = await pod(false);
    expect(await shareOfA(blind, 200)).toBeGreaterThan(0.3);
  });

  it('a Prometheus that hangs or answers garbage changes only the fleet state', async () => {
    const r = await pod(true);
    await waitFleet(r, (s) => s.state === 'fresh');
    for (const m of ['hang', 'garbage'] as const) {
      mode = m;
      const broken = await waitFleet(r, (s) => s.failures > 0 && s.lastError !== null);
      expect(broken.lastError).toMatch(m === 'hang' ? /timed out/ : /not JSON/);
      // Requests flow as before (shareOfA fails on any error), and once the figures are stale the
      // pod trusts only itself.
      await shareOfA(r, 40);
      await waitFleet(r, (s) => s.state === 'stale');
      mode = 'ok';
      await waitFleet(r, (s) => s.state === 'fresh');
    }
  });
});
