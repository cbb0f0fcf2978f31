import { describe, expect, it } from 'vitest';
import {
  DEFAULT_COOL_DOWN_MS,
  MAX_COOL_DOWN_MS,
  classify,
  isRetryable,
  parseRetryAfter,
  saysContextExceeded,
  type Observation,
  type Outcome,
} from '../../../src/outcome/classify.js';

const NOW = Date.parse('2026-11-02T10:00:00Z');

/** A clean observation: nothing went wrong yet. */
const base: Observation = { responseStarted: false, clientGone: false, nowMs: NOW };

const failure = (f: string, coolDownMs?: number): Outcome =>
  coolDownMs === undefined
    ? ({ kind: 'failure', failure: f } as Outcome)
    : ({ kind: 'failure', failure: f, coolDownMs } as Outcome);

describe('classify', () => {
  const table: Array<[string, Partial<Observation>, Outcome]> = [
    // transport failures before a response
    ['connection refused', { errorCode: 'ECONNREFUSED' }, failure('refused')],
    ['host unreachable', { errorCode: 'EHOSTUNREACH' }, failure('refused')],
    ['network unreachable', { errorCode: 'ENETUNREACH' }, failure('refused')],
    ['DNS name not found', { errorCode: 'ENOTFOUND' }, failure('refused')],
    ['DNS temporary failure', { errorCode: 'EAI_AGAIN' }, failure('refused')],
    ['connection reset', { errorCode: 'ECONNRESET' }, failure('reset')],
    ['broken pipe', { errorCode: 'EPIPE' }, failure('reset')],
    // keep-alive race: the backend closed a pooled socket as routecar reused it
    [
      'reset on a reused socket',
      { errorCode: 'ECONNRESET', reusedSocket: true },
      { kind: 'ignored', reason: 'stale_connection' },
    ],
    [
      'broken pipe on a reused socket',
      { errorCode: 'EPIPE', reusedSocket: true },
      { kind: 'ignored', reason: 'stale_connection' },
    ],
    [
      'refused is never a stale socket',
      { errorCode: 'ECONNREFUSED', reusedSocket: true },
      failure('refused'),
    ],
    [
      'reset on a fresh socket is a failure',
      { errorCode: 'ECONNRESET', reusedSocket: false },
      failure('reset'),
    ],
    ['socket closed without any response', {}, failure('reset')],
    // routecar's own timers
    ['connect timeout', { timeout: 'connect' }, failure('connect_timeout')],
    ['first-byte timeout', { timeout: 'firstByte' }, failure('first_byte_timeout')],
    [
      'idle timeout mid-stream',
      { timeout: 'idle', status: 200, responseStarted: true },
      failure('idle_timeout'),
    ],
    [
      'a timer wins over the socket error it caused',
      { timeout: 'connect', errorCode: 'ECONNRESET' },
      failure('connect_timeout'),
    ],
    // upstream died after the head
    [
      'reset after the head arrived',
      { status: 200, responseStarted: true, errorCode: 'ECONNRESET' },
      failure('stream_broken'),
    ],
    [
      'refused code after the head still means a broken stream',
      { status: 200, responseStarted: true, errorCode: 'ECONNREFUSED' },
      failure('stream_broken'),
    ],
    // HTTP statuses
    ['500', { status: 500, responseStarted: true }, failure('server_error')],
    ['502', { status: 502, responseStarted: true }, failure('server_error')],
    [
      '503 (Retry-After ignored: not a 429)',
      { status: 503, responseStarted: true, retryAfter: '30' },
      failure('server_error'),
    ],
    ['504', { status: 504, responseStarted: true }, failure('server_error')],
    [
      '429 with delta-seconds',
      { status: 429, responseStarted: true, retryAfter: '12' },
      failure('rate_limited', 12_000),
    ],
    [
      '429 with fractional seconds',
      { status: 429, responseStarted: true, retryAfter: ' 1.5 ' },
      failure('rate_limited', 1_500),
    ],
    [
      '429 with an HTTP-date',
      { status: 429, responseStarted: true, retryAfter: new Date(NOW + 45_000).toUTCString() },
      failure('rate_limited', 45_000),
    ],
    [
      '429 with a past HTTP-date',
      { status: 429, responseStarted: true, retryAfter: new Date(NOW - 45_000).toUTCString() },
      failure('rate_limited', 0),
    ],
    [
      '429 without Retry-After',
      { status: 429, responseStarted: true },
      failure('rate_limited', DEFAULT_COOL_DOWN_MS),
    ],
    [
      '429 with garbage Retry-After',
      { status: 429, responseStarted: true, retryAfter: 'soon' },
      failure('rate_limited', DEFAULT_COOL_DOWN_MS),
    ],
    [
      '429 with an absurd Retry-After',
      { status: 429, responseStarted: true, retryAfter: '86400' },
      failure('rate_limited', MAX_COOL_DOWN_MS),
    ],
    // the app's own mistakes and the app going away
    ['400', { status: 400, responseStarted: true }, { kind: 'ignored', reason: 'client_error' }],
    // a request too long for this backend's window: retryable elsewhere, never the backend's fault
    [
      '400 context_length_exceeded',
      { status: 400, contextExceeded: true },
      { kind: 'ignored', reason: 'context_length_exceeded' },
    ],
    [
      'only a 400 can say the context was exceeded',
      { status: 422, contextExceeded: true },
      { kind: 'ignored', reason: 'client_error' },
    ],
    ['401', { status: 401, responseStarted: true }, { kind: 'ignored', reason: 'client_error' }],
    ['404', { status: 404, responseStarted: true }, { kind: 'ignored', reason: 'client_error' }],
    ['422', { status: 422, responseStarted: true }, { kind: 'ignored', reason: 'client_error' }],
    ['client gone', { clientGone: true }, { kind: 'ignored', reason: 'client_gone' }],
    [
      'client gone wins over a timeout it caused',
      { clientGone: true, timeout: 'idle', responseStarted: true },
      { kind: 'ignored', reason: 'client_gone' },
    ],
    [
      'client gone wins over a 5xx',
      { clientGone: true, status: 500, responseStarted: true },
      { kind: 'ignored', reason: 'client_gone' },
    ],
    // success
    ['200', { status: 200, responseStarted: true }, { kind: 'success' }],
    ['204', { status: 204, responseStarted: true }, { kind: 'success' }],
    [
      '301 redirect: never passed on (its Location is internal)',
      { status: 301 },
      { kind: 'failure', failure: 'redirect' },
    ],
    ['307 redirect', { status: 307 }, { kind: 'failure', failure: 'redirect' }],
    ['204 no content', { status: 204, responseStarted: true }, { kind: 'success' }],
  ];

  it.each(table)('%s', (_name, observed, expected) => {
    expect(classify({ ...base, ...observed })).toEqual(expected);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP-dates relative to the given clock', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('3', NOW)).toBe(3_000);
    expect(parseRetryAfter('Mon, 02 Nov 2026 10:00:10 GMT', NOW)).toBe(10_000);
  });

  it('falls back to the default for empty, negative or unparsable values and caps long ones', () => {
    expect(parseRetryAfter(undefined, NOW)).toBe(DEFAULT_COOL_DOWN_MS);
    expect(parseRetryAfter('  ', NOW)).toBe(DEFAULT_COOL_DOWN_MS);
    expect(parseRetryAfter('1e3', NOW)).toBe(DEFAULT_COOL_DOWN_MS);
    expect(parseRetryAfter('99999', NOW)).toBe(MAX_COOL_DOWN_MS);
  });

  // Known bug, reported to the lead: the HTTP-date branch hands any string to V8's lenient
  // Date.parse, which reads "-5" as a date in 2001, so the cool-down becomes 0 instead of the
  // default. Drop `.fails` once parseRetryAfter checks the HTTP-date shape first.
  it('treats a negative delta as unparsable, not as a date', () => {
    expect(parseRetryAfter('-5', NOW)).toBe(DEFAULT_COOL_DOWN_MS);
  });
});

describe('isRetryable', () => {
  it('retries failures only while nothing reached the app', () => {
    expect(isRetryable(failure('refused'), false)).toBe(true);
    expect(isRetryable(failure('server_error'), false)).toBe(true);
    expect(isRetryable(failure('stream_broken'), true)).toBe(false);
    expect(isRetryable(failure('server_error'), true)).toBe(false);
    expect(isRetryable({ kind: 'success' }, false)).toBe(false);
    expect(isRetryable({ kind: 'ignored', reason: 'client_error' }, false)).toBe(false);
    expect(isRetryable({ kind: 'ignored', reason: 'client_gone' }, false)).toBe(false);
    expect(isRetryable({ kind: 'ignored', reason: 'context_length_exceeded' }, false)).toBe(true);
    expect(isRetryable({ kind: 'ignored', reason: 'context_length_exceeded' }, true)).toBe(false);
  });
});

describe('saysContextExceeded: the bodies of a context-window 400', () => {
  const table: Array<[string, string, boolean]> = [
    [
      'OpenAI',
      '{"error":{"message":"This model\'s maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}',
      true,
    ],
    [
      'vLLM',
      '{"object":"error","message":"This model\'s maximum context length is 4096 tokens. However, you requested 5000 tokens","type":"BadRequestError","param":null,"code":400}',
      true,
    ],
    [
      'TGI',
      '{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`","error_type":"validation"}',
      true,
    ],
    [
      'Anthropic',
      '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}',
      true,
    ],
    ['another 400', '{"error":{"message":"temperature must be <= 2","code":"invalid_value"}}', false],
  ];
  it.each(table)('%s', (_name, body, expected) => {
    expect(saysContextExceeded(body)).toBe(expected);
  });
});
