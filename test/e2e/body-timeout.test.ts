/**
 * ROUTECAR_BODY_TIMEOUT_MS reaches the real process: a body that never finishes is answered 408
 * at the deadline and the connection is closed, instead of being held until Node's 300 s default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProcesses } from '../support/processes.js';
import { rawRequest } from '../support/raw-http.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
let rc: Routecar;

beforeAll(async () => {
  rc = await startRoutecar({
    group: procs,
    name: 'routecar-body-timeout',
    env: { ROUTECAR_BODY_TIMEOUT_MS: '300' },
    policy: {
      version: 1,
      backends: { a: { url: 'http://127.0.0.1:9/v1', model: 'm', price: { input: 1, output: 1 } } },
      routes: { chat: { backends: ['a'] } },
    },
  });
});
afterAll(() => rc?.stop());

describe('ROUTECAR_BODY_TIMEOUT_MS', () => {
  it('answers 408 request_timeout at the deadline and closes the connection', async () => {
    const port = Number(new URL(rc.url).port);
    const started = Date.now();
    const res = await rawRequest(
      port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":',
      { timeoutMs: 10_000 },
    );
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'request_timeout' } });
    expect(res.end).toBe('closed');
    // Well before the 10 s guard: the 300 ms deadline, not Node's own, ended it.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
