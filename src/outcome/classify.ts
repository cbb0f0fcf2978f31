/**
 * Outcome classification: one pure function decides whether an attempt succeeded, failed (and
 * how), or does not count. The breaker and the rolling window both consume its result, so they
 * never disagree about what failed.
 */

/** How an attempt failed. */
export type FailureClass =
  | 'refused' // connection refused / host unreachable / DNS failure
  | 'reset' // connection reset or closed before a response
  | 'connect_timeout'
  | 'first_byte_timeout'
  | 'idle_timeout' // silence between chunks after the response started
  | 'server_error' // HTTP 5xx
  | 'rate_limited' // HTTP 429
  | 'stream_broken' // upstream died after the response started
  | 'redirect'; // HTTP 3xx: a backend URL that redirects is misconfigured, and its Location is internal

export type Outcome =
  | { readonly kind: 'success' }
  | {
      readonly kind: 'failure';
      readonly failure: FailureClass;
      /** For 429: how long the backend should get no traffic, from Retry-After (or a default). */
      readonly coolDownMs?: number;
    }
  | {
      readonly kind: 'ignored';
      /**
       * client_error: the app's own 4xx; client_gone: the app hung up; breaker_rejected: opossum
       * refused the call; stale_connection: a pooled keep-alive socket was closed by the backend
       * just as routecar reused it (a race, not a fault: the request is sent again on a new socket);
       * context_length_exceeded: a 400 saying the request does not fit the backend's context
       * window (the backend is fine; another, with a larger window, may take it: retryable).
       */
      readonly reason:
        'client_error' | 'client_gone' | 'breaker_rejected' | 'stale_connection' | 'context_length_exceeded';
    };

/** What the forwarder saw of one attempt. */
export interface Observation {
  /** Upstream HTTP status, when a response head arrived. */
  readonly status?: number;
  /** Node error code of a transport failure (ECONNREFUSED, ECONNRESET, ...). */
  readonly errorCode?: string;
  /** Which of routecar's own timers fired, if any. */
  readonly timeout?: 'connect' | 'firstByte' | 'idle';
  /** The response head had been received when the failure happened. */
  readonly responseStarted: boolean;
  /** The app closed its connection before the attempt finished. */
  readonly clientGone: boolean;
  /** The request went out on a pooled keep-alive socket (Node's `request.reusedSocket`). */
  readonly reusedSocket?: boolean;
  /** A 400 whose body says the request exceeds the model's context length (see attempt.ts). */
  readonly contextExceeded?: boolean;
  /** Raw Retry-After header of a 429/503. */
  readonly retryAfter?: string;
  /** Wall-clock epoch ms, for HTTP-date Retry-After values. */
  readonly nowMs: number;
}

/** Cool-down for a 429 that carries no usable Retry-After. */
export const DEFAULT_COOL_DOWN_MS = 1_000;
/** Longest cool-down a Retry-After can ask for: a broken header must not park a backend for hours. */
export const MAX_COOL_DOWN_MS = 300_000;

const REFUSED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export function classify(o: Observation): Outcome {
  // The app hanging up says nothing about the backend.
  if (o.clientGone) return { kind: 'ignored', reason: 'client_gone' };
  if (o.timeout === 'connect') return { kind: 'failure', failure: 'connect_timeout' };
  if (o.timeout === 'firstByte') return { kind: 'failure', failure: 'first_byte_timeout' };
  if (o.timeout === 'idle') return { kind: 'failure', failure: 'idle_timeout' };
  if (o.errorCode !== undefined) {
    if (o.responseStarted) return { kind: 'failure', failure: 'stream_broken' };
    if (o.reusedSocket && (o.errorCode === 'ECONNRESET' || o.errorCode === 'EPIPE')) {
      return { kind: 'ignored', reason: 'stale_connection' };
    }
    if (REFUSED_CODES.has(o.errorCode)) return { kind: 'failure', failure: 'refused' };
    return { kind: 'failure', failure: 'reset' };
  }
  const status = o.status;
  if (status === undefined) return { kind: 'failure', failure: 'reset' };
  if (status === 429) {
    return { kind: 'failure', failure: 'rate_limited', coolDownMs: parseRetryAfter(o.retryAfter, o.nowMs) };
  }
  if (status >= 500) return { kind: 'failure', failure: 'server_error' };
  if (status === 400 && o.contextExceeded === true)
    return { kind: 'ignored', reason: 'context_length_exceeded' };
  if (status >= 400) return { kind: 'ignored', reason: 'client_error' };
  if (status >= 300) return { kind: 'failure', failure: 'redirect' };
  return { kind: 'success' };
}

/** Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, nowMs: number): number {
  if (value === undefined || value.trim() === '') return DEFAULT_COOL_DOWN_MS;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else if (/^[A-Za-z]{3},? /.test(trimmed)) {
    // Only something shaped like an HTTP-date goes to Date.parse, which reads "-5" as a year.
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return DEFAULT_COOL_DOWN_MS;
    ms = at - nowMs;
  } else {
    return DEFAULT_COOL_DOWN_MS;
  }
  return Math.min(Math.max(ms, 0), MAX_COOL_DOWN_MS);
}

/**
 * Whether another backend may be tried after this outcome: failures, and a request too long for
 * this backend's window, before any byte reached the app.
 */
export function isRetryable(outcome: Outcome, bytesSentToApp: boolean): boolean {
  if (bytesSentToApp) return false;
  return outcome.kind === 'failure' || isContextExceeded(outcome);
}

/** The backend said the request does not fit its context window. */
export function isContextExceeded(outcome: Outcome): boolean {
  return outcome.kind === 'ignored' && outcome.reason === 'context_length_exceeded';
}

/**
 * Whether a 400's body (its first few KB) says the request exceeds the context window: OpenAI's
 * `context_length_exceeded` code, or vLLM's and TGI's wording.
 */
export function saysContextExceeded(text: string): boolean {
  return CONTEXT_EXCEEDED.test(text);
}

const CONTEXT_EXCEEDED =
  /context_length_exceeded|maximum context length|context window|max_new_tokens` must be <=|prompt is too long/i;
