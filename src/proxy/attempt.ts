/**
 * One attempt against one backend: sends the rewritten body, runs the connect / first-byte /
 * idle timers, classifies what happened, and either commits the response to the app or gives
 * up early enough for the next backend to be tried.
 *
 * Every way an attempt can end (upstream end, reset, close, error event, timeout, the app
 * leaving) goes through `finish`, which runs once and is the only place that ends the app's
 * response once it was committed. So "the app's response ends exactly once" is a property of
 * this class rather than of each event handler.
 *
 * The app's response is committed (head written) only when the first body byte, or the end of
 * an empty body, arrives: a backend that sends a 200 head and then fails has put nothing in
 * front of the app, so the request can still fail over.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { classify, isRetryable, type Observation, type Outcome } from '../outcome/classify.js';
import type { CompiledBackend } from '../policy/types.js';
import { AttemptPort, AttemptRequest, type AttemptSink } from './attempt-port.js';
import type { BackendProxy } from './backend-proxy.js';
import { responseHeaders } from './headers.js';
import { peekBody, type PeekedBody } from './peek-body.js';
import { SseTap } from './sse-tap.js';
import { UsageTap, type TokenUsage } from './usage.js';

/** How the whole attempt ended. */
export interface AttemptEnd {
  readonly outcome: Outcome;
  readonly status: number | undefined;
  readonly ttfbMs: number | undefined;
  readonly durationMs: number;
  /** Time from the start to the first body chunk after the head, ms. */
  readonly firstChunkMs: number | undefined;
  readonly usage: TokenUsage | undefined;
  /** Whether the app's response had been committed (its head sent) when the attempt ended. */
  readonly committed: boolean;
  /** SSE `data:` events the backend sent (undefined for a body that is not a stream). */
  readonly streamEvents: number | undefined;
  /** The stream passed the output the cost ceiling affords and was ended with an `over_budget` event. */
  readonly cutOverBudget: boolean;
}

export interface AttemptOptions {
  readonly backend: CompiledBackend;
  /** Request body with `model` rewritten for this backend (a stream for multipart uploads). */
  readonly body: Buffer | Readable;
  /** App path, e.g. `/v1/chat/completions`. */
  readonly appPath: string;
  /** This attempt's upstream headers (credentials for this backend and trace context included). */
  readonly headers: IncomingHttpHeaders;
  /** When true, failures that came as an HTTP response are passed through instead of abandoned. */
  readonly last: boolean;
  /** Headers added to the app's response when this attempt commits. */
  readonly responseHeaders: OutgoingHttpHeaders;
  /** routecar asked for stream usage the app did not: drop the usage-only chunk on the way. */
  readonly stripUsage: boolean;
  /**
   * SSE events past which a stream is cut with an `over_budget` error event: the output the
   * cost ceiling affords, for a backend that ignores the limit it was sent. Undefined: no bound.
   */
  readonly maxStreamEvents: number | undefined;
  /** The body's first event may carry the prompt tokens (an Anthropic stream's `message_start`). */
  readonly usageAtStart: boolean;
}

type TimerKind = 'connect' | 'firstByte' | 'idle';

/** The SSE event a committed stream ends with when its upstream breaks or goes silent. */
export function streamErrorEvent(message: string, code: string): string {
  return `event: error\ndata: ${JSON.stringify({ error: { message, type: 'server_error', code } })}\n\n`;
}

export class Attempt implements AttemptSink {
  /**
   * Settles when the attempt is over (never rejects): the one promise of an attempt. Whether the
   * app's response was committed is in the end (`committed`).
   */
  readonly end: Promise<AttemptEnd>;
  private resolveEnd!: (end: AttemptEnd) => void;
  private ended = false;
  private committed = false;
  private sse = false;
  private startedAt = 0;
  private ttfbMs: number | undefined;
  private firstChunkMs: number | undefined;
  private status: number | undefined;
  private proxyReq: ClientRequest | undefined;
  private proxyRes: IncomingMessage | undefined;
  private readonly port = new AttemptPort(this);
  private timer: NodeJS.Timeout | undefined;
  private timerKind: TimerKind | undefined;
  private timedOut: TimerKind | undefined;
  private readonly tap: UsageTap;
  /** The head of a 400's body, once read (see onProxyRes). */
  private peeked: PeekedBody | undefined;
  private sseTap: SseTap | undefined;
  private cutOverBudget = false;
  private readonly onAppClose = (): void => {
    if (!this.res.writableFinished) this.finish({ responseStarted: this.committed, clientGone: true });
  };
  private readonly onAppDrain = (): void => {
    if (this.ended) return;
    // Idle time counts only while routecar waits on the upstream, not while the app is slow to read.
    this.arm('idle', this.options.backend.timeouts.idleMs);
    this.proxyRes?.resume();
  };

  constructor(
    private readonly appSocket: Socket,
    private readonly res: ServerResponse,
    private readonly options: AttemptOptions,
  ) {
    this.tap = new UsageTap(options.usageAtStart);
    this.end = new Promise((resolve) => (this.resolveEnd = resolve));
  }

  /** Sends the attempt through the backend's proxy. */
  start(proxy: BackendProxy): void {
    this.startedAt = performance.now();
    this.res.once('close', this.onAppClose);
    const { appPath, headers, body } = this.options;
    proxy.send(new AttemptRequest(appPath, headers, body, this.appSocket), this.port);
  }

  onProxyReq(proxyReq: ClientRequest): void {
    if (this.ended) return;
    this.proxyReq = proxyReq;
    const timeouts = this.options.backend.timeouts;
    const socket = proxyReq.socket as Socket | null;
    if (socket && socket.connecting) {
      this.arm('connect', timeouts.connectMs);
      socket.once('connect', () => this.arm('firstByte', timeouts.firstByteMs));
    } else {
      this.arm('firstByte', timeouts.firstByteMs);
    }
  }

  onProxyRes(proxyRes: IncomingMessage): void {
    if (this.ended) return;
    // A 400 may only say the request does not fit this backend's window, which another backend
    // can take: its first few KB are read before deciding (peek-body.ts), and replayed after.
    if (proxyRes.statusCode === 400 && this.peeked === undefined) {
      void peekBody(proxyRes).then((peeked) => {
        this.peeked = peeked;
        this.onProxyRes(proxyRes);
      });
      return;
    }
    this.proxyRes = proxyRes;
    this.ttfbMs = performance.now() - this.startedAt;
    const status = proxyRes.statusCode ?? 502;
    this.status = status;
    const contextExceeded = this.peeked?.contextExceeded;
    const observation = {
      status,
      responseStarted: false,
      clientGone: false,
      retryAfter: header(proxyRes, 'retry-after'),
      contextExceeded,
    };
    const verdict = this.observe(observation);
    // A redirect never reaches the app (its Location names an internal address), nor does a
    // failure, or a request too long for this backend, while another backend remains to be
    // tried: drain the body and give up.
    const retry = isRetryable(verdict, false);
    if (retry && (!this.options.last || (verdict.kind === 'failure' && verdict.failure === 'redirect'))) {
      proxyRes.on('error', noop);
      proxyRes.resume();
      this.finish(observation, verdict);
      return;
    }
    this.sse = String(proxyRes.headers['content-type'] ?? '').startsWith('text/event-stream');
    if (this.sse) this.sseTap = new SseTap(this.options.stripUsage);
    proxyRes.on('data', this.onData);
    proxyRes.on('end', this.onEnd);
    // Errors and early closes reach routecar through the port (`onUpstreamBroken`); this keeps
    // an error event with no other listener from becoming an uncaught exception.
    proxyRes.on('error', noop);
    if (this.peeked !== undefined) this.replayPeeked(proxyRes, this.peeked);
  }

  /** Hands the app what the 400 peek read, then lets the rest of the body flow. */
  private replayPeeked(proxyRes: IncomingMessage, peeked: PeekedBody): void {
    for (const chunk of peeked.chunks) this.onData(chunk);
    if (peeked.ended) this.onEnd();
    else if (!this.ended && !this.res.writableNeedDrain) proxyRes.resume();
  }

  onError(err: NodeJS.ErrnoException): void {
    this.finish({
      errorCode: err.code ?? 'ECONNRESET',
      responseStarted: this.committed,
      reusedSocket: this.proxyReq?.reusedSocket === true,
      clientGone: false, // the app leaving is reported by onAppClose
    });
  }

  onUpstreamBroken(err: Error | undefined): void {
    this.finish({
      errorCode: (err as NodeJS.ErrnoException | undefined)?.code ?? 'ECONNRESET',
      responseStarted: this.committed,
      clientGone: false,
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.ended) return;
    if (!this.committed) {
      this.firstChunkMs = performance.now() - this.startedAt;
      this.commit();
    }
    this.tap.push(chunk);
    const sseTap = this.sseTap;
    const out = sseTap === undefined ? chunk : sseTap.pass(chunk);
    if (sseTap !== undefined && sseTap.events > (this.options.maxStreamEvents ?? Infinity)) {
      this.cutOverBudget = true;
      this.finish({ status: this.status, responseStarted: true, clientGone: false });
      return;
    }
    if (out.length === 0 || this.res.write(out)) {
      this.timer?.refresh();
      return;
    }
    this.clearTimer();
    this.proxyRes!.pause();
    this.res.once('drain', this.onAppDrain);
  };

  private readonly onEnd = (): void => {
    if (this.ended) return;
    if (!this.committed) this.commit();
    const held = this.sseTap?.flush();
    if (held !== undefined && held.length > 0) this.res.write(held);
    this.finish({ status: this.status, responseStarted: true, clientGone: false, completed: true });
  };

  /** Sends the head to the app: from here on the response is the app's. */
  private commit(): void {
    const proxyRes = this.proxyRes!;
    this.committed = true;
    this.res.writeHead(this.status!, responseHeaders(proxyRes.headers, this.options.responseHeaders));
    this.arm('idle', this.options.backend.timeouts.idleMs);
  }

  private arm(kind: TimerKind, ms: number): void {
    if (this.ended) return;
    this.clearTimer();
    this.timerKind = kind;
    this.timer = setTimeout(this.onTimeout, ms);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly onTimeout = (): void => {
    this.timedOut = this.timerKind;
    this.finish({ responseStarted: this.committed, clientGone: false });
  };

  private observe(o: Omit<Observation, 'nowMs' | 'timeout'>): Outcome {
    return classify({ ...o, timeout: this.timedOut, nowMs: Date.now() });
  }

  /**
   * The one exit. Settles the attempt, ends the app's response if it was committed (cleanly on
   * success; with the SSE error event, or a cut for any other body, on failure), and stops the
   * upstream exchange. `classified` is `o`'s outcome when the caller already has it.
   */
  private finish(
    o: Omit<Observation, 'nowMs' | 'timeout'> & { readonly completed?: boolean },
    classified?: Outcome,
  ): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimer();
    const res = this.res;
    res.off('close', this.onAppClose);
    res.off('drain', this.onAppDrain);
    const outcome = classified ?? this.observe(o);
    if (this.committed) this.endAppResponse(o.completed === true, outcome);
    // The middleware destroys whatever is still open upstream (a finished exchange is left alone).
    this.port.close();
    const end: AttemptEnd = {
      outcome,
      status: o.status ?? this.status,
      ttfbMs: this.ttfbMs,
      durationMs: performance.now() - this.startedAt,
      firstChunkMs: this.firstChunkMs,
      usage: outcome.kind === 'success' ? this.tap.result() : undefined,
      committed: this.committed,
      streamEvents: this.sseTap?.events,
      cutOverBudget: this.cutOverBudget,
    };
    this.resolveEnd(end);
  }

  private endAppResponse(completed: boolean, outcome: Outcome): void {
    const res = this.res;
    if (completed) {
      res.end();
      return;
    }
    if (outcome.kind === 'ignored') return; // the app left: there is no one to tell
    if (this.cutOverBudget) {
      const message = `the stream from ${this.options.backend.name} passed the output its cost ceiling affords`;
      res.end(streamErrorEvent(message, 'over_budget'));
      return;
    }
    if (this.sse && res.writable) {
      const silent = this.timedOut === 'idle';
      const message = `upstream ${this.options.backend.name} ${silent ? 'went silent' : 'broke'} mid-stream`;
      res.end(streamErrorEvent(message, 'upstream_stream_broken'));
      return;
    }
    // A JSON body cannot carry an error after it started: cut it, so the client fails at once.
    res.destroy();
  }
}

function header(msg: IncomingMessage, name: string): string | undefined {
  const v = msg.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function noop(): void {}
