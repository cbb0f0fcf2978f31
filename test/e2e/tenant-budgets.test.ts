/**
 * Tenant budgets: a tenant whose spend reaches its budget gets 429 budget_exhausted with
 * Retry-After at the window's end, other tenants are served; and with a fleet view (a real
 * Prometheus scraping two routecar processes), two sidecars enforce one shared budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith } from '../support/external.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { getFreePort } from '../support/ports.js';
import { useProcesses } from '../support/processes.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

/** $1,000 per 1M tokens both ways: a short chat costs a few cents, so budgets run out quickly. */
const PRICE = { input: 1_000, output: 1_000 };

function policy(upstream: FakeUpstream, budgets: object): object {
  return {
    version: 1,
    backends: { m: { url: upstream.baseURL, model: 'm', price: PRICE } },
    routes: { chat: { backends: ['m'] } },
    budgets,
  };
}

async function chat(rc: Routecar, tenant: string): Promise<Response> {
  return fetch(`${rc.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'one two three' }] }),
  });
}

/** USD of one answer at PRICE, from the usage the fake reports. */
async function costOf(res: Response): Promise<number> {
  const { usage } = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
  return ((usage.prompt_tokens + usage.completion_tokens) * PRICE.input) / 1e6;
}

function secondsToHourEnd(): number {
  const now = Date.now();
  return (Math.floor(now / 3_600_000) * 3_600_000 + 3_600_000 - now) / 1000;
}

describe('a tenant budget on one sidecar', () => {
  let upstream: FakeUpstream;
  let rc: Routecar;
  beforeAll(async () => {
    upstream = await fakeUpstream({ name: 'budgeted' });
    rc = await startRoutecar({
      group: procs,
      name: 'routecar-budget',
      policy: policy(upstream, { tenants: { acme: { usdPerHour: 0.1 } } }),
    });
  });

  it('is exhausted after the expected number of requests, with Retry-After at the end of the hour', async () => {
    const first = await chat(rc, 'acme');
    expect(first.status).toBe(200);
    const perRequest = await costOf(first);
    const allowed = Math.ceil(0.1 / perRequest);
    for (let i = 1; i < allowed; i++) expect((await chat(rc, 'acme')).status).toBe(200);
    const before = upstream.stats.requests;
    const refused = await chat(rc, 'acme');
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Math.abs(retryAfter - secondsToHourEnd())).toBeLessThan(5);
    const { error } = (await refused.json()) as { error: { code: string; type: string; message: string } };
    expect(error).toMatchObject({ code: 'budget_exhausted', type: 'rate_limit_error' });
    expect(error.message).toContain('"acme"');
    expect(upstream.stats.requests).toBe(before);
    // Another tenant, and requests without one (no default budget here), are served.
    expect((await chat(rc, 'globex')).status).toBe(200);
    const state = (await (await fetch(`${rc.adminUrl}/admin/state`)).json()) as {
      budgets: { spend: { tenant: string; window: string; spentUsd: number; limitUsd: number }[] };
    };
    expect(state.budgets.spend).toEqual([
      expect.objectContaining({ tenant: 'acme', window: 'hour', limitUsd: 0.1 }),
    ]);
    expect(state.budgets.spend[0]!.spentUsd).toBeGreaterThanOrEqual(0.1);
  });
});

describeWith(['prometheus'], 'a tenant budget shared by two sidecars through the fleet view', () => {
  let upstream: FakeUpstream;
  let prometheus: PrometheusServer;
  let a: Routecar;
  let b: Routecar;

  beforeAll(async () => {
    upstream = await fakeUpstream({ name: 'shared' });
    // The sidecars need Prometheus's address, and Prometheus theirs: start Prometheus on the
    // sidecars' admin ports chosen up front.
    const [adminA, adminB] = await Promise.all([getFreePort(), getFreePort()]);
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${adminA}`, `127.0.0.1:${adminB}`] });
    const start = (name: string, adminPort: number): Promise<Routecar> =>
      startRoutecar({
        group: procs,
        name,
        adminListen: `127.0.0.1:${adminPort}`,
        env: {
          ROUTECAR_PROMETHEUS_URL: prometheus.url,
          ROUTECAR_FLEET_INTERVAL_MS: '500',
        },
        policy: policy(upstream, { tenants: { acme: { usdPerHour: 0.2 } } }),
      });
    [a, b] = await Promise.all([start('routecar-fleet-a', adminA), start('routecar-fleet-b', adminB)]);
  }, 60_000);
  afterAll(() => prometheus?.stop());

  it('refuses the tenant on a sidecar whose own spend is under the budget once the fleet reaches it', async () => {
    const first = await chat(a, 'acme');
    const perRequest = await costOf(first);
    // Each sidecar serves 60% of the budget: neither reaches it alone, together they pass it.
    const each = Math.ceil((0.2 * 0.6) / perRequest);
    for (let i = 1; i < each; i++) expect((await chat(a, 'acme')).status).toBe(200);
    for (let i = 0; i < each; i++) expect((await chat(b, 'acme')).status).toBe(200);
    // Within a scrape (1 s) and a fleet reading (0.5 s), with a wide margin for a loaded machine.
    await prometheus.waitFor(
      'sum(routecar_tenant_spend_usd_total{routecar_tenant="acme"})',
      (r) => (r[0]?.value ?? 0) >= 0.2,
      20_000,
    );
    // Each sidecar's own spend stays under the budget; its fleet reading puts it over.
    const spentOn = async (rc: Routecar): Promise<{ spentUsd: number; localUsd: number }> => {
      const s = (await (await fetch(`${rc.adminUrl}/admin/state`)).json()) as {
        budgets: { spend: { spentUsd: number; localUsd: number }[] };
      };
      return s.budgets.spend[0]!;
    };
    for (const rc of [a, b]) {
      await expect
        .poll(async () => (await spentOn(rc)).spentUsd, { timeout: 20_000, interval: 250 })
        .toBeGreaterThanOrEqual(0.2);
      expect((await spentOn(rc)).localUsd).toBeLessThan(0.2);
    }
    const refused = await chat(a, 'acme');
    expect(refused.status).toBe(429);
    expect((await chat(b, 'acme')).status).toBe(429);
    expect((await chat(a, 'globex')).status).toBe(200);
  }, 90_000);
});
