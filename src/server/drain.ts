/**
 * Graceful drain of an HTTP listener. On `drain()`:
 * - the listening socket closes, so new connections are refused at once;
 * - idle keep-alive connections are closed; a connection becomes idle the moment its response
 *   ends, and is closed then (and by a sweep, for connections that never sent a request);
 * - a request that arrives on an open keep-alive connection is still served, but with
 *   `Connection: close`, so the app's client opens its next connection elsewhere; responses in
 *   flight whose head is not written yet get the same header;
 * - in-flight requests and streams run to completion, up to the deadline.
 * What is still open at the deadline is left to the caller to cut.
 */
import type { Server, ServerResponse } from 'node:http';

export type DrainResult =
  | { readonly result: 'drained' }
  /** `cut`: responses still in flight when the deadline came. */
  | { readonly result: 'deadline'; readonly cut: number };

/** How often idle connections are swept while draining. */
const IDLE_SWEEP_MS = 100;

export class HttpDrainer {
  #draining = false;
  readonly #inflight = new Set<ServerResponse>();

  constructor(private readonly server: Server) {
    // Prepended: it must run before the app's handler can write the response head.
    server.prependListener('request', (_req, res: ServerResponse) => {
      if (this.#draining) res.setHeader('connection', 'close');
      this.#inflight.add(res);
      res.once('close', () => {
        this.#inflight.delete(res);
        // The connection may now be idle: do not leave it open for the app to send another request.
        if (this.#draining) setImmediate(() => this.server.closeIdleConnections());
      });
    });
  }

  /** Requests being served now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Resolves when every connection has closed, or at the deadline, whichever comes first. */
  async drain(deadlineMs: number): Promise<DrainResult> {
    this.#draining = true;
    for (const res of this.#inflight) {
      if (!res.headersSent) res.setHeader('connection', 'close');
    }
    const closed = new Promise<'drained'>((resolve) => {
      if (!this.server.listening) resolve('drained');
      else this.server.close(() => resolve('drained'));
    });
    this.server.closeIdleConnections();
    const sweep = setInterval(() => this.server.closeIdleConnections(), IDLE_SWEEP_MS);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    try {
      const result = await Promise.race([closed, deadline]);
      return result === 'drained' ? { result } : { result, cut: this.#inflight.size };
    } finally {
      clearInterval(sweep);
      clearTimeout(timer);
    }
  }
}
