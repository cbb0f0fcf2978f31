/**
 * The app-facing listener refuses what an open proxy would act on: absolute-form request lines,
 * foreign Host and Origin headers, CONNECT, request-smuggling framing, and unknown paths. Each case
 * is sent as raw bytes on its own connection, and the fake model server must never see any of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { rawRequest, type RawExchange } from '../support/raw-http.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

let upstream: FakeUpstream;
let rc: Routecar;
let port: number;

const BODY = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });

beforeAll(async () => {
  upstream = await fakeUpstream({ name: 'model' });
  rc = await startRoutecar({
    group: procs,
    name: 'routecar-hardening',
    policy: {
      version: 1,
      backends: { model: { url: upstream.baseURL, model: 'real-model', price: { input: 0.1, output: 0.1 } } },
      routes: { chat: { backends: ['model'] } },
    },
    env: { ROUTECAR_ALLOWED_HOSTS: 'routecar.internal,.sidecar.example' },
  });
  port = Number(new URL(rc.url).port);
});

/** A complete POST of the chat body with the given request line target and extra header lines. */
function post(target: string, headers: readonly string[], body = BODY): string {
  return [
    `POST ${target} HTTP/1.1`,
    ...headers,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

function errorOf(ex: RawExchange): { code?: string; type?: string; message?: string } {
  return (JSON.parse(ex.body) as { error: { code?: string; type?: string; message?: string } }).error;
}

/** Runs `send` and asserts the fake model server received nothing because of it. */
async function unseen(send: () => Promise<RawExchange>): Promise<RawExchange> {
  const before = upstream.stats.requests;
  const ex = await send();
  // Give a wrongly forwarded request time to arrive before concluding it did not.
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(upstream.stats.requests, 'the request reached the model server').toBe(before);
  return ex;
}

describe('controls: well-formed requests are served', () => {
  it.each([
    ['localhost with port', 'Host: localhost:4100'],
    ['127.0.0.1', 'Host: 127.0.0.1'],
    ['[::1] with port', 'Host: [::1]:4100'],
    ['a name from ROUTECAR_ALLOWED_HOSTS', 'Host: routecar.internal:4100'],
    ['a subdomain of a .suffix entry', 'Host: app.sidecar.example'],
    ['an allowed Origin', 'Host: localhost\r\nOrigin: http://localhost:3000'],
  ])('%s → 200', async (_name, header) => {
    const ex = await rawRequest(port, post('/v1/chat/completions', [header, 'Connection: close']));
    expect(ex.status, ex.text).toBe(200);
    expect(ex.headers['x-routecar-backend']).toBe('model');
  });
});

describe('not an open proxy', () => {
  it('refuses an absolute-form request line with 400, whatever the Host says', async () => {
    for (const host of ['evil.example', 'localhost']) {
      const ex = await unseen(() =>
        rawRequest(port, post('http://evil.example/v1/chat/completions', [`Host: ${host}`])),
      );
      expect(ex.status, ex.text).toBe(400);
      expect(errorOf(ex)).toMatchObject({ code: 'invalid_request_target', type: 'invalid_request_error' });
      expect(ex.headers.connection).toBe('close');
      expect(ex.end).toBe('closed');
    }
  });

  it('refuses the asterisk form (OPTIONS *) with 400', async () => {
    const ex = await unseen(() => rawRequest(port, 'OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    expect(ex.status, ex.text).toBe(400);
    expect(errorOf(ex).code).toBe('invalid_request_target');
  });

  it('refuses CONNECT with 405 and closes the connection', async () => {
    const ex = await unseen(() =>
      rawRequest(port, 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n'),
    );
    expect(ex.status, ex.text).toBe(405);
    expect(errorOf(ex).code).toBe('method_not_allowed');
    expect(ex.end).toBe('closed');
  });

  it.each([
    ['GET /', 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['the admin API on the app port', 'GET /admin/state HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['metrics on the app port', 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['an OpenAI endpoint routecar does not serve', post('/v1/files', ['Host: localhost'])],
    ['a path that names another host', post('//evil.example/v1/chat/completions', ['Host: localhost'])],
    ['a traversal out of /v1', post('/v1/../internal/chat/completions', ['Host: localhost'])],
  ])('answers %s with 404 unknown_endpoint', async (_name, raw) => {
    const ex = await unseen(() =>
      rawRequest(port, raw.replace('Host: localhost', 'Host: localhost\r\nConnection: close')),
    );
    expect(ex.status, ex.text).toBe(404);
    expect(errorOf(ex)).toMatchObject({ code: 'unknown_endpoint', type: 'not_found_error' });
  });
});

describe('Host and Origin (DNS rebinding)', () => {
  it.each([
    ['a foreign name', 'evil.example'],
    ['a foreign name with the listener port', 'evil.example:4100'],
    ['a rebinding name that starts like a loopback address', '127.0.0.1.rebind.example'],
    ['a name that merely ends like an allowed suffix', 'evilsidecar.example'],
    ['a foreign address', '10.11.12.13'],
  ])('refuses %s with 421 host_not_allowed', async (_name, host) => {
    const ex = await unseen(() => rawRequest(port, post('/v1/chat/completions', [`Host: ${host}`])));
    expect(ex.status, ex.text).toBe(421);
    expect(errorOf(ex)).toMatchObject({ code: 'host_not_allowed', type: 'invalid_request_error' });
    expect(ex.headers['content-type']).toMatch(/application\/json/);
    expect(ex.end).toBe('closed');
  });

  it('refuses two Host headers with 400', async () => {
    const ex = await unseen(() =>
      rawRequest(port, post('/v1/chat/completions', ['Host: localhost', 'Host: evil.example'])),
    );
    expect(ex.status, ex.text).toBe(400);
    expect(errorOf(ex).code).toBe('invalid_host');
  });

  it.each([['http://evil.example'], ['null'], ['http://127.0.0.1.rebind.example:4100']])(
    'refuses a browser request from Origin %s with 403',
    async (origin) => {
      const ex = await unseen(() =>
        rawRequest(port, post('/v1/chat/completions', ['Host: localhost', `Origin: ${origin}`])),
      );
      expect(ex.status, ex.text).toBe(403);
      expect(errorOf(ex)).toMatchObject({ code: 'origin_not_allowed', type: 'permission_error' });
    },
  );
});

describe('request smuggling shapes', () => {
  // Each body hides a second request; if routecar read the framing the lenient way, the hidden one
  // would be answered too (a second status line) or forwarded (the model server would see it).
  const hidden = 'GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n';
  it.each([
    [
      'Content-Length and Transfer-Encoding',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
    ],
    [
      'Transfer-Encoding and Content-Length',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\n${hidden}`,
    ],
    [
      'a duplicated Content-Length',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}${hidden}`,
    ],
    [
      'conflicting Content-Lengths',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 60\r\n\r\n{}${hidden}`,
    ],
    [
      'a Content-Length list',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2, 2\r\n\r\n{}${hidden}`,
    ],
    [
      'a Transfer-Encoding that does not end in chunked',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${hidden}`,
    ],
    [
      'an obfuscated Transfer-Encoding',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${hidden}`,
    ],
    [
      'an obs-folded header',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nX-Long: a\r\n b\r\n\r\n{}${hidden}`,
    ],
  ])('refuses %s with 400 and closes the connection', async (_name, raw) => {
    const ex = await unseen(() => rawRequest(port, raw));
    expect(ex.status, ex.text).toBe(400);
    expect(ex.statuses, 'a hidden second request was answered').toEqual([400]);
    expect(errorOf(ex)).toMatchObject({ code: 'malformed_request', type: 'invalid_request_error' });
    expect(ex.headers.connection).toBe('close');
    expect(ex.end).toBe('closed');
  });
});

describe('after all of that', () => {
  it('still serves the app', async () => {
    const res = await fetch(`${rc.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-routecar-backend')).toBe('model');
    await res.text();
  });
});
