/**
 * A scriptable fake OpenAI-compatible model server on plain node:http. Tests use it as a backend
 * that can be made slow, flaky, rate-limited, hung, reset or down on demand; `npm start` uses a
 * fleet of them as demo backends. Behaviour is changed with `configure()`, with the control API
 * under `/__control` (see control-api.ts), or for one request with `x-fake-*` headers.
 */
import type { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  DEFAULT_BEHAVIOUR,
  parseBehaviourPatch,
  patchFromHeaders,
  pickBehaviour,
  type BehaviourPatch,
  type FakeBehaviour,
} from './behaviour.js';
import {
  CONTROL_PREFIX,
  controlSubPath,
  createControlServer,
  handleControl,
  type FakeUpstreamState,
} from './control-api.js';
import { closeServer, listen, readBody, sendJson } from './http-util.js';
import { isMultipart, readMultipart } from './multipart-body.js';
import { openAiError } from './openai-bodies.js';
import { seededRandom } from './random.js';
import { respond } from './responder.js';
import { FakeStats, type FakeStatsSnapshot, type FakeUpstreamEvents, type RecordedRequest } from './stats.js';
import { vllmMetricsPage } from './vllm-metrics.js';

/** Where the fake serves its model-server load page (vLLM's path and format). */
export const METRICS_PATH = '/metrics';

/** Options of `startFakeUpstream`; behaviour fields set the starting (and `reset()`) behaviour. */
export interface FakeUpstreamOptions extends BehaviourPatch {
  /** Shown in every completion (`[<name>] echo: ...`) and in the `x-upstream-name` header. */
  readonly name: string;
  /** 0 (default) = an ephemeral port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /**
   * When set (0 = ephemeral), the control API is also served on this separate port, which stays
   * up while the main port is `down`, so a fake in another process can be brought back `up`.
   */
  readonly controlPort?: number;
  /** Random source for `failureRate` and jitter; default `seededRandom(seed)`, else Math.random. */
  readonly random?: () => number;
  /** Seed for the default random source. */
  readonly seed?: number;
  /** Ids listed by `GET /v1/models`; default `[name]`. */
  readonly models?: readonly string[];
  /** Largest accepted request body; default 8 MiB. */
  readonly maxBodyBytes?: number;
  /**
   * Tokens a request may use (prompt estimate plus `max_tokens`); a larger one gets vLLM's 400
   * with OpenAI's `context_length_exceeded` code. Unlimited when unset.
   */
  readonly contextWindow?: number;
  /** Idle keep-alive connections are closed after this; default 5000, like uvicorn (vLLM). */
  readonly keepAliveTimeoutMs?: number;
}

/** A running fake upstream. */
export interface FakeUpstream {
  readonly name: string;
  readonly host: string;
  /** The main port; kept across `down()`/`up()`. */
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** `http://host:port/v1`, the base URL an OpenAI client or a policy backend uses. */
  readonly baseURL: string;
  /** `http://host:controlPort/__control`, when `controlPort` was given. */
  readonly controlUrl: string | undefined;
  /** False between `down()` and `up()`. */
  readonly listening: boolean;
  /** The current behaviour. */
  readonly behaviour: FakeBehaviour;
  /** A copy of the counters. */
  readonly stats: FakeStatsSnapshot;
  /** `request`, `complete`, `abort` and `kill` events. */
  readonly events: EventEmitter<FakeUpstreamEvents>;
  /** Merges `patch` into the behaviour (validated: throws on a bad value); returns the result. */
  configure(patch: BehaviourPatch): FakeBehaviour;
  /** Back to the starting behaviour, counters cleared; listens again if it was down. */
  reset(): Promise<void>;
  /** Clears the counters only. */
  resetStats(): void;
  /** Stops listening (connection refused) and destroys open connections; the port is kept. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Resolves once `stats.aborted >= count` (default 1); rejects after `timeoutMs` (default 5000). */
  waitForAbort(count?: number, timeoutMs?: number): Promise<FakeStatsSnapshot>;
  /** Resolves once `stats.requests >= count`; rejects after `timeoutMs` (default 5000). */
  waitForRequests(count: number, timeoutMs?: number): Promise<FakeStatsSnapshot>;
  /** Resolves with the first stats snapshot satisfying `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (s: FakeStatsSnapshot) => boolean, timeoutMs?: number): Promise<FakeStatsSnapshot>;
  /** Name, URLs, listening, behaviour and stats: what `GET /__control` returns. */
  state(): FakeUpstreamState;
  /** Stops both listeners and destroys every socket. */
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 5_000;

/** Starts a fake upstream and resolves once it listens. */
export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const upstream = new FakeUpstreamServer(options);
  await upstream.start();
  return upstream;
}

/** One request in flight; `killed` marks connections the fake destroys itself (not a client abort). */
interface Tracked {
  record: RecordedRequest;
  res: ServerResponse;
  killed: boolean;
}

class FakeUpstreamServer implements FakeUpstream {
  readonly name: string;
  readonly host: string;
  port: number;
  behaviour: FakeBehaviour;
  controlUrl: string | undefined;
  listening = false;
  private readonly initial: FakeBehaviour;
  private readonly statsImpl = new FakeStats();
  private readonly server: Server;
  private controlServer: Server | undefined;
  private readonly inflight = new Set<Tracked>();
  private readonly sockets = new Set<Socket>();
  private readonly random: () => number;
  /** Epoch seconds of creation, for the `_created` samples of `/metrics`. */
  private readonly startedSec = Date.now() / 1000;
  private sequence = 0;

  constructor(private readonly options: FakeUpstreamOptions) {
    this.name = options.name;
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    this.initial = { ...DEFAULT_BEHAVIOUR, ...validated(pickBehaviour(options)) };
    this.behaviour = this.initial;
    this.random = options.random ?? (options.seed === undefined ? Math.random : seededRandom(options.seed));
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }
  get baseURL(): string {
    return `${this.url}/v1`;
  }
  get stats(): FakeStatsSnapshot {
    return this.statsImpl.snapshot();
  }
  get events(): EventEmitter<FakeUpstreamEvents> {
    return this.statsImpl.events;
  }

  async start(): Promise<void> {
    await this.up();
    if (this.options.controlPort !== undefined) {
      const control = createControlServer(this);
      const port = await listen(control, this.options.controlPort, this.host);
      this.controlServer = control;
      this.controlUrl = `http://${this.host}:${port}${CONTROL_PREFIX}`;
    }
  }

  configure(patch: BehaviourPatch): FakeBehaviour {
    this.behaviour = { ...this.behaviour, ...validated(patch) };
    return this.behaviour;
  }

  async reset(): Promise<void> {
    this.behaviour = this.initial;
    this.statsImpl.reset();
    if (!this.listening) await this.up();
  }

  resetStats(): void {
    this.statsImpl.reset();
  }

  async down(spare?: Socket): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    // server.close() releases the port at once; its callback waits for the connections to end.
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const t of this.inflight) if (t.res.socket !== spare) t.killed = true;
    for (const socket of this.sockets) if (socket !== spare) socket.destroy();
    await closed;
  }

  async up(): Promise<void> {
    if (this.listening) return;
    this.port = await listen(this.server, this.port, this.host);
    this.listening = true;
  }

  waitForAbort(count = 1, timeoutMs = DEFAULT_WAIT_MS): Promise<FakeStatsSnapshot> {
    return this.statsImpl.waitFor((s) => s.aborted >= count, timeoutMs, `${count} aborted request(s)`);
  }

  waitForRequests(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<FakeStatsSnapshot> {
    return this.statsImpl.waitFor((s) => s.requests >= count, timeoutMs, `${count} request(s)`);
  }

  waitFor(
    predicate: (s: FakeStatsSnapshot) => boolean,
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<FakeStatsSnapshot> {
    return this.statsImpl.waitFor(predicate, timeoutMs, 'a stats condition');
  }

  state(): FakeUpstreamState {
    const { name, url, baseURL, listening, behaviour, stats } = this;
    return { name, url, baseURL, listening, behaviour, stats };
  }

  async close(): Promise<void> {
    await this.down();
    if (this.controlServer) await closeServer(this.controlServer);
    this.controlServer = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', 'http://fake');
    const path = target.pathname;
    const controlPath = controlSubPath(path);
    if (controlPath !== undefined) return handleControl(this, req, res, controlPath);
    // The load page is not traffic: it is neither counted nor shaped by the request behaviour.
    if (path === METRICS_PATH && req.method === 'GET') return this.serveMetrics(res);

    res.setHeader('x-upstream-name', this.name);
    const record = {
      method: req.method ?? 'GET',
      path,
      search: target.search,
      headers: { ...req.headers },
      body: undefined,
      receivedAt: Date.now(),
    };
    const tracked: Tracked = { record, res, killed: false };
    this.inflight.add(tracked);
    this.statsImpl.arrived(path);
    const aborter = new AbortController();
    res.on('close', () => {
      this.inflight.delete(tracked);
      aborter.abort();
      const how = res.writableFinished ? 'finished' : tracked.killed ? 'killed' : 'aborted';
      this.statsImpl.ended(tracked.record, how);
    });

    const limit = this.options.maxBodyBytes ?? 8 * 1024 * 1024;
    const read = isMultipart(req) ? readMultipart(req, limit) : readBody(req, limit);
    const body = await read.catch(() => undefined);
    if (body === undefined) return; // the client went away while sending
    tracked.record = { ...record, body: body.ok ? body.json : undefined };
    this.statsImpl.received(tracked.record);
    if (!body.ok) return this.refuse(res, body.status, body.message);
    const override = patchFromHeaders(req.headers);
    if (!override.ok) return this.refuse(res, 400, `bad x-fake-* header: ${override.error}`);
    await respond({
      req,
      res,
      path,
      body: body.json,
      behaviour: { ...this.behaviour, ...override.patch },
      name: this.name,
      models: this.options.models ?? [this.name],
      contextWindow: this.options.contextWindow,
      sequence: ++this.sequence,
      random: this.random,
      signal: aborter.signal,
      outcome: (o) => this.statsImpl.outcome(o),
      kill: (graceful) => {
        tracked.killed = true;
        if (graceful) req.socket.destroy();
        else req.socket.resetAndDestroy();
      },
    });
  }

  /** `GET /metrics`: vLLM's page with the behaviour's queue and KV cache and the requests in flight. */
  private serveMetrics(res: ServerResponse): void {
    const b = this.behaviour;
    if (b.metricsMode === 'hang') return;
    if (b.metricsMode === 'error500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
      return;
    }
    if (b.metricsMode === 'garbage') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>not metrics {{{</body></html>');
      return;
    }
    const stats = this.statsImpl.snapshot();
    const page = vllmMetricsPage(
      (this.options.models ?? [this.name])[0] ?? this.name,
      {
        waiting: b.queueDepth,
        running: this.inflight.size,
        kvCacheUsage: b.kvCacheUsage,
        served: stats.completed,
      },
      this.startedSec,
    );
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(page);
  }

  /** The fake's own 4xx: bad JSON, oversized body, bad `x-fake-*` header. */
  private refuse(res: ServerResponse, status: number, message: string): void {
    this.statsImpl.outcome('badRequest');
    sendJson(res, status, openAiError(message, 'invalid_request_error', null));
  }
}

function validated(patch: BehaviourPatch): BehaviourPatch {
  const result = parseBehaviourPatch(patch);
  if (!result.ok) throw new TypeError(`fake upstream: ${result.error}`);
  return result.patch;
}
