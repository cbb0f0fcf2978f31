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

/**
 * Prepares the app's request headers for every attempt, once: drops hop-by-hop headers, those
 * named in `Connection`, routecar's own steering headers and the length (the body is rewritten
 * per backend and its length set then), and makes sure there is a request id.
 */
export function sanitizeRequestHeaders(headers: IncomingHttpHeaders, requestId: string): void {
  const connection = headers.connection;
  if (typeof connection === 'string') {
    for (const token of connection.split(',')) delete headers[token.trim().toLowerCase()];
  }
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name) || name.startsWith('x-routecar-')) delete headers[name];
  }
  delete headers['content-length'];
  delete headers.host;
  headers['x-request-id'] = requestId;
}

/** The backend's response headers as the app should see them. */
export function responseHeaders(upstream: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connection = upstream.connection;
  const named = typeof connection === 'string' ? connection.split(',').map((t) => t.trim().toLowerCase()) : [];
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) || named.includes(name)) continue;
    out[name] = upstream[name];
  }
  return out;
}
