/**
 * routecar pushing OTLP to a receiver in the test, once per protocol of OTEL_EXPORTER_OTLP_PROTOCOL
 * (unset: http/protobuf, the specification's default; grpc; http/json): its metrics, with the
 * resource attributes a Kubernetes downward API would fill (and ROUTECAR_ZONE as
 * `cloud.availability_zone`), and the trace of a request that failed
 * over, decoded whatever the wire format. The route's first backend is a port nobody listens on, so
 * every request fails over once. A last suite sends metrics and traces over different protocols.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { startOtlpReceiver, type OtlpReceiver, type OtlpWireProtocol } from '../support/otlp-receiver.js';
import { getFreePort } from '../support/ports.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);

/** The content type each protocol's exports must arrive with. */
const CONTENT_TYPE: Record<OtlpWireProtocol, string> = {
  'http/protobuf': 'application/x-protobuf',
  grpc: 'application/grpc',
  'http/json': 'application/json',
};

/** Starts a receiver and a routecar exporting to it with `env` (endpoints filled in by `endpoints`). */
async function start(
  name: string,
  endpoints: (receiver: OtlpReceiver) => Record<string, string>,
  env: Record<string, string> = {},
): Promise<{ receiver: OtlpReceiver; live: FakeUpstream; routecar: Routecar }> {
  const receiver = await startOtlpReceiver();
  const live = await startUpstream({ name: 'live' });
  const deadPort = await getFreePort();
  const routecar = await startRoutecar({
    group: procs,
    name: `routecar (otlp ${name})`,
    env: {
      ...endpoints(receiver),
      ...env,
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      K8S_POD_NAME: 'shop-7d9f-x2k',
      K8S_NAMESPACE_NAME: 'shop',
      K8S_NODE_NAME: 'gpu-node-3',
      ROUTECAR_ZONE: 'us-east-1a',
    },
    policy: {
      version: 1,
      backends: {
        dead: { url: `http://127.0.0.1:${deadPort}/v1`, model: 'model-dead', price: { input: 1, output: 1 } },
        live: { url: live.baseURL, model: 'model-live', price: { input: 1, output: 1 }, zone: 'us-east-1b' },
      },
      routes: { chat: { backends: ['dead', 'live'], split: { dead: 1 }, failover: { maxAttempts: 2 } } },
      // Keep the dead backend's breaker closed, so every request really tries it first.
      breaker: { errorThresholdPercentage: 100, volumeThreshold: 1000, resetTimeoutMs: 60_000 },
    },
  });
  return { receiver, live, routecar };
}

async function chat(routecar: Routecar, headers: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(`${routecar.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hello' }] }),
  });
  await res.arrayBuffer();
  return res;
}

const PROTOCOLS: [label: string, protocol: string | undefined, expected: OtlpWireProtocol][] = [
  ['OTEL_EXPORTER_OTLP_PROTOCOL unset', undefined, 'http/protobuf'],
  ['OTEL_EXPORTER_OTLP_PROTOCOL=grpc', 'grpc', 'grpc'],
  ['OTEL_EXPORTER_OTLP_PROTOCOL=http/json', 'http/json', 'http/json'],
];

describe.each(PROTOCOLS)('OTLP export, %s', (label, protocol, expected) => {
  let receiver: OtlpReceiver;
  let live: FakeUpstream;
  let routecar: Routecar;

  beforeAll(async () => {
    ({ receiver, live, routecar } = await start(
      expected,
      (r) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: expected === 'grpc' ? r.grpcUrl : r.url }),
      protocol === undefined ? {} : { OTEL_EXPORTER_OTLP_PROTOCOL: protocol },
    ));
  }, 30_000);

  afterAll(async () => {
    await routecar?.stop();
    await receiver?.close();
  });

  it(`sends metrics and spans as ${expected}, and nothing else`, async () => {
    await chat(routecar);
    await receiver.waitFor(() =>
      ['metrics', 'traces'].every((s) => receiver.received.some((r) => r.signal === s)),
    );
    const seen = new Set(receiver.received.map((r) => `${r.signal} ${r.protocol} ${r.contentType}`));
    expect([...seen].sort(), label).toEqual([
      `metrics ${expected} ${CONTENT_TYPE[expected]}`,
      `traces ${expected} ${CONTENT_TYPE[expected]}`,
    ]);
    // The bytes on the wire carry routecar's metric names, whatever the encoding.
    const metricBytes = Buffer.concat(
      receiver.received.filter((r) => r.signal === 'metrics').map((r) => r.body),
    );
    expect(metricBytes.includes('gen_ai.client.operation.duration')).toBe(true);
  });

  it('sends routecar’s metrics with service.name=routecar and the pod, namespace and node', async () => {
    const res = await chat(routecar);
    expect(res.headers.get('x-routecar-backend')).toBe('live');

    const point = await receiver.waitFor(() =>
      receiver
        .points()
        .find(
          (p) =>
            p.metric === 'routecar.requests' && p.attributes['routecar.backend'] === 'live' && p.value >= 1,
        ),
    );
    expect(point.attributes).toMatchObject({ 'routecar.route': 'chat', 'routecar.outcome': 'success' });
    expect(point.resource).toMatchObject({
      'service.name': 'routecar',
      'k8s.pod.name': 'shop-7d9f-x2k',
      'k8s.namespace.name': 'shop',
      'k8s.node.name': 'gpu-node-3',
      'cloud.availability_zone': 'us-east-1a',
    });
    const names = new Set(receiver.points().map((p) => p.metric));
    for (const name of [
      'gen_ai.client.operation.duration',
      'gen_ai.client.token.usage',
      'routecar.failovers',
      'routecar.breaker.state',
      'routecar.policy.info',
    ]) {
      expect(names, name).toContain(name);
    }
    const duration = receiver.points().find((p) => p.metric === 'gen_ai.client.operation.duration');
    expect(duration?.unit).toBe('s');
  });

  it('traces a failed-over request as one trace: two attempt spans under the request span, under the client’s span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const before = live.stats.requests;
    const res = await chat(routecar, { traceparent: `00-${traceId}-${clientSpan}-01` });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-routecar-attempts')).toBe('2');

    const spans = await receiver.waitFor(() => {
      const found = receiver.spans().filter((s) => s.traceId === traceId);
      return found.length >= 3 && found;
    });
    expect(spans).toHaveLength(3);
    const server = spans.filter((s) => s.kind === 2);
    expect(server).toHaveLength(1);
    const request = server[0]!;
    expect(request.parentSpanId).toBe(clientSpan);
    expect(request.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'chat',
      'routecar.backend': 'live',
      'routecar.attempts': 2,
      'routecar.policy.version': res.headers.get('x-routecar-policy-version'),
      'routecar.decision.reason': expect.any(String),
    });

    const attempts = spans
      .filter((s) => s.kind === 3)
      .sort((a, b) => Number(a.attributes['routecar.attempt']) - Number(b.attributes['routecar.attempt']));
    expect(
      attempts.map((a) => [
        a.parentSpanId,
        a.attributes['routecar.backend'],
        a.attributes['error.type'],
        a.statusCode,
      ]),
    ).toEqual([
      [request.spanId, 'dead', 'refused', 2],
      [request.spanId, 'live', undefined, 0],
    ]);
    expect(attempts[1]!.attributes).toMatchObject({
      'server.address': '127.0.0.1',
      'server.port': live.port,
      'gen_ai.response.model': 'model-live',
      'routecar.backend.zone': 'us-east-1b',
    });
    expect(attempts[0]!.attributes).not.toHaveProperty('routecar.backend.zone');
    expect(request.resource['cloud.availability_zone']).toBe('us-east-1a');

    // The backend that answered was handed the second attempt's span as its parent.
    expect(live.stats.requests).toBe(before + 1);
    expect(live.stats.lastRequest?.headers['traceparent']).toBe(`00-${traceId}-${attempts[1]!.spanId}-01`);
  });
});

describe('OTLP export, a protocol per signal', () => {
  let receiver: OtlpReceiver;
  let routecar: Routecar;

  beforeAll(async () => {
    ({ receiver, routecar } = await start(
      'per signal',
      (r) => ({
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: r.grpcUrl,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${r.url}/v1/traces`,
      }),
      {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      },
    ));
  }, 30_000);

  afterAll(async () => {
    await routecar?.stop();
    await receiver?.close();
  });

  it('sends metrics over OTEL_EXPORTER_OTLP_METRICS_PROTOCOL and spans over OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', async () => {
    await chat(routecar);
    await receiver.waitFor(() =>
      ['metrics', 'traces'].every((s) => receiver.received.some((r) => r.signal === s)),
    );
    expect(new Set(receiver.received.map((r) => `${r.signal} ${r.protocol}`))).toEqual(
      new Set(['metrics grpc', 'traces http/protobuf']),
    );
    expect(receiver.points().some((p) => p.metric === 'routecar.requests')).toBe(true);
    expect(receiver.spans().some((s) => s.kind === 2)).toBe(true);
  });
});
