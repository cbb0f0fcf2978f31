/**
 * Walks a decision's attempt list: each backend is tried through its breaker until one commits
 * a response to the app. A failure before any byte reached the app moves on to the next one;
 * after that, the response is the app's and failures are reported in-band (SSE) or by a cut.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { BackendBreaker } from '../health/breaker.js';
import { BreakerRejectedError } from '../health/errors.js';
import type { Endpoint, RequestFeatures } from '../ingress/features.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { Decision } from '../routing/types.js';
import { RoutecarError, sendError } from '../server/errors.js';
import type { Outcome } from './classify.js';
import type { RequestObserver, RequestReport, RequestScope } from './events.js';
import { Exchange, FailedAttempt, type AttemptEnd, type AttemptHead } from './exchange.js';
import type { ProxyPool } from './pool.js';

export interface ForwardContext {
  readonly requestId: string;
  readonly endpoint: Endpoint;
  readonly appPath: string;
  readonly features: RequestFeatures;
  readonly body: Record<string, unknown>;
  readonly policy: CompiledPolicy;
  readonly decision: Decision;
  /** Epoch ms and performance.now() at arrival, for the request report. */
  readonly startedAtMs: number;
  readonly startedAtPerf: number;
}

export interface ForwardDeps {
  readonly proxies: ProxyPool;
  /** The backend's breaker; undefined once the backend has left the policy. */
  readonly breakerFor: (backend: string) => BackendBreaker | undefined;
  readonly observer: RequestObserver;
}

interface AttemptRun {
  readonly head: Promise<AttemptHead>;
  /** Settles when the attempt is over; undefined when it never started (breaker refusal). */
  readonly end: Promise<AttemptEnd | undefined>;
}

export async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ForwardContext,
  deps: ForwardDeps,
): Promise<void> {
  const { decision } = ctx;
  const attempts = decision.attempts;
  const failures: string[] = [];
  let lastOutcome: Outcome | undefined;
  let staleRetries = 0;
  const scope = deps.observer.requestStarted?.({
    requestId: ctx.requestId,
    endpoint: ctx.endpoint,
    requestedRoute: decision.requestedRoute,
    route: decision.route,
    variant: decision.variant,
    stream: ctx.features.stream,
    startedAtMs: ctx.startedAtMs,
    policyVersion: ctx.policy.version,
    rule: decision.rule,
    reason: decision.reason,
    traceparent: ctx.features.headers['traceparent'],
    tracestate: ctx.features.headers['tracestate'],
  });
  for (let i = 0; i < attempts.length; i++) {
    const name = attempts[i]!;
    const run = startAttempt(req, res, ctx, deps, i, scope);
    const head = await run.head;
    if (
      head.kind === 'abandoned' &&
      head.outcome.kind === 'ignored' &&
      head.outcome.reason === 'stale_connection' &&
      staleRetries++ < 2
    ) {
      // The backend closed a pooled socket as it was reused: same backend, fresh socket.
      i--;
      continue;
    }
    if (head.kind === 'committed') {
      const end = await run.end;
      const gone = end?.outcome.kind === 'ignored' && end.outcome.reason === 'client_gone';
      finished(ctx, deps, scope, { backend: name, attempts: i + 1, status: gone ? 0 : head.status, end });
      return;
    }
    if (head.outcome.kind === 'ignored' && head.outcome.reason === 'client_gone') {
      finished(ctx, deps, scope, {
        backend: undefined,
        attempts: i + 1,
        status: 0,
        errorCode: 'client_gone',
      });
      return;
    }
    lastOutcome = head.outcome;
    const why = describe(head.outcome, head.status);
    failures.push(`${name}: ${why}`);
    const next = attempts[i + 1];
    if (next !== undefined) {
      deps.observer.failover?.({
        requestId: ctx.requestId,
        route: decision.route,
        from: name,
        to: next,
        reason: why,
        outcome: head.outcome,
      });
    }
  }
  const error = exhausted(decision.route, failures, lastOutcome);
  sendError(res, error, routecarHeaders(ctx, undefined, attempts.length) as Record<string, string>);
  finished(ctx, deps, scope, {
    backend: undefined,
    attempts: attempts.length,
    status: error.status,
    errorCode: error.code,
  });
}

function startAttempt(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ForwardContext,
  deps: ForwardDeps,
  index: number,
  scope: RequestScope | undefined,
): AttemptRun {
  const name = ctx.decision.attempts[index]!;
  const backend = ctx.policy.backends.get(name);
  const proxy = deps.proxies.get(name);
  const breaker = deps.breakerFor(name);
  if (!backend || !proxy || !breaker) {
    // The policy changed under this request and the backend is gone: skip it like an open breaker.
    const head: AttemptHead = {
      kind: 'abandoned',
      outcome: { kind: 'ignored', reason: 'breaker_rejected' },
      status: undefined,
    };
    return { head: Promise.resolve(head), end: Promise.resolve(undefined) };
  }
  ctx.body.model = backend.model;
  const traced = scope?.attempt(name, index + 1);
  const exchange = new Exchange(req, res, {
    backend,
    body: Buffer.from(JSON.stringify(ctx.body)),
    appPath: ctx.appPath,
    last: index === ctx.decision.attempts.length - 1,
    responseHeaders: routecarHeaders(ctx, name, index + 1),
    requestHeaders: traced?.headers,
  });
  const startedAtMs = Date.now();
  const report = (end: AttemptEnd): AttemptEnd => {
    const attemptReport = {
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
    deps.observer.attemptFinished?.(attemptReport);
    traced?.end(attemptReport);
    return end;
  };
  const end = breaker
    .run(() => {
      deps.observer.attemptStarted?.(name);
      return exchange.start(proxy);
    })
    .then(report, (err: unknown) => {
      if (err instanceof FailedAttempt) return report(err.end);
      if (err instanceof BreakerRejectedError) {
        exchange.refusedByBreaker();
        traced?.end(undefined);
        return undefined;
      }
      throw err;
    });
  return { head: exchange.head, end };
}

/** The response headers DESIGN.md promises on every answer. */
function routecarHeaders(
  ctx: ForwardContext,
  backend: string | undefined,
  attempts: number,
): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {
    'x-routecar-route': ctx.decision.route,
    'x-routecar-variant': ctx.decision.variant,
    'x-routecar-attempts': String(attempts),
    'x-routecar-policy-version': ctx.policy.version,
    'x-request-id': ctx.requestId,
  };
  if (backend !== undefined) h['x-routecar-backend'] = backend;
  return h;
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

interface Finish {
  readonly backend: string | undefined;
  readonly attempts: number;
  readonly status: number;
  readonly errorCode?: string;
  readonly end?: AttemptEnd | undefined;
}

function finished(ctx: ForwardContext, deps: ForwardDeps, scope: RequestScope | undefined, f: Finish): void {
  const backend = f.backend !== undefined ? ctx.policy.backends.get(f.backend) : undefined;
  const usage = f.end?.usage;
  const costUsd =
    usage && backend
      ? (usage.inputTokens * backend.price.inputPerMTok + usage.outputTokens * backend.price.outputPerMTok) /
        1e6
      : undefined;
  const report: RequestReport = {
    requestId: ctx.requestId,
    endpoint: ctx.endpoint,
    requestedRoute: ctx.decision.requestedRoute,
    route: ctx.decision.route,
    backend: f.backend,
    responseModel: backend?.model,
    variant: ctx.decision.variant,
    attempts: f.attempts,
    status: f.status,
    errorCode: f.errorCode,
    stream: ctx.features.stream,
    startedAtMs: ctx.startedAtMs,
    durationMs: performance.now() - ctx.startedAtPerf,
    ttfbMs: f.end?.ttfbMs,
    usage,
    costUsd,
    tenant: ctx.features.tenant,
    policyVersion: ctx.policy.version,
    rule: ctx.decision.rule,
    reason: ctx.decision.reason,
    outcome: f.end?.outcome,
  };
  deps.observer.requestFinished?.(report);
  scope?.end(report);
}
