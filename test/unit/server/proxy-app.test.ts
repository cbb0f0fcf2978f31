import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNKNOWN_HEALTH } from '../../../src/health/types.js';
import { parsePolicy } from '../../../src/policy/parse.js';
import type { RequestReport } from '../../../src/proxy/events.js';
import { ProxyPool } from '../../../src/proxy/pool.js';
import { createProxyListener } from '../../../src/server/proxy-app.js';

const POLICY = `version: 1
backends:
  a: { url: "http://127.0.0.1:9/v1", model: m, price: { input: 1, output: 1 } }
routes:
  chat: { backends: [a] }
`;

describe('proxy app: answers routecar gives itself are reported like forwarded ones', () => {
  const reports: RequestReport[] = [];
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    const parsed = parsePolicy(POLICY);
    if (!parsed.ok) throw new Error('test policy invalid');
    const app = createProxyListener({
      policy: () => parsed.policy,
      health: () => UNKNOWN_HEALTH,
      observer: { requestFinished: (r) => reports.push(r) },
      proxies: new ProxyPool(),
      gate: { admit: () => undefined, record: () => {} },
      maxBodyBytes: 100,
      random: () => 0.5,
      hosts: { listenHost: '127.0.0.1', allowedHosts: [] },
    });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });

  it.each([
    ['malformed JSON', '{nope', {}, 400, 'invalid_json'],
    ['a missing model', '{"messages":[]}', {}, 400, 'missing_model'],
    [
      'an invalid cost ceiling',
      '{"model":"chat"}',
      { 'x-routecar-max-cost': 'lots' },
      400,
      'invalid_max_cost',
    ],
    [
      'a body over the limit',
      JSON.stringify({ model: 'chat', pad: 'x'.repeat(200) }),
      {},
      413,
      'request_too_large',
    ],
  ])(
    '%s: status and code reach the observer, under route "unknown"',
    async (_name, body, headers, status, code) => {
      const before = reports.length;
      const res = await post(body, headers);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      const report = reports[before];
      expect(report).toMatchObject({ status, errorCode: code, route: 'unknown', attempts: 0 });
    },
  );

  it('an unknown route is reported with model_not_found (telemetry maps it to "unknown")', async () => {
    const before = reports.length;
    const res = await post('{"model":"gpt-9000"}');
    expect(res.status).toBe(404);
    expect(reports[before]).toMatchObject({ status: 404, errorCode: 'model_not_found', attempts: 0 });
  });

  it("answers routecar's own errors with the request id, the app's or a new one", async () => {
    const given = await post('{nope', { 'x-request-id': 'app-id-7' });
    expect(given.headers.get('x-request-id')).toBe('app-id-7');
    const fresh = await post('{"model":"gpt-9000"}');
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
