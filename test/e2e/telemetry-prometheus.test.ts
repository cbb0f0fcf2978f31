/**
 * routecar's /metrics as a real Prometheus sees it: a Prometheus server (the Debian package)
 * scrapes the admin listener every second, and the assertions go through its query API.
 * Three in-process fake upstreams: alpha and beta split a route 50/50, gamma serves a route alone.
 * Without `prometheus` (or `promtool`) on PATH the suite is skipped with the reason (external.ts).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHUNK_BUCKETS_S, DURATION_BUCKETS_S, TOKEN_BUCKETS } from '../../src/telemetry/names.js';
import { describeWith, itWith } from '../support/external.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { REPO_ROOT, useProcesses } from '../support/processes.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { scrape, total } from '../support/prometheus-text.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';
import { readSse } from '../support/sse.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);

let alpha: FakeUpstream;
let beta: FakeUpstream;
let gamma: FakeUpstream;
let routecar: Routecar;
let prom: PrometheusServer;

/** Starts the upstreams, routecar and Prometheus; called inside the suite, so a skipped suite starts nothing. */
function setUp(): void {
  beforeAll(async () => {
    [alpha, beta, gamma] = await Promise.all([
      startUpstream({ name: 'alpha' }),
      startUpstream({ name: 'beta' }),
      startUpstream({ name: 'gamma' }),
    ]);
    routecar = await startRoutecar({
      group: procs,
      name: 'routecar (prometheus)',
      // Tenants on the cost counter, so the cardinality test shows they stay capped too.
      env: { ROUTECAR_METRICS_TENANT_LABEL: 'true' },
      policy: {
        version: 1,
        backends: {
          alpha: { url: alpha.baseURL, model: 'model-alpha', price: { input: 1, output: 2 } },
          beta: { url: beta.baseURL, model: 'model-beta', price: { input: 1, output: 2 } },
          gamma: { url: gamma.baseURL, model: 'model-gamma', price: { input: 1, output: 2 } },
        },
        routes: {
          chat: { backends: ['alpha', 'beta'], split: { alpha: 50, beta: 50 }, sticky: 'none' },
          solo: { backends: ['gamma'] },
        },
        // A short window and a low volume threshold, so a dead backend's breaker opens within a few requests.
        breaker: { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 60_000 },
        window: { sizeMs: 5_000, buckets: 5 },
      },
    });
    prom = await startPrometheus({ targets: [new URL(routecar.adminUrl).host] });
    await prom.waitFor('up{job="routecar"}', (r) => r[0]?.value === 1);
  }, 40_000);

  afterAll(async () => {
    await prom?.stop();
    await routecar?.stop();
  });
}

interface Sent {
  readonly backend: string | null;
  readonly status: number;
}

/** Keep-alive sockets for the bulk sender: lighter than fetch when 10,000 requests go out. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
afterAll(() => agent.destroy());

/** One chat request; resolves with its status and `x-routecar-backend`. */
function post(
  route: string,
  i: number,
  headers: Record<string, string>,
  extra: Record<string, unknown>,
): Promise<Sent> {
  const body = JSON.stringify({
    model: route,
    messages: [{ role: 'user', content: `hello ${i % 7}` }],
    ...extra,
  });
  const url = new URL(`${routecar.baseURL}/chat/completions`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            backend: (res.headers['x-routecar-backend'] as string | undefined) ?? null,
            status: res.statusCode ?? 0,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends `count` chat requests to `route`, `concurrency` at a time; `vary(i)` adds headers and body fields. */
async function send(
  route: string,
  count: number,
  concurrency: number,
  vary: (i: number) => { headers?: Record<string, string>; body?: Record<string, unknown> } = () => ({}),
): Promise<Sent[]> {
  const out: Sent[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const { headers = {}, body = {} } = vary(i);
      out.push(await post(route, i, headers, body));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** Runs a command to completion. */
function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** Every series Prometheus holds for routecar right now, as label-set strings. */
async function seriesNow(): Promise<Set<string>> {
  const all = await prom.query('{job="routecar"}');
  return new Set(all.map((s) => JSON.stringify(Object.entries(s.metric).sort())));
}

const byLabel = (r: { metric: Record<string, string>; value: number }[], label: string) =>
  Object.fromEntries(r.map((s) => [s.metric[label], s.value]));

describeWith(['prometheus'], 'routecar metrics in a real Prometheus', () => {
  setUp();

  it('counts exactly the N requests sent, per backend exactly what the clients saw in x-routecar-backend', async () => {
    const N = 60;
    const sent = await send('chat', N, 6);
    expect(sent.every((s) => s.status === 200)).toBe(true);
    const seen: Record<string, number> = {};
    for (const s of sent) seen[s.backend!] = (seen[s.backend!] ?? 0) + 1;
    // A 50/50 split over 60 requests: both backends served some (else the comparison says little).
    expect(Object.keys(seen).sort()).toEqual(['alpha', 'beta']);

    await prom.waitFor('sum(routecar_requests_total{routecar_route="chat"})', (r) => r[0]?.value === N);
    const perBackend = await prom.query(
      'sum by (routecar_backend) (routecar_requests_total{routecar_route="chat"})',
    );
    expect(byLabel(perBackend, 'routecar_backend')).toEqual(seen);
    const outcomes = await prom.query(
      'sum by (routecar_outcome) (routecar_requests_total{routecar_route="chat"})',
    );
    expect(byLabel(outcomes, 'routecar_outcome')).toEqual({ success: N });
  });

  it('exports the GenAI histograms with the conventions’ bucket boundaries, named with their unit suffix', async () => {
    // A stream with usage, so time to first token and time per output token have data too.
    const res = await fetch(`${routecar.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'count to five for me please' }],
      }),
    });
    expect((await readSse(res)).done).toBe(true);

    const expected = {
      gen_ai_client_operation_duration_seconds_bucket: DURATION_BUCKETS_S,
      gen_ai_client_token_usage_bucket: TOKEN_BUCKETS,
      gen_ai_client_operation_time_to_first_chunk_seconds_bucket: CHUNK_BUCKETS_S,
      gen_ai_client_operation_time_per_output_chunk_seconds_bucket: CHUNK_BUCKETS_S,
    };
    await prom.waitFor(
      'count(gen_ai_client_operation_time_per_output_chunk_seconds_bucket)',
      (r) => (r[0]?.value ?? 0) > 0,
    );
    for (const [metric, bounds] of Object.entries(expected)) {
      const les = (await prom.query(`count by (le) (${metric})`)).map((s) =>
        s.metric['le'] === '+Inf' ? Infinity : Number(s.metric['le']),
      );
      expect(
        les.sort((a, b) => a - b),
        metric,
      ).toEqual([...bounds, Infinity]);
    }
  });

  it('runs every query of the Grafana dashboard; the traffic, health, latency, token and cost panels show data', async () => {
    const dashboard = JSON.parse(
      await readFile(join(REPO_ROOT, 'deploy/observability/grafana-dashboard.json'), 'utf8'),
    ) as {
      panels: { title: string; targets?: { expr: string }[] }[];
      annotations: { list: { name: string; expr: string }[] };
    };
    // Fresh traffic over a few scrapes, so every rate() over the last minute sees an increase.
    const chatTotal = total(await scrape(`${routecar.adminUrl}/metrics`), 'routecar_requests_total', {
      routecar_route: 'chat',
    });
    for (let i = 0; i < 3; i++) {
      await send('chat', 4, 2);
      await send('chat', 1, 1, () => ({ body: { stream: true, stream_options: { include_usage: true } } }));
      await new Promise((resolve) => setTimeout(resolve, 1_100));
    }
    await prom.waitFor(
      'sum(routecar_requests_total{routecar_route="chat"})',
      (r) => r[0]?.value === chatTotal + 15,
    );
    // What Grafana would substitute: every namespace and route, a one-minute rate window.
    const resolve = (expr: string) =>
      expr.replaceAll('$__rate_interval', '1m').replaceAll('$namespace', '.*').replaceAll('$route', '.*');
    const results = new Map<string, number>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const r = await prom.query(resolve(target.expr));
        const numbers = r.filter((sample) => Number.isFinite(sample.value)).length;
        results.set(panel.title, (results.get(panel.title) ?? 0) + numbers);
      }
    }
    for (const a of dashboard.annotations.list) await prom.query(resolve(a.expr));
    expect(results.size).toBeGreaterThanOrEqual(15);
    for (const title of [
      'Requests per second by route and outcome',
      'Traffic share by backend',
      'Breaker state',
      'Error ratio by backend (attempts)',
      'Call duration by backend (p50 / p95 / p99)',
      'Time to first chunk by backend (p50 / p95)',
      'Window latency p95 (what the router sees)',
      'Tokens per minute by backend',
      'USD per minute by route and backend',
      'Traffic share by variant',
      'Error ratio by variant',
      'Instances per policy version',
      // Joins routecar_requests_total with target_info, where the sidecar's zone is.
      'Requests per second by sidecar zone and backend',
    ]) {
      expect(results.get(title), title).toBeGreaterThan(0);
    }
  });

  itWith(['promtool'], 'ships alert rules that promtool accepts and whose unit tests pass', async () => {
    const dir = join(REPO_ROOT, 'deploy/observability');
    const check = await run('promtool', ['check', 'rules', 'alerts.yml'], dir);
    expect(check.code, check.output).toBe(0);
    const test = await run('promtool', ['test', 'rules', 'alerts.test.yml'], dir);
    expect(test.code, test.output).toBe(0);
    expect(test.output).toContain('SUCCESS');
  });

  it('creates no new series for 10,000 distinct user ids', async () => {
    const tenant = { 'x-tenant-id': 'acme' };
    const WARM = 20;
    await send('solo', WARM, 4, (i) => ({
      headers: { ...tenant, 'x-user-id': `warm-${i}` },
      body: { user: `warm-${i}` },
    }));
    await prom.waitFor('sum(routecar_requests_total{routecar_route="solo"})', (r) => r[0]?.value === WARM);
    const before = await seriesNow();

    const USERS = 10_000;
    const sent = await send('solo', USERS, 24, (i) => ({
      headers: { ...tenant, 'x-user-id': `user-${i}` },
      body: { user: `user-${i}` },
    }));
    expect(sent.filter((s) => s.status === 200)).toHaveLength(USERS);
    await prom.waitFor(
      'sum(routecar_requests_total{routecar_route="solo"})',
      (r) => r[0]?.value === WARM + USERS,
      20_000,
    );

    // Series may go (a window emptied out); none may appear.
    const after = await seriesNow();
    expect([...after].filter((s) => !before.has(s))).toEqual([]);
    expect(after.size).toBeLessThanOrEqual(before.size);
    const labelValues = (await scrape(`${routecar.adminUrl}/metrics`)).flatMap((s) =>
      Object.values(s.labels),
    );
    expect(labelValues.filter((v) => v.includes('user-') || v.includes('warm-'))).toEqual([]);
  }, 60_000);

  it('flips the breaker-state series to open when a backend is killed', async () => {
    const state = (s: string) => `routecar_breaker_state{routecar_backend="beta",state="${s}"}`;
    await prom.waitFor(state('closed'), (r) => r[0]?.value === 1);
    expect((await prom.query(state('open')))[0]?.value).toBe(0);

    await beta.down();
    // Half the requests try beta first, fail over to alpha, and count against beta's breaker.
    for (let round = 0; round < 20 && (await routecar.backend('beta')).breaker !== 'open'; round++) {
      const sent = await send('chat', 8, 4);
      expect(sent.every((s) => s.status === 200 && s.backend === 'alpha')).toBe(true);
    }
    await prom.waitFor(state('open'), (r) => r[0]?.value === 1);
    expect((await prom.query(state('closed')))[0]?.value).toBe(0);
    const transitions = await prom.query(
      'routecar_breaker_transitions_total{routecar_backend="beta",state="open"}',
    );
    expect(transitions[0]?.value).toBeGreaterThanOrEqual(1);
  });
});
