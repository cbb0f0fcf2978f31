/**
 * Header hygiene between the app and the backends.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

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

/** Request headers that never go upstream as the app sent them: the body is rewritten per backend (its length set then), and the Host is the backend's. */
const REPLACED = new Set(['content-length', 'host', 'x-request-id']);

/**
 * The app's request headers as every attempt sends them, built once: without hop-by-hop headers,
 * those named in `Connection`, routecar's own steering headers and the length, and with a request
 * id. A new object rather than deletes on the old one, which would turn it into a slow dictionary.
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, requestId: string): IncomingHttpHeaders {
  const connection = headers.connection;
  const named =
    typeof connection === 'string' ? connection.split(',').map((t) => t.trim().toLowerCase()) : undefined;
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || REPLACED.has(name) || name.startsWith('x-routecar-')) continue;
    if (named !== undefined && named.includes(name)) continue;
    out[name] = headers[name];
  }
  out['x-request-id'] = requestId;
  return out;
}

/** The backend's response headers as the app should see them, with routecar's own (`own`) on top. */
export function responseHeaders(
  upstream: IncomingHttpHeaders,
  own: OutgoingHttpHeaders,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connection = upstream.connection;
  const named =
    typeof connection === 'string' ? connection.split(',').map((t) => t.trim().toLowerCase()) : [];
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) || named.includes(name)) continue;
    out[name] = upstream[name];
  }
  for (const name in own) out[name] = own[name];
  return out;
}
