/**
 * The sidecar's view of the canary specs (`<prefix>canary/<route>`), for the local guard
 * (src/routing/local-guard.ts): a blocking-query watch of the prefix, keeping the last good map
 * through Consul outages. Only specs with `guards.maxErrorRatioDelta` give a local guard.
 * Rate-limited (at most one query per `minGapMs`) and backing off on errors, as Consul advises.
 */
import { guardBreach, type LocalGuardSpec } from '../routing/local-guard.js';
import { parseCanarySpec } from './spec.js';

export interface GuardWatchOptions {
  /** `http://host:port`. */
  readonly baseUrl: string;
  readonly token: string | undefined;
  /** ROUTECAR_CONSUL_PREFIX, ending in `/`. */
  readonly prefix: string;
  /** Blocking wait, seconds. Default 30. */
  readonly waitS?: number;
  /** Shortest gap between two queries, ms. Default 250. */
  readonly minGapMs?: number;
  readonly log?: (msg: string, fields: Record<string, unknown>) => void;
}

export class CanaryGuardWatch {
  private specs: ReadonlyMap<string, LocalGuardSpec> = new Map();
  private stopped = false;
  private abort = new AbortController();
  private index = 0;

  constructor(private readonly o: GuardWatchOptions) {}

  /** The route's local guard, if its canary spec sets one. */
  get(route: string): LocalGuardSpec | undefined {
    return this.specs.get(route);
  }

  /** Every route with a local guard. */
  all(): ReadonlyMap<string, LocalGuardSpec> {
    return this.specs;
  }

  /**
   * Every armed guard and whether it drops its candidate now, judged on `health` (the sidecar's
   * window figures by backend): for /admin/state and `routecar_canary_guard_breached`.
   */
  status(
    health: (backend: string) => { readonly requests: number; readonly errorRatio: number },
  ): Record<string, LocalGuardSpec & { readonly breached: string | null }> {
    const out: Record<string, LocalGuardSpec & { readonly breached: string | null }> = {};
    for (const [route, spec] of this.specs) {
      out[route] = {
        ...spec,
        breached: guardBreach(spec, health(spec.candidate), health(spec.baseline)) ?? null,
      };
    }
    return out;
  }

  /** Starts watching; resolves after the first answer (or failure), so the guard is armed at start. */
  async start(): Promise<void> {
    await this.poll().catch(() => undefined);
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private async loop(): Promise<void> {
    let backoffMs = 1000;
    while (!this.stopped) {
      const started = Date.now();
      try {
        await this.poll();
        backoffMs = 1000;
        const gap = (this.o.minGapMs ?? 250) - (Date.now() - started);
        if (gap > 0) await sleep(gap);
      } catch (err) {
        if (this.stopped) return;
        this.o.log?.('canary spec watch failed', { error: (err as Error).message, retryInMs: backoffMs });
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
    }
  }

  private async poll(): Promise<void> {
    const key = `${this.o.prefix}canary/`.split('/').map(encodeURIComponent).join('/');
    const wait = this.index > 0 ? `&index=${this.index}&wait=${this.o.waitS ?? 30}s` : '';
    const res = await fetch(`${this.o.baseUrl}/v1/kv/${key}?recurse${wait}`, {
      headers: this.o.token ? { 'X-Consul-Token': this.o.token } : {},
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(((this.o.waitS ?? 30) + 10) * 1000)]),
    });
    const index = Number(res.headers.get('x-consul-index') ?? 0);
    // An index that goes backwards (a restored snapshot) starts over; never below 1.
    this.index = index < this.index ? 0 : Math.max(1, index);
    if (res.status === 404) {
      await res.body?.cancel();
      this.specs = new Map();
      return;
    }
    if (!res.ok) throw new Error(`Consul answered ${res.status}`);
    const entries = (await res.json()) as Array<{ Key: string; Value: string | null }>;
    const specs = new Map<string, LocalGuardSpec>();
    for (const e of entries) {
      const route = e.Key.slice(`${this.o.prefix}canary/`.length);
      if (route === '' || route.includes('/') || e.Value === null) continue;
      const parsed = parseCanarySpec(Buffer.from(e.Value, 'base64').toString('utf8'));
      const delta = parsed.ok ? parsed.spec.guards.maxErrorRatioDelta : undefined;
      if (!parsed.ok || delta === undefined) continue;
      const { baseline, candidate, minRequests } = parsed.spec;
      specs.set(route, { baseline, candidate, minRequests, maxErrorRatioDelta: delta });
    }
    this.specs = specs;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
