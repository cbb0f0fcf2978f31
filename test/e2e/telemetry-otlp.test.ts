/**
 * routecar pushing OTLP/HTTP (JSON) to a receiver in the test: its metrics, with the resource
 * attributes a Kubernetes downward API would fill, and the trace of a request that failed over.
 * The route's first backend is a port nobody listens on, so every request fails over once.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { getFreePort } from '../support/ports.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);

let receiver: OtlpReceiver;
let live: FakeUpstream;
let routecar: Routecar;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  live = await startUpstream({ name: 'live' });
  const deadPort = await getFreePort();
  routecar = await startRoutecar({
    group: procs,
    name: 'routecar (otlp)',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      K8S_POD_NAME: 'shop-7d9f-x2k',
      K8S_NAMESPACE_NAME: 'shop',
      K8S_NODE_NAME: 'gpu-node-3',
    },
    policy: {
      version: 1,
      backends: {
        dead: { url: `http://127.0.0.1:${deadPort}/v1`, model: 'model-dead', price: { input: 1, output: 1 } },
        live: { url: live.baseURL, model: 'model-live', price: { input: 1, output: 1 } },
      },
      routes: { chat: { backends: ['dead', 'live'], split: { dead: 1 }, failover: { maxAttempts: 2 } } },
      // Keep the dead backend's breaker closed, so every request really tries it first.
      breaker: { errorThresholdPercentage: 100, volumeThreshold: 1000, resetTimeoutMs: 60_000 },
    },
  });
}, 30_000);

afterAll(async () => {
  await routecar?.stop();
  await receiver?.close();
});

async function chat(headers: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(`${routecar.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hello' }] }),
  });
  await res.arrayBuffer();
  return res;
}

describe('OTLP/HTTP export', () => {
  it('sends routecar’s metrics with service.name=routecar and the pod, namespace and node', async () => {
    const res = await chat();
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
    const res = await chat({ traceparent: `00-${traceId}-${clientSpan}-01` });
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
    });

    // The backend that answered was handed the second attempt's span as its parent.
    expect(live.stats.requests).toBe(before + 1);
    expect(live.stats.lastRequest?.headers['traceparent']).toBe(`00-${traceId}-${attempts[1]!.spanId}-01`);
  });
});
