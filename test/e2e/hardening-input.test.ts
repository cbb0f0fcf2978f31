/**
 * Request bodies and names crafted to get past routecar's checks or to crash it: cost-ceiling
 * bypasses in the output limits, model names that cannot go into a header, JSON nested deep
 * enough to overflow the stack, a body that never finishes. Each gets an OpenAI-shaped 4xx, and
 * routecar keeps serving.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNKNOWN_HEALTH } from '../../src/health/types.js';
import { MAX_JSON_DEPTH } from '../../src/ingress/json-depth.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { ProxyPool } from '../../src/proxy/pool.js';
import { createProxyListener } from '../../src/server/proxy-app.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { rawRequest } from '../support/raw-http.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

let upstream: FakeUpstream;
let rc: Routecar;

beforeAll(async () => {
  upstream = await fakeUpstream({ name: 'model' });
  rc = await startRoutecar({
    group: procs,
    name: 'routecar-hardening-input',
    policy: {
      version: 1,
      // $1 per 1M tokens either way: the $0.01 ceiling is about 10,000 tokens.
      backends: { model: { url: upstream.baseURL, model: 'real-model', price: { input: 1, output: 1 } } },
      routes: { chat: { backends: ['model'], maxCostUsd: 0.01 } },
    },
  });
});

interface ErrorBody {
  error: { message: string; type: string; code: string | null; param?: string | null };
}

function post(body: string, headers: Record<string, string> = {}, path = '/v1/chat/completions') {
  return fetch(`${rc.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

async function expectError(res: Response, status: number, code: string): Promise<ErrorBody['error']> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  return body.error;
}

const MESSAGES = [{ role: 'user', content: 'hi' }];

describe('the cost ceiling counts every output limit and every completion', () => {
  it('within the ceiling: served', async () => {
    const res = await post(JSON.stringify({ model: 'chat', messages: MESSAGES, max_tokens: 1000 }));
    expect(res.status, await res.text()).toBe(200);
  });

  /** Every output limit the backend received, times the completions, fits the $0.01 (10,000-token) ceiling. */
  function expectLimitsFit(): void {
    const body = upstream.stats.lastRequest?.body as Record<string, unknown>;
    const choices = Math.max(1, Number(body.n ?? 1), Number(body.best_of ?? 1));
    const limits = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'].filter((f) => f in body);
    expect(limits.length).toBeGreaterThan(0);
    for (const f of limits) expect(Number(body[f]) * choices).toBeLessThanOrEqual(10_000);
  }

  it.each([
    [
      'a zero max_completion_tokens next to max_tokens 100000',
      { max_completion_tokens: 0, max_tokens: 100_000 },
    ],
    ['n = 50 at 1000 tokens each', { max_tokens: 1000, n: 50 }],
    ['n = 100 with no limit', { n: 100 }],
  ])('%s: every limit the backend receives fits the ceiling', async (_name, fields) => {
    const res = await post(JSON.stringify({ model: 'chat', messages: MESSAGES, ...fields }));
    expect(res.status, await res.text()).toBe(200);
    expectLimitsFit();
  });

  it.each([
    ['a string max_tokens', '"max_tokens":"100000"', 'max_tokens'],
    ['an infinite max_tokens (1e999)', '"max_tokens":1e999', 'max_tokens'],
    ['a negative max_completion_tokens', '"max_completion_tokens":-5', 'max_completion_tokens'],
    ['a fractional n', '"n":2.5', 'n'],
    ['a zero n', '"n":0', 'n'],
  ])('%s: 400 naming the field', async (_name, fields, param) => {
    const err = await expectError(
      await post(`{"model":"chat","messages":[{"role":"user","content":"hi"}],${fields}}`),
      400,
      'invalid_value',
    );
    expect(err.type).toBe('invalid_request_error');
    expect(err.param).toBe(param);
    expect(err.message).toContain(`"${param}"`);
  });

  it('completions: best_of counts, max_output_tokens on responses counts', async () => {
    const completion = await post(
      JSON.stringify({ model: 'chat', prompt: 'hi', max_tokens: 1000, best_of: 20 }),
      {},
      '/v1/completions',
    );
    expect(completion.status, await completion.text()).toBe(200);
    expectLimitsFit();
    const response = await post(
      JSON.stringify({ model: 'chat', input: 'hi', max_output_tokens: 100_000 }),
      {},
      '/v1/responses',
    );
    expect(response.status, await response.text()).toBe(200);
    expectLimitsFit();
  });
});

describe('unknown model names never reach a header', () => {
  it.each([
    ['CR/LF', 'chat\r\nx-injected: 1'],
    ['non-Latin-1 characters', 'модель-💬'],
    ['100,000 characters', 'm'.repeat(100_000)],
  ])('named with %s: 404 model_not_found, a bounded message, no x-routecar-route', async (_name, model) => {
    const res = await post(JSON.stringify({ model, messages: MESSAGES }));
    expect(res.headers.get('x-routecar-route')).toBeNull();
    expect(res.headers.get('x-injected')).toBeNull();
    expect(res.headers.get('x-routecar-policy-version')).toBeTruthy();
    const err = await expectError(res, 404, 'model_not_found');
    expect(err.type).toBe('not_found_error');
    expect(err.message.length).toBeLessThan(500);
    expect(err.message).not.toMatch(/[\r\n]/);
    expect(err.message).toContain(JSON.stringify(model.slice(0, 20)).slice(0, -1));
  });

  it('a known route that refuses still names itself', async () => {
    // 50,000 characters of prompt: about $0.0125 at $1/M tokens, over the $0.01 ceiling on its own.
    const messages = [{ role: 'user', content: 'x'.repeat(50_000) }];
    const res = await post(JSON.stringify({ model: 'chat', messages }));
    expect(res.headers.get('x-routecar-route')).toBe('chat');
    await expectError(res, 400, 'over_budget');
  });

  it('a model that is not a string: 400', async () => {
    for (const model of ['7', '{"name":"chat"}', '["chat"]', 'true']) {
      const err = await expectError(await post(`{"model":${model}}`), 400, 'invalid_value');
      expect(err.param).toBe('model');
    }
  });
});

describe(`JSON nested past ${MAX_JSON_DEPTH} levels`, () => {
  it.each([
    ['arrays', (d: number) => `${'['.repeat(d)}${']'.repeat(d)}`],
    ['objects', (d: number) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`],
    ['chat content parts', (d: number) => `${'[{"content":'.repeat(d)}"x"${'}]'.repeat(d)}`],
  ])('%s, 10,000 deep: 400 json_too_deep, and routecar keeps serving', async (_name, nest) => {
    const err = await expectError(
      await post(`{"model":"chat","messages":${nest(10_000)}}`),
      400,
      'json_too_deep',
    );
    expect(err.message).toContain(String(MAX_JSON_DEPTH));
    const ok = await post(JSON.stringify({ model: 'chat', messages: MESSAGES }));
    expect(ok.status, await ok.text()).toBe(200);
  });
});

describe('what the backend receives', () => {
  it('content-type application/json, whatever the app sent', async () => {
    const res = await post(JSON.stringify({ model: 'chat', messages: MESSAGES }), {
      'content-type': 'text/plain',
    });
    expect(res.status, await res.text()).toBe(200);
    expect(upstream.stats.lastRequest?.headers['content-type']).toBe('application/json');
  });
});

describe('a request body that never finishes (in-process listener, real socket)', () => {
  const TIMEOUT_MS = 300;
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    const parsed = parsePolicy(
      'version: 1\nbackends:\n  a: { url: "http://127.0.0.1:9/v1", model: m, price: { input: 1, output: 1 } }\nroutes:\n  chat: { backends: [a] }\n',
    );
    if (!parsed.ok) throw new Error('test policy invalid');
    server = http.createServer(
      createProxyListener({
        policy: () => parsed.policy,
        health: () => UNKNOWN_HEALTH,
        observer: {},
        proxies: new ProxyPool(),
        gate: { admit: () => undefined, record: () => {} },
        maxBodyBytes: 1_000_000,
        bodyTimeoutMs: TIMEOUT_MS,
        random: () => 0.5,
        hosts: { listenHost: '127.0.0.1', allowedHosts: [] },
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('is answered 408 request_timeout at the deadline, and the connection is closed', async () => {
    const started = Date.now();
    const ex = await rawRequest(
      port,
      [
        'POST /v1/chat/completions HTTP/1.1',
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        'Content-Length: 1000',
        '',
        '{"model":"chat","messages":[',
      ].join('\r\n'),
      { timeoutMs: 10_000 },
    );
    const elapsed = Date.now() - started;
    expect(ex.status).toBe(408);
    expect(ex.headers['connection']).toBe('close');
    expect(ex.end).toBe('closed');
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(8_000);
    const body = JSON.parse(ex.body) as ErrorBody;
    expect(body.error).toMatchObject({ code: 'request_timeout', type: 'invalid_request_error' });
  });
});
