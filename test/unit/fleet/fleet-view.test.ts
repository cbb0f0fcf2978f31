import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FLEET_QUERIES, FleetView } from '../../../src/fleet/fleet-view.js';
import { FleetQueryError, queryVector } from '../../../src/fleet/prometheus-query.js';

type Mode = 'ok' | 'error' | 'garbage' | 'hang' | 'matrix';

/** A Prometheus query API that answers the fleet's three queries from a table. */
function fakePrometheus() {
  let mode: Mode = 'ok';
  const table: Record<string, Record<string, number>> = {
    [FLEET_QUERIES.requests]: { a: 900, b: 1200 },
    [FLEET_QUERIES.errorRatio]: { a: 0.3, b: 0.01 },
    [FLEET_QUERIES.ttfbP95Seconds]: { a: 0.25, b: 0.05 },
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://p');
    if (mode === 'hang') return;
    if (mode === 'garbage') return void res.end('<html>not json</html>');
    if (mode === 'error') {
      res.writeHead(422, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error' }));
    }
    const values = table[url.searchParams.get('query') ?? ''] ?? {};
    const result = Object.entries(values).map(([b, v]) => ({
      metric: { routecar_backend: b },
      value: [1700000000, String(v)],
    }));
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        status: 'success',
        data: { resultType: mode === 'matrix' ? 'matrix' : 'vector', result },
      }),
    );
  });
  return {
    server,
    setMode: (m: Mode) => (mode = m),
    async start() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('fleet view against a Prometheus query API', () => {
  const prom = fakePrometheus();
  let url: string;
  let now = 1_700_000_000_000;
  beforeEach(async () => {
    prom.setMode('ok');
    url = await prom.start();
  });
  afterEach(() => prom.stop());

  const view = (u = url) =>
    new FleetView({ url: u, now: () => now, random: () => 0.5, intervalMs: 1000, timeoutMs: 200 });

  it('reads each backend’s fleet requests, error ratio and TTFB p95', async () => {
    const v = view();
    await v.refresh();
    expect(v.lookup('a')).toEqual({ requests: 900, errorRatio: 0.3, ttfbP95Ms: 250 });
    expect(v.lookup('b')?.ttfbP95Ms).toBeCloseTo(50, 9);
    expect(v.lookup('c')).toBeUndefined();
    expect(v.stats()).toMatchObject({ state: 'fresh', rounds: 1, failures: 0, lastError: null });
  });

  it.each([
    ['an error status', 'error' as const, /status error: parse error/],
    ['garbage', 'garbage' as const, /not JSON/],
    ['a matrix', 'matrix' as const, /not an instant vector/],
    ['no answer', 'hang' as const, /timed out/],
  ])('a Prometheus that answers %s changes only the fleet state', async (_what, mode, message) => {
    const v = view();
    await v.refresh();
    prom.setMode(mode);
    await v.refresh();
    expect(v.stats()).toMatchObject({ failures: 1 });
    expect(v.stats().lastError).toMatch(message);
    // The last good figures stay in use until they are stale (three intervals).
    expect(v.lookup('a')?.errorRatio).toBe(0.3);
    now += 3001;
    expect(v.lookup('a')).toBeUndefined();
    expect(v.stats().state).toBe('stale');
    now -= 3001;
  });

  it('an unreachable Prometheus is a failure, not an exception', async () => {
    const v = view('http://127.0.0.1:9');
    await v.refresh();
    expect(v.stats()).toMatchObject({ state: 'pending', failures: 1 });
  });

  it('queryVector refuses what is not a success vector', async () => {
    prom.setMode('garbage');
    await expect(queryVector(url, 'up', 'job', AbortSignal.timeout(500))).rejects.toBeInstanceOf(
      FleetQueryError,
    );
  });
});
