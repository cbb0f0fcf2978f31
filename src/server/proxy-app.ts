/**
 * The app-facing listener: OpenAI-compatible endpoints on localhost. Each request goes
 * ingress -> policy snapshot -> decide -> forward, in that order and only that order.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import express, { type Express } from 'express';
import type { Endpoint, RequestFeatures } from '../ingress/features.js';
import { ENDPOINT_PATHS, extractRequest } from '../ingress/extract.js';
import { readBody } from '../ingress/read-body.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { RequestObserver } from '../proxy/events.js';
import { forward, type ForwardDeps } from '../proxy/forward.js';
import { upstreamRequestHeaders } from '../proxy/headers.js';
import type { HealthLookup } from '../health/types.js';
import { decide } from '../routing/decide.js';
import { requestGuard, type HostPolicyOptions } from './hardening.js';
import { refusalError } from './refusal.js';
import { RoutecarError, sendError } from './errors.js';

export interface ProxyAppDeps extends ForwardDeps {
  /** The policy snapshot in force now (undefined until the first one is loaded). */
  readonly policy: () => CompiledPolicy | undefined;
  readonly health: HealthLookup;
  readonly observer: RequestObserver;
  readonly maxBodyBytes: number;
  readonly random: () => number;
  /** Which Host (and Origin) names the listener answers to; see hardening.ts. */
  readonly hosts: HostPolicyOptions;
}

export function createProxyApp(deps: ProxyAppDeps): Express {
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
    const raw = await readBody(req, deps.maxBodyBytes);
    const extracted = extractRequest(endpoint, req.headers, raw);
    features = extracted.features;
    const result = decide({ policy, health: deps.health, features, nowMs: Date.now(), random: deps.random });
    if (!result.ok) {
      const { route, rule } = result.refusal;
      refused(refusalError(result.refusal), route, rule, {
        'x-routecar-route': route,
        'x-routecar-policy-version': policy.version,
      });
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
      // The rest of an oversized or unreadable body is not worth reading: close after answering.
      if (err.status === 413) res.setHeader('connection', 'close');
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
