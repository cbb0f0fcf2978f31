/**
 * The admin listener: probes, metrics, and read-only views of what the router sees.
 * It binds to localhost by default; bound anywhere else, /admin/* requires the admin token.
 * Every path first passes the same request-target, Host and Origin checks as the app-facing
 * listener (hardening.ts), with ROUTECAR_ADMIN_ALLOWED_HOSTS as its list of extra names.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { RoutecarError, sendError } from './errors.js';
import { requestGuard, type HostPolicyOptions } from './hardening.js';

export interface AdminDeps {
  /** True once a policy is loaded, false again while draining. */
  readonly ready: () => boolean;
  /** Why not ready, for the /readyz body. */
  readonly notReadyReason: () => string;
  /** /admin/state: breaker and window statistics per backend. */
  readonly state: () => unknown;
  /** /admin/policy: active version, source, load time, last error (secrets redacted). */
  readonly policy: () => unknown;
  /** /admin/explain: the decision for one request body and headers, without sending traffic. */
  readonly explain: (body: Buffer, headers: IncomingMessage['headers']) => unknown;
  /** /metrics handler, when telemetry is on. */
  readonly metrics?: (req: IncomingMessage, res: ServerResponse) => void;
  /** ROUTECAR_ADMIN_TOKEN. */
  readonly adminToken: string | undefined;
  /** Whether the admin listener is bound to loopback only. */
  readonly loopbackOnly: boolean;
  readonly maxBodyBytes: number;
  /**
   * Which Host (and Origin) names the admin listener answers to: its listen host and
   * ROUTECAR_ADMIN_ALLOWED_HOSTS (see hardening.ts).
   */
  readonly hosts: HostPolicyOptions;
}

/** Where a refused Host or Origin is told to go. */
export const ADMIN_ALLOWED_HOSTS_VARIABLE = 'ROUTECAR_ADMIN_ALLOWED_HOSTS';

/** Liveness probe: the process answers. Always open. */
export const HEALTHZ_PATH = '/healthz';
/** Readiness probe: a policy is loaded and routecar is not draining. Always open. */
export const READYZ_PATH = '/readyz';
/** Prometheus scrape endpoint. Always open. */
export const METRICS_PATH = '/metrics';
/** Everything under it needs ROUTECAR_ADMIN_TOKEN off loopback. */
export const ADMIN_PREFIX = '/admin';

export function createAdminApp(deps: AdminDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Before every route, probes and /metrics included: a rebinding page must not read any of them.
  app.use(requestGuard({ ...deps.hosts, allowedHostsVariable: ADMIN_ALLOWED_HOSTS_VARIABLE }));
  app.get(HEALTHZ_PATH, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(READYZ_PATH, (_req, res) => {
    if (deps.ready()) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not ready', reason: deps.notReadyReason() });
  });
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get(METRICS_PATH, (req, res) => metrics(req, res));
  }
  app.use(ADMIN_PREFIX, guard(deps));
  app.get('/admin/state', (_req, res) => {
    res.json(deps.state());
  });
  app.get('/admin/policy', (_req, res) => {
    res.json(deps.policy());
  });
  app.post(
    '/admin/explain',
    express.raw({ type: () => true, limit: deps.maxBodyBytes }),
    (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      try {
        res.json(deps.explain(body, req.headers));
      } catch (err) {
        if (err instanceof RoutecarError) sendError(res, err);
        else throw err;
      }
    },
  );
  app.use((req, res) => {
    sendError(res, new RoutecarError(404, 'unknown_endpoint', `no admin endpoint ${req.method} ${req.path}`));
  });
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    const status = typeof err.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
    sendError(
      res,
      new RoutecarError(status, status === 413 ? 'request_too_large' : 'admin_error', err.message),
    );
  });
  return app;
}

/**
 * Reads are open on loopback (only the pod can reach them); mutations always need the token
 * when one is set, and off loopback everything under /admin does.
 */
function guard(deps: AdminDeps) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const mutating = req.method !== 'GET' && req.method !== 'HEAD';
    // explain sends no traffic and changes nothing, so it counts as a read.
    const read = !mutating || req.path === '/explain';
    const needsToken = !deps.loopbackOnly || (!read && deps.adminToken !== undefined);
    if (!needsToken) return next();
    if (deps.adminToken === undefined) {
      sendError(
        res,
        new RoutecarError(
          403,
          'admin_disabled',
          'the admin API is bound off loopback and ROUTECAR_ADMIN_TOKEN is not set',
        ),
      );
      return;
    }
    const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!constantTimeEqual(given, deps.adminToken)) {
      sendError(
        res,
        new RoutecarError(
          401,
          'unauthorized',
          'admin endpoints need "Authorization: Bearer <ROUTECAR_ADMIN_TOKEN>"',
        ),
        {
          'www-authenticate': 'Bearer',
        },
      );
      return;
    }
    next();
  };
}

function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
