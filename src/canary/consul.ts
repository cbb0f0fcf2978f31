/**
 * The few Consul calls the canary controller makes, over plain fetch: KV reads and check-and-set
 * writes, and a session lock per route (Consul's leader-election recipe: a session with a TTL,
 * renewed; `PUT ?acquire=<session>`; the lock is lost when the session is).
 */

/** Consul answered an error or could not be reached. */
export class ConsulCallError extends Error {
  readonly code = 'CONSUL_CALL_FAILED';

  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'ConsulCallError';
  }
}

/** One KV entry as the controller needs it. */
export interface KvValue {
  readonly value: string;
  readonly modifyIndex: number;
  /** The session holding the key's lock, if any. */
  readonly session?: string;
}

interface DirEntry {
  Value: string | null;
  ModifyIndex: number;
  Session?: string;
}

/** A Consul agent at `baseUrl` (`http://host:8500`), with an optional ACL token. */
export class CanaryConsul {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 5000,
  ) {}

  private async call(method: string, path: string, body?: string): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        body,
        headers: this.token ? { 'X-Consul-Token': this.token } : {},
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ConsulCallError(`Consul at ${this.baseUrl} unreachable: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  private async ok(res: Response, what: string): Promise<Response> {
    if (res.ok) return res;
    const text = (await res.text().catch(() => '')).trim();
    throw new ConsulCallError(`${what}: Consul answered ${res.status}${text ? ` (${text})` : ''}`);
  }

  private static kvPath(key: string, query = ''): string {
    return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}${query ? `?${query}` : ''}`;
  }

  /** A key's value and ModifyIndex; undefined when absent. */
  async get(key: string): Promise<KvValue | undefined> {
    const res = await this.call('GET', CanaryConsul.kvPath(key));
    if (res.status === 404) return undefined;
    const [entry] = (await (await this.ok(res, `read ${key}`)).json()) as DirEntry[];
    if (!entry) return undefined;
    return {
      value: entry.Value === null ? '' : Buffer.from(entry.Value, 'base64').toString('utf8'),
      modifyIndex: entry.ModifyIndex,
      ...(entry.Session ? { session: entry.Session } : {}),
    };
  }

  /** Every entry under a prefix, by key. */
  async list(prefix: string): Promise<Map<string, KvValue>> {
    const res = await this.call('GET', CanaryConsul.kvPath(prefix, 'recurse'));
    const out = new Map<string, KvValue>();
    if (res.status === 404) return out;
    const entries = (await (await this.ok(res, `list ${prefix}`)).json()) as Array<
      DirEntry & { Key: string }
    >;
    for (const e of entries) {
      out.set(e.Key, {
        value: e.Value === null ? '' : Buffer.from(e.Value, 'base64').toString('utf8'),
        modifyIndex: e.ModifyIndex,
        ...(e.Session ? { session: e.Session } : {}),
      });
    }
    return out;
  }

  /** `PUT`, optionally with `?cas=`, `?acquire=` or `?release=`; Consul's true/false. */
  async put(key: string, value: string, query = ''): Promise<boolean> {
    const res = await this.call('PUT', CanaryConsul.kvPath(key, query), value);
    return ((await (await this.ok(res, `write ${key}`)).json()) as boolean) === true;
  }

  /** A new session: `ttl` a Go duration (`15s`), released locks free at once (`lockDelay`). */
  async createSession(name: string, ttl: string, lockDelay = '0s'): Promise<string> {
    const body = JSON.stringify({ Name: name, TTL: ttl, Behavior: 'release', LockDelay: lockDelay });
    const res = await this.ok(await this.call('PUT', '/v1/session/create', body), 'create a session');
    return ((await res.json()) as { ID: string }).ID;
  }

  /** Renews a session; false when Consul no longer knows it (its locks are gone). */
  async renewSession(id: string): Promise<boolean> {
    const res = await this.call('PUT', `/v1/session/renew/${encodeURIComponent(id)}`);
    if (res.status === 404) return false;
    await this.ok(res, 'renew the session');
    return true;
  }

  /** Destroys a session, releasing its locks. */
  async destroySession(id: string): Promise<void> {
    await this.ok(
      await this.call('PUT', `/v1/session/destroy/${encodeURIComponent(id)}`),
      'destroy the session',
    );
  }
}
