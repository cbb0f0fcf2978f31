/**
 * routecar driven by Consul, for end-to-end tests: the Consul under test (the in-process
 * emulator, or a real agent when CONSUL_HTTP_ADDR is set in the test environment), a small KV
 * client that talks plain HTTP to either, and routecar child processes started with
 * CONSUL_HTTP_ADDR and no policy file.
 *
 * On the emulator the documented default prefix `routecar/` is used; on a real Consul every
 * test file gets its own random prefix (ROUTECAR_CONSUL_PREFIX) and deletes it afterwards.
 * Emulator-only manipulations (stop/start, resetIndex, writes while stopped) are reached through
 * `consul.emulator`, which is undefined on a real Consul.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PolicyStatus } from '../../src/policy/store-types.js';
import { ConsulEmulator } from './consul-emulator.js';
import { getFreePort } from './ports.js';
import { distPath, waitForHttp, type ChildHandle, type ProcessGroup } from './processes.js';
import { ROUTECAR_CLI } from './routecar.js';

/** A KV entry as read over HTTP, its value decoded from base64. */
export interface KvRead {
  readonly key: string;
  readonly value: Buffer | null;
  readonly modifyIndex: number;
  readonly createIndex: number;
}

/** The Consul a test file runs against. */
export class ConsulUnderTest {
  private constructor(
    /** The in-process emulator; undefined when the tests run against a real Consul. */
    readonly emulator: ConsulEmulator | undefined,
    /** `http://host:port`. */
    readonly base: string,
    /** What routecar gets as CONSUL_HTTP_ADDR. */
    readonly addr: string,
    /** The watched prefix, ending in `/`. */
    readonly prefix: string,
    /** CONSUL_HTTP_TOKEN on a real Consul, if any. */
    readonly token: string | undefined,
    /** The emulator runs in its own process (startProcess): not a real Consul, though not in reach. */
    private readonly emulatorProcess = false,
  ) {}

  /** The emulator, or the real Consul at CONSUL_HTTP_ADDR with a prefix unique to `label`. */
  static async start(label: string): Promise<ConsulUnderTest> {
    const realAddr = process.env.CONSUL_HTTP_ADDR ?? '';
    if (realAddr !== '') {
      const base = (/^https?:\/\//.test(realAddr) ? realAddr : `http://${realAddr}`).replace(/\/+$/, '');
      const prefix = `routecar-e2e-${label}-${randomUUID().slice(0, 8)}/`;
      return new ConsulUnderTest(
        undefined,
        base,
        realAddr,
        prefix,
        process.env.CONSUL_HTTP_TOKEN || undefined,
      );
    }
    const emulator = await new ConsulEmulator().start();
    return new ConsulUnderTest(emulator, emulator.url, emulator.url, 'routecar/', undefined);
  }

  /**
   * A real Consul when CONSUL_HTTP_ADDR is set; otherwise the emulator in its own process (the
   * group stops it), with a prefix unique to `label`. `sessionTtlMinMs` is the emulator's
   * `session_ttl_min` (a real Consul keeps its own, 10 s by default).
   */
  static async startProcess(
    group: ProcessGroup,
    label: string,
    options: { sessionTtlMinMs?: number } = {},
  ): Promise<ConsulUnderTest> {
    if ((process.env.CONSUL_HTTP_ADDR ?? '') !== '') return ConsulUnderTest.start(label);
    const args =
      options.sessionTtlMinMs === undefined ? [] : ['--session-ttl-min-ms', String(options.sessionTtlMinMs)];
    const child = group.spawn(distPath('test/support/consul-emulator-main.js'), args, {
      name: 'consul emulator',
    });
    const line = await child.waitForLine(/consul emulator listening/, 10_000);
    const { url } = JSON.parse(line.input ?? '{}') as { url: string };
    return new ConsulUnderTest(
      undefined,
      url,
      url,
      `routecar-e2e-${label}-${randomUUID().slice(0, 8)}/`,
      undefined,
      true,
    );
  }

  /** Whether this is the real thing (emulator-only steps are skipped with a plain `if`). */
  get real(): boolean {
    return this.emulator === undefined && !this.emulatorProcess;
  }

  /** Environment for routecar and its CLI. */
  env(): Record<string, string | undefined> {
    return {
      CONSUL_HTTP_ADDR: this.addr,
      CONSUL_HTTP_TOKEN: this.token,
      // Unset on the emulator, so routecar's default `routecar/` is what is exercised there.
      ROUTECAR_CONSUL_PREFIX: this.emulator ? undefined : this.prefix,
    };
  }

  /** `<prefix><name>`. */
  key(name: string): string {
    return this.prefix + name;
  }

  private async call(method: string, name: string, query = '', body?: string | Buffer): Promise<Response> {
    const path = this.key(name).split('/').map(encodeURIComponent).join('/');
    return fetch(`${this.base}/v1/kv/${path}${query ? `?${query}` : ''}`, {
      method,
      body,
      headers: this.token ? { 'X-Consul-Token': this.token } : {},
    });
  }

  /**
   * `PUT /v1/kv/<prefix><name>` (like `consul kv put`); `respondedAt` is `performance.now()` when
   * Consul's answer arrived. Objects are sent as JSON.
   */
  async put(
    name: string,
    value: string | Buffer | object,
    options: { cas?: number } = {},
  ): Promise<{ ok: boolean; respondedAt: number }> {
    const body = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value);
    const res = await this.call('PUT', name, options.cas === undefined ? '' : `cas=${options.cas}`, body);
    const respondedAt = performance.now();
    const text = await res.text();
    if (res.status !== 200) throw new Error(`PUT ${this.key(name)}: HTTP ${res.status} ${text}`);
    return { ok: text.trim() === 'true', respondedAt };
  }

  /** `PUT` that must succeed; returns the key's ModifyIndex afterwards. */
  async write(name: string, value: string | Buffer | object): Promise<number> {
    const { ok } = await this.put(name, value);
    if (!ok) throw new Error(`PUT ${this.key(name)} answered false`);
    return (await this.mustGet(name)).modifyIndex;
  }

  /** `GET /v1/kv/<prefix><name>`; undefined on 404. */
  async get(name: string): Promise<KvRead | undefined> {
    const res = await this.call('GET', name);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET ${this.key(name)}: HTTP ${res.status} ${await res.text()}`);
    const [entry] = (await res.json()) as Array<{
      Key: string;
      Value: string | null;
      ModifyIndex: number;
      CreateIndex: number;
    }>;
    if (!entry) throw new Error(`GET ${this.key(name)}: empty answer`);
    return {
      key: entry.Key,
      value: entry.Value === null ? null : Buffer.from(entry.Value, 'base64'),
      modifyIndex: entry.ModifyIndex,
      createIndex: entry.CreateIndex,
    };
  }

  async mustGet(name: string): Promise<KvRead> {
    const entry = await this.get(name);
    if (!entry) throw new Error(`${this.key(name)} is not in Consul`);
    return entry;
  }

  /** `DELETE /v1/kv/<prefix><name>`. */
  async delete(name: string): Promise<void> {
    const res = await this.call('DELETE', name);
    if (res.status !== 200)
      throw new Error(`DELETE ${this.key(name)}: HTTP ${res.status} ${await res.text()}`);
  }

  /** Deletes the prefix (real Consul) or stops the emulator. */
  async close(): Promise<void> {
    if (this.emulator) return this.emulator.close();
    await this.call('DELETE', '', 'recurse').catch(() => undefined);
  }
}

/** What `/admin/policy` answers: the store's status and the (redacted) document. */
export type AdminPolicy = PolicyStatus & {
  readonly document?: {
    readonly routes: Record<string, unknown>;
    readonly backends: Record<string, unknown>;
  };
};

/** One answer from the app-facing listener. */
export interface Answer {
  readonly status: number;
  readonly backend: string | undefined;
  readonly variant: string | undefined;
  readonly version: string | undefined;
  readonly body: string;
}

/** A routecar child process on Consul. */
export interface ConsulRoutecar {
  readonly child: ChildHandle;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly adminUrl: string;
  readonly stateDir: string;
  /** `GET /admin/policy`. */
  policy(): Promise<AdminPolicy>;
  /** Polls `/admin/policy` until `predicate` holds; rejects with the last answer seen. */
  waitForPolicy(
    predicate: (p: AdminPolicy) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<AdminPolicy>;
  /** One non-streaming chat completion on `route` over a keep-alive connection. */
  chat(route: string, headers?: Record<string, string>): Promise<Answer>;
  /** `GET /v1/models` ids. */
  models(): Promise<string[]>;
  /** `/readyz` status. */
  readyz(): Promise<number>;
  /** SIGTERM (SIGKILL after a grace period); the state dir is kept. */
  stop(): Promise<void>;
}

export interface StartConsulRoutecarOptions {
  readonly consul: ConsulUnderTest;
  readonly group: ProcessGroup;
  /** Reuse a state dir (a restart); default a fresh temp dir, removed by `removeStateDirs`. */
  readonly stateDir?: string;
  readonly name?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly readyTimeoutMs?: number;
}

const stateDirs: string[] = [];

/** A fresh temp dir for ROUTECAR_STATE_DIR, removed by `removeStateDirs`. */
export async function newStateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'routecar-consul-e2e-'));
  stateDirs.push(dir);
  return dir;
}

/** Removes every state dir made by `newStateDir`. */
export async function removeStateDirs(): Promise<void> {
  await Promise.all(stateDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** A keep-alive agent shared by the tests' requests (fetch would work too; this is cheaper per request). */
export const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** A POST over `agent`; resolves with status, headers and body (never rejects on an HTTP status). */
export function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
  agent: Agent = keepAlive,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The body of a chat completion on `route`. */
export function chatBody(route: string): string {
  return JSON.stringify({ model: route, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
}

/**
 * Starts `routecar start` on CONSUL_HTTP_ADDR with free ports and waits until `/readyz` is 200.
 * The log level is warn: routecar logs every request at info.
 */
export async function startConsulRoutecar(options: StartConsulRoutecarOptions): Promise<ConsulRoutecar> {
  const [port, adminPort] = await Promise.all([getFreePort(), getFreePort()]);
  const stateDir = options.stateDir ?? (await newStateDir());
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const args = ['start', '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`];
  const child = options.group.spawn(ROUTECAR_CLI, args, {
    name: options.name ?? 'routecar',
    env: {
      ...options.consul.env(),
      ROUTECAR_POLICY_FILE: undefined,
      ROUTECAR_STATE_DIR: stateDir,
      ROUTECAR_LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  await waitForHttp(`${adminUrl}/readyz`, {
    child,
    timeoutMs: options.readyTimeoutMs ?? 15_000,
    intervalMs: 25,
  });

  const policy = async (): Promise<AdminPolicy> => {
    const res = await fetch(`${adminUrl}/admin/policy`);
    if (!res.ok) throw new Error(`/admin/policy: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as AdminPolicy;
  };
  return {
    child,
    url,
    adminUrl,
    stateDir,
    policy,
    async waitForPolicy(predicate, what, timeoutMs = 5_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const p = await policy();
        if (predicate(p)) return p;
        if (performance.now() > deadline) {
          throw new Error(
            `/admin/policy: ${what} not seen within ${timeoutMs} ms; last: ${JSON.stringify({ ...p, document: undefined })}\n${child.tail(10)}`,
          );
        }
        await sleep(20);
      }
    },
    async chat(route, headers = {}) {
      const res = await post(`${url}/v1/chat/completions`, chatBody(route), headers);
      return {
        status: res.status,
        backend: header(res.headers, 'x-routecar-backend'),
        variant: header(res.headers, 'x-routecar-variant'),
        version: header(res.headers, 'x-routecar-policy-version'),
        body: res.body,
      };
    },
    async models() {
      const res = await fetch(`${url}/v1/models`);
      const body = (await res.json()) as { data: Array<{ id: string }> };
      return body.data.map((m) => m.id).sort();
    },
    async readyz() {
      const res = await fetch(`${adminUrl}/readyz`);
      await res.body?.cancel();
      return res.status;
    },
    stop: () => child.kill('SIGTERM', 3_000).then(() => undefined),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined; rejects after `timeoutMs`. */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const { timeoutMs = 5_000, intervalMs = 10 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

/**
 * A TCP relay in front of Consul that can be stopped and started on the same port: a Consul
 * outage as routecar sees it (connection refused; open connections reset) while the test can
 * still write to Consul directly. Used where the emulator's own stop()/start() is not available.
 * `delayMs` holds back every answer that long: a slow Consul.
 */
export class TcpRelay {
  private server: Server | undefined;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly target: { host: string; port: number };

  /** Extra delay of every chunk Consul sends back. */
  delayMs = 0;

  constructor(targetUrl: string) {
    const url = new URL(targetUrl);
    this.target = { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (on an ephemeral port the first time, on the same port afterwards). */
  async start(): Promise<this> {
    if (this.server) return this;
    const server = createServer((client) => {
      const upstream = connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      // Chunks keep their order: each is held back by the same delay.
      const later = (fn: () => void): void => void (this.delayMs > 0 ? setTimeout(fn, this.delayMs) : fn());
      upstream.on('data', (chunk: Buffer) => later(() => client.write(chunk)));
      upstream.on('end', () => later(() => client.end()));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Closes the listener and resets every relayed connection. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
