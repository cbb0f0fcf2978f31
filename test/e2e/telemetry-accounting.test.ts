/**
 * Token and cost accounting, checked against the `usage` the fake upstream put in its answers:
 * JSON responses, streams whose app asked for usage (`stream_options.include_usage`), and streams
 * whose app did not (routecar asks the backend for usage, counts it, and drops the usage-only
 * chunk so the app sees the stream it asked for). Read straight from the admin listener's /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { scrape, select, total, type PromSample } from '../support/prometheus-text.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';
import { readSse, sseJson } from '../support/sse.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);

const PRICE = { input: 0.6, output: 0.8 }; // USD per million tokens

let upstream: FakeUpstream;
let routecar: Routecar;

beforeAll(async () => {
  upstream = await startUpstream({ name: 'priced' });
  routecar = await startRoutecar({
    group: procs,
    name: 'routecar (accounting)',
    env: { ROUTECAR_METRICS_TENANT_LABEL: 'true', ROUTECAR_METRICS_TENANT_LIMIT: '2' },
    policy: {
      version: 1,
      backends: { priced: { url: upstream.baseURL, model: 'model-priced', price: PRICE } },
      routes: { chat: { backends: ['priced'] } },
    },
  });
}, 30_000);

afterAll(async () => {
  await routecar?.stop();
});

interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
}

/** Totals as /metrics shows them now. */
async function totals(): Promise<{
  input: number;
  output: number;
  tokenCalls: number;
  costUsd: number;
  requests: number;
  ttfc: number;
  tpoc: number;
  samples: PromSample[];
}> {
  const s = await scrape(`${routecar.adminUrl}/metrics`);
  return {
    input: total(s, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'input' }),
    output: total(s, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'output' }),
    tokenCalls: total(s, 'gen_ai_client_token_usage_count', { gen_ai_token_type: 'input' }),
    costUsd: total(s, 'routecar_cost_usd_total'),
    requests: total(s, 'routecar_requests_total'),
    ttfc: total(s, 'gen_ai_client_operation_time_to_first_chunk_seconds_count'),
    tpoc: total(s, 'gen_ai_client_operation_time_per_output_chunk_seconds_count'),
    samples: s,
  };
}

const cost = (u: readonly Usage[]) =>
  u.reduce((sum, x) => sum + (x.prompt_tokens * PRICE.input + x.completion_tokens * PRICE.output) / 1e6, 0);
const sum = (u: readonly Usage[], k: keyof Usage) => u.reduce((s, x) => s + x[k], 0);

function body(i: number, extra: Record<string, unknown> = {}): string {
  // Prompts and completions of different lengths, so every request's usage differs.
  return JSON.stringify({
    model: 'chat',
    messages: [{ role: 'user', content: `tell me about item ${i} `.repeat(i + 1) }],
    ...extra,
  });
}

async function post(payload: string, headers: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(`${routecar.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: payload,
  });
  expect(res.status).toBe(200);
  return res;
}

describe('token and cost accounting', () => {
  it('adds up input and output tokens and their cost from non-streaming responses’ usage', async () => {
    const start = await totals();
    const usages: Usage[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post(body(i), { 'x-fake-tokens': String(3 + i) });
      usages.push(((await res.json()) as { usage: Usage }).usage);
    }
    const end = await totals();
    expect(end.input - start.input).toBe(sum(usages, 'prompt_tokens'));
    expect(end.output - start.output).toBe(sum(usages, 'completion_tokens'));
    expect(end.tokenCalls - start.tokenCalls).toBe(5);
    expect(end.costUsd - start.costUsd).toBeCloseTo(cost(usages), 12);
    expect(end.ttfc - start.ttfc).toBe(0);
  });

  it('adds up tokens and cost from the final usage chunk of streams that asked for it', async () => {
    const start = await totals();
    const usages: Usage[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await post(body(i, { stream: true, stream_options: { include_usage: true } }), {
        'x-fake-tokens': String(2 + i),
      });
      const chunks = sseJson(await readSse(res)) as { usage?: Usage | null }[];
      const usage = chunks.find((c) => c.usage)?.usage;
      expect(usage).toBeDefined();
      usages.push(usage!);
    }
    const end = await totals();
    expect(end.input - start.input).toBe(sum(usages, 'prompt_tokens'));
    expect(end.output - start.output).toBe(sum(usages, 'completion_tokens'));
    expect(end.costUsd - start.costUsd).toBeCloseTo(cost(usages), 12);
    expect(end.ttfc - start.ttfc).toBe(4);
    expect(end.tpoc - start.tpoc).toBe(usages.filter((u) => u.completion_tokens > 1).length);
  });

  it('asks for usage on streams that did not, counts it, and strips it from what the app receives', async () => {
    // The same requests with include_usage first: what the backend reports for each.
    const usages: Usage[] = [];
    const asked: unknown[][] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(body(i, { stream: true, stream_options: { include_usage: true } }));
      const chunks = sseJson(await readSse(res)) as { usage?: Usage | null; choices?: unknown[] }[];
      usages.push(chunks.find((c) => c.usage)!.usage!);
      asked.push(chunks.filter((c) => !c.usage).map((c) => c.choices));
    }
    const start = await totals();
    for (let i = 0; i < 3; i++) {
      const res = await post(body(i, { stream: true }));
      const chunks = sseJson(await readSse(res)) as { usage?: Usage | null; choices?: unknown[] }[];
      // Exactly the stream the app asked for: every chunk but the usage-only one.
      expect(chunks.some((c) => c.usage)).toBe(false);
      expect(chunks.map((c) => c.choices)).toEqual(asked[i]);
      expect(upstream.stats.lastRequest?.body).toMatchObject({ stream_options: { include_usage: true } });
    }
    const end = await totals();
    expect(end.requests - start.requests).toBe(3);
    expect(end.ttfc - start.ttfc).toBe(3);
    expect(end.input - start.input).toBe(sum(usages, 'prompt_tokens'));
    expect(end.output - start.output).toBe(sum(usages, 'completion_tokens'));
    expect(end.costUsd - start.costUsd).toBeCloseTo(cost(usages), 12);
  });

  it("leaves an app's own stream_options alone and shows it the usage chunk it asked for", async () => {
    const res = await post(body(1, { stream: true, stream_options: { include_usage: true } }));
    const chunks = sseJson(await readSse(res)) as { usage?: Usage | null }[];
    expect(chunks.filter((c) => c.usage)).toHaveLength(1);
    expect(upstream.stats.lastRequest?.body).toMatchObject({ stream_options: { include_usage: true } });
  });

  it('puts tenants on the cost counter when enabled, capped: the third distinct tenant is "other"', async () => {
    for (const tenant of ['t1', 't2', 't3', 't4', 't1'])
      await (await post(body(1), { 'x-tenant-id': tenant })).arrayBuffer();
    const { samples } = await totals();
    const tenants = select(samples, 'routecar_cost_usd_total').map((s) => s.labels['routecar_tenant']);
    expect(tenants.sort()).toEqual(['none', 'other', 't1', 't2']);
    expect(select(samples, 'routecar_requests_total').every((s) => !('routecar_tenant' in s.labels))).toBe(
      true,
    );
  });
});
