/**
 * Failover as a table: backend behaviour × the moment it fails → the attempts made and what the
 * app sees. Runs the real request path in-process against raw-socket upstreams (RST, FIN,
 * silence, statuses), so every way an attempt can end is covered before and after the head.
 * Every request must end: a client that is still waiting after HUNG_MS is a failure.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessRoutecar } from '../support/in-process.js';
import {
  BIG_CHUNKS,
  startScriptedUpstream,
  type Script,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';

/** A response that has not ended by then is a hang (the timers below are 400 ms). */
const HUNG_MS = 8_000;
const TIMEOUTS = '{ connectMs: 400, firstByteMs: 400, idleMs: 400 }';

interface ClientResult {
  readonly status: number | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** How the response failed on the client, if it did ('aborted', 'ECONNRESET', ...). */
  readonly error: string | undefined;
  readonly hung: boolean;
}

interface ClientOptions {
  readonly stream?: boolean;
  /** Destroy the request once the first body chunk arrived. */
  readonly abortAfterFirstChunk?: boolean;
  /** Read nothing for this long after the head, then read everything. */
  readonly pauseMs?: number;
}

function call(base: string, options: ClientOptions = {}): Promise<ClientResult> {
  return new Promise((resolve) => {
    let status: number | undefined;
    let headers: http.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (error: string | undefined, hung = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      resolve({ status, headers, body: Buffer.concat(chunks).toString(), error, hung });
    };
    const req = http.request(
      `${base}/v1/chat/completions`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false },
      (res) => {
        status = res.statusCode;
        headers = res.headers;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          if (options.abortAfterFirstChunk) {
            req.destroy();
            done('client aborted');
          }
        });
        res.on('end', () => done(undefined));
        res.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
        if (options.pauseMs !== undefined) {
          res.pause();
          setTimeout(() => res.resume(), options.pauseMs);
        }
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    const guard = setTimeout(() => {
      req.destroy();
      done(undefined, true);
    }, HUNG_MS);
    req.end(
      JSON.stringify({
        model: 'chat',
        stream: options.stream ?? false,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    );
  });
}

/** Backends a, b, c, … tried in that order (the split's weights fall with the letter). */
function policyFor(upstreams: readonly ScriptedUpstream[]): string {
  const names = upstreams.map((_, i) => String.fromCharCode(97 + i));
  const backends = upstreams
    .map(
      (u, i) =>
        `  ${names[i]}: { url: "${u.url}", model: m-${names[i]}, price: { input: 1, output: 1 }, timeouts: ${TIMEOUTS} }`,
    )
    .join('\n');
  return `version: 1
backends:
${backends}
routes:
  chat:
    backends: [${names.join(', ')}]
    split: { ${names.map((n, i) => `${n}: ${i === 0 ? 1000 : names.length - i}`).join(', ')} }
    failover: { maxAttempts: ${names.length} }
`;
}

/** What a row expects the app to see and the request report to say. */
interface Expected {
  readonly status?: number;
  readonly backend?: string;
  readonly attempts?: number;
  /** The client's response failed (cut) rather than ending. */
  readonly cut?: boolean;
  /** The body ends with an SSE `error` event carrying this code. */
  readonly sseError?: string;
  /** The body contains this text. */
  readonly body?: string;
  /** The request report's errorCode. */
  readonly errorCode?: string | undefined;
}

type Row = readonly [name: string, scripts: readonly Script[], client: ClientOptions, expected: Expected];

const rows: readonly Row[] = [
  [
    'healthy JSON',
    ['json'],
    {},
    { status: 200, backend: 'a', attempts: 1, body: 'hello from upstream', errorCode: undefined },
  ],
  [
    'healthy stream',
    ['sse'],
    { stream: true },
    { status: 200, backend: 'a', attempts: 1, body: '[DONE]', errorCode: undefined },
  ],
  // Before the head: nothing reached the app, so the next backend answers.
  [
    'RST before the head → next backend',
    ['reset-before-head', 'json'],
    {},
    { status: 200, backend: 'b', attempts: 2 },
  ],
  [
    'FIN before the head → next backend',
    ['close-before-head', 'json'],
    {},
    { status: 200, backend: 'b', attempts: 2 },
  ],
  [
    'no head within firstByteMs → next backend',
    ['hang', 'json'],
    {},
    { status: 200, backend: 'b', attempts: 2 },
  ],
  ['503 → next backend', ['status-503', 'json'], {}, { status: 200, backend: 'b', attempts: 2 }],
  ['429 → next backend', ['status-429', 'json'], {}, { status: 200, backend: 'b', attempts: 2 }],
  ['3xx → next backend', ['status-301', 'json'], {}, { status: 200, backend: 'b', attempts: 2 }],
  // A 200 head with no body byte yet has still put nothing in front of the app.
  [
    '200 head, then RST before any body byte → next backend',
    ['head-then-reset', 'json'],
    {},
    { status: 200, backend: 'b', attempts: 2 },
  ],
  [
    '200 SSE head, then silence past firstByteMs → next backend',
    ['head-then-hang', 'sse'],
    { stream: true },
    { status: 200, backend: 'b', attempts: 2, body: '[DONE]' },
  ],
  [
    '200 head, then RST, on the last backend → 502',
    ['head-then-reset'],
    {},
    { status: 502, attempts: 1, errorCode: 'upstream_unavailable' },
  ],
  [
    'a 3xx on the last backend is never passed on → 502',
    ['status-301'],
    {},
    { status: 502, attempts: 1, errorCode: 'upstream_unavailable' },
  ],
  [
    'a 503 on the last backend is passed through',
    ['reset-before-head', 'status-503'],
    {},
    { status: 503, backend: 'b', attempts: 2 },
  ],
  [
    'every backend refuses → 502 naming each',
    ['reset-before-head', 'close-before-head'],
    {},
    { status: 502, attempts: 2, body: 'every backend', errorCode: 'upstream_unavailable' },
  ],
  [
    'every backend times out → 504',
    ['hang', 'hang'],
    {},
    { status: 504, attempts: 2, errorCode: 'upstream_timeout' },
  ],
  // After the body started: the response is the app's; it must end, at once and visibly.
  [
    'JSON body, then RST → the client sees the cut at once',
    ['json-then-reset', 'json'],
    {},
    { status: 200, backend: 'a', attempts: 1, cut: true, errorCode: 'upstream_stream_broken' },
  ],
  [
    'JSON body, then FIN → the client sees the cut at once',
    ['json-then-close', 'json'],
    {},
    { status: 200, backend: 'a', attempts: 1, cut: true, errorCode: 'upstream_stream_broken' },
  ],
  [
    'stream, then RST → SSE error event, then the end',
    ['sse-then-reset', 'sse'],
    { stream: true },
    {
      status: 200,
      backend: 'a',
      attempts: 1,
      sseError: 'upstream_stream_broken',
      errorCode: 'upstream_stream_broken',
    },
  ],
  [
    'stream, then FIN → SSE error event, then the end',
    ['sse-then-close', 'sse'],
    { stream: true },
    {
      status: 200,
      backend: 'a',
      attempts: 1,
      sseError: 'upstream_stream_broken',
      errorCode: 'upstream_stream_broken',
    },
  ],
  [
    'stream, then silence past idleMs → SSE error event, then the end',
    ['sse-then-hang', 'sse'],
    { stream: true },
    {
      status: 200,
      backend: 'a',
      attempts: 1,
      sseError: 'upstream_stream_broken',
      errorCode: 'upstream_idle_timeout',
    },
  ],
  // Listeners of one attempt must not outlive it (six attempts used to pass Node's limit of 10).
  [
    'six failing backends → the last 503 passed through after six attempts',
    ['reset-before-head', 'close-before-head', 'status-503', 'status-429', 'reset-before-head', 'status-503'],
    {},
    { status: 503, backend: 'f', attempts: 6 },
  ],
];

describe('failover scenario table (in-process, raw-socket upstreams)', () => {
  let upstreams: ScriptedUpstream[] = [];
  let routecar: InProcessRoutecar | undefined;
  afterEach(async () => {
    await routecar?.close();
    await Promise.all(upstreams.map((u) => u.close()));
    upstreams = [];
    routecar = undefined;
  });

  const setUp = async (scripts: readonly Script[]): Promise<InProcessRoutecar> => {
    upstreams = await Promise.all(scripts.map((s) => startScriptedUpstream(s)));
    routecar = await startInProcess(policyFor(upstreams));
    return routecar;
  };

  it.each(rows)('%s', async (_name, scripts, client, expected) => {
    const rc = await setUp(scripts);
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const result = await call(rc.url, client).finally(() => process.off('warning', onWarning));
    expect(result.hung).toBe(false);
    if (expected.status !== undefined) expect(result.status).toBe(expected.status);
    if (expected.backend !== undefined) expect(result.headers['x-routecar-backend']).toBe(expected.backend);
    if (expected.attempts !== undefined)
      expect(result.headers['x-routecar-attempts']).toBe(String(expected.attempts));
    if (expected.body !== undefined) expect(result.body).toContain(expected.body);
    if (expected.cut) expect(result.error).toBeDefined();
    else expect(result.error).toBeUndefined();
    if (expected.sseError !== undefined) {
      expect(result.body).toMatch(
        new RegExp(`event: error\\ndata: .*"code":"${expected.sseError}".*\\n\\n$`),
      );
    }
    // A redirect's internal address never reaches the app.
    expect(result.headers.location).toBeUndefined();
    await expect.poll(() => rc.reports.length).toBe(1);
    if ('errorCode' in expected) expect(rc.reports[0]!.errorCode).toBe(expected.errorCode);
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  it('the app hanging up mid-stream ends the upstream request, and the backend is not blamed', async () => {
    const rc = await setUp(['sse-then-hang']);
    const result = await call(rc.url, { stream: true, abortAfterFirstChunk: true });
    expect(result.hung).toBe(false);
    await expect.poll(() => rc.reports.length).toBe(1);
    expect(rc.reports[0]).toMatchObject({ status: 0, errorCode: 'client_gone' });
    expect(rc.health.snapshot('a')).toMatchObject({ requests: 0, failures: 0, inflight: 0 });
  });

  it('an app that reads slowly is not cut by idleMs: idle time counts only while waiting on the upstream', async () => {
    const rc = await setUp(['sse-big']);
    // 5 MB of stream while the app reads nothing for three idle periods.
    const result = await call(rc.url, { stream: true, pauseMs: 1_200 });
    expect(result.error).toBeUndefined();
    expect(result.body).not.toContain('event: error');
    expect(result.body.match(/^data: \{/gm)?.length).toBe(BIG_CHUNKS);
    expect(result.body).toContain('[DONE]');
    await expect.poll(() => rc.reports.length).toBe(1);
    expect(rc.reports[0]!.errorCode).toBeUndefined();
    expect(rc.health.snapshot('a')).toMatchObject({ requests: 1, failures: 0 });
  });

  it('an observer that throws on every event fails no request and ends no process', async () => {
    upstreams = await Promise.all(
      (['reset-before-head', 'json'] as const).map((s) => startScriptedUpstream(s)),
    );
    const boom = (): never => {
      throw new Error('observer bug');
    };
    const rejections: unknown[] = [];
    const onRejection = (r: unknown): void => void rejections.push(r);
    process.on('unhandledRejection', onRejection);
    try {
      routecar = await startInProcess(policyFor(upstreams), [
        { attemptFinished: boom, failover: boom, requestFinished: boom, requestStarted: boom },
      ]);
      const result = await call(routecar.url);
      expect(result.status).toBe(200);
      expect(result.headers['x-routecar-backend']).toBe('b');
      await expect.poll(() => routecar!.observerErrors.length).toBe(5);
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
