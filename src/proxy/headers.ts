/**
 * Header hygiene between the app and the backends.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { APP_CREDENTIAL_HEADERS } from '../ingress/extract.js';

/** What the usual `Connection` values name, without splitting them again on every message. */
const COMMON_CONNECTION: ReadonlyMap<string, readonly string[]> = new Map([
  ['keep-alive', ['keep-alive']],
  ['close', ['close']],
]);

/** The header names a `Connection` header lists (hop-by-hop for this message), lower-cased. */
function namedInConnection(connection: string | string[] | undefined): readonly string[] | undefined {
  if (typeof connection !== 'string') return undefined;
  return COMMON_CONNECTION.get(connection) ?? connection.split(',').map((t) => t.trim().toLowerCase());
}

/** RFC 9110 §7.6.1 hop-by-hop headers, plus the proxy-specific ones; never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Request headers that never go upstream as the app sent them: the body is re-serialised per
 * backend (its length set then, never compressed, never awaiting a 100-continue), and the Host is
 * the backend's.
 */
const REPLACED = new Set([
  'content-length',
  'content-encoding',
  'content-type',
  'expect',
  'host',
  'x-request-id',
]);

/**
 * The app's request headers as every attempt sends them, built once: without hop-by-hop headers,
 * those named in `Connection`, routecar's own steering headers and the length, and with a request
 * id and `content-type: application/json` (every endpoint routecar serves takes JSON, and the body
 * sent is routecar's re-serialisation). A new object rather than deletes on the old one, which
 * would turn it into a slow dictionary. The app's credentials are still in it: see
 * `upstreamHeadersFor`.
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, requestId: string): IncomingHttpHeaders {
  const named = namedInConnection(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || REPLACED.has(name) || name.startsWith('x-routecar-')) continue;
    if (named !== undefined && named.includes(name)) continue;
    out[name] = headers[name];
  }
  out['content-type'] = 'application/json';
  out['x-request-id'] = requestId;
  return out;
}

/** How a backend authenticates routecar's requests, as its policy entry says. */
export interface BackendAuth {
  /**
   * True when the policy gives the backend a key of its own (`apiKeyEnv`): the app's credentials
   * are then never sent to it, even when the variable turns out to be unset.
   */
  readonly ownKey: boolean;
  /** The key; undefined when the variable is unset or empty. */
  readonly apiKey: string | undefined;
  /** The header the key goes in (`authorization` unless the policy's `auth` says otherwise). */
  readonly header: string;
  /** `Bearer`: the header reads `Bearer <key>`; `none`: the key alone. */
  readonly scheme: 'Bearer' | 'none';
  /** The policy's static headers for this backend, sent on every attempt; undefined when none. */
  readonly extra: Readonly<Record<string, string>> | undefined;
}

/** Reads the backend's key from `env` (once per backend, when its proxy is built). */
export function backendAuth(
  backend: {
    readonly apiKeyEnv: string | undefined;
    readonly auth?: { readonly header: string; readonly scheme: 'Bearer' | 'none' } | undefined;
    readonly headers?: Readonly<Record<string, string>> | undefined;
  },
  env: Readonly<Record<string, string | undefined>>,
): BackendAuth {
  const header = backend.auth?.header ?? 'authorization';
  const scheme = backend.auth?.scheme ?? 'Bearer';
  const extra = backend.headers;
  if (backend.apiKeyEnv === undefined) return { ownKey: false, apiKey: undefined, header, scheme, extra };
  const value = env[backend.apiKeyEnv];
  const apiKey = value === undefined || value === '' ? undefined : value;
  return { ownKey: true, apiKey, header, scheme, extra };
}

/**
 * The headers one attempt sends to one backend, from the request's `upstreamRequestHeaders`.
 * A backend with its own key gets that key, in the header and scheme its `auth` names, and none of
 * the app's credential headers. A backend without one gets the headers as they are (the same
 * object when it has no static headers either: nothing to copy), the app's `authorization`,
 * `api-key`, `x-api-key` and `cookie` included, so an app whose backends all take its own key
 * keeps working through routecar. The policy's static headers go on last. `shared` is never
 * modified, so a failover from one kind of backend to the other starts from the app's headers again.
 */
export function upstreamHeadersFor(shared: IncomingHttpHeaders, auth: BackendAuth): IncomingHttpHeaders {
  if (!auth.ownKey && auth.extra === undefined) return shared;
  const out: IncomingHttpHeaders = {};
  for (const name in shared) {
    if (!auth.ownKey || !APP_CREDENTIAL_HEADERS.has(name.toLowerCase())) out[name] = shared[name];
  }
  if (auth.extra !== undefined) for (const name in auth.extra) out[name] = auth.extra[name];
  if (auth.apiKey !== undefined) {
    out[auth.header] = auth.scheme === 'Bearer' ? `Bearer ${auth.apiKey}` : auth.apiKey;
  }
  return out;
}

/** The backend's response headers as the app should see them, with routecar's own (`own`) on top. */
export function responseHeaders(
  upstream: IncomingHttpHeaders,
  own: OutgoingHttpHeaders,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = namedInConnection(upstream.connection);
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) || (named !== undefined && named.includes(name))) continue;
    out[name] = upstream[name];
  }
  for (const name in own) out[name] = own[name];
  return out;
}
