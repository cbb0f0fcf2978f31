/**
 * The app-facing listener: OpenAI-compatible endpoints on localhost. Each request goes
 * ingress -> policy snapshot -> decide -> forward, in that order and only that order.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import express, { type Express } from 'express';
import type { Endpoint, RequestFeatures } from '../ingress/features.js';
import { ENDPOINT_PATHS, extractRequest } from '../ingress/extract.js';
import { readBody, settleBody } from '../ingress/read-body.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { RequestObserver } from '../proxy/events.js';
import { forward, type ForwardDeps } from '../proxy/forward.js';
import { upstreamRequestHeaders } from '../proxy/headers.js';
import type { HealthLookup } from '../health/types.js';
import { decide } from '../routing/decide.js';
import { checkRequest, createHostCheck, requestGuard, type HostPolicyOptions } from './hardening.js';
import { refusalError, refusalHeaders } from './refusal.js';
import { RoutecarError, sendError } from './errors.js';

export interface ProxyAppDeps extends ForwardDeps {
  /** The policy snapshot in force now (undefined until the first one is loaded). */
  readonly policy: () => CompiledPolicy | undefined;
  readonly health: HealthLookup;
  readonly observer: RequestObserver;
  readonly maxBodyBytes: number;
  /** Deadline for a whole request body; `DEFAULT_BODY_TIMEOUT_MS` (read-body.ts) when unset. */
  readonly bodyTimeoutMs?: number;
  readonly random: () => number;
  /** Which Host (and Origin) names the listener answers to; see hardening.ts. */
  readonly hosts: HostPolicyOptions;
}

const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map(Object.entries(ENDPOINT_PATHS));

/**
 * The app-facing request listener. The four OpenAI POST endpoints are dispatched here, directly:
 * express swaps the prototype of every request and response it sees, which costs about as much
 * CPU as routecar's whole routing decision (docs/benchmarks.md). Everything else (GET /v1/models,
 * the 404s) goes through the express app. Both paths run the same request guard first.
 */
export function createProxyListener(deps: ProxyAppDeps): RequestListener {
  const app = createProxyApp(deps);
  const allowed = createHostCheck(deps.hosts);
  return (req, res) => {
    if (req.method === 'POST') {
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const path = query < 0 ? url : url.slice(0, query);
      const endpoint = ENDPOINTS.get(path);
      if (endpoint !== undefined) {
        const refusal = checkRequest(req, allowed);
        if (refusal !== undefined) {
          sendError(res, refusal, { connection: 'close' });
          return;
        }
        void handle(req, res, endpoint, path, deps);
        return;
      }
    }
    app(req, res);
  };
}

/**
 * The express app behind the listener: /v1/models, the 404s, and the spellings of the endpoints
 * the exact-match fast path leaves to express's routing (a trailing slash, other letter case).
 */
function createProxyApp(deps: ProxyAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Before any route: absolute-form targets, foreign Host and Origin headers never reach routing.
  app.use(requestGuard(deps.hosts));
  for (const [path, endpoint] of Object.entries(ENDPOINT_PATHS)) {
    app.post(path, (req, res) => {
      void handle(req, res, endpoint, path, deps);
    });
  }
  app.get('/v1/models', (_req, res) => {
    const policy = deps.policy();
    const data = policy
      ? [...policy.routes.keys()].map((id) => ({ id, object: 'model', created: 0, owned_by: 'routecar' }))
      : [];
    res.json({ object: 'list', data });
  });
  // Not an open proxy: anything that is not an OpenAI endpoint ends here.
  app.use((req, res) => {
    sendError(
      res,
      new RoutecarError(404, 'unknown_endpoint', `routecar does not serve ${req.method} ${req.path}`),
    );
  });
  return app;
}

async function handle(
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
  res.setHeader('x-request-id', requestId);
  let features: RequestFeatures | undefined;
  let policy: CompiledPolicy | undefined;
  // Every answer routecar gives itself is reported like a forwarded one, so metrics and logs
  // count malformed and refused requests too.
  const refused = (
    err: RoutecarError,
    route: string,
    rule: string | undefined,
    headers?: Record<string, string>,
  ): void => {
    sendError(res, err, headers);
    deps.observer.requestFinished?.({
      requestId,
      endpoint,
      requestedRoute: features?.route ?? 'unknown',
      route,
      backend: undefined,
      responseModel: undefined,
      variant: 'none',
      attempts: 0,
      status: err.status,
      errorCode: err.code,
      stream: features?.stream ?? false,
      startedAtMs,
      durationMs: performance.now() - startedAtPerf,
      ttfbMs: undefined,
      usage: undefined,
      costUsd: undefined,
      tenant: features?.tenant,
      policyVersion: policy?.version ?? 'none',
      rule,
      reason: err.message,
    });
  };
  try {
    policy = deps.policy();
    if (!policy) throw new RoutecarError(503, 'not_ready', 'routecar has no policy loaded yet');
    const raw = await readBody(req, deps.maxBodyBytes, deps.bodyTimeoutMs);
    const extracted = extractRequest(endpoint, req.headers, raw);
    features = extracted.features;
    const result = decide({ policy, health: deps.health, features, nowMs: Date.now(), random: deps.random });
    if (!result.ok) {
      const { route, rule } = result.refusal;
      refused(refusalError(result.refusal), route, rule, refusalHeaders(result.refusal, policy));
      return;
    }
    req.headers = upstreamRequestHeaders(req.headers, requestId);
    const ctx = {
      requestId,
      endpoint,
      appPath,
      features,
      body: extracted.body,
      policy,
      decision: result.decision,
      startedAtMs,
      startedAtPerf,
    };
    await forward(req, res, ctx, deps);
  } catch (err) {
    // Only a route the policy knows may become a label value: the body is the app's to fill.
    const route = features !== undefined && policy?.routes.has(features.route) ? features.route : 'unknown';
    if (err instanceof RoutecarError) {
      settleBody(req, res, err);
      refused(err, route, undefined);
      return;
    }
    refused(
      new RoutecarError(500, 'internal_error', `routecar failed on this request: ${(err as Error).message}`),
      route,
      undefined,
    );
  }
}
