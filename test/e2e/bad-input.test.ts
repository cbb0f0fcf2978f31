/**
 * What routecar answers to requests it cannot serve: each is an OpenAI-shaped error with the
 * status and code DESIGN.md promises, and routecar keeps serving afterwards.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { getFreePort } from '../support/ports.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);

const MAX_BODY_BYTES = 1_000;

let upstream: FakeUpstream;
let routecar: Routecar;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream({ name: 'healthy' });
  // Two ports nothing listens on: backends that are down.
  const [deadA, deadB] = await Promise.all([getFreePort(), getFreePort()]);
  const down = (port: number): object => ({
    url: `http://127.0.0.1:${port}/v1`,
    model: 'nobody-home',
    price: { input: 0.1, output: 0.1 },
    timeouts: { connectMs: 500, firstByteMs: 2_000, idleMs: 2_000 },
  });
  routecar = await startRoutecar({
    group: procs,
    env: { ROUTECAR_MAX_BODY_BYTES: String(MAX_BODY_BYTES) },
    policy: {
      version: 1,
      backends: {
        healthy: { url: upstream.baseURL, model: 'healthy-model', price: { input: 0.1, output: 0.1 } },
        'down-a': down(deadA!),
        'down-b': down(deadB!),
      },
      routes: {
        chat: { backends: ['healthy'] },
        'all-down': { backends: ['down-a', 'down-b'], failover: { maxAttempts: 3 } },
      },
      // Two failed attempts open a breaker, for as long as this file runs.
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeoutMs: 60_000 },
      window: { sizeMs: 10_000, buckets: 10 },
    },
  });
  client = new OpenAI({ baseURL: routecar.baseURL, apiKey: 'test', maxRetries: 0 });
});

afterAll(async () => {
  await routecar?.stop();
  await upstream?.close();
});

interface OpenAiErrorBody {
  error: { message: string; type: string; code: string | null };
}

/** POSTs raw bytes to routecar. */
function post(
  path: string,
  body: RequestInit['body'],
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${routecar.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

/** Asserts the OpenAI error envelope, the status and the code; returns the error. */
async function expectError(res: Response, status: number, code: string): Promise<OpenAiErrorBody['error']> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as OpenAiErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe('string');
  expect(body.error.code).toBe(code);
  return body.error;
}

const GOOD = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });

describe('requests routecar refuses', () => {
  it('malformed JSON → 400 invalid_json', async () => {
    const err = await expectError(
      await post('/v1/chat/completions', '{"model": "chat", "messages": ['),
      400,
      'invalid_json',
    );
    expect(err.type).toBe('invalid_request_error');
    // A JSON value that is not an object is refused the same way.
    await expectError(await post('/v1/chat/completions', '["chat"]'), 400, 'invalid_json');
  });

  it('a body without a model → 400', async () => {
    const res = await post(
      '/v1/chat/completions',
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
    );
    const err = await expectError(res, 400, 'missing_model');
    expect(err.type).toBe('invalid_request_error');
    expect(err.message).toMatch(/model/);
  });

  it('an unknown model → 404 model_not_found, a NotFoundError in the openai client', async () => {
    const err = await expectError(
      await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-17', messages: [] })),
      404,
      'model_not_found',
    );
    expect(err.message).toContain('gpt-17');

    const thrown = await client.chat.completions
      .create({ model: 'gpt-17', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((thrown as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
  });

  it(`a body over ROUTECAR_MAX_BODY_BYTES (${MAX_BODY_BYTES}) → 413, declared or streamed`, async () => {
    const big = JSON.stringify({
      model: 'chat',
      messages: [{ role: 'user', content: 'x'.repeat(2 * MAX_BODY_BYTES) }],
    });
    await expectError(await post('/v1/chat/completions', big), 413, 'request_too_large');

    // Without a content-length (chunked), the limit is enforced while reading.
    const bytes = new TextEncoder().encode(big);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 256) controller.enqueue(bytes.subarray(i, i + 256));
        controller.close();
      },
    });
    const res = await fetch(`${routecar.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    await expectError(res, 413, 'request_too_large');

    // Just under the limit is fine, and is what reached the upstream.
    expect(Buffer.byteLength(GOOD)).toBeLessThan(MAX_BODY_BYTES);
    expect((await post('/v1/chat/completions', GOOD)).status).toBe(200);
  });

  it('an invalid x-routecar-max-cost → 400', async () => {
    for (const value of ['cheap', '-1', 'NaN']) {
      const err = await expectError(
        await post('/v1/chat/completions', GOOD, { 'x-routecar-max-cost': value }),
        400,
        'invalid_max_cost',
      );
      expect(err.type).toBe('invalid_request_error');
    }
  });

  it('an unknown path → 404', async () => {
    await expectError(
      await fetch(`${routecar.url}/v1/images/generations`, { method: 'POST', body: '{}' }),
      404,
      'unknown_endpoint',
    );
    await expectError(await fetch(`${routecar.url}/admin/state`), 404, 'unknown_endpoint');
    await expectError(await fetch(`${routecar.url}/v1/chat/completions`), 404, 'unknown_endpoint');
  });

  it('every backend down → 502 naming every attempt, then 503 no_healthy_backend once their breakers opened', async () => {
    const body = JSON.stringify({ model: 'all-down', messages: [{ role: 'user', content: 'hi' }] });
    const first = await post('/v1/chat/completions', body);
    expect(first.headers.get('x-routecar-attempts')).toBe('2');
    const err = await expectError(first, 502, 'upstream_unavailable');
    expect(err.type).toBe('server_error');
    expect(err.message).toContain('down-a');
    expect(err.message).toContain('down-b');
    expect(err.message).toMatch(/refused/);

    // Each failed attempt counts against its backend's breaker (volumeThreshold 2).
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await post('/v1/chat/completions', body);
      if (last.status === 503) break;
      await last.text();
    }
    const refused = await expectError(last!, 503, 'no_healthy_backend');
    expect(refused.message).toMatch(/down-a breaker_open/);
    expect(refused.message).toMatch(/down-b breaker_open/);
  });

  it('keeps serving afterwards', async () => {
    const before = upstream.stats.completed;
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'still there?' }] })
      .withResponse();
    expect(response.status).toBe(200);
    expect(data.model).toBe('healthy-model');
    expect(upstream.stats.completed).toBe(before + 1);
    expect(routecar.child.exitInfo).toBeUndefined();
    expect((await fetch(`${routecar.adminUrl}/readyz`)).status).toBe(200);
  });
});
