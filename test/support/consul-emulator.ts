/**
 * An in-process Consul KV HTTP server for tests (no Consul server is installable here).
 *
 * Implemented, following Consul's documented HTTP API and its server code (agent/kvs_endpoint.go,
 * agent/consul/kvs_endpoint.go, agent/blockingquery):
 * - `GET /v1/kv/<key>`: JSON array `[{LockIndex, Key, Flags, Value (base64 | null), CreateIndex,
 *   ModifyIndex}]`; `?recurse` (prefix, key order), `?raw` (bare bytes, text/plain, single key only),
 *   `?keys` with `?separator` (404 when empty, except for the root); a missing key is 404 with
 *   `X-Consul-Index` still set; an empty key without `?recurse`/`?keys` is 400 `Missing key name`.
 * - `PUT /v1/kv/<key>`: body stored byte for byte; answers `true`/`false`; `?cas=0` (only if absent),
 *   `?cas=N` (only if ModifyIndex is N), `?flags=` (uint64); bodies over 512 KiB are 413.
 * - `DELETE /v1/kv/<key>`: `?recurse` (subtree), `?cas=N`; both together are 400 `Conflicting flags`.
 * - Indexes as Consul computes them (see consul-kv-store.ts), including tombstones.
 * - Blocking queries: `?index=N&wait=<Go duration>` (default 5m, capped at 10m, `jitterFraction` of
 *   extra wait, 0 by default) hold the request until the query's index exceeds N or the wait
 *   elapses, then answer the current data; a snapshot restore wakes every blocked query at once.
 * - Headers: `X-Consul-Index`, `X-Consul-KnownLeader: true`, `X-Consul-LastContact: 0` on reads,
 *   `X-Consul-Default-ACL-Policy` on every answer, `X-Consul-Results-Filtered-By-ACLs: true` when a
 *   recursive read dropped keys.
 * - ACLs (when `acl` is given; default policy deny): token from `?token`, `X-Consul-Token` or
 *   `Authorization: Bearer`; unknown token 403 `ACL not found`; reading or writing a key without
 *   permission 403 `Permission denied`; recursive reads silently drop unreadable keys.
 * - Sessions and locks (see consul-sessions.ts): `PUT /v1/session/create` (Name, Behavior, TTL,
 *   LockDelay) answers `{"ID"}`; `PUT /v1/session/renew/:id` answers `[session]` or 404;
 *   `PUT /v1/session/destroy/:id` answers true; `GET /v1/session/info/:id` answers `[session]` or
 *   `[]`; `GET /v1/session/list`. `PUT /v1/kv/<key>?acquire=<id>` / `?release=<id>` answer
 *   true/false and set `Session` and `LockIndex` on the entry; a lapsed TTL (after TTL × 2) or a
 *   destroy releases (or deletes) the session's keys and blocks re-acquiring them for LockDelay.
 *   `?cas` with `?acquire`/`?release` is 400 `Conflicting flags`.
 * - `GET /v1/status/leader`.
 * Not implemented: session health checks (a session ends only by TTL or destroy), blocking
 * queries and ACLs on the session endpoints, `/v1/txn`, `?dc`,
 * `?stale`/`?consistent` (accepted and ignored), `?filter`, namespaces, tombstone reaping.
 *
 * Test controls: `stop()`/`start()` (same port; clients see connection refused in between),
 * `resetIndex(n)`, `snapshot()`/`restoreSnapshot()`, `failWith(status)`, direct `put`/`delete`/`get`,
 * and `requests`, the log of every request received.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KvHttpApi, parseGoDuration, parseUint64, plain, type Answer } from './consul-kv-api.js';
import { KvAuthorizer, KvStore, type KvAclRules, type KvEntry, type KvSnapshot } from './consul-kv-store.js';
import { SessionError, SessionTable, sessionJson, type SessionEntry } from './consul-sessions.js';
import { getRestartablePort } from './ports.js';

export type { KvAclRules, KvEntry, KvSnapshot } from './consul-kv-store.js';
export type { SessionEntry } from './consul-sessions.js';

export interface ConsulEmulatorOptions {
  /** Enables ACLs (default policy deny): token secret -> key rules; no token uses `anonymous`. */
  readonly acl?: { readonly tokens: Readonly<Record<string, KvAclRules>>; readonly anonymous?: KvAclRules };
  /** Random extra wait of blocking queries as a fraction of `wait`; Consul uses 1/16. Default 0. */
  readonly jitterFraction?: number;
  /** Raft index of the fresh cluster. Default 10. */
  readonly initialIndex?: number;
  /** Consul's kv_max_value_size. Default 512 KiB. */
  readonly maxValueBytes?: number;
  /** Consul's `session_ttl_min` (agent config). Default 10 s, as in Consul. */
  readonly sessionTtlMinMs?: number;
}

/** One request as received (before any authorisation or failure injection). */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** The decoded KV key, for `/v1/kv/` paths. */
  readonly key: string | undefined;
  readonly query: URLSearchParams;
  /** The ACL token sent, '' when none. */
  readonly token: string;
}

type Wake = 'change' | 'timeout' | 'abandon' | 'closed';

const MAX_WAIT_MS = 10 * 60_000;
/** The session endpoints and the one method each accepts. */
const SESSION_VERBS: Record<string, string | undefined> = {
  create: 'PUT',
  renew: 'PUT',
  destroy: 'PUT',
  info: 'GET',
  list: 'GET',
};
const DEFAULT_WAIT_MS = 5 * 60_000;

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The emulated Consul agent. `await new ConsulEmulator(opts).start()`; `close()` when done. */
export class ConsulEmulator {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  private readonly store: KvStore;
  private readonly api: KvHttpApi;
  private readonly sessionTable: SessionTable;
  private readonly waiters = new Set<(wake: Wake) => void>();
  private readonly sockets = new Set<Socket>();
  private server: http.Server | undefined;
  private port = 0;
  private failure: Answer | undefined;
  private readonly tokens: Map<string, KvAclRules>;

  constructor(private readonly options: ConsulEmulatorOptions = {}) {
    this.store = new KvStore(options.initialIndex ?? 10, () => this.wake('change'));
    this.sessionTable = new SessionTable(this.store, options.sessionTtlMinMs ?? 10_000);
    this.api = new KvHttpApi(this.store, options.maxValueBytes ?? 512 * 1024, this.sessionTable);
    this.tokens = new Map(Object.entries(options.acl?.tokens ?? {}));
  }

  /** `127.0.0.1:<port>`, the form CONSUL_HTTP_ADDR takes. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://${this.address}`;
  }

  /** The last Raft index handed out. */
  get index(): number {
    return this.store.lastIndex;
  }

  /** How many blocking queries are waiting right now. */
  get blockedQueries(): number {
    return this.waiters.size;
  }

  /** Listens on a free port the first time, on the same port afterwards (see getRestartablePort). */
  async start(): Promise<this> {
    if (this.server) return this;
    if (this.port === 0) this.port = await getRestartablePort();
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Closes the listener and every connection (blocked queries get a reset); data is kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.wake('closed');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Stops for good: closes the listener and stops every session timer. */
  async close(): Promise<void> {
    this.sessionTable.close();
    await this.stop();
  }

  /** The live sessions. */
  get sessions(): SessionEntry[] {
    return this.sessionTable.list();
  }

  /** Invalidates a session at once, as a lapsed TTL would. */
  expireSession(id: string): void {
    this.sessionTable.destroy(id);
  }

  /** Writes a key directly (no HTTP, no ACL), as another client would; works while stopped. */
  put(key: string, value: string | Buffer, flags = 0n): void {
    this.store.set(key, Buffer.from(value), flags);
  }

  /** Deletes a key, or a subtree with `recurse`, directly. */
  delete(key: string, options: { recurse?: boolean } = {}): void {
    if (options.recurse) this.store.deleteTree(key);
    else this.store.delete(key);
  }

  /** Reads a key directly. */
  get(key: string): KvEntry | undefined {
    return this.store.get(key).result;
  }

  /** Winds every index back to at most `index` (a restore into a rebuilt cluster); wakes blocked queries. */
  resetIndex(index: number): void {
    this.store.resetIndex(index);
    this.wake('abandon');
  }

  /** A copy of the current state, for `restoreSnapshot`. */
  snapshot(): KvSnapshot {
    return this.store.snapshot();
  }

  /** Replaces the state with an earlier snapshot (indexes go backwards); wakes blocked queries. */
  restoreSnapshot(snapshot: KvSnapshot): void {
    this.store.restore(snapshot);
    this.wake('abandon');
  }

  /** Adds an ACL token (only meaningful when the emulator was created with `acl`). */
  addToken(secret: string, rules: KvAclRules): void {
    this.tokens.set(secret, rules);
  }

  /** Answers every request with this status until called with `undefined` (500: Consul's "No cluster leader"). */
  failWith(status: number | undefined, body = 'No cluster leader'): void {
    this.failure = status === undefined ? undefined : plain(status, body);
  }

  private wake(wake: Wake): void {
    for (const waiter of [...this.waiters]) waiter(wake);
  }

  private nextWake(deadline: number, res: http.ServerResponse): Promise<Wake> {
    return new Promise((resolve) => {
      const done = (wake: Wake): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        res.off('close', onClose);
        resolve(wake);
      };
      const onClose = (): void => done('closed');
      const timer = setTimeout(() => done('timeout'), Math.max(0, deadline - Date.now()));
      this.waiters.add(done);
      res.once('close', onClose);
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://consul.invalid');
      const key = url.pathname.startsWith('/v1/kv/') ? decodeURIComponent(url.pathname.slice(7)) : undefined;
      const token = this.token(req, url.searchParams);
      this.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        key,
        query: url.searchParams,
        token,
      });
      const body = await readBody(req);
      if (this.failure) return this.send(res, this.failure);
      if (url.pathname === '/v1/status/leader')
        return this.send(res, { status: 200, body: '"127.0.0.1:8300"', contentType: 'application/json' });
      if (url.pathname.startsWith('/v1/session/'))
        return this.send(res, this.session(req.method ?? '', url, body));
      if (key === undefined) return this.send(res, plain(404, '404 page not found\n'));
      const authz = this.authorizer(token);
      if (authz === 'unknown') return this.send(res, plain(403, 'ACL not found'));
      const q = url.searchParams;
      if (req.method === 'GET') return await this.read(res, key, q, authz);
      if (req.method === 'PUT')
        return this.send(res, this.api.write(key, q, authz, body, req.headers['content-length']));
      if (req.method === 'DELETE') return this.send(res, this.api.remove(key, q, authz));
      return this.send(res, plain(405, 'method not allowed'));
    } catch (err) {
      this.send(res, plain(500, String(err)));
    }
  }

  /** The session endpoints (no ACLs, no blocking). */
  private session(method: string, url: URL, body: Buffer): Answer {
    const [, , , op = '', id = ''] = url.pathname.split('/');
    const verb = SESSION_VERBS[op];
    if (verb === undefined) return plain(404, '404 page not found\n');
    if (method !== verb) return plain(405, `method ${method} not allowed`);
    const ok = (value: unknown): Answer => ({
      status: 200,
      body: JSON.stringify(value),
      contentType: 'application/json',
      index: this.store.lastIndex,
    });
    try {
      if (op === 'create') {
        const parsed: unknown = body.length > 0 ? JSON.parse(body.toString('utf8')) : {};
        const fields = typeof parsed === 'object' && parsed !== null ? parsed : {};
        return ok({ ID: this.sessionTable.create(fields).id });
      }
      if (op === 'renew') {
        const session = this.sessionTable.renew(id);
        return session ? ok([sessionJson(session)]) : plain(404, `Session id '${id}' not found`);
      }
      if (op === 'destroy') {
        this.sessionTable.destroy(id);
        return ok(true);
      }
      if (op === 'info') {
        const session = this.sessionTable.get(id);
        return ok(session ? [sessionJson(session)] : []);
      }
      return ok(this.sessionTable.list().map(sessionJson));
    } catch (err) {
      if (err instanceof SessionError) return plain(500, err.message);
      if (err instanceof SyntaxError) return plain(400, `Request decode failed: ${err.message}`);
      throw err;
    }
  }

  /** The request's ACL token: Consul reads `?token`, then X-Consul-Token, then a Bearer header. */
  private token(req: http.IncomingMessage, q: URLSearchParams): string {
    const header = req.headers['x-consul-token'];
    const bearer = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1];
    return q.get('token') || (typeof header === 'string' ? header : '') || bearer || '';
  }

  /** The token's authorizer; undefined when ACLs are off. */
  private authorizer(token: string): KvAuthorizer | undefined | 'unknown' {
    const acl = this.options.acl;
    if (!acl) return undefined;
    if (token === '') return new KvAuthorizer(acl.anonymous ?? {});
    const rules = this.tokens.get(token);
    return rules ? new KvAuthorizer(rules) : 'unknown';
  }

  private async read(
    res: http.ServerResponse,
    key: string,
    q: URLSearchParams,
    authz?: KvAuthorizer,
  ): Promise<void> {
    if (!q.has('recurse') && !q.has('keys') && key === '')
      return this.send(res, plain(400, 'Missing key name'));
    let waitMs = DEFAULT_WAIT_MS;
    const wait = q.get('wait');
    if (wait) {
      const parsed = parseGoDuration(wait);
      if (parsed === undefined) return this.send(res, plain(400, 'Invalid wait time'));
      if (parsed > 0) waitMs = Math.min(parsed, MAX_WAIT_MS);
    }
    const index = q.get('index');
    const minIndex = index ? parseUint64(index) : 0n;
    if (minIndex === undefined) return this.send(res, plain(400, 'Invalid index'));

    const query = (): Answer => this.api.read(key, q, authz);
    let answer = query();
    if (minIndex > 0n) {
      const deadline = Date.now() + waitMs * (1 + (this.options.jitterFraction ?? 0) * Math.random());
      while (answer.index !== undefined && BigInt(answer.index) <= minIndex) {
        const wake = await this.nextWake(deadline, res);
        if (wake === 'closed') return;
        answer = query();
        if (wake !== 'change') break;
      }
    }
    this.send(res, answer);
  }

  private send(res: http.ServerResponse, answer: Answer): void {
    if (res.destroyed || res.headersSent) return;
    const headers: Record<string, string> = {
      'X-Consul-Default-ACL-Policy': this.options.acl ? 'deny' : 'allow',
      ...answer.headers,
    };
    if (answer.index !== undefined) {
      headers['X-Consul-Index'] = String(answer.index);
      headers['X-Consul-KnownLeader'] = 'true';
      headers['X-Consul-LastContact'] = '0';
    }
    if (answer.contentType) headers['Content-Type'] = answer.contentType;
    const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
    res.writeHead(answer.status, { ...headers, 'Content-Length': String(body.length) }).end(body);
  }
}
