/**
 * What http-proxy-middleware sees of one attempt: a request and a response of the attempt's own.
 *
 * The middleware (httpxy under it) hangs listeners on the request and response it is given and
 * acts on them: it destroys the response when the upstream one dies, destroys the upstream
 * request when the response closes, and pipes the request into the upstream. Given the app's own
 * request and response, those listeners pile up across attempts (and outlive them), and an
 * upstream's death would cut the app's response before routecar could end it properly. So each
 * attempt passes stand-ins instead, which is the middleware's own contract used as written:
 * - AttemptRequest carries the rewritten body and the attempt's headers; the middleware pipes it
 *   upstream as it would an incoming request;
 * - AttemptPort stands in for the response: `destroy()` is how the middleware says "the
 *   upstream response broke", and the port's `close` event is how the attempt says "stop the
 *   upstream now". The port also carries the attempt (`sink`) that the proxy's events belong to.
 */
import { EventEmitter } from 'node:events';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** The receiver of one attempt's proxy events (implemented by Attempt). */
export interface AttemptSink {
  onProxyReq(proxyReq: ClientRequest): void;
  onProxyRes(proxyRes: IncomingMessage): void;
  onError(err: NodeJS.ErrnoException): void;
  /** The middleware gave up on the upstream response (it closed early or errored). */
  onUpstreamBroken(err: Error | undefined): void;
}

/**
 * The request one attempt sends: method, path, headers and the body bytes.
 *
 * Not a Readable: the middleware only listens for `error` on it and calls `pipe(proxyReq)` once
 * the upstream socket is assigned, so a held body is handed over whole with `proxyReq.end(body)`.
 * That spares every attempt a stream's state, its flowing machinery and its pipe listeners.
 */
export class AttemptRequest extends EventEmitter {
  readonly method = 'POST';
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;

  /**
   * @param url app path, e.g. `/v1/chat/completions` (BackendProxy maps it under the base URL)
   * @param headers this attempt's upstream headers, `content-length` included (absent: chunked)
   * @param body the bytes, or a stream for a body that is not held (multipart-model.ts)
   * @param socket the app's socket: the middleware reads `socket.server` and `socket.writable`
   */
  constructor(
    public url: string,
    readonly headers: IncomingHttpHeaders,
    private readonly body: Buffer | Readable,
    readonly socket: Socket,
  ) {
    super();
  }

  pipe<T extends NodeJS.WritableStream>(dest: T): T {
    const body = this.body;
    if (Buffer.isBuffer(body)) dest.end(body);
    else body.pipe(dest);
    return dest;
  }
}

export class AttemptPort extends EventEmitter {
  // The fields httpxy reads off a response. routecar writes the app's response itself
  // (selfHandleResponse), so to the middleware this one never starts or finishes.
  readonly headersSent = false;
  readonly finished = false;
  readonly writableFinished = false;
  destroyed = false;
  private closed = false;

  constructor(readonly sink: AttemptSink) {
    super();
  }

  /** The attempt's port, when `res` is one. */
  static of(res: unknown): AttemptPort | undefined {
    return res instanceof AttemptPort ? res : undefined;
  }

  /** Called by the middleware when the upstream response closed before its end, or errored. */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.sink.onUpstreamBroken(err);
    return this;
  }

  /** The attempt is over: the middleware stops the upstream request and response if still open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.destroyed = true;
    this.emit('close');
  }
}
