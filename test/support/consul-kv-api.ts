/**
 * The KV endpoints of the Consul emulator as pure request -> answer functions over a KvStore,
 * mirroring agent/kvs_endpoint.go (HTTP layer) and agent/consul/kvs_endpoint.go (RPC layer).
 * Blocking, connections and tokens live in consul-emulator.ts.
 */
import type { KvAuthorizer, KvEntry, KvStore } from './consul-kv-store.js';
import type { SessionTable } from './consul-sessions.js';

/** One HTTP answer. */
export interface Answer {
  readonly status: number;
  /** Set on KV reads: sent as X-Consul-Index, and compared with `?index` by blocking queries. */
  readonly index?: number;
  readonly body: string | Buffer;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
}

const UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1e3,
  m: 6e4,
  h: 3.6e6,
};

/** Go's time.ParseDuration (which Consul uses for `wait`), in milliseconds; undefined when invalid. */
export function parseGoDuration(text: string): number | undefined {
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.replace(/^[-+]/, '');
  if (body === '0') return 0;
  const part = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  while (part.lastIndex < body.length) {
    const m = part.exec(body);
    if (!m) return undefined;
    total += Number(m[1]) * (UNITS_MS[m[2] ?? ''] ?? 0);
  }
  return body === '' ? undefined : sign * total;
}

/** Go's strconv.ParseUint(text, 10, 64). */
export function parseUint64(text: string | null): bigint | undefined {
  return text !== null && /^\d+$/.test(text) && BigInt(text) < 2n ** 64n ? BigInt(text) : undefined;
}

/** A text answer, as Go's http.Error writes it. */
export const plain = (status: number, text: string): Answer => ({
  status,
  body: text,
  contentType: 'text/plain; charset=utf-8',
});
const json = (status: number, body: string, index?: number): Answer => ({
  status,
  body,
  index,
  contentType: 'application/json',
});
const DENIED = plain(403, 'Permission denied');

/** Consul's DirEntry field order (Session omitted when empty); hand-written because Flags is a uint64. */
function entryJson(e: KvEntry): string {
  const value = e.value ? JSON.stringify(e.value.toString('base64')) : 'null';
  const session = e.session ? `,"Session":${JSON.stringify(e.session)}` : '';
  return `{"LockIndex":${e.lockIndex},"Key":${JSON.stringify(e.key)},"Flags":${e.flags},"Value":${value}${session},"CreateIndex":${e.createIndex},"ModifyIndex":${e.modifyIndex}}`;
}

/** The KV endpoints; `authz` is undefined when ACLs are off. */
export class KvHttpApi {
  constructor(
    private readonly store: KvStore,
    private readonly maxValueBytes: number,
    private readonly sessions: SessionTable,
  ) {}

  /** `GET` in its three shapes; undefined `index` in the answer means an error (never blocks). */
  read(key: string, q: URLSearchParams, authz?: KvAuthorizer): Answer {
    if (q.has('keys')) return this.keys(key, q, authz);
    return q.has('recurse') ? this.list(key, authz) : this.single(key, q, authz);
  }

  private single(key: string, q: URLSearchParams, authz?: KvAuthorizer): Answer {
    const { index, result: entry } = this.store.get(key);
    if (authz && !authz.canRead(key)) return DENIED;
    if (!entry) return { status: 404, index, body: '' };
    if (!q.has('raw')) return json(200, `[${entryJson(entry)}]`, index);
    const headers = { 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': 'sandbox' };
    return { status: 200, index, body: entry.value ?? '', contentType: 'text/plain', headers };
  }

  private visible(
    prefix: string,
    authz?: KvAuthorizer,
  ): { index: number; entries: KvEntry[]; headers: Record<string, string> } {
    const { index, result } = this.store.list(prefix);
    const entries = authz ? result.filter((e) => authz.canRead(e.key)) : result;
    const headers: Record<string, string> =
      entries.length < result.length ? { 'X-Consul-Results-Filtered-By-ACLs': 'true' } : {};
    return { index, entries, headers };
  }

  private list(prefix: string, authz?: KvAuthorizer): Answer {
    const { index, entries, headers } = this.visible(prefix, authz);
    if (entries.length === 0) return { status: 404, index, body: '', headers };
    return { ...json(200, `[${entries.map(entryJson).join(',')}]`, index), headers };
  }

  private keys(prefix: string, q: URLSearchParams, authz?: KvAuthorizer): Answer {
    const { index, entries, headers } = this.visible(prefix, authz);
    const separator = q.get('separator') ?? q.get('seperator') ?? '';
    const keys = new Set<string>();
    for (const { key } of entries) {
      const at = separator ? key.indexOf(separator, prefix.length) : -1;
      keys.add(at === -1 ? key : key.slice(0, at + separator.length));
    }
    if (keys.size === 0 && prefix !== '') return { status: 404, index, body: '', headers };
    return { ...json(200, JSON.stringify([...keys]), index), headers };
  }

  /** `PUT` (`?cas`, `?flags`, `?acquire=<session>`, `?release=<session>`). */
  write(
    key: string,
    q: URLSearchParams,
    authz: KvAuthorizer | undefined,
    body: Buffer,
    length?: string,
  ): Answer {
    if (key === '') return plain(400, 'Missing key name');
    if (['cas', 'acquire', 'release'].filter((f) => q.has(f)).length > 1)
      return plain(400, `Conflicting flags: ${q.toString()}\n`);
    const flags = q.has('flags') ? parseUint64(q.get('flags')) : 0n;
    const cas = q.has('cas') ? parseUint64(q.get('cas')) : undefined;
    if (flags === undefined || (q.has('cas') && cas === undefined))
      return plain(500, 'strconv.ParseUint: invalid syntax');
    const max = this.maxValueBytes;
    const size = Math.max(Number(length ?? 0), body.length);
    if (size > max) return plain(413, `Request body(${size} bytes) too large, max size: ${max} bytes.`);
    if (authz && !authz.canWrite(key)) return DENIED;
    if (q.has('acquire')) return this.acquire(key, body, flags, q.get('acquire') ?? '');
    if (q.has('release')) {
      const session = q.get('release') ?? '';
      if (session === '') return plain(500, 'missing session');
      return json(200, String(this.store.unlock(key, body, flags, session)));
    }
    return json(200, String(this.store.set(key, body, flags, cas)));
  }

  /** Consul's KVS.Apply for KVLock: a lock-delay refuses before Raft; an unknown session is an error. */
  private acquire(key: string, body: Buffer, flags: bigint, session: string): Answer {
    if (this.sessions.lockDelayed(key)) return json(200, 'false');
    if (session === '') return plain(500, 'missing session');
    if (!this.sessions.get(session)) {
      this.store.nextIndex();
      return plain(500, `invalid session ${JSON.stringify(session)}`);
    }
    return json(200, String(this.store.lock(key, body, flags, session)));
  }

  /** `DELETE` (`?recurse`, `?cas`). */
  remove(key: string, q: URLSearchParams, authz?: KvAuthorizer): Answer {
    if (q.has('recurse') && q.has('cas')) return plain(400, `Conflicting flags: ${q.toString()}\n`);
    if (q.has('recurse')) {
      if (authz && !authz.canWritePrefix(key)) return DENIED;
      return json(200, String(this.store.deleteTree(key)));
    }
    if (key === '') return plain(400, 'Missing key name');
    const cas = q.has('cas') ? parseUint64(q.get('cas')) : undefined;
    if (q.has('cas') && cas === undefined) return plain(500, 'strconv.ParseUint: invalid syntax');
    if (authz && !authz.canWrite(key)) return DENIED;
    const applied = this.store.delete(key, cas);
    return json(200, String(cas === undefined ? true : applied));
  }
}
