/**
 * One http-proxy-middleware instance per backend: a fixed target, the backend's own keep-alive
 * agent and API key, and event handlers that hand every proxy event to the attempt it belongs to.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import type { CompiledBackend } from '../policy/types.js';

/** The per-attempt receiver of proxy events (implemented by Exchange). */
export interface ProxyEventSink {
  onProxyReq(proxyReq: http.ClientRequest): void;
  onProxyRes(proxyRes: IncomingMessage): void;
  onError(err: NodeJS.ErrnoException): void;
}

/** Where the current attempt's sink hangs on the request while the middleware runs. */
const SINK = Symbol('routecar.attempt');
type TaggedRequest = IncomingMessage & { [SINK]?: ProxyEventSink };

export class BackendProxy {
  private readonly middleware: RequestHandler<IncomingMessage, ServerResponse>;
  private readonly agent: http.Agent;
  /** Path prefix of the backend's base URL (`/v1`), which the app's path already carries. */
  private readonly basePath: string;

  constructor(readonly backend: CompiledBackend) {
    const url = new URL(backend.baseUrl);
    const secure = url.protocol === 'https:';
    // Keep-alive is what makes a Node proxy fast: without it each request pays a TCP handshake.
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 })
      : new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });
    this.basePath = url.pathname.replace(/\/$/, '');
    const apiKey = backend.apiKeyEnv ? process.env[backend.apiKeyEnv] : undefined;
    this.middleware = createProxyMiddleware<IncomingMessage, ServerResponse>({
      target: `${url.protocol}//${url.host}`,
      changeOrigin: true,
      agent: this.agent,
      selfHandleResponse: true,
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : undefined,
      // The default plugins answer errors with their own 502 page and log to the console;
      // routecar classifies, fails over and answers in OpenAI's shape instead.
      ejectPlugins: true,
      plugins: [
        (server) => {
          server.on('proxyReq', (proxyReq, req) => sinkOf(req)?.onProxyReq(proxyReq));
          server.on('proxyRes', (proxyRes, req) => sinkOf(req)?.onProxyRes(proxyRes));
          server.on('error', (err, req) => sinkOf(req)?.onError(err as NodeJS.ErrnoException));
          // httpxy reports resets while the app's socket is already gone under this name.
          server.on('econnreset', (err, req) => sinkOf(req)?.onError(err as NodeJS.ErrnoException));
        },
      ],
    });
  }

  /** Starts one attempt: the app path (`/v1/chat/completions`) is mapped under the backend's base URL. */
  send(req: IncomingMessage, res: ServerResponse, appPath: string, sink: ProxyEventSink): void {
    (req as TaggedRequest)[SINK] = sink;
    req.url = this.basePath + appPath.replace(/^\/v1/, '');
    void this.middleware(req, res, noop);
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

function sinkOf(req: IncomingMessage | undefined): ProxyEventSink | undefined {
  return req ? (req as TaggedRequest)[SINK] : undefined;
}

function noop(): void {}
