/**
 * One attempt against one backend: writes the rewritten body, runs the connect / first-byte /
 * idle timers, classifies what happened, and either commits the response to the app or reports
 * a failure early enough for the next backend to be tried.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AttemptFailedError, type FailureOutcome } from '../health/errors.js';
import type { CompiledBackend } from '../policy/types.js';
import type { BackendProxy, ProxyEventSink } from './backend-proxy.js';
import { classify, type Observation, type Outcome } from './classify.js';
import { responseHeaders } from './headers.js';
import { UsageTap, type TokenUsage } from './usage.js';

/** How the head of an attempt ended. */
export type AttemptHead =
  /** The response head went to the app; the body is streaming through. */
  | { readonly kind: 'committed'; readonly status: number }
  /** Nothing reached the app; `outcome` says why (a failure, the app leaving, or a breaker refusal). */
  | { readonly kind: 'abandoned'; readonly outcome: Outcome; readonly status: number | undefined };

/** How the whole attempt ended. */
export interface AttemptEnd {
  readonly outcome: Outcome;
  readonly status: number | undefined;
  readonly ttfbMs: number | undefined;
  readonly durationMs: number;
  /** Time from the start to the first body chunk after the head, ms. */
  readonly firstChunkMs: number | undefined;
  readonly usage: TokenUsage | undefined;
}

export interface ExchangeOptions {
  readonly backend: CompiledBackend;
  /** Request body with `model` rewritten for this backend. */
  readonly body: Buffer;
  /** App path, e.g. `/v1/chat/completions`. */
  readonly appPath: string;
  /** When true, failures that came as an HTTP response are passed through instead of abandoned. */
  readonly last: boolean;
  /** Headers added to the app's response when this attempt commits. */
  readonly responseHeaders: OutgoingHttpHeaders;
  /** Headers set on this attempt's upstream request only (trace context). */
  readonly requestHeaders?: Readonly<Record<string, string>> | undefined;
}

/** Raised inside the breaker's action so opossum counts the failure; carries the whole attempt's end. */
export class FailedAttempt extends AttemptFailedError {
  constructor(readonly end: AttemptEnd & { readonly outcome: FailureOutcome }) {
    super(end.outcome);
  }
}

export class Exchange implements ProxyEventSink {
  readonly head: Promise<AttemptHead>;
  private resolveHead!: (h: AttemptHead) => void;
  private resolveEnd!: (end: AttemptEnd) => void;
  private rejectEnd!: (err: FailedAttempt) => void;
  private headSettled = false;
  private ended = false;
  private startedAt = 0;
  private ttfbMs: number | undefined;
  private firstChunkMs: number | undefined;
  private proxyReq: ClientRequest | undefined;
  private proxyRes: IncomingMessage | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerKind: 'connect' | 'firstByte' | 'idle' | undefined;
  private timedOut: 'connect' | 'firstByte' | 'idle' | undefined;
  private readonly tap = new UsageTap();
  private readonly onAppClose = (): void => {
    if (!this.res.writableFinished)
      this.finish({ responseStarted: this.proxyRes !== undefined, clientGone: true });
  };

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly options: ExchangeOptions,
  ) {
    this.head = new Promise((resolve) => (this.resolveHead = resolve));
  }

  /** Runs the attempt; the promise settles with the final outcome and rejects when it was a failure. */
  start(proxy: BackendProxy): Promise<AttemptEnd> {
    const end = new Promise<AttemptEnd>((resolve, reject) => {
      this.resolveEnd = resolve;
      this.rejectEnd = reject;
    });
    this.startedAt = performance.now();
    this.res.once('close', this.onAppClose);
    proxy.send(this.req, this.res, this.options.appPath, this);
    return end;
  }

  /** The breaker refused the call: the attempt never started. */
  refusedByBreaker(): void {
    this.settleHead({
      kind: 'abandoned',
      outcome: { kind: 'ignored', reason: 'breaker_rejected' },
      status: undefined,
    });
  }

  onProxyReq(proxyReq: ClientRequest): void {
    this.proxyReq = proxyReq;
    const { body, backend, requestHeaders } = this.options;
    if (requestHeaders) for (const name in requestHeaders) proxyReq.setHeader(name, requestHeaders[name]!);
    proxyReq.setHeader('content-length', body.length);
    proxyReq.write(body);
    const socket = proxyReq.socket as Socket | null;
    if (socket && socket.connecting) {
      this.arm('connect', backend.timeouts.connectMs);
      socket.once('connect', () => this.arm('firstByte', backend.timeouts.firstByteMs));
    } else {
      this.arm('firstByte', backend.timeouts.firstByteMs);
    }
  }

  onProxyRes(proxyRes: IncomingMessage): void {
    if (this.ended) return;
    this.proxyRes = proxyRes;
    this.ttfbMs = performance.now() - this.startedAt;
    const status = proxyRes.statusCode ?? 502;
    const verdict = this.observe({
      status,
      responseStarted: false,
      clientGone: false,
      retryAfter: header(proxyRes, 'retry-after'),
    });
    // httpxy adds listeners right after this handler returns that destroy the app's response when
    // the upstream one dies; routecar handles that itself, so anything added after now is removed.
    const keep = new Set<unknown>([...proxyRes.listeners('error'), ...proxyRes.listeners('close'), noop]);
    queueMicrotask(() => detachForeignListeners(proxyRes, keep));
    if (verdict.kind === 'failure' && !this.options.last) {
      // Nothing of this response reaches the app: drain it quietly and let the next backend try.
      this.clearTimer();
      proxyRes.on('error', noop);
      proxyRes.resume();
      this.finish({
        status,
        responseStarted: false,
        clientGone: false,
        retryAfter: header(proxyRes, 'retry-after'),
      });
      return;
    }
    this.commit(proxyRes, status, keep);
  }

  onError(err: NodeJS.ErrnoException): void {
    this.finish({
      errorCode: err.code ?? 'ECONNRESET',
      responseStarted: this.proxyRes !== undefined,
      reusedSocket: this.proxyReq?.reusedSocket === true,
      clientGone: false, // the app leaving is reported by onAppClose, which runs first
    });
  }

  private commit(proxyRes: IncomingMessage, status: number, keep: Set<unknown>): void {
    const res = this.res;
    res.writeHead(status, responseHeaders(proxyRes.headers, this.options.responseHeaders));
    const sse = String(proxyRes.headers['content-type'] ?? '').startsWith('text/event-stream');
    // A stream's head goes out at once (clients wait for it before the first token); any other
    // head leaves with the first body bytes, in one write instead of two.
    if (sse) res.flushHeaders();
    this.settleHead({ kind: 'committed', status });
    this.arm('idle', this.options.backend.timeouts.idleMs);
    proxyRes.on('data', (chunk: Buffer) => {
      this.timer?.refresh();
      if (this.firstChunkMs === undefined) this.firstChunkMs = performance.now() - this.startedAt;
      this.tap.push(chunk);
      if (!res.write(chunk)) {
        proxyRes.pause();
        res.once('drain', () => proxyRes.resume());
      }
    });
    proxyRes.on('end', () => {
      if (this.ended) return;
      res.end();
      this.finish({ status, responseStarted: true, clientGone: false });
    });
    const broken = (): void => {
      if (this.ended || proxyRes.complete) return;
      if (this.timedOut === undefined && !res.writable) return; // the app left: onAppClose reports it
      if (sse && res.writable) {
        const message = `upstream ${this.options.backend.name} ${this.timedOut === 'idle' ? 'went silent' : 'broke'} mid-stream`;
        res.end(
          `event: error\ndata: ${JSON.stringify({ error: { message, type: 'server_error', code: 'upstream_stream_broken' } })}\n\n`,
        );
      } else {
        res.destroy();
      }
      this.finish({ errorCode: 'ECONNRESET', responseStarted: true, clientGone: false });
    };
    keep.add(broken);
    proxyRes.on('error', broken);
    proxyRes.on('close', broken);
  }

  private arm(kind: 'connect' | 'firstByte' | 'idle', ms: number): void {
    if (this.ended) return;
    this.clearTimer();
    this.timerKind = kind;
    this.timer = setTimeout(() => this.onTimeout(), ms);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onTimeout(): void {
    this.timedOut = this.timerKind;
    if (this.proxyRes) {
      this.proxyRes.destroy(); // fires `broken` above
      return;
    }
    this.finish({ responseStarted: false, clientGone: false });
  }

  private observe(o: Omit<Observation, 'nowMs' | 'timeout'>): Outcome {
    return classify({ ...o, timeout: this.timedOut, nowMs: Date.now() });
  }

  /** Settles the attempt once; later events of the same attempt are ignored. */
  private finish(o: Omit<Observation, 'nowMs' | 'timeout'>): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimer();
    this.res.off('close', this.onAppClose);
    const outcome = this.observe(o);
    if (!o.responseStarted) this.abandonUpstream();
    const end: AttemptEnd = {
      outcome,
      status: o.status,
      ttfbMs: this.ttfbMs,
      durationMs: performance.now() - this.startedAt,
      firstChunkMs: this.firstChunkMs,
      usage: outcome.kind === 'success' ? this.tap.result() : undefined,
    };
    if (!this.headSettled) this.settleHead({ kind: 'abandoned', outcome, status: o.status });
    if (outcome.kind === 'failure') this.rejectEnd(new FailedAttempt({ ...end, outcome }));
    else this.resolveEnd(end);
  }

  /** Stops an upstream request that will not be used, without its late events reaching the next attempt. */
  private abandonUpstream(): void {
    const proxyReq = this.proxyReq;
    if (!proxyReq || this.proxyRes) return;
    proxyReq.removeAllListeners('error');
    proxyReq.removeAllListeners('response');
    proxyReq.on('error', noop);
    proxyReq.destroy();
  }

  private settleHead(head: AttemptHead): void {
    if (this.headSettled) return;
    this.headSettled = true;
    this.resolveHead(head);
  }
}

function header(msg: IncomingMessage, name: string): string | undefined {
  const v = msg.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Removes the `error`/`close` listeners that are not in `keep` (Node's own and routecar's). */
function detachForeignListeners(proxyRes: IncomingMessage, keep: Set<unknown>): void {
  for (const event of ['error', 'close'] as const) {
    for (const listener of proxyRes.listeners(event)) {
      if (!keep.has(listener)) proxyRes.off(event, listener as (...args: unknown[]) => void);
    }
  }
}

function noop(): void {}
