/**
 * Walks a decision's attempt list: each backend the health gate admits is tried until one
 * commits a response to the app. A failure before any byte reached the app moves on to the next
 * one; after that, the response is the app's and a failure is reported in-band (SSE) or by a cut.
 *
 * forward() never answers the app itself: it returns what happened, and the server edge sends
 * any error, and reports the request, in one place.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RoutecarError } from '../errors/routecar-error.js';
import type { Admission, AttemptResult } from '../health/registry.js';
import type { Endpoint, RequestFeatures } from '../ingress/features.js';
import type { Outcome } from '../outcome/classify.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { Decision } from '../routing/types.js';
import { Attempt, type AttemptEnd } from './attempt.js';
import type { AttemptReport, RequestObserver, RequestScope } from './events.js';
import { upstreamHeadersFor } from './headers.js';
import type { ProxyPool } from './pool.js';

export interface ForwardContext {
  readonly requestId: string;
  readonly endpoint: Endpoint;
  readonly appPath: string;
  readonly features: RequestFeatures;
  readonly body: Record<string, unknown>;
  readonly policy: CompiledPolicy;
  readonly decision: Decision;
  /** The app's headers as every attempt sends them (see upstreamRequestHeaders). */
  readonly headers: IncomingHttpHeaders;
  /** The `x-routecar-*` headers of a response committed by `backend` on attempt number `attempts`. */
  readonly responseHeaders: (backend: string, attempts: number) => OutgoingHttpHeaders;
  /** The request's tracing scope, when an observer opened one. */
  readonly scope: RequestScope | undefined;
}

/** The request path's whole view of health: may this attempt go, and how did it end. */
export interface AttemptGate {
  admit(backend: string): Admission | undefined;
  record(admission: Admission, result: AttemptResult): void;
}

export interface ForwardDeps {
  readonly proxies: ProxyPool;
  readonly gate: AttemptGate;
  readonly observer: RequestObserver;
}

/** What forwarding came to; the response, when there is one, has ended. */
export type ForwardResult =
  /** A backend's response was committed to the app; `end` says how it ended. */
  | {
      readonly kind: 'answered';
      readonly backend: string;
      readonly attempts: number;
      readonly end: AttemptEnd;
    }
  /** The app left before any response was committed. */
  | { readonly kind: 'gone'; readonly attempts: number }
  /** Every attempt failed or was refused before anything reached the app: the edge answers `error`. */
  | { readonly kind: 'failed'; readonly attempts: number; readonly error: RoutecarError };

/** A pooled socket the backend closed just as it was reused is retried on a fresh one, this often. */
const STALE_RETRIES = 2;

export async function forward(
  appSocket: Socket,
  res: ServerResponse,
  ctx: ForwardContext,
  deps: ForwardDeps,
): Promise<ForwardResult> {
  const attempts = ctx.decision.attempts;
  const failures: string[] = [];
  let lastOutcome: Outcome | undefined;
  let staleRetries = 0;
  for (let i = 0; i < attempts.length; i++) {
    const name = attempts[i]!;
    const run = await runAttempt(appSocket, res, ctx, deps, i);
    if (run.kind === 'committed') return { kind: 'answered', backend: name, attempts: i + 1, end: run.end };
    const outcome = run.outcome;
    if (outcome.kind === 'ignored' && outcome.reason === 'client_gone')
      return { kind: 'gone', attempts: i + 1 };
    if (
      outcome.kind === 'ignored' &&
      outcome.reason === 'stale_connection' &&
      staleRetries++ < STALE_RETRIES
    ) {
      // The backend closed a pooled socket as it was reused: same backend, fresh socket.
      i--;
      continue;
    }
    lastOutcome = outcome;
    const why = describe(outcome, run.status);
    failures.push(`${name}: ${why}`);
    const next = attempts[i + 1];
    if (next !== undefined) {
      deps.observer.failover?.({
        requestId: ctx.requestId,
        route: ctx.decision.route,
        from: name,
        to: next,
        reason: why,
        outcome,
      });
    }
  }
  return {
    kind: 'failed',
    attempts: attempts.length,
    error: exhausted(ctx.decision.route, failures, lastOutcome),
  };
}

type AttemptRun =
  | { readonly kind: 'committed'; readonly end: AttemptEnd }
  | { readonly kind: 'abandoned'; readonly outcome: Outcome; readonly status: number | undefined };

const REFUSED: AttemptRun = Object.freeze({
  kind: 'abandoned',
  outcome: Object.freeze({ kind: 'ignored', reason: 'breaker_rejected' }),
  status: undefined,
});

async function runAttempt(
  appSocket: Socket,
  res: ServerResponse,
  ctx: ForwardContext,
  deps: ForwardDeps,
  index: number,
): Promise<AttemptRun> {
  const name = ctx.decision.attempts[index]!;
  const backend = ctx.policy.backends.get(name);
  const proxy = deps.proxies.get(name);
  // A backend that left the policy under this request is skipped like an open breaker.
  if (!backend || !proxy) return REFUSED;
  const admission = deps.gate.admit(name);
  if (!admission) return REFUSED;
  ctx.body.model = backend.model;
  const body = Buffer.from(JSON.stringify(ctx.body));
  const traced = ctx.scope?.attempt(name, index + 1);
  const headers = { ...upstreamHeadersFor(ctx.headers, proxy.auth), 'content-length': String(body.length) };
  if (traced) Object.assign(headers, traced.headers);
  const attempt = new Attempt(appSocket, res, {
    backend,
    body,
    appPath: ctx.appPath,
    headers,
    last: index === ctx.decision.attempts.length - 1,
    responseHeaders: ctx.responseHeaders(name, index + 1),
  });
  const startedAtMs = Date.now();
  attempt.start(proxy);
  const head = await attempt.head;
  const end = await attempt.end;
  deps.gate.record(admission, end);
  const report: AttemptReport = {
    requestId: ctx.requestId,
    route: ctx.decision.route,
    backend: name,
    variant: ctx.decision.variant,
    attempt: index + 1,
    outcome: end.outcome,
    status: end.status,
    startedAtMs,
    ttfbMs: end.ttfbMs,
    durationMs: end.durationMs,
    endpoint: ctx.endpoint,
    stream: ctx.features.stream,
    firstChunkMs: end.firstChunkMs,
    usage: end.usage,
  };
  deps.observer.attemptFinished?.(report);
  traced?.end(report);
  return head.kind === 'committed'
    ? { kind: 'committed', end }
    : { kind: 'abandoned', outcome: end.outcome, status: end.status };
}

function describe(outcome: Outcome, status: number | undefined): string {
  switch (outcome.kind) {
    case 'failure':
      return status !== undefined ? `${outcome.failure} (HTTP ${status})` : outcome.failure;
    case 'ignored':
      return outcome.reason === 'breaker_rejected' ? 'breaker refused the call' : outcome.reason;
    case 'success':
      return 'success';
  }
}

function exhausted(route: string, failures: readonly string[], last: Outcome | undefined): RoutecarError {
  const list = failures.join('; ');
  if (last?.kind === 'ignored') {
    return new RoutecarError(503, 'no_healthy_backend', `no healthy backend for route "${route}": ${list}`);
  }
  const timeout = last?.kind === 'failure' && last.failure.endsWith('timeout');
  return timeout
    ? new RoutecarError(
        504,
        'upstream_timeout',
        `every backend for route "${route}" timed out or failed: ${list}`,
      )
    : new RoutecarError(502, 'upstream_unavailable', `every backend for route "${route}" failed: ${list}`);
}
