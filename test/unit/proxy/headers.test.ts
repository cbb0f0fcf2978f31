import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { APP_CREDENTIAL_HEADERS } from '../../../src/ingress/extract.js';
import { backendAuth, upstreamHeadersFor, upstreamRequestHeaders } from '../../../src/proxy/headers.js';

/** What an app using every credential scheme at once could send. */
const APP: IncomingHttpHeaders = {
  host: 'localhost:4100',
  'content-type': 'text/plain; charset=latin1',
  'content-length': '42',
  'content-encoding': 'identity',
  expect: '100-continue',
  connection: 'keep-alive, x-hop',
  'x-hop': 'dropped: named in Connection',
  'keep-alive': 'timeout=5',
  authorization: 'Bearer app-key',
  'proxy-authorization': 'Basic cHJveHk6a2V5',
  'api-key': 'azure-style-app-key',
  'x-api-key': 'anthropic-style-app-key',
  cookie: 'session=app',
  'x-routecar-backend': 'b',
  'x-routecar-max-cost': '0.01',
  'x-tenant-id': 'acme',
  'x-request-id': 'from-app',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  'user-agent': 'OpenAI/Python 1.0',
};

const shared = upstreamRequestHeaders(APP, 'req-1');

describe('upstreamRequestHeaders: what every attempt starts from', () => {
  it('sends content-type application/json whatever the app sent: the body is re-serialised JSON', () => {
    expect(shared['content-type']).toBe('application/json');
    expect(upstreamRequestHeaders({}, 'r')['content-type']).toBe('application/json');
  });

  it('drops what no longer describes the body it goes with (length, encoding, expect)', () => {
    expect(shared).not.toHaveProperty('content-length');
    expect(shared).not.toHaveProperty('content-encoding');
    expect(shared).not.toHaveProperty('expect');
  });

  it("drops hop-by-hop headers, those named in Connection, the Host and routecar's own", () => {
    for (const name of ['host', 'connection', 'keep-alive', 'x-hop', 'proxy-authorization']) {
      expect(shared).not.toHaveProperty(name);
    }
    expect(Object.keys(shared).filter((n) => n.startsWith('x-routecar-'))).toEqual([]);
    expect(shared['x-request-id']).toBe('req-1');
  });

  it('keeps the rest as sent', () => {
    expect(shared).toMatchObject({
      'x-tenant-id': 'acme',
      traceparent: APP.traceparent,
      'user-agent': 'OpenAI/Python 1.0',
    });
  });
});

describe('upstreamHeadersFor: the app credentials a backend receives', () => {
  it('a backend with its own key (apiKeyEnv) gets that key and no app credential of any shape', () => {
    const out = upstreamHeadersFor(shared, backendAuth({ apiKeyEnv: 'K' }, { K: 'backend-key' }));
    expect(out.authorization).toBe('Bearer backend-key');
    for (const name of ['proxy-authorization', 'api-key', 'x-api-key', 'cookie']) {
      expect(out).not.toHaveProperty(name);
    }
    expect(JSON.stringify(out)).not.toMatch(/app-key|session=app/);
    expect(out).toMatchObject({
      'content-type': 'application/json',
      'x-tenant-id': 'acme',
      'x-request-id': 'req-1',
    });
  });

  it('a backend whose apiKeyEnv is unset or empty still gets no app credential, and no authorization', () => {
    for (const env of [{}, { K: '' }]) {
      const out = upstreamHeadersFor(shared, backendAuth({ apiKeyEnv: 'K' }, env));
      for (const name of APP_CREDENTIAL_HEADERS) expect(out).not.toHaveProperty(name);
    }
  });

  it('a backend without apiKeyEnv gets the app credentials as sent (pass-through), proxy-authorization excepted', () => {
    const out = upstreamHeadersFor(shared, backendAuth({ apiKeyEnv: undefined }, { K: 'unused' }));
    expect(out).toMatchObject({
      authorization: 'Bearer app-key',
      'api-key': 'azure-style-app-key',
      'x-api-key': 'anthropic-style-app-key',
      cookie: 'session=app',
    });
    expect(out).not.toHaveProperty('proxy-authorization');
  });

  it('leaves the shared headers alone, so a failover to a pass-through backend still has them', () => {
    const copy = { ...shared };
    upstreamHeadersFor(shared, backendAuth({ apiKeyEnv: 'K' }, { K: 'backend-key' }));
    expect(shared).toEqual(copy);
  });

  it('credential names match whatever the case (Node lower-cases them, but a hand-built object may not)', () => {
    const out = upstreamHeadersFor(
      { 'X-Api-Key': 'app', Authorization: 'Bearer app' },
      backendAuth({ apiKeyEnv: 'K' }, { K: 'backend-key' }),
    );
    expect(out).toEqual({ authorization: 'Bearer backend-key' });
  });
});

describe('upstreamHeadersFor: the auth shape, static headers of a backend', () => {
  const table: Array<
    [string, { header: 'authorization' | 'api-key' | 'x-api-key'; scheme: 'Bearer' | 'none' }, string, string]
  > = [
    ['OpenAI, vLLM', { header: 'authorization', scheme: 'Bearer' }, 'authorization', 'Bearer backend-key'],
    ['Azure OpenAI', { header: 'api-key', scheme: 'none' }, 'api-key', 'backend-key'],
    ['Anthropic', { header: 'x-api-key', scheme: 'none' }, 'x-api-key', 'backend-key'],
    [
      'a gateway wanting a bearer in x-api-key',
      { header: 'x-api-key', scheme: 'Bearer' },
      'x-api-key',
      'Bearer backend-key',
    ],
  ];
  it.each(table)('%s: the key goes in %j, and no other credential', (_name, auth, header, value) => {
    const out = upstreamHeadersFor(shared, backendAuth({ apiKeyEnv: 'K', auth }, { K: 'backend-key' }));
    expect(out[header]).toBe(value);
    for (const name of APP_CREDENTIAL_HEADERS) if (name !== header) expect(out).not.toHaveProperty(name);
  });

  it('static headers go on every request, over the app’s, with or without a key of its own', () => {
    const headers = { 'anthropic-version': '2023-06-01', 'x-tenant-id': 'routecar' };
    for (const apiKeyEnv of ['K', undefined]) {
      const out = upstreamHeadersFor(shared, backendAuth({ apiKeyEnv, headers }, { K: 'backend-key' }));
      expect(out).toMatchObject({ 'anthropic-version': '2023-06-01', 'x-tenant-id': 'routecar' });
    }
    // Pass-through credentials stay when the backend has no key of its own.
    const passThrough = upstreamHeadersFor(shared, backendAuth({ apiKeyEnv: undefined, headers }, {}));
    expect(passThrough.authorization).toBe('Bearer app-key');
    expect(shared['anthropic-version']).toBeUndefined();
  });
});
