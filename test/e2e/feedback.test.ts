/**
 * POST /v1/feedback on the real routecar process: a served request's x-request-id takes a score
 * (204) and shows up in routecar_feedback_score on /metrics, attributed to its route, backend and
 * variant; unknown ids, malformed bodies and scores outside 0..1 are refused as specified.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);
let routecar: Routecar;

const feedback = (body: string): Promise<Response> =>
  fetch(`${routecar.baseURL}/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

describe('POST /v1/feedback', () => {
  beforeAll(async () => {
    const [a, b] = await Promise.all([startUpstream({ name: 'a' }), startUpstream({ name: 'b' })]);
    routecar = await startRoutecar({
      group: procs,
      policy: {
        version: 1,
        backends: {
          a: { url: a.baseURL, model: 'a', price: { input: 1, output: 1 } },
          b: { url: b.baseURL, model: 'b', price: { input: 1, output: 1 } },
        },
        routes: { chat: { backends: ['a', 'b'], split: { a: 50, b: 50 } } },
      },
    });
  }, 30_000);

  afterAll(async () => {
    await routecar?.stop();
  });

  it('204 for a served request id; the score is counted per route, backend and variant', async () => {
    const served = await fetch(`${routecar.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'fb-e2e-1' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(served.status).toBe(200);
    const backend = served.headers.get('x-routecar-backend');
    const res = await feedback(JSON.stringify({ request_id: 'fb-e2e-1', score: 0.8 }));
    expect(res.status).toBe(204);
    const metrics = await (await fetch(`${routecar.adminUrl}/metrics`)).text();
    const line = metrics
      .split('\n')
      .find(
        (l) => l.startsWith('routecar_feedback_score_sum{') && l.includes(`routecar_backend="${backend}"`),
      );
    expect(line).toMatch(/routecar_route="chat"/);
    expect(line).toMatch(/routecar_variant="(a|b)"/);
    expect(Number(line!.split(' ').at(-1))).toBeCloseTo(0.8);
  });

  it.for([
    {
      name: 'an unknown id',
      body: JSON.stringify({ request_id: 'never-seen', score: 1 }),
      status: 404,
      code: 'request_not_found',
    },
    { name: 'malformed JSON', body: '{"request_id":', status: 400, code: 'invalid_json' },
    {
      name: 'a score above 1',
      body: JSON.stringify({ request_id: 'fb-e2e-1', score: 2 }),
      status: 400,
      code: 'invalid_feedback',
    },
    {
      name: 'a negative score',
      body: JSON.stringify({ request_id: 'fb-e2e-1', score: -1 }),
      status: 400,
      code: 'invalid_feedback',
    },
    { name: 'no request_id', body: JSON.stringify({ score: 1 }), status: 400, code: 'invalid_feedback' },
  ])('$name → $status $code', async ({ body, status, code }) => {
    const res = await feedback(body);
    const text = await res.text();
    expect(res.status).toBe(status);
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe(code);
  });
});
