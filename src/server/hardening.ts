/**
 * The listeners' front door. routecar only ever forwards to a backend the policy names
 * (the target is never taken from the request line or the Host header), and on top of that it
 * refuses the shapes of request a proxy should never act on:
 *
 * - a request-target that is not origin-form (`POST http://evil.example/v1/...`, `OPTIONS *`):
 *   400, because an app speaking to its sidecar never sends one, and an open proxy would;
 * - more than one Host header: 400 (RFC 9112 §3.2);
 * - a Host that is not loopback, the listen address, or a name in ROUTECAR_ALLOWED_HOSTS: 421.
 *   This is the DNS-rebinding defence: a browser anywhere that can reach the listener (a dev
 *   machine, a notebook pod sharing the network namespace) can be made to resolve an attacker's
 *   name to 127.0.0.1 and then send same-origin requests to it; those always carry the attacker's
 *   name in Host, never an address routecar answers to;
 * - an `Origin` whose host is not allowed in the same way: 403. Server-side OpenAI clients send no
 *   Origin; a browser sends one on every cross-origin POST, which would otherwise reach the models
 *   even though the browser hides the answer;
 * - CONNECT: 405 and the connection closed (there is no tunnel here);
 * - framing that could smuggle a second request past routecar (Content-Length together with
 *   Transfer-Encoding, duplicated or malformed Content-Length, a Transfer-Encoding other than
 *   chunked, obs-fold, bare LF): Node's parser (llhttp, strict mode) rejects all of these before any
 *   handler runs; `refuseMalformedRequests` answers them with an OpenAI-shaped error and closes the
 *   connection, since nothing after a framing error on that connection can be trusted.
 *
 * The admin listener applies the same request-target, Host and Origin rules (`requestGuard`), with
 * its own list of names, ROUTECAR_ADMIN_ALLOWED_HOSTS: /admin/policy shows internal backend URLs
 * and, on loopback, needs no token, so a rebinding page must not reach it either. A scrape or probe
 * by pod IP passes because a wildcard listener accepts the machine's own addresses; an address
 * literal of this machine cannot be a rebinding vector, since rebinding needs a name.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import type { ErrorCode } from '../errors/routecar-error.js';
import { errorBody, RoutecarError, sendError } from './errors.js';

export interface HostPolicyOptions {
  /** The listener's host (`127.0.0.1`, `0.0.0.0`, `::`, a name or an address). */
  readonly listenHost: string;
  /**
   * ROUTECAR_ALLOWED_HOSTS (ROUTECAR_ADMIN_ALLOWED_HOSTS for the admin listener) entries: a name
   * exactly, or `.example.com` for it and its subdomains.
   */
  readonly allowedHosts: readonly string[];
  /** The machine's own addresses, accepted when the listener binds a wildcard; default: read from the OS. */
  readonly interfaceAddresses?: readonly string[];
  /** The variable a refused client is told to add its name to; default `ROUTECAR_ALLOWED_HOSTS`. */
  readonly allowedHostsVariable?: string;
}

const APP_ALLOWED_HOSTS_VARIABLE = 'ROUTECAR_ALLOWED_HOSTS';

/** Decides whether a Host (or Origin host) names this routecar. */
export type HostCheck = (hostname: string) => boolean;

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]']);
/**
 * Loopback as an address literal only: a name such as `127.0.0.1.rebind.example` is exactly what
 * a rebinding attack would send, so a prefix test is not enough.
 */
const LOOPBACK_ADDRESS = /^(?:::1|(?:::ffff:)?127(?:\.\d{1,3}){3})$/;

/** Builds the Host check once; it runs on every request, so it is a set lookup. */
export function createHostCheck(options: HostPolicyOptions): HostCheck {
  const exact = new Set<string>(['localhost']);
  const suffixes: string[] = [];
  const listenHost = stripBrackets(options.listenHost.toLowerCase());
  if (WILDCARDS.has(options.listenHost)) {
    for (const address of options.interfaceAddresses ?? ownAddresses()) exact.add(address.toLowerCase());
  } else {
    exact.add(listenHost);
  }
  for (const entry of options.allowedHosts) {
    const name = entry.trim().toLowerCase();
    if (name.startsWith('.')) suffixes.push(name);
    else if (name !== '') exact.add(stripBrackets(name));
  }
  return (hostname) =>
    exact.has(hostname) ||
    LOOPBACK_ADDRESS.test(hostname) ||
    suffixes.some((suffix) => hostname.endsWith(suffix) || hostname === suffix.slice(1));
}

/**
 * The host part of a Host header value (`name`, `name:port`, `1.2.3.4:80`, `[::1]:4100`), lowercased,
 * brackets and a trailing dot removed; undefined when the value is not a valid authority.
 */
export function hostnameOf(value: string): string | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9._~!$&'()*+,;=%-]+))(?::(\d{0,5}))?$/i.exec(value);
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? '').toLowerCase().replace(/\.$/, '');
}

/** Express middleware for a listener (app-facing or admin); must come before the routes. */
export function requestGuard(
  options: HostPolicyOptions,
): (req: Request, res: Response, next: NextFunction) => void {
  const allowed = createHostCheck(options);
  const variable = options.allowedHostsVariable ?? APP_ALLOWED_HOSTS_VARIABLE;
  return (req, res, next) => {
    const refusal = checkRequest(req, allowed, variable);
    if (refusal === undefined) return next();
    // The client is misbehaving or hostile: nothing more on this connection is worth reading.
    sendError(res, refusal, { connection: 'close' });
  };
}

/**
 * The refusal for a request, or undefined when it may go on to routing. `variable` is the setting
 * a refusal tells the operator to add a name to.
 */
export function checkRequest(
  req: IncomingMessage,
  allowed: HostCheck,
  variable = APP_ALLOWED_HOSTS_VARIABLE,
): RoutecarError | undefined {
  const target = req.url ?? '';
  if (!target.startsWith('/')) {
    return new RoutecarError(
      'invalid_request_target',
      'routecar is not a forward proxy: send origin-form requests (POST /v1/chat/completions); the backend comes from the policy',
    );
  }
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) return new RoutecarError('invalid_host', 'more than one Host header');
  const host = req.headers.host;
  // HTTP/1.1 without Host never gets here (Node answers 400); HTTP/1.0 may omit it, and a browser never does.
  if (host !== undefined) {
    const hostname = hostnameOf(host);
    if (hostname === undefined)
      return new RoutecarError('invalid_host', `malformed Host header "${clip(host)}"`);
    if (!allowed(hostname)) {
      return new RoutecarError(
        'host_not_allowed',
        `routecar does not answer to Host "${clip(hostname)}"; use localhost, or add the name to ${variable}`,
        { type: 'invalid_request_error' },
      );
    }
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !originAllowed(origin, allowed)) {
    return new RoutecarError(
      'origin_not_allowed',
      `requests from browser origin "${clip(origin)}" are refused; add its host to ${variable} if it should be served`,
    );
  }
  return undefined;
}

/**
 * Answers what Node's HTTP parser refused (smuggling shapes, oversized headers, header timeouts)
 * with an OpenAI-shaped error and closes the connection, and refuses CONNECT. Node's own fallback
 * writes a bare `400` with no body; the status codes here are the same as Node's.
 */
export function refuseMalformedRequests(server: Server): void {
  const current = new WeakMap<Duplex, ServerResponse>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => current.set(req.socket, res));
  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex) => {
    const res = current.get(socket);
    // A response already under way on this connection must not get an error spliced into it.
    const midResponse = res !== undefined && res.headersSent && !res.writableFinished;
    if (err.code === 'ECONNRESET' || !socket.writable || midResponse) {
      socket.destroy();
      return;
    }
    const [code, message] = describeParseError(err);
    endWith(socket, new RoutecarError(code, message));
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    endWith(
      socket,
      new RoutecarError('method_not_allowed', 'routecar is not a forward proxy: CONNECT is refused'),
      'GET, POST',
    );
  });
}

function describeParseError(err: NodeJS.ErrnoException & { reason?: string }): [ErrorCode, string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return ['request_header_fields_too_large', 'request headers too large'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return ['request_too_large', 'chunk extensions too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return ['request_timeout', 'the request was not received in time'];
    default:
      return [
        'malformed_request',
        `malformed HTTP request refused (${err.reason ?? err.code ?? 'parse error'}); the connection is closed`,
      ];
  }
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
};

/** Writes a whole HTTP/1.1 error response on a raw socket and closes it. */
function endWith(socket: Duplex, err: RoutecarError, allow?: string): void {
  const body = errorBody(err);
  const head = [
    `HTTP/1.1 ${err.status} ${REASONS[err.status] ?? 'Error'}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    ...(allow ? [`allow: ${allow}`] : []),
    'connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  // A peer that never reads would otherwise hold the socket open.
  setTimeout(() => socket.destroy(), 2_000).unref();
}

function originAllowed(origin: string, allowed: HostCheck): boolean {
  try {
    return allowed(stripBrackets(new URL(origin).hostname.toLowerCase()).replace(/\.$/, ''));
  } catch {
    return false; // `null` (sandboxed frames, file://) or garbage
  }
}

function ownAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((info) => info.address);
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
