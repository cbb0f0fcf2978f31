/**
 * The admin listener: probes, metrics, and read-only views of what the router sees.
 * It binds to localhost by default; bound anywhere else, /admin/* requires the admin token.
 * Every path first passes the same request-target, Host and Origin checks as the app-facing
 * listener (hardening.ts), with ROUTECAR_ADMIN_ALLOWED_HOSTS as its list of extra names.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { readBody, settleBody } from '../ingress/read-body.js';
import { RoutecarError, sendError } from './errors.js';
import { checkRequest, createHostCheck, type HostPolicyOptions } from './hardening.js';

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

/**
 * The admin listener's request handler. Plain Node handlers rather than an express app: every
 * route is an exact path, and express would cost every sidecar ~60 ms of start-up and several MB
 * for nothing it does here.
 */
export function createAdminApp(deps: AdminDeps): RequestListener {
  const allowed = createHostCheck(deps.hosts);
  return (req, res) => {
    // Before every route, probes and /metrics included: a rebinding page must not read any of them.
    const refusal = checkRequest(req, allowed, ADMIN_ALLOWED_HOSTS_VARIABLE);
    if (refusal !== undefined) {
      // The client is misbehaving or hostile: nothing more on this connection is worth reading.
      sendError(res, refusal, { connection: 'close' });
      return;
    }
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (read && path === HEALTHZ_PATH) return sendJson(res, 200, { status: 'ok' });
    if (read && path === READYZ_PATH) {
      if (deps.ready()) return sendJson(res, 200, { status: 'ready' });
      return sendJson(res, 503, { status: 'not ready', reason: deps.notReadyReason() });
    }
    if (read && path === METRICS_PATH && deps.metrics) return deps.metrics(req, res);
    if (path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`)) {
      if (!admitted(deps, req, res, path)) return;
      if (read && path === '/admin/state') return sendJson(res, 200, deps.state());
      if (read && path === '/admin/policy') return sendJson(res, 200, deps.policy());
      if (req.method === 'POST' && path === '/admin/explain') return void explain(deps, req, res);
    }
    sendError(res, new RoutecarError('unknown_endpoint', `no admin endpoint ${req.method} ${path}`));
  };
}

async function explain(deps: AdminDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const body = await readBody(req, deps.maxBodyBytes);
    sendJson(res, 200, deps.explain(body, req.headers));
  } catch (err) {
    if (err instanceof RoutecarError) {
      settleBody(req, res, err);
      sendError(res, err);
    } else {
      sendError(res, new RoutecarError('admin_error', (err as Error).message));
    }
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * Reads are open on loopback (only the pod can reach them); mutations always need the token
 * when one is set, and off loopback everything under /admin does. Answers the refusal itself.
 */
function admitted(deps: AdminDeps, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const mutating = req.method !== 'GET' && req.method !== 'HEAD';
  // explain sends no traffic and changes nothing, so it counts as a read.
  const read = !mutating || path === '/admin/explain';
  const needsToken = !deps.loopbackOnly || (!read && deps.adminToken !== undefined);
  if (!needsToken) return true;
  if (deps.adminToken === undefined) {
    sendError(
      res,
      new RoutecarError(
        'admin_disabled',
        'the admin API is bound off loopback and ROUTECAR_ADMIN_TOKEN is not set',
      ),
    );
    return false;
  }
  const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
  if (!constantTimeEqual(given, deps.adminToken)) {
    sendError(
      res,
      new RoutecarError(
        'unauthorized',
        'admin endpoints need "Authorization: Bearer <ROUTECAR_ADMIN_TOKEN>"',
      ),
      { 'www-authenticate': 'Bearer' },
    );
    return false;
  }
  return true;
}

function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
