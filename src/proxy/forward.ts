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
import type { Readable } from 'node:stream';
import { RoutecarError } from '../errors/routecar-error.js';
import type { Admission, AttemptResult } from '../health/registry.js';
import type { Endpoint, RequestFeatures } from '../ingress/features.js';
import { askForStreamUsage, sentLimits, writeOutputLimit } from '../ingress/output-budget.js';
import { isContextExceeded, type Outcome } from '../outcome/classify.js';
import type { CompiledBackend, CompiledPolicy } from '../policy/types.js';
import { affordableOutputTokens, capOf, promptTokensOn, usageCostUsd } from '../routing/cost.js';
import type { Decision } from '../routing/types.js';
import { Attempt, type AttemptEnd } from './attempt.js';
import type { AttemptReport, RequestObserver, RequestScope } from './events.js';
import { upstreamHeadersFor } from './headers.js';
import type { ProxyPool } from './pool.js';
import type { TokenUsage } from './usage.js';

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
  /**
   * One attempt's body and its length and type headers, for a body that is not JSON (multipart
   * uploads, multipart-model.ts). Absent: `body` with `model` rewritten, as JSON.
   */
  readonly encode?: (backend: CompiledBackend) => {
    readonly body: Buffer | Readable;
    readonly headers: Readonly<Record<string, string>>;
  };
  /** False once a streamed body has been (partly) sent and cannot be sent again: no more attempts. */
  readonly replayable?: () => boolean;
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
      /** Tokens of the answer: as the backend reported them, else estimated (`estimated: true`). */
      readonly usage: TokenUsage | undefined;
      /** USD at the serving backend's prices, when usage is known. */
      readonly costUsd: number | undefined;
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
  const shape: BodyShape = {
    sentLimits: sentLimits(ctx.endpoint, ctx.body),
    stripUsage: askForStreamUsage(ctx.endpoint, ctx.body),
  };
  const failures: string[] = [];
  let lastOutcome: Outcome | undefined;
  let staleRetries = 0;
  let tried = attempts.length;
  // After a backend said the request exceeds its context window: the smallest window that may
  // still fit is one larger than that backend's (when it declares one).
  let windowAbove: number | undefined;
  let contextExceeded = false;
  for (let i = 0; i < attempts.length; i++) {
    const name = attempts[i]!;
    // A backend that left the policy under this request is skipped like an open breaker.
    const backend = ctx.policy.backends.get(name);
    const window = backend?.contextWindow;
    if (windowAbove !== undefined && window !== undefined && window <= windowAbove) {
      failures.push(`${name}: skipped (context window ${window} is not larger than ${windowAbove})`);
      continue;
    }
    const run =
      backend === undefined ? REFUSED : await runAttempt(appSocket, res, ctx, deps, i, shape, backend);
    if (run.kind === 'committed') {
      const { end, usage, costUsd } = run;
      return { kind: 'answered', backend: name, attempts: i + 1, end, usage, costUsd };
    }
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
    if (isContextExceeded(outcome)) {
      contextExceeded = true;
      if (window !== undefined) windowAbove = Math.max(windowAbove ?? 0, window);
    }
    lastOutcome = outcome;
    const why = describe(outcome, run.status);
    failures.push(`${name}: ${why}`);
    if (ctx.replayable?.() === false) {
      tried = i + 1;
      break;
    }
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
    attempts: tried,
    error: contextExceeded
      ? new RoutecarError(
          'context_length_exceeded',
          `the request does not fit the context window of any backend of route "${ctx.decision.route}" that was tried: ${failures.join('; ')}`,
        )
      : exhausted(ctx.decision.route, failures, lastOutcome),
  };
}

/** What every attempt's body starts from (the body itself is rewritten per attempt). */
interface BodyShape {
  /** The output-limit fields the app sent, as sent. */
  readonly sentLimits: ReadonlyMap<string, number>;
  /** routecar asked the backend for stream usage the app did not ask for. */
  readonly stripUsage: boolean;
}

/**
 * Events of a stream beyond its output tokens: the role chunk, the finish chunk, the usage chunk
 * and `[DONE]`. A stream is cut only past the affordable tokens plus these.
 */
const STREAM_FRAMING_EVENTS = 4;

type AttemptRun =
  | {
      readonly kind: 'committed';
      readonly end: AttemptEnd;
      readonly usage: TokenUsage | undefined;
      /** At the serving backend's prices, when usage was seen. */
      readonly costUsd: number | undefined;
    }
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
  shape: BodyShape,
  backend: CompiledBackend,
): Promise<AttemptRun> {
  const name = backend.name;
  const proxy = deps.proxies.get(name);
  // A backend whose proxy left the pool under this request is skipped like an open breaker.
  if (!proxy) return REFUSED;
  const admission = deps.gate.admit(name);
  if (!admission) return REFUSED;
  // Each backend gets the output limit its prices and the ceiling afford (a pricier failover, less).
  const ceiling = ctx.decision.maxCostUsd;
  const affordable = affordableOutputTokens(backend, ctx.features, ceiling);
  writeOutputLimit(ctx.endpoint, ctx.body, shape.sentLimits, capOf(affordable, ctx.features));
  const { body, headers: lengthHeaders } = ctx.encode?.(backend) ?? jsonBody(ctx.body, backend);
  const traced = ctx.scope?.attempt(name, index + 1);
  const headers = { ...upstreamHeadersFor(ctx.headers, proxy.auth), ...lengthHeaders };
  if (traced) Object.assign(headers, traced.headers);
  const attempt = new Attempt(appSocket, res, {
    backend,
    body,
    appPath: ctx.appPath,
    headers,
    last: index === ctx.decision.attempts.length - 1,
    responseHeaders: ctx.responseHeaders(name, index + 1),
    stripUsage: shape.stripUsage,
    usageAtStart: ctx.endpoint === 'messages',
    maxStreamEvents:
      affordable === undefined ? undefined : affordable * ctx.features.choices + STREAM_FRAMING_EVENTS,
  });
  const startedAtMs = Date.now();
  attempt.start(proxy);
  const end = await attempt.end;
  deps.gate.record(admission, end);
  const usage = end.usage ?? estimatedStreamUsage(backend, ctx.features, end);
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
    usage,
  };
  deps.observer.attemptFinished?.(report);
  traced?.end(report);
  return end.committed
    ? {
        kind: 'committed',
        end,
        usage,
        costUsd: usage === undefined ? undefined : usageCostUsd(backend, usage),
      }
    : { kind: 'abandoned', outcome: end.outcome, status: end.status };
}

/** The body with `model` rewritten for the backend, as JSON. */
function jsonBody(
  body: Record<string, unknown>,
  backend: CompiledBackend,
): { body: Buffer; headers: Record<string, string> } {
  body.model = backend.model;
  const bytes = Buffer.from(JSON.stringify(body));
  return { body: bytes, headers: { 'content-length': String(bytes.length) } };
}

/**
 * A stream the backend sent no usage for: the prompt at this backend's characters per token, and
 * one output token per content event (every event but the role chunk and `[DONE]`).
 */
function estimatedStreamUsage(
  backend: CompiledBackend,
  features: RequestFeatures,
  end: AttemptEnd,
): TokenUsage | undefined {
  if (end.streamEvents === undefined || end.outcome.kind !== 'success') return undefined;
  return {
    inputTokens: promptTokensOn(backend, features),
    outputTokens: Math.max(0, end.streamEvents - 2),
    estimated: true,
  };
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
    return new RoutecarError('no_healthy_backend', `no healthy backend for route "${route}": ${list}`);
  }
  const timeout = last?.kind === 'failure' && last.failure.endsWith('timeout');
  return timeout
    ? new RoutecarError('upstream_timeout', `every backend for route "${route}" timed out or failed: ${list}`)
    : new RoutecarError('upstream_unavailable', `every backend for route "${route}" failed: ${list}`);
}
