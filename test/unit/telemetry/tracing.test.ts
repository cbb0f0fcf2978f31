import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import type { RequestStart } from '../../../src/proxy/events.js';
import { telemetrySettings } from '../../../src/telemetry/settings.js';
import { sampled, startTracing, traceIdBucket, type Tracing } from '../../../src/telemetry/tracing.js';
import { parseTraceparent } from '../../../src/telemetry/traceparent.js';
import { attempt, request, RESOURCE } from './fixtures.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const APP_SPAN = '00f067aa0ba902b7';

let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

async function tracer(env: Record<string, string> = {}, random?: () => number) {
  const exporter = new InMemorySpanExporter();
  const settings = telemetrySettings({ OTEL_TRACES_EXPORTER: 'console', ...env }).traces!;
  tracing = await startTracing({
    settings,
    resource: RESOURCE,
    exporter,
    ...(random ? { random } : {}),
    backends: (name) => ({
      address: `${name}.models.svc`,
      port: 8000,
      provider: 'openai',
      model: `model-${name}`,
      // alpha has a zone in the policy, beta none.
      zone: name === 'alpha' ? 'us-east-1a' : undefined,
    }),
  });
  const spans = async (): Promise<ReadableSpan[]> => {
    await tracing!.flush();
    return exporter.getFinishedSpans();
  };
  return { observer: tracing.observer, spans };
}

function start(over: Partial<RequestStart> = {}): RequestStart {
  return {
    requestId: 'req-1',
    endpoint: 'chat.completions',
    requestedRoute: 'chat',
    route: 'chat',
    variant: 'alpha',
    stream: false,
    startedAtMs: Date.now(),
    policyVersion: 'v7',
    rule: 'premium',
    reason: 'split -> alpha',
    traceparent: `00-${TRACE}-${APP_SPAN}-01`,
    tracestate: 'vendor=x',
    ...over,
  };
}

describe('tracing', () => {
  it('makes a failover one trace: a request span under the app’s span, two attempt spans under it', async () => {
    const { observer, spans } = await tracer();
    const scope = observer.requestStarted!(start())!;
    const first = scope.attempt('alpha', 1);
    first.end(
      attempt({
        backend: 'alpha',
        outcome: { kind: 'failure', failure: 'refused' },
        status: undefined,
        usage: undefined,
      }),
    );
    const second = scope.attempt('beta', 2);
    second.end(attempt({ backend: 'beta', attempt: 2, usage: { inputTokens: 11, outputTokens: 7 } }));
    scope.end(
      request({
        backend: 'beta',
        attempts: 2,
        responseModel: 'model-beta',
        usage: { inputTokens: 11, outputTokens: 7 },
      }),
    );

    const all = await spans();
    expect(all).toHaveLength(3);
    const server = all.find((s) => s.kind === SpanKind.SERVER)!;
    const clients = all
      .filter((s) => s.kind === SpanKind.CLIENT)
      .sort((a, b) => Number(a.attributes['routecar.attempt']) - Number(b.attributes['routecar.attempt']));
    expect(server.spanContext().traceId).toBe(TRACE);
    expect(server.parentSpanContext?.spanId).toBe(APP_SPAN);
    expect(
      clients.map((c) => [
        c.spanContext().traceId,
        c.parentSpanContext?.spanId,
        c.attributes['routecar.backend'],
      ]),
    ).toEqual([
      [TRACE, server.spanContext().spanId, 'alpha'],
      [TRACE, server.spanContext().spanId, 'beta'],
    ]);
    // Each attempt sends its own span upstream as the parent.
    expect(parseTraceparent(first.headers.traceparent)).toEqual({
      traceId: TRACE,
      spanId: clients[0]!.spanContext().spanId,
      traceFlags: 1,
    });
    expect(parseTraceparent(second.headers.traceparent)?.spanId).toBe(clients[1]!.spanContext().spanId);
    expect(clients[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(clients[0]!.attributes['error.type']).toBe('refused');
    expect(clients[1]!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('puts the GenAI attributes, the decision reason and the policy version on the spans', async () => {
    const { observer, spans } = await tracer();
    const scope = observer.requestStarted!(start())!;
    scope.attempt('alpha', 1).end(attempt());
    scope.end(request({ costUsd: 0.002 }));
    const all = await spans();
    const server = all.find((s) => s.kind === SpanKind.SERVER)!;
    const client = all.find((s) => s.kind === SpanKind.CLIENT)!;
    expect(server.name).toBe('chat chat');
    expect(server.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'chat',
      'gen_ai.response.model': 'model-alpha',
      'gen_ai.usage.input_tokens': 120,
      'gen_ai.usage.output_tokens': 40,
      'routecar.decision.reason': 'split -> alpha',
      'routecar.policy.version': 'v7',
      'routecar.rule': 'premium',
      'routecar.variant': 'alpha',
      'routecar.backend': 'alpha',
      'routecar.attempts': 1,
      'routecar.cost_usd': 0.002,
      'http.response.status_code': 200,
    });
    expect(client.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'chat',
      'gen_ai.response.model': 'model-alpha',
      'server.address': 'alpha.models.svc',
      'server.port': 8000,
      'routecar.attempt': 1,
    });
  });

  it('puts the backend’s zone on its attempt span, and none for a backend without one', async () => {
    const { observer, spans } = await tracer();
    const scope = observer.requestStarted!(start())!;
    scope.attempt('alpha', 1).end(attempt({ outcome: { kind: 'failure', failure: 'refused' } }));
    scope.attempt('beta', 2).end(attempt({ backend: 'beta', attempt: 2 }));
    scope.end(request({ backend: 'beta', attempts: 2 }));
    const clients = (await spans()).filter((s) => s.kind === SpanKind.CLIENT);
    const byBackend = Object.fromEntries(clients.map((c) => [c.attributes['routecar.backend'], c]));
    expect(byBackend.alpha!.attributes['routecar.backend.zone']).toBe('us-east-1a');
    expect(byBackend.beta!.attributes).not.toHaveProperty('routecar.backend.zone');
    const server = (await spans()).find((s) => s.kind === SpanKind.SERVER)!;
    expect(server.attributes).not.toHaveProperty('routecar.backend.zone');
  });

  it('starts a new trace when the app sent no (or a broken) traceparent', async () => {
    const { observer, spans } = await tracer();
    const scope = observer.requestStarted!(start({ traceparent: 'junk' }))!;
    const a = scope.attempt('alpha', 1);
    a.end(attempt());
    scope.end(request());
    const server = (await spans()).find((s) => s.kind === SpanKind.SERVER)!;
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.spanContext().traceId).not.toBe(TRACE);
    expect(parseTraceparent(a.headers.traceparent)?.traceId).toBe(server.spanContext().traceId);
  });

  it('records an attempt the breaker refused as an error span', async () => {
    const { observer, spans } = await tracer();
    const scope = observer.requestStarted!(start())!;
    scope.attempt('alpha', 1).end(undefined);
    scope.end(request({ status: 503, backend: undefined, errorCode: 'no_healthy_backend', attempts: 1 }));
    const all = await spans();
    const client = all.find((s) => s.kind === SpanKind.CLIENT)!;
    expect(client.attributes['error.type']).toBe('breaker_rejected');
    expect(client.status.code).toBe(SpanStatusCode.ERROR);
    expect(all.find((s) => s.kind === SpanKind.SERVER)!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('follows the app’s decision not to sample: no scope, so the app’s traceparent goes upstream unchanged', async () => {
    const { observer, spans } = await tracer();
    // No scope means the forwarder injects nothing: the app's header stays among the headers it forwards.
    expect(observer.requestStarted!(start({ traceparent: `00-${TRACE}-${APP_SPAN}-00` }))).toBeUndefined();
    expect(await spans()).toHaveLength(0);
  });

  it('opens nothing for an unsampled new trace, and injects no traceparent', async () => {
    let draws = 0;
    const { observer, spans } = await tracer(
      { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' },
      () => (draws++, 0.5),
    );
    expect(observer.requestStarted!(start({ traceparent: undefined }))).toBeUndefined();
    expect(draws).toBe(1);
    expect(await spans()).toHaveLength(0);
  });

  it('samples a new trace when the draw falls under the ratio', async () => {
    const { observer, spans } = await tracer(
      { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' },
      () => 0.005,
    );
    const scope = observer.requestStarted!(start({ traceparent: undefined }))!;
    const a = scope.attempt('alpha', 1);
    expect(parseTraceparent(a.headers.traceparent)?.traceFlags).toBe(1);
    a.end(attempt());
    scope.end(request());
    expect(await spans()).toHaveLength(2);
  });

  it('with parentbased_*, a sampled app traceparent is followed whatever the ratio', async () => {
    const { observer, spans } = await tracer(
      { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' },
      () => 0.99,
    );
    const scope = observer.requestStarted!(start())!;
    scope.end(request());
    expect((await spans())[0]!.spanContext().traceId).toBe(TRACE);
  });

  it('samples by trace id ratio when told to', async () => {
    const { observer, spans } = await tracer({
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.5',
    });
    for (let i = 0; i < 200; i++) observer.requestStarted!(start({ traceparent: undefined }))?.end(request());
    const n = (await spans()).length;
    expect(n).toBeGreaterThan(50);
    expect(n).toBeLessThan(150);
  });

  it('applies the ratio to an incoming trace id exactly as the SDK’s TraceIdRatioBasedSampler does', () => {
    const settings = { root: 'traceidratio', ratio: 0.3, parentBased: false } as const;
    const sdk = new TraceIdRatioBasedSampler(0.3);
    const hex = (n: number) =>
      Array.from({ length: n }, () => '0123456789abcdef'[(Math.random() * 16) | 0]).join('');
    for (let i = 0; i < 500; i++) {
      const traceId = hex(32);
      const ours = sampled(settings, { traceId, spanId: APP_SPAN, traceFlags: 0 }, () => 0);
      const theirs = sdk.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED;
      expect(ours).toBe(theirs);
    }
    expect(traceIdBucket('ffffffff000000000000000000000000')).toBe(0xffffffff);
  });
});
