import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_BODY_TIMEOUT_MS, readBody, settleBody } from '../../../src/ingress/read-body.js';
import { RoutecarError } from '../../../src/server/errors.js';

/** A request body the test writes by hand. */
function fakeRequest(headers: Record<string, string> = {}): PassThrough & IncomingMessage {
  return Object.assign(new PassThrough(), { headers }) as unknown as PassThrough & IncomingMessage;
}

/** Settles `p` into a value to assert on, without an unhandled rejection in between. */
function outcome<T>(p: Promise<T>): { current: { ok: T } | { err: unknown } | undefined } {
  const box: { current: { ok: T } | { err: unknown } | undefined } = { current: undefined };
  p.then(
    (ok) => (box.current = { ok }),
    (err: unknown) => (box.current = { err }),
  );
  return box;
}

describe('readBody: the body-read deadline', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('defaults to 30 s', () => {
    expect(DEFAULT_BODY_TIMEOUT_MS).toBe(30_000);
  });

  it('a body that stops arriving is a 408 request_timeout at the deadline, not before', async () => {
    const req = fakeRequest();
    const result = outcome(readBody(req, 1_000, 5_000));
    req.write('{"model":');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(result.current).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    const err = (result.current as { err: RoutecarError }).err;
    expect(err).toBeInstanceOf(RoutecarError);
    expect(err).toMatchObject({ status: 408, code: 'request_timeout', type: 'invalid_request_error' });
    expect(err.message).toContain('5000 ms');
    // It stopped listening: data arriving afterwards goes nowhere.
    expect(req.listenerCount('data')).toBe(0);
  });

  it('uses the default when no timeout is given', async () => {
    const req = fakeRequest();
    const result = outcome(readBody(req, 1_000));
    await vi.advanceTimersByTimeAsync(DEFAULT_BODY_TIMEOUT_MS - 1);
    expect(result.current).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect((result.current as { err: RoutecarError }).err.status).toBe(408);
  });

  it('bounds the whole body, not the gaps: a byte every second still times out (slowloris)', async () => {
    const req = fakeRequest();
    const result = outcome(readBody(req, 1_000, 5_000));
    for (let i = 0; i < 6 && result.current === undefined; i++) {
      req.write('x');
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect((result.current as { err: RoutecarError }).err.code).toBe('request_timeout');
  });

  it('a body in time resolves and leaves no timer behind', async () => {
    const req = fakeRequest();
    const result = outcome(readBody(req, 1_000, 5_000));
    req.write('{"model":');
    await vi.advanceTimersByTimeAsync(4_000);
    req.end('"chat"}');
    await vi.advanceTimersByTimeAsync(0);
    expect(result.current).toEqual({ ok: Buffer.from('{"model":"chat"}') });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a body over the limit is a 413 and leaves no timer behind', async () => {
    const req = fakeRequest();
    const result = outcome(readBody(req, 4, 5_000));
    req.write('12345');
    await vi.advanceTimersByTimeAsync(0);
    expect((result.current as { err: RoutecarError }).err.status).toBe(413);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a read error is a 400 and leaves no timer behind', async () => {
    const req = fakeRequest();
    const result = outcome(readBody(req, 1_000, 5_000));
    req.destroy(new Error('aborted'));
    await vi.advanceTimersByTimeAsync(0);
    expect((result.current as { err: RoutecarError }).err.code).toBe('request_aborted');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('settleBody: the connection after a body error', () => {
  const response = () => {
    const headers: Record<string, string> = {};
    return {
      headers,
      res: { setHeader: (n: string, v: string) => (headers[n] = v) } as unknown as ServerResponse,
    };
  };

  it('after a 408 the connection is closed: the rest of the body is not worth waiting for', () => {
    const { headers, res } = response();
    settleBody(fakeRequest(), res, new RoutecarError('request_timeout', 'slow'));
    expect(headers).toEqual({ connection: 'close' });
  });

  it('after a 413 the rest of the body is read and dropped', () => {
    const req = fakeRequest({ 'content-length': '10' });
    const { headers, res } = response();
    settleBody(req, res, new RoutecarError('request_too_large', 'big'));
    expect(headers).toEqual({});
    expect(req.readableFlowing).toBe(true);
  });

  it('other errors leave the connection alone', () => {
    const req = fakeRequest();
    const { headers, res } = response();
    settleBody(req, res, new RoutecarError('invalid_json', 'nope'));
    expect(headers).toEqual({});
    expect(req.readableFlowing).toBe(null);
  });
});
