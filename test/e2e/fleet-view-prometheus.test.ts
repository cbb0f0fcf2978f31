/**
 * The fleet view against a real Prometheus: two sidecars route through a backend that fails 40%
 * of its requests (failover hides it from their clients) while Prometheus scrapes their /metrics;
 * a third sidecar started afterwards with ROUTECAR_PROMETHEUS_URL reads the fleet's figures and
 * keeps its very first requests off that backend.
 */
import { afterAll, expect, it } from 'vitest';
import { describeWith } from '../support/external.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { countByBackend, failuresOf, runLoad } from '../support/load.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const CHAT = { model: 'chat', messages: [{ role: 'user', content: 'hello' }] };
const upstreams: FakeUpstream[] = [];
const routecars: Routecar[] = [];
let prom: PrometheusServer | undefined;
afterAll(async () => {
  await prom?.stop();
  await Promise.all(routecars.map((r) => r.stop()));
  await Promise.all(upstreams.map((u) => u.close()));
});

interface FleetState {
  readonly state: string;
  readonly backends: Record<string, { requests: number; errorRatio: number; ttfbP95Ms?: number }>;
}

describeWith(['prometheus'], 'fleet view from a real Prometheus', () => {
  it('a new pod prefers the backend the fleet knows is healthy from its first requests', async () => {
    upstreams.push(await startFakeUpstream({ name: 'a', latencyMs: 10, failureRate: 0.4, seed: 3 }));
    upstreams.push(await startFakeUpstream({ name: 'b', latencyMs: 10 }));
    const policy = {
      version: 1,
      backends: Object.fromEntries(
        upstreams.map((u) => [u.name, { url: u.baseURL, model: u.name, price: { input: 1, output: 1 } }]),
      ),
      routes: { chat: { backends: ['a', 'b'], failover: { maxAttempts: 2 } } },
      // The breaker stays closed: the scores, not the breaker, are under test.
      breaker: { volumeThreshold: 100000, consecutiveFailures: 0 },
    };
    const old = await Promise.all([
      startRoutecar({ policy, name: 'old-1' }),
      startRoutecar({ policy, name: 'old-2' }),
    ]);
    routecars.push(...old);
    prom = await startPrometheus({ targets: old.map((r) => new URL(r.adminUrl).host) });
    for (const r of old) {
      const outcomes = await runLoad({
        url: `${r.baseURL}/chat/completions`,
        body: CHAT,
        total: 150,
        concurrency: 2,
      });
      expect(failuresOf(outcomes)).toEqual([]);
    }
    await prom.waitFor(
      'sum by (routecar_backend) (routecar_window_requests)',
      (v) => v.length === 2 && v.every((s) => s.value > 0),
      20_000,
    );

    const fresh = await startRoutecar({
      policy,
      name: 'new',
      env: { ROUTECAR_PROMETHEUS_URL: prom.url, ROUTECAR_FLEET_INTERVAL_MS: '1000' },
    });
    routecars.push(fresh);
    let fleet: FleetState | undefined;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      fleet = ((await (await fetch(`${fresh.adminUrl}/admin/state`)).json()) as { fleet: FleetState }).fleet;
      if (fleet.state === 'fresh' && (fleet.backends.a?.errorRatio ?? 0) > 0.1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(fleet?.state).toBe('fresh');
    expect(fleet?.backends.a?.errorRatio).toBeGreaterThan(0.1);
    expect(fleet?.backends.b?.errorRatio).toBe(0);
    expect(fleet?.backends.b?.ttfbP95Ms).toBeGreaterThan(0);

    const first = await runLoad({
      url: `${fresh.baseURL}/chat/completions`,
      body: CHAT,
      total: 40,
      concurrency: 2,
    });
    expect(failuresOf(first)).toEqual([]);
    expect((countByBackend(first).a ?? 0) / first.length).toBeLessThanOrEqual(0.1);
  }, 90_000);

  it('reads a backend’s load from the model servers’ gauges Prometheus scrapes (signals.selector)', async () => {
    const busy = await startFakeUpstream({ name: 'busy' });
    const idle = await startFakeUpstream({ name: 'idle' });
    upstreams.push(busy, idle);
    const servers = await startPrometheus({ targets: [busy, idle].map((u) => `127.0.0.1:${u.port}`) });
    try {
      busy.configure({ queueDepth: 40, kvCacheUsage: 1 });
      const policy = {
        version: 1,
        backends: Object.fromEntries(
          [busy, idle].map((u) => [
            u.name,
            {
              url: u.baseURL,
              model: u.name,
              price: { input: 1, output: 1 },
              signals: { format: 'vllm', selector: `instance="127.0.0.1:${u.port}"` },
            },
          ]),
        ),
        routes: { chat: { backends: ['busy', 'idle'] } },
      };
      const r = await startRoutecar({
        policy,
        name: 'reads-servers',
        env: { ROUTECAR_PROMETHEUS_URL: servers.url, ROUTECAR_FLEET_INTERVAL_MS: '1000' },
      });
      routecars.push(r);
      const weightOf = async (name: string): Promise<number> => {
        const res = await fetch(`${r.adminUrl}/admin/explain`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(CHAT),
        });
        const body = (await res.json()) as {
          result: { decision: { candidates: { backend: string; weight?: number }[] } };
        };
        return body.result.decision.candidates.find((c) => c.backend === name)?.weight ?? -1;
      };
      // Within a scrape (1 s) and a fleet round (1 s), with a wide margin for a loaded machine.
      await expect.poll(() => weightOf('busy'), { timeout: 20_000, interval: 250 }).toBeLessThan(0.2);
      const state = (await (await fetch(`${r.adminUrl}/admin/state`)).json()) as {
        fleet: { signals: Record<string, { queued: number; kvCacheUsage?: number }> };
      };
      expect(state.fleet.signals.busy).toMatchObject({ queued: 40, kvCacheUsage: 1 });
      expect(state.fleet.signals.idle).toMatchObject({ queued: 0 });
    } finally {
      await servers.stop();
    }
  }, 60_000);
});
