import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedbackHandler, type FeedbackEvent } from '../../../src/feedback/feedback.js';
import { RequestMemory } from '../../../src/feedback/memory.js';
import { FeedbackMetrics } from '../../../src/telemetry/feedback-metrics.js';
import { resourceFromAttributes } from '@opentelemetry/resources';

const memory = new RequestMemory({ ttlMs: 60_000 });
const events: FeedbackEvent[] = [];
let clock = 1_000_000;
let server: http.Server;
let url = '';

beforeAll(async () => {
  memory.remember('req-1', 'chat', 'llama', 'canary', clock);
  server = http.createServer(
    feedbackHandler({ memory, onFeedback: (e) => events.push(e), now: () => clock }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/feedback`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const post = (body: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

describe('POST /v1/feedback', () => {
  it('204 for a remembered request, attributed to its route, backend and variant', async () => {
    const res = await post(JSON.stringify({ request_id: 'req-1', score: 0.75 }));
    expect(res.status).toBe(204);
    expect(events.at(-1)).toEqual({
      requestId: 'req-1',
      route: 'chat',
      backend: 'llama',
      variant: 'canary',
      score: 0.75,
    });
  });

  it.each([
    ['malformed JSON', '{"request_id":', 400, 'invalid_json'],
    ['not an object', '[1]', 400, 'invalid_feedback'],
    ['no request_id', '{"score": 1}', 400, 'invalid_feedback'],
    ['score above 1', '{"request_id": "req-1", "score": 1.5}', 400, 'invalid_feedback'],
    ['score below 0', '{"request_id": "req-1", "score": -0.1}', 400, 'invalid_feedback'],
    ['score not a number', '{"request_id": "req-1", "score": "1"}', 400, 'invalid_feedback'],
    ['unknown id', '{"request_id": "nope", "score": 1}', 404, 'request_not_found'],
    [
      'a body over 4 KiB',
      JSON.stringify({ request_id: 'x'.repeat(5000), score: 1 }),
      413,
      'request_too_large',
    ],
  ])('%s → %i %s', async (_name, body, status, code) => {
    const before = events.length;
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    expect(events.length).toBe(before);
  });

  it('404 once the id has expired', async () => {
    clock += 60_001;
    const res = await post(JSON.stringify({ request_id: 'req-1', score: 1 }));
    expect(res.status).toBe(404);
  });
});

describe('FeedbackMetrics', () => {
  it('exports routecar.feedback.score per route, backend and variant', async () => {
    const m = new FeedbackMetrics(resourceFromAttributes({}), () => 0);
    m.record({ requestId: 'a', route: 'chat', backend: 'b1', variant: 'v', score: 1 });
    m.record({ requestId: 'b', route: 'chat', backend: 'b1', variant: 'v', score: 0.5 });
    const { resourceMetrics } = await m.collect();
    const metric = resourceMetrics.scopeMetrics[0]!.metrics[0]!;
    expect(metric.descriptor.name).toBe('routecar.feedback.score');
    const point = metric.dataPoints[0] as {
      attributes: Record<string, string>;
      value: { count: number; sum: number };
    };
    expect(point.attributes).toEqual({
      'routecar.route': 'chat',
      'routecar.backend': 'b1',
      'routecar.variant': 'v',
    });
    expect(point.value).toMatchObject({ count: 2, sum: 1.5 });
  });
});
