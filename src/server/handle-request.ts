/**
 * The edge of the request path: one OpenAI request from arrival to the request report. It reads
 * the body, extracts the features, checks the tenant's budget, asks classifiers when a rule needs
 * them, decides, forwards, and answers routecar's own errors; and it reports every request once,
 * whatever happened to it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ClassifierClient } from '../classify/client.js';
import { classifyRequest } from '../classify/classify-request.js';
import type { Endpoint, RequestFeatures } from '../ingress/features.js';
import { extractFromBody, extractRequest, headerValue, MULTIPART_PATHS } from '../ingress/extract.js';
import { MultipartBody, readMultipartModel } from '../ingress/multipart-model.js';
import { DEFAULT_BODY_TIMEOUT_MS, readBody, settleBody } from '../ingress/read-body.js';
import type { CompiledBackend, CompiledPolicy, CompiledRoute } from '../policy/types.js';
import { NO_TENANT, type BudgetVerdict, type SpendLedger } from '../budget/ledger.js';
import type { BanditView } from '../routing/bandit.js';
import type { LocalGuardSpec } from '../routing/local-guard.js';
import type { Outcome } from '../outcome/classify.js';
import { formatUsd } from '../routing/cost.js';
import type { RequestObserver, RequestReport, RequestScope } from '../proxy/events.js';
import { forward, type ForwardDeps } from '../proxy/forward.js';
import { upstreamRequestHeaders } from '../proxy/headers.js';
import type { HealthLookup } from '../health/types.js';
import type { SignalLookup } from '../signals/types.js';
import { decide } from '../routing/decide.js';
import { ZoneMemory } from '../routing/zone-memory.js';
import type { HostPolicyOptions } from './hardening.js';
import { refusalError, refusalHeaders } from './refusal.js';
import { RoutecarError, sendError, type ErrorShape } from './errors.js';

export interface ProxyAppDeps extends ForwardDeps {
  /** The policy snapshot in force now (undefined until the first one is loaded). */
  readonly policy: () => CompiledPolicy | undefined;
  readonly health: HealthLookup;
  /** Fresh model-server load signals by backend (none when absent). */
  readonly signals?: SignalLookup;
  /** This sidecar's zone (`ROUTECAR_ZONE`); undefined when unknown. */
  readonly zone?: string | undefined;
  /** Which routes' traffic is out of the zone (hysteresis state); default: one for this listener. */
  readonly zoneMemory?: ZoneMemory;
  readonly observer: RequestObserver;
  readonly maxBodyBytes: number;
  /** Deadline for a whole request body; `DEFAULT_BODY_TIMEOUT_MS` (read-body.ts) when unset. */
  readonly bodyTimeoutMs?: number;
  readonly random: () => number;
  /** Which Host (and Origin) names the listener answers to; see hardening.ts. */
  readonly hosts: HostPolicyOptions;
  /** Tenants' spend against the policy's budgets; none checked when absent. */
  readonly spend?: SpendLedger;
  /** Asks the policy's classifiers (`match.class` rules); default: one client for this listener. */
  readonly classifier?: ClassifierClient;
  /** The local canary guard of a route, from its Consul canary spec (src/canary/guard-watch.ts). */
  readonly localGuard?: (route: string) => LocalGuardSpec | undefined;
  /** The bandit's view of a route with `bandit` (src/feedback/bandit-feed.ts). */
  readonly bandit?: (route: CompiledRoute) => BanditView | undefined;
  /** `POST /v1/feedback` (src/feedback/feedback.ts); the path answers 404 without it. */
  readonly feedback?: (req: IncomingMessage, res: ServerResponse) => void;
}

export async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  endpoint: Endpoint,
  appPath: string,
  deps: ProxyAppDeps,
): Promise<void> {
  const startedAtPerf = performance.now();
  const startedAtMs = Date.now();
  const incomingId = req.headers['x-request-id'];
  const requestId = typeof incomingId === 'string' && incomingId !== '' ? incomingId : randomUUID();
  // Every answer carries the id, but set with the head (writeHead's fast path takes one object;
  // an early setHeader would make Node merge header tables on every response).
  const idHeader = { 'x-request-id': requestId };
  // Clients of the Messages API parse Anthropic's error envelope; everyone else OpenAI's.
  const shape: ErrorShape = endpoint === 'messages' ? 'anthropic' : 'openai';
  let features: RequestFeatures | undefined;
  let policy: CompiledPolicy | undefined;
  let scope: RequestScope | undefined;
  // Every request is reported once, from here: forwarded, refused, failed or abandoned. One
  // object with every field in one order, so each report has the same shape.
  const report = (decided: DecidedFields, answer: AnswerFields): void => {
    const r: RequestReport = {
      requestId,
      endpoint,
      requestedRoute: features?.route ?? 'unknown',
      route: decided.route,
      backend: answer.backend,
      responseModel: answer.responseModel,
      variant: decided.variant,
      attempts: decided.attempts,
      status: answer.status,
      errorCode: answer.errorCode,
      stream: features?.stream ?? false,
      startedAtMs,
      durationMs: performance.now() - startedAtPerf,
      ttfbMs: answer.ttfbMs,
      usage: answer.usage,
      costUsd: answer.costUsd,
      tenant: features?.tenant,
      budgetTenant:
        features?.tenant !== undefined && policy?.budgets?.tenants.has(features.tenant)
          ? features.tenant
          : undefined,
      policyVersion: policy?.version ?? 'none',
      rule: decided.rule,
      reason: decided.reason,
      features,
      rules: decided.rules,
      classes: decided.classes,
      prompt: decided.prompt,
      outcome: answer.outcome,
      affinity: decided.affinity,
    };
    deps.observer.requestFinished?.(r);
    scope?.end(r);
  };
  const reportError = (err: RoutecarError, decided: DecidedFields): void =>
    report(decided, { ...NO_ANSWER, status: err.status, errorCode: err.code });
  try {
    policy = deps.policy();
    if (!policy) throw new RoutecarError('not_ready', 'routecar has no policy loaded yet');
    const upload = MULTIPART_ENDPOINTS.has(endpoint) ? await readUpload(req, deps) : undefined;
    const extracted =
      upload === undefined
        ? extractRequest(endpoint, req.headers, await readBody(req, deps.maxBodyBytes, deps.bodyTimeoutMs))
        : extractFromBody(endpoint, req.headers, { model: upload.model }, upload.payloadBytes);
    features = extracted.features;
    const overBudget = deps.spend?.check(policy.budgets, features.tenant, Date.now());
    if (overBudget !== undefined && !overBudget.ok) {
      const err = budgetExhausted(overBudget);
      const route = policy.routes.has(features.route) ? features.route : 'unknown';
      sendError(res, err, { ...idHeader, 'retry-after': String(overBudget.retryAfterS) }, shape);
      reportError(err, refusedFields(err, route, undefined));
      return;
    }
    // Only when a rule that reads a classifier is reached; decide itself never waits.
    if (policy.classifiers !== undefined && deps.classifier !== undefined)
      features = await classifyRequest(policy, features, deps.classifier);
    const result = decide({
      policy,
      health: deps.health,
      signals: deps.signals,
      zone: deps.zone,
      zoneLeft: deps.zoneMemory?.left,
      features,
      nowMs: Date.now(),
      random: deps.random,
      bandit: deps.bandit,
      localGuard: deps.localGuard,
    });
    if (!result.ok) {
      const { route, rule, rules, classes, prompt } = result.refusal;
      const err = refusalError(result.refusal);
      sendError(res, err, { ...idHeader, ...refusalHeaders(result.refusal, policy) }, shape);
      reportError(err, { ...refusedFields(err, route, rule), rules, classes, prompt });
      return;
    }
    const decision = result.decision;
    deps.zoneMemory?.record(decision);
    const own = policy;
    const routecarHeaders = (backend: string | undefined, attempts: number): Record<string, string> => {
      const h: Record<string, string> = {
        'x-routecar-route': decision.route,
        'x-routecar-variant': decision.variant,
        'x-routecar-attempts': String(attempts),
        'x-routecar-policy-version': own.version,
        'x-request-id': requestId,
      };
      if (backend !== undefined) h['x-routecar-backend'] = backend;
      return h;
    };
    scope = deps.observer.requestStarted?.({
      requestId,
      endpoint,
      requestedRoute: decision.requestedRoute,
      route: decision.route,
      variant: decision.variant,
      stream: features.stream,
      startedAtMs,
      policyVersion: policy.version,
      rule: decision.rule,
      reason: decision.reason,
      // Straight from the request: the features' header view is built only for rules that read it.
      traceparent: headerValue(req.headers, 'traceparent'),
      tracestate: headerValue(req.headers, 'tracestate'),
    });
    const forwarded = await forward(
      req.socket,
      res,
      {
        requestId,
        endpoint,
        appPath,
        features,
        body: extracted.body,
        policy,
        decision,
        headers: upstreamRequestHeaders(req.headers, requestId),
        responseHeaders: routecarHeaders,
        scope,
        ...(upload && {
          encode: (backend: CompiledBackend) => upload.body.forBackend(backend.model),
          replayable: () => upload.body.replayable,
        }),
      },
      deps,
    );
    const decided: DecidedFields = {
      route: decision.route,
      variant: decision.variant,
      rule: decision.rule,
      rules: decision.rules,
      classes: decision.classes,
      prompt: decision.prompt,
      reason: decision.reason,
      attempts: forwarded.attempts,
      affinity: decision.affinity,
    };
    switch (forwarded.kind) {
      case 'failed':
        sendError(res, forwarded.error, routecarHeaders(undefined, forwarded.attempts), shape);
        reportError(forwarded.error, decided);
        return;
      case 'gone':
        report(decided, { ...NO_ANSWER, status: 0, errorCode: 'client_gone' });
        return;
      case 'answered': {
        const { end, backend, usage, costUsd } = forwarded;
        const gone = end.outcome.kind === 'ignored' && end.outcome.reason === 'client_gone';
        report(decided, {
          backend,
          responseModel: policy.backends.get(backend)?.model,
          status: gone ? 0 : (end.status ?? 0),
          errorCode: gone ? 'client_gone' : end.cutOverBudget ? 'over_budget' : brokenCode(end.outcome),
          ttfbMs: end.ttfbMs,
          usage,
          costUsd,
          outcome: end.outcome,
        });
        return;
      }
    }
  } catch (err) {
    // Only a route the policy knows may become a label value: the body is the app's to fill.
    const route = features !== undefined && policy?.routes.has(features.route) ? features.route : 'unknown';
    const error =
      err instanceof RoutecarError
        ? err
        : new RoutecarError('internal_error', `routecar failed on this request: ${(err as Error).message}`);
    if (err instanceof RoutecarError) settleBody(req, res, err);
    sendError(res, error, idHeader, shape);
    reportError(error, refusedFields(error, route, undefined));
  }
}

/** 429 for a tenant whose budget is spent; the tenant is the app's header, so it is quoted and cut. */
function budgetExhausted(v: Extract<BudgetVerdict, { ok: false }>): RoutecarError {
  const who =
    v.tenant === NO_TENANT ? 'requests without a tenant' : `tenant ${JSON.stringify(v.tenant.slice(0, 100))}`;
  return new RoutecarError(
    'budget_exhausted',
    `${who} spent ${formatUsd(v.spentUsd)} of its ${formatUsd(v.limitUsd)} budget this ${v.window} (UTC); ` +
      `it renews in ${v.retryAfterS} s`,
  );
}

/** Endpoints whose body is a multipart form, read only as far as its `model` part. */
const MULTIPART_ENDPOINTS: ReadonlySet<Endpoint> = new Set(Object.values(MULTIPART_PATHS));

/** A multipart upload, read as far as its `model` part; the rest streams through per attempt. */
async function readUpload(
  req: IncomingMessage,
  deps: ProxyAppDeps,
): Promise<{ model: string; payloadBytes: number; body: MultipartBody }> {
  const head = await readMultipartModel(
    req,
    deps.maxBodyBytes,
    deps.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
  );
  const declared = Number(req.headers['content-length']);
  return {
    model: head.model,
    payloadBytes: Number.isSafeInteger(declared) ? declared : head.prefix.length,
    body: new MultipartBody(req, head),
  };
}

/** What the decision (or the refusal in its place) says about a request, for its report. */
type DecidedFields = Pick<
  RequestReport,
  'route' | 'variant' | 'attempts' | 'rule' | 'reason' | 'rules' | 'classes' | 'prompt' | 'affinity'
>;

/** What answered the request, for its report. */
type AnswerFields = Pick<
  RequestReport,
  'backend' | 'responseModel' | 'status' | 'errorCode' | 'ttfbMs' | 'usage' | 'costUsd' | 'outcome'
>;

const NO_ANSWER = {
  backend: undefined,
  responseModel: undefined,
  ttfbMs: undefined,
  usage: undefined,
  costUsd: undefined,
  outcome: undefined,
} as const;

/** A request routecar answered itself before any attempt. */
function refusedFields(err: RoutecarError, route: string, rule: string | undefined): DecidedFields {
  return { route, variant: 'none', attempts: 0, rule, reason: err.message };
}

/** The code of a committed response that did not end well (it went out cut, or with an SSE error event). */
function brokenCode(outcome: Outcome): string | undefined {
  if (outcome.kind !== 'failure') return undefined;
  if (outcome.failure === 'idle_timeout') return 'upstream_idle_timeout';
  // Anything else that fails after the commit is the upstream breaking mid-body; a failure that
  // came as a whole HTTP answer (the last attempt's 5xx, passed through) is not.
  return outcome.failure === 'stream_broken' ? 'upstream_stream_broken' : undefined;
}
