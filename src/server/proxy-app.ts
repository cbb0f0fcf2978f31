/**
 * The app-facing listener: OpenAI-compatible endpoints on localhost. Each request goes
 * ingress -> policy snapshot -> decide -> forward, in that order and only that order.
 */
import type { RequestListener, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { ClassifierClient } from '../classify/client.js';
import type { Endpoint } from '../ingress/features.js';
import { quoteClientText } from '../ingress/client-text.js';
import { ENDPOINT_PATHS, MULTIPART_PATHS } from '../ingress/extract.js';
import { ZoneMemory } from '../routing/zone-memory.js';
import { checkRequest, createHostCheck, requestGuard } from './hardening.js';
import { RoutecarError, sendError } from './errors.js';
import { handleRequest, type ProxyAppDeps } from './handle-request.js';

export type { ProxyAppDeps } from './handle-request.js';

const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map([
  ...Object.entries(ENDPOINT_PATHS),
  ...Object.entries(MULTIPART_PATHS),
]);

/**
 * The app-facing request listener. The OpenAI endpoints at their exact paths (the POSTs,
 * `GET /v1/models` and `/v1/models/{id}`, `POST /v1/feedback`) are answered here directly: express
 * swaps the prototype of every request and response it sees, which costs about as much CPU as
 * routecar's whole routing decision (docs/benchmarks.md), and loading it costs every sidecar ~60
 * ms of start-up and several MB. Everything else (other spellings of those paths, the 404s) goes
 * to an express app loaded on first use. Every path runs the same request guard first.
 */
export function createProxyListener(deps: ProxyAppDeps): RequestListener {
  // One classifier connection pool and label cache for the listener's life, across policy reloads.
  if (deps.classifier === undefined) deps = { ...deps, classifier: new ClassifierClient() };
  if (deps.zoneMemory === undefined) deps = { ...deps, zoneMemory: new ZoneMemory() };
  const allowed = createHostCheck(deps.hosts);
  // One handler per endpoint for the listener's life, not a closure per request.
  const posts = new Map<string, RequestListener>();
  for (const [path, endpoint] of ENDPOINTS)
    posts.set(path, (req, res) => void handleRequest(req, res, endpoint, path, deps));
  let expressApp: Promise<RequestListener> | undefined;
  const fallback: RequestListener = (req, res) => {
    (expressApp ??= loadExpressApp(deps)).then(
      (app) => app(req, res),
      (err: unknown) => sendError(res, new RoutecarError('internal_error', (err as Error).message)),
    );
  };
  return (req, res) => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const route = exactRoute(req.method, path, posts, deps);
    if (route === undefined) return fallback(req, res);
    const refusal = checkRequest(req, allowed);
    if (refusal !== undefined) {
      sendError(res, refusal, { connection: 'close' });
      return;
    }
    route(req, res);
  };
}

/** The handler of an exact method and path this listener serves without express. */
function exactRoute(
  method: string | undefined,
  path: string,
  posts: ReadonlyMap<string, RequestListener>,
  deps: ProxyAppDeps,
): RequestListener | undefined {
  if (method === 'POST') {
    const post = posts.get(path);
    if (post !== undefined) return post;
    if (path === FEEDBACK_PATH) return deps.feedback;
    return undefined;
  }
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  if (path === MODELS_PATH) return (_req, res) => listModels(res, deps);
  if (path.startsWith(`${MODELS_PATH}/`)) {
    // What the SDK's models.retrieve asks; a route name may hold slashes (`meta/llama`), sent as
    // one encoded segment or several.
    let id: string;
    try {
      id = path
        .slice(MODELS_PATH.length + 1)
        .split('/')
        .map(decodeURIComponent)
        .join('/');
    } catch {
      return undefined; // a malformed escape: express's 404 answers it
    }
    return (_req, res) => retrieveModel(res, id, deps);
  }
  return undefined;
}

const MODELS_PATH = '/v1/models';
const FEEDBACK_PATH = '/v1/feedback';

function listModels(res: ServerResponse, deps: ProxyAppDeps): void {
  const policy = deps.policy();
  const data = policy ? [...policy.routes.keys()].map(modelObject) : [];
  sendJson(res, { object: 'list', data });
}

function retrieveModel(res: ServerResponse, id: string, deps: ProxyAppDeps): void {
  const policy = deps.policy();
  if (policy === undefined || !policy.routes.has(id)) {
    sendError(res, new RoutecarError('model_not_found', `The model ${quoteClientText(id)} does not exist`));
    return;
  }
  sendJson(res, modelObject(id));
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * The express app behind the listener, loaded on first use: the spellings of the endpoints the
 * exact-match paths leave to express's routing (a trailing slash, other letter case), and the 404s.
 */
async function loadExpressApp(deps: ProxyAppDeps): Promise<RequestListener> {
  const { default: express } = await import('express');
  const app: Express = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Before any route: absolute-form targets, foreign Host and Origin headers never reach routing.
  app.use(requestGuard(deps.hosts));
  for (const [path, endpoint] of ENDPOINTS) {
    app.post(path, (req, res) => {
      void handleRequest(req, res, endpoint, path, deps);
    });
  }
  if (deps.feedback) app.post(FEEDBACK_PATH, deps.feedback);
  app.get(MODELS_PATH, (_req, res) => listModels(res, deps));
  app.get(`${MODELS_PATH}/*id`, (req, res) => {
    const raw = (req.params as { id: string | string[] }).id;
    retrieveModel(res, Array.isArray(raw) ? raw.join('/') : raw, deps);
  });
  // Not an open proxy: anything that is not an OpenAI endpoint ends here.
  app.use((req, res) => {
    sendError(
      res,
      new RoutecarError('unknown_endpoint', `routecar does not serve ${req.method} ${req.path}`),
    );
  });
  return app;
}

/** A route as an OpenAI model object. */
function modelObject(id: string): { id: string; object: 'model'; created: number; owned_by: string } {
  return { id, object: 'model', created: 0, owned_by: 'routecar' };
}
