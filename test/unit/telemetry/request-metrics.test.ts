import { describe, expect, it } from 'vitest';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import {
  DURATION_BUCKETS_S,
  GEN_AI,
  ROUTECAR,
  CHUNK_BUCKETS_S,
  TOKEN_BUCKETS,
} from '../../../src/telemetry/names.js';
import { RequestMetrics, type BackendInfo } from '../../../src/telemetry/request-metrics.js';
import { attempt, collect, only, points, request, RESOURCE } from './fixtures.js';

const BACKENDS: Record<string, BackendInfo> = {
  alpha: { address: 'llama-70b.models.svc', port: 8000, provider: 'openai', model: 'model-alpha' },
  beta: { address: 'llama-8b.models.svc', port: 8001, provider: 'vllm', model: 'model-beta' },
};

function metrics(options: { tenantLabel?: boolean; tenantLimit?: number } = {}): RequestMetrics {
  return new RequestMetrics({
    backends: (name) => BACKENDS[name],
    tenantLabel: options.tenantLabel ?? false,
    tenantLimit: options.tenantLimit ?? 100,
    resource: RESOURCE,
    now: () => 1_700_000_000_000,
  });
}

describe('GenAI instruments, per attempt', () => {
  it('records the operation duration in seconds with the GenAI and routecar attributes', async () => {
    const m = metrics();
    m.attemptFinished(attempt({ durationMs: 250 }));
    const data = await collect(m);
    const duration = data.get(GEN_AI.operationDuration)!;
    expect(duration.descriptor.unit).toBe('s');
    expect(points(duration)).toHaveLength(1);
    const [attributes, value] = points(duration)[0]!;
    expect(attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'openai.api.type': 'chat_completions',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'chat',
      'gen_ai.response.model': 'model-alpha',
      'routecar.route': 'chat',
      'routecar.backend': 'alpha',
      'routecar.variant': 'alpha',
      'server.address': 'llama-70b.models.svc',
      'server.port': 8000,
    });
    expect((value as Histogram).sum).toBeCloseTo(0.25);
    expect((value as Histogram).buckets.boundaries).toEqual(DURATION_BUCKETS_S);
  });

  it('uses the conventions’ bucket boundaries for every histogram', async () => {
    const m = metrics();
    m.attemptFinished(
      attempt({ stream: true, firstChunkMs: 30, usage: { inputTokens: 10, outputTokens: 5 } }),
    );
    const data = await collect(m);
    const bounds = (name: string) => (points(data.get(name))[0]![1] as Histogram).buckets.boundaries;
    expect(bounds(GEN_AI.operationDuration)).toEqual(DURATION_BUCKETS_S);
    expect(bounds(GEN_AI.tokenUsage)).toEqual(TOKEN_BUCKETS);
    expect(bounds(GEN_AI.timeToFirstChunk)).toEqual(CHUNK_BUCKETS_S);
    expect(bounds(GEN_AI.timePerOutputChunk)).toEqual(CHUNK_BUCKETS_S);
    expect(CHUNK_BUCKETS_S).toEqual(DURATION_BUCKETS_S);
    expect(TOKEN_BUCKETS[0]).toBe(1);
    expect(TOKEN_BUCKETS.at(-1)).toBe(67_108_864);
  });

  it('records input and output tokens from the usage of a successful attempt', async () => {
    const m = metrics();
    m.attemptFinished(attempt({ usage: { inputTokens: 120, outputTokens: 40 } }));
    m.attemptFinished(attempt({ usage: { inputTokens: 30, outputTokens: 2 } }));
    const tokens = (await collect(m)).get(GEN_AI.tokenUsage);
    expect(tokens?.descriptor.unit).toBe('{token}');
    expect(only(tokens, { 'gen_ai.token.type': 'input' })).toMatchObject({ count: 2, sum: 150 });
    expect(only(tokens, { 'gen_ai.token.type': 'output' })).toMatchObject({ count: 2, sum: 42 });
  });

  it('records no tokens when the response carried no usage, and only input tokens for embeddings', async () => {
    const m = metrics();
    m.attemptFinished(attempt({ usage: undefined }));
    expect((await collect(m)).get(GEN_AI.tokenUsage)).toBeUndefined();
    m.attemptFinished(attempt({ endpoint: 'embeddings', usage: { inputTokens: 12, outputTokens: 0 } }));
    const tokens = (await collect(m)).get(GEN_AI.tokenUsage);
    expect(points(tokens).map(([a]) => [a['gen_ai.operation.name'], a['gen_ai.token.type']])).toEqual([
      ['embeddings', 'input'],
    ]);
  });

  it('labels a failed attempt with error.type and records only its duration', async () => {
    const m = metrics();
    m.attemptFinished(
      attempt({
        backend: 'beta',
        outcome: { kind: 'failure', failure: 'server_error' },
        status: 503,
        usage: undefined,
        stream: true,
      }),
    );
    m.attemptFinished(
      attempt({ outcome: { kind: 'ignored', reason: 'client_error' }, status: 400, usage: undefined }),
    );
    m.attemptFinished(
      attempt({ outcome: { kind: 'ignored', reason: 'client_gone' }, status: undefined, usage: undefined }),
    );
    const data = await collect(m);
    expect(
      points(data.get(GEN_AI.operationDuration)).map(([a]) => [a['routecar.backend'], a['error.type']]),
    ).toEqual([
      ['beta', 'server_error'],
      ['alpha', '400'],
      ['alpha', 'cancelled'],
    ]);
    expect(data.get(GEN_AI.timeToFirstChunk)).toBeUndefined();
    expect(data.get(GEN_AI.tokenUsage)).toBeUndefined();
  });

  it('records time to first chunk for streams only, and time per output chunk when usage came', async () => {
    const m = metrics();
    m.attemptFinished(attempt({ stream: false, firstChunkMs: 30 }));
    m.attemptFinished(
      attempt({
        stream: true,
        firstChunkMs: 30,
        durationMs: 230,
        usage: { inputTokens: 5, outputTokens: 41 },
      }),
    );
    m.attemptFinished(attempt({ stream: true, firstChunkMs: 50, durationMs: 90, usage: undefined }));
    const data = await collect(m);
    expect(only(data.get(GEN_AI.timeToFirstChunk))).toMatchObject({ count: 2, sum: expect.closeTo(0.08, 6) });
    // (230 − 30) ms over the 40 tokens after the first one.
    expect(only(data.get(GEN_AI.timePerOutputChunk))).toMatchObject({
      count: 1,
      sum: expect.closeTo(0.005, 6),
    });
  });

  it('names the operation after the endpoint and the provider after the backend', async () => {
    const m = metrics();
    m.attemptFinished(attempt({ endpoint: 'completions', backend: 'beta' }));
    m.attemptFinished(attempt({ endpoint: 'responses' }));
    m.attemptFinished(attempt({ endpoint: 'embeddings', backend: 'beta' }));
    const ops = points((await collect(m)).get(GEN_AI.operationDuration)).map(([a]) => [
      a['gen_ai.operation.name'],
      a['openai.api.type'],
      a['gen_ai.provider.name'],
    ]);
    expect(ops).toEqual([
      ['text_completion', 'completions', 'vllm'],
      ['chat', 'responses', 'openai'],
      ['embeddings', 'embeddings', 'vllm'],
    ]);
  });

  // Regression: Responses calls were recorded under the chat completions' exact attributes, so
  // Prometheus kept one of the two series and the other vanished.
  it('keeps chat completions and Responses calls of one route and backend in separate series', async () => {
    const m = metrics();
    for (const endpoint of ['chat.completions', 'responses'] as const) {
      for (const stream of [false, true]) {
        m.attemptFinished(attempt({ endpoint, stream, usage: { inputTokens: 10, outputTokens: 5 } }));
      }
    }
    const data = await collect(m);
    for (const name of Object.values(GEN_AI)) {
      const labelSets = points(data.get(name)).map(([a]) => JSON.stringify(Object.entries(a).sort()));
      expect(new Set(labelSets).size, name).toBe(labelSets.length);
      expect(
        points(data.get(name)).map(([a]) => a['openai.api.type']),
        name,
      ).toEqual(expect.arrayContaining(['chat_completions', 'responses']));
    }
  });
});

describe('routecar instruments, per request', () => {
  const outcomes: Array<[string, Parameters<typeof request>[0], string, string | undefined]> = [
    ['answered', {}, 'success', undefined],
    [
      'the backend said 400',
      { status: 400, outcome: { kind: 'ignored', reason: 'client_error' } },
      'client_error',
      '400',
    ],
    [
      'the last backend said 503',
      { status: 503, outcome: { kind: 'failure', failure: 'server_error' } },
      'error',
      'server_error',
    ],
    [
      'a stream broke after its head',
      { status: 200, outcome: { kind: 'failure', failure: 'stream_broken' } },
      'error',
      'stream_broken',
    ],
    [
      'every attempt failed',
      { status: 502, backend: undefined, errorCode: 'upstream_unavailable', attempts: 2, outcome: undefined },
      'error',
      'upstream_unavailable',
    ],
    [
      'refused before any attempt',
      { status: 503, backend: undefined, errorCode: 'no_healthy_backend', attempts: 0, variant: 'none' },
      'refused',
      'no_healthy_backend',
    ],
    [
      'the app hung up',
      { status: 0, backend: undefined, errorCode: 'client_gone' },
      'cancelled',
      'cancelled',
    ],
  ];
  it.each(outcomes)('counts a request that %s as %s', async (_name, over, outcome, errorType) => {
    const m = metrics();
    m.requestFinished(request(over));
    const [attributes, value] = points((await collect(m)).get(ROUTECAR.requests))[0]!;
    expect(value).toBe(1);
    expect(attributes['routecar.outcome']).toBe(outcome);
    expect(attributes['error.type']).toBe(errorType);
    expect(attributes['routecar.backend']).toBe(
      over?.backend === undefined && 'backend' in (over ?? {}) ? 'none' : 'alpha',
    );
  });

  it('counts requests by route, backend and variant', async () => {
    const m = metrics();
    for (const [backend, variant] of [
      ['alpha', 'alpha'],
      ['alpha', 'alpha'],
      ['beta', 'alpha'],
      ['beta', 'beta'],
    ] as const) {
      m.requestFinished(request({ backend, variant }));
    }
    const requests = (await collect(m)).get(ROUTECAR.requests);
    expect(points(requests).map(([a, v]) => [a['routecar.backend'], a['routecar.variant'], v])).toEqual([
      ['alpha', 'alpha', 2],
      ['beta', 'alpha', 1],
      ['beta', 'beta', 1],
    ]);
  });

  it('counts each request and attempt under its own labels when consecutive ones differ in only one', async () => {
    const m = metrics();
    // Each differs from the one before in one label: the outcome, the error, the route, the endpoint.
    const requests = [
      request({}),
      request({ status: 503, errorCode: 'upstream_unavailable', attempts: 1 }),
      request({ status: 502, errorCode: 'upstream_bad_gateway', attempts: 1 }),
      request({ route: 'code' }),
      request({}),
    ];
    for (const r of requests) m.requestFinished(r);
    const attempts = [
      attempt({}),
      attempt({ outcome: { kind: 'failure', failure: 'server_error' }, status: 503, usage: undefined }),
      attempt({
        outcome: { kind: 'failure', failure: 'first_byte_timeout' },
        status: undefined,
        usage: undefined,
      }),
      attempt({ endpoint: 'responses' }),
      attempt({}),
    ];
    for (const a of attempts) m.attemptFinished(a);
    const data = await collect(m);
    expect(
      points(data.get(ROUTECAR.requests)).map(([a, v]) => [
        a['routecar.route'],
        a['routecar.outcome'],
        a['error.type'],
        v,
      ]),
    ).toEqual([
      ['chat', 'success', undefined, 2],
      ['chat', 'error', 'upstream_unavailable', 1],
      ['chat', 'error', 'upstream_bad_gateway', 1],
      ['code', 'success', undefined, 1],
    ]);
    const durations = points(data.get(GEN_AI.operationDuration)) as unknown as [
      Record<string, unknown>,
      Histogram,
    ][];
    expect(durations.map(([a, h]) => [a['openai.api.type'], a['error.type'], h.count])).toEqual([
      ['chat_completions', undefined, 2],
      ['chat_completions', 'server_error', 1],
      ['chat_completions', 'first_byte_timeout', 1],
      ['responses', undefined, 1],
    ]);
  });

  it('never uses a route name the policy does not have as a label', async () => {
    const m = metrics();
    for (let i = 0; i < 50; i++) {
      m.requestFinished(
        request({
          route: `made-up-${i}`,
          backend: undefined,
          errorCode: 'model_not_found',
          attempts: 0,
          status: 404,
        }),
      );
    }
    const requests = points((await collect(m)).get(ROUTECAR.requests));
    expect(requests).toEqual([
      [expect.objectContaining({ 'routecar.route': 'unknown', 'routecar.outcome': 'refused' }), 50],
    ]);
  });

  it('counts failovers by route, from, to and the failure class', async () => {
    const m = metrics();
    const base = { requestId: 'r', route: 'chat', from: 'alpha', to: 'beta', reason: 'refused' };
    m.failover({ ...base, outcome: { kind: 'failure', failure: 'refused' } });
    m.failover({ ...base, outcome: { kind: 'failure', failure: 'refused' } });
    m.failover({
      ...base,
      reason: 'breaker refused the call',
      outcome: { kind: 'ignored', reason: 'breaker_rejected' },
    });
    expect(points((await collect(m)).get(ROUTECAR.failovers))).toEqual([
      [
        {
          'routecar.route': 'chat',
          'routecar.failover.from': 'alpha',
          'routecar.failover.to': 'beta',
          'routecar.failover.reason': 'refused',
        },
        2,
      ],
      [
        {
          'routecar.route': 'chat',
          'routecar.failover.from': 'alpha',
          'routecar.failover.to': 'beta',
          'routecar.failover.reason': 'breaker_rejected',
        },
        1,
      ],
    ]);
  });

  it('adds up cost in USD by route, backend, variant and usage source, and records none without usage', async () => {
    const m = metrics();
    m.requestFinished(request({ costUsd: 0.25 }));
    m.requestFinished(request({ costUsd: 0.5 }));
    m.requestFinished(request({ costUsd: undefined, usage: undefined }));
    m.requestFinished(
      request({ costUsd: 0.125, usage: { inputTokens: 10, outputTokens: 5, estimated: true } }),
    );
    const cost = (await collect(m)).get(ROUTECAR.costUsd);
    expect(cost?.descriptor.unit).toBe('{USD}');
    const series = { 'routecar.route': 'chat', 'routecar.backend': 'alpha', 'routecar.variant': 'alpha' };
    expect(points(cost)).toEqual([
      [{ ...series, 'routecar.usage': 'reported' }, 0.75],
      [{ ...series, 'routecar.usage': 'estimated' }, 0.125],
    ]);
  });

  it('counts prefix-affinity outcomes per route (home, skipped, none), and nothing for routes without affinity', async () => {
    const m = metrics();
    for (let i = 0; i < 3; i++) m.requestFinished(request({ affinity: 'home' }));
    m.requestFinished(request({ affinity: 'skipped' }));
    m.requestFinished(request({ affinity: 'none', route: 'code' }));
    m.requestFinished(request({ route: 'embed' }));
    const affinity = (await collect(m)).get(ROUTECAR.affinityRequests);
    expect(affinity?.descriptor.unit).toBe('{request}');
    expect(points(affinity)).toEqual([
      [{ 'routecar.route': 'chat', 'routecar.affinity.outcome': 'home' }, 3],
      [{ 'routecar.route': 'chat', 'routecar.affinity.outcome': 'skipped' }, 1],
      [{ 'routecar.route': 'code', 'routecar.affinity.outcome': 'none' }, 1],
    ]);
  });

  it('puts tenants on the cost counter only when asked, capped, with "other" past the cap', async () => {
    const off = metrics();
    off.requestFinished(request({ tenant: 'acme' }));
    expect(points((await collect(off)).get(ROUTECAR.costUsd))[0]![0]).not.toHaveProperty('routecar.tenant');

    const on = metrics({ tenantLabel: true, tenantLimit: 3 });
    for (let i = 0; i < 1000; i++) on.requestFinished(request({ tenant: `tenant-${i % 10}`, costUsd: 1 }));
    on.requestFinished(request({ tenant: undefined, costUsd: 1 }));
    const tenants = points((await collect(on)).get(ROUTECAR.costUsd)).map(([a, v]) => [
      a['routecar.tenant'],
      v,
    ]);
    expect(tenants).toEqual([
      ['tenant-0', 100],
      ['tenant-1', 100],
      ['tenant-2', 100],
      ['other', 700],
      ['none', 1],
    ]);
  });

  it('keeps the request series apart from anything request-specific: ids, users and tenants add no series', async () => {
    const m = metrics();
    for (let i = 0; i < 2_000; i++) {
      m.requestFinished(request({ requestId: `req-${i}`, tenant: `tenant-${i}`, costUsd: 0.001 }));
      m.attemptFinished(attempt({ requestId: `req-${i}` }));
    }
    const data = await collect(m);
    expect(points(data.get(ROUTECAR.requests))).toHaveLength(1);
    expect(points(data.get(ROUTECAR.costUsd))).toHaveLength(1);
    expect(points(data.get(GEN_AI.operationDuration))).toHaveLength(1);
  });

  it('moves to new series when a policy change gives a backend another address', async () => {
    const backends = { ...BACKENDS };
    const m = new RequestMetrics({
      backends: (n) => backends[n],
      tenantLabel: false,
      tenantLimit: 1,
      resource: RESOURCE,
    });
    m.attemptFinished(attempt());
    backends.alpha = { ...BACKENDS.alpha!, address: 'llama-70b-v2.models.svc' };
    m.policyChanged();
    m.attemptFinished(attempt());
    const addresses = points((await collect(m)).get(GEN_AI.operationDuration)).map(
      ([a]) => a['server.address'],
    );
    expect(addresses).toEqual(['llama-70b.models.svc', 'llama-70b-v2.models.svc']);
  });
});
