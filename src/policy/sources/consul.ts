/**
 * Consul KV policy source: watches `<prefix>` recursively with blocking queries and delivers
 * `<prefix>policy` as the policy document and every `<prefix>splits/<route>` key as the split map.
 *
 * Why a hand-written loop over node-consul's `kv.get` rather than `consul.watch`: the watch
 * re-queries on the next tick after every change (no rate limit, so a burst of writes becomes a
 * burst of requests from every pod), ends for good on an HTTP 400 or a response without
 * X-Consul-Index (a proxy's error page), and treats index 0 as an error instead of clamping it.
 * The loop below follows Consul's blocking-query rules itself: reset to 0 when the index goes
 * backwards, never block on an index below 1, a token bucket between requests, and capped
 * exponential backoff with jitter on errors, forever.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type Consul from 'consul';
import {
  createConsulClient,
  DEFAULT_CONSUL_PREFIX,
  describeConsulError,
  normalizeConsulPrefix,
} from './consul-client.js';
import type { PolicyOrigin, PolicySource, SourceUpdate } from './source.js';

export interface ConsulSourceOptions {
  /** CONSUL_HTTP_ADDR: `host:port`, `http://host:port` or `https://host:port`. */
  readonly addr: string;
  /** CONSUL_HTTP_TOKEN, sent as X-Consul-Token. */
  readonly token?: string;
  /** ROUTECAR_CONSUL_PREFIX; a trailing `/` is added when missing. Default `routecar/`. */
  readonly prefix?: string;
  /** CONSUL_HTTP_SSL=true: use https even when `addr` has no scheme or says `http://`. */
  readonly ssl?: boolean;
  /** Blocking-query wait; each request times out at wait + wait/16 + 2 s. Default 30 000. */
  readonly waitMs?: number;
  /** Token bucket between requests: `burst` at once, then `perSecond`. Default 10 and 4: under a burst of changes a pod still follows within ~250 ms, and a fleet of pods never hammers Consul. */
  readonly rateLimit?: { readonly burst: number; readonly perSecond: number };
  /** Error backoff: `baseMs` doubled per consecutive failure, capped at `maxMs`. Default 200 and 10 000. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /** Clock (ms) for the token bucket. */
  readonly now?: () => number;
  /** Random source in [0, 1) for backoff jitter. */
  readonly random?: () => number;
}

/** A KV entry as node-consul hands it over (Value already decoded from base64 to text). */
interface KvItem {
  readonly Key: string;
  readonly Value: string | null;
  readonly ModifyIndex: number;
}

interface RawResponse {
  readonly headers: Record<string, string | string[] | undefined>;
}

/**
 * `kv.get` as it really behaves: node-consul's typings omit the `index`/`wait`/`timeout`/`ctx`
 * options it forwards, and the `[response, body]` result that `ctx.includeResponse` selects.
 */
type KvGetWithResponse = (options: {
  key: string;
  recurse: true;
  index: string;
  wait: string;
  timeout: number;
  ctx: EventEmitter & { includeResponse: true };
}) => Promise<[RawResponse, (KvItem[] | KvItem)?]>;

/** Token bucket: `take()` returns how long to wait before the request it admits may go. */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.perSecond;
  }
}

/**
 * The Consul source. Emits `document` when `<prefix>policy`'s ModifyIndex changes (or
 * `document-missing` once when it is absent), then `splits` when any split key changed, and
 * `unavailable` on every failed request while it retries. After a failure or an index reset it
 * forgets what it sent, so the next successful read announces the current state again.
 */
export class ConsulPolicySource implements PolicySource {
  private readonly client: Consul;
  private readonly get: KvGetWithResponse;
  private readonly prefix: string;
  private readonly policyKey: string;
  private readonly splitsPrefix: string;
  private readonly waitMs: number;
  private readonly bucket: TokenBucket;
  private readonly abort = new AbortController();
  private onUpdate: ((update: SourceUpdate) => void) | undefined;
  private loop: Promise<void> | undefined;
  private sentPolicy: number | 'missing' | undefined;
  private sentSplits: string | undefined;

  constructor(private readonly options: ConsulSourceOptions) {
    this.client = createConsulClient(options.addr, options.token, options.ssl);
    this.get = this.client.kv.get.bind(this.client.kv) as unknown as KvGetWithResponse;
    this.prefix = normalizeConsulPrefix(options.prefix ?? DEFAULT_CONSUL_PREFIX);
    this.policyKey = `${this.prefix}policy`;
    this.splitsPrefix = `${this.prefix}splits/`;
    this.waitMs = options.waitMs ?? 30_000;
    const rate = options.rateLimit ?? { burst: 10, perSecond: 4 };
    this.bucket = new TokenBucket(rate.burst, rate.perSecond, options.now ?? Date.now);
  }

  start(onUpdate: (update: SourceUpdate) => void): void {
    if (this.loop) throw new Error('ConsulPolicySource already started');
    this.onUpdate = onUpdate;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.client.destroy();
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    let index = 0;
    let failures = 0;
    while (!this.stopped) {
      await this.pause(this.bucket.take());
      if (this.stopped) return;
      try {
        const read = await this.read(index);
        if (this.stopped) return;
        failures = 0;
        if (read.index < index) {
          // Consul's index went backwards (snapshot restore, rebuilt cluster): start over.
          index = 0;
          this.forget();
        } else {
          // An index below 1 would make the next query return at once, every time.
          index = Math.max(read.index, 1);
        }
        this.deliver(read.items);
      } catch (err) {
        if (this.stopped) return;
        failures += 1;
        this.forget();
        const origin: PolicyOrigin = { source: 'consul', location: this.prefix };
        this.emit({ kind: 'unavailable', error: describeConsulError(err, this.options.addr), origin });
        await this.pause(this.backoffMs(failures));
      }
    }
  }

  private backoffMs(failures: number): number {
    const { baseMs, maxMs } = this.options.backoff ?? { baseMs: 200, maxMs: 10_000 };
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
    // Jitter spreads the retries of a whole fleet after a Consul outage.
    return ceiling * (0.5 + (this.options.random ?? Math.random)() / 2);
  }

  private async pause(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return;
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }

  private async read(index: number): Promise<{ index: number; items: readonly KvItem[] }> {
    // node-consul aborts the request when its ctx emits 'cancel'.
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true as const });
    const cancel = (): void => void ctx.emit('cancel');
    this.abort.signal.addEventListener('abort', cancel, { once: true });
    try {
      const [res, body] = await this.get({
        key: this.prefix,
        recurse: true,
        index: String(index),
        wait: `${this.waitMs}ms`,
        timeout: Math.ceil(this.waitMs * (17 / 16)) + 2_000,
        ctx,
      });
      const header = res.headers['x-consul-index'];
      if (typeof header !== 'string' || !/^\d+$/.test(header)) {
        throw new Error('the answer had no X-Consul-Index header; is CONSUL_HTTP_ADDR a Consul agent?');
      }
      return { index: Number(header), items: Array.isArray(body) ? body : body ? [body] : [] };
    } finally {
      this.abort.signal.removeEventListener('abort', cancel);
    }
  }

  private forget(): void {
    this.sentPolicy = undefined;
    this.sentSplits = undefined;
  }

  private deliver(items: readonly KvItem[]): void {
    const policy = items.find((item) => item.Key === this.policyKey);
    if (policy && this.sentPolicy !== policy.ModifyIndex) {
      this.sentPolicy = policy.ModifyIndex;
      const origin: PolicyOrigin = {
        source: 'consul',
        location: this.policyKey,
        modifyIndex: policy.ModifyIndex,
      };
      this.emit({ kind: 'document', text: policy.Value ?? '', origin });
    } else if (!policy && this.sentPolicy !== 'missing') {
      this.sentPolicy = 'missing';
      this.emit({ kind: 'document-missing', origin: { source: 'consul', location: this.policyKey } });
    }

    const splits = new Map<string, string>();
    let signature = '';
    let newest = 0;
    for (const item of items) {
      const route = item.Key.startsWith(this.splitsPrefix) ? item.Key.slice(this.splitsPrefix.length) : '';
      // Keys ending in `/` are folder markers (the Consul UI creates them), not routes.
      if (route === '' || route.endsWith('/')) continue;
      splits.set(route, item.Value ?? '');
      signature += `${item.Key}@${item.ModifyIndex}\n`;
      newest = Math.max(newest, item.ModifyIndex);
    }
    if (signature !== this.sentSplits) {
      this.sentSplits = signature;
      const origin: PolicyOrigin = {
        source: 'consul',
        location: this.splitsPrefix,
        modifyIndex: newest || undefined,
      };
      this.emit({ kind: 'splits', splits, origin });
    }
  }

  private emit(update: SourceUpdate): void {
    if (!this.stopped) this.onUpdate?.(update);
  }
}
