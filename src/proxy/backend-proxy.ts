/**
 * One http-proxy-middleware instance per backend: a fixed target, the backend's own keep-alive
 * agent and credentials. Each attempt hands the middleware a request and a response of its own
 * (see attempt-port.ts), so every proxy event names the attempt it belongs to and nothing one
 * attempt leaves behind can reach the next.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import type { CompiledBackend } from '../policy/types.js';
import { AttemptPort, type AttemptRequest } from './attempt-port.js';
import { backendAuth, type BackendAuth } from './headers.js';

export class BackendProxy {
  /** How this backend authenticates (its own key, or the app's credentials passed through). */
  readonly auth: BackendAuth;
  private readonly middleware: RequestHandler<IncomingMessage, ServerResponse>;
  private readonly agent: http.Agent;
  /** Path prefix of the backend's base URL (`/v1`), which the app's path already carries. */
  private readonly basePath: string;
  /** The policy's `query` for this backend (`?api-version=...`), or empty. */
  private readonly search: string;

  constructor(readonly backend: CompiledBackend) {
    const url = new URL(backend.baseUrl);
    const secure = url.protocol === 'https:';
    // Keep-alive is what makes a Node proxy fast: without it each request pays a TCP handshake.
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 })
      : new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });
    this.basePath = url.pathname.replace(/\/$/, '');
    const query = new URLSearchParams(backend.query ?? {}).toString();
    this.search = query === '' ? '' : `?${query}`;
    this.auth = backendAuth(backend, process.env);
    this.middleware = createProxyMiddleware<IncomingMessage, ServerResponse>({
      target: `${url.protocol}//${url.host}`,
      changeOrigin: true,
      agent: this.agent,
      // routecar looks at the status before anything reaches the app, then writes the body itself.
      selfHandleResponse: true,
      // The default plugins answer errors with their own 502 page and log to the console;
      // routecar classifies, fails over and answers in OpenAI's shape instead.
      ejectPlugins: true,
      plugins: [
        (server) => {
          server.on('proxyReq', (proxyReq, _req, res) => AttemptPort.of(res)?.sink.onProxyReq(proxyReq));
          server.on('proxyRes', (proxyRes, _req, res) => AttemptPort.of(res)?.sink.onProxyRes(proxyRes));
          server.on('error', (err, _req, res) =>
            AttemptPort.of(res)?.sink.onError(err as NodeJS.ErrnoException),
          );
          // httpxy's name for a reset while the app's socket is already gone.
          server.on('econnreset', (err, _req, res) =>
            AttemptPort.of(res)?.sink.onError(err as NodeJS.ErrnoException),
          );
        },
      ],
    });
  }

  /** Starts one attempt: the app path (`/v1/chat/completions`) is mapped under the backend's base URL. */
  send(req: AttemptRequest, port: AttemptPort): void {
    req.url = this.basePath + req.url.replace(/^\/v1/, '') + this.search;
    void this.middleware(req as unknown as IncomingMessage, port as unknown as ServerResponse, noop);
  }

  /**
   * Leaves the pool after a policy change: idle sockets close now, in-flight attempts finish on
   * theirs, and those sockets are closed instead of pooled when they come free.
   */
  retire(): void {
    (this.agent as http.Agent & { keepAlive: boolean }).keepAlive = false;
    for (const sockets of Object.values(this.agent.freeSockets)) for (const s of sockets ?? []) s.destroy();
  }

  /** Closes every socket, in use or not (shutdown). */
  close(): void {
    this.agent.destroy();
  }
}

function noop(): void {}
