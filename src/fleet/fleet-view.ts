/**
 * The fleet view (`ROUTECAR_PROMETHEUS_URL`): every few seconds, the fleet-wide per-backend error
 * ratio, request count and TTFB p95 that all sidecars export (routecar_window_* gauges), read
 * from a Prometheus-compatible query API. One round of queries at a time, jittered, each cut off
 * at a timeout; a round that fails (Prometheus down, slow, answering garbage) only ages the
 * figures, which are ignored once older than {@link FLEET_STALE_AFTER_ROUNDS} intervals. Nothing
 * here is on the request path.
 */
import type { LabelMatcher } from '../policy/selector.js';
import { matchesSelector } from '../policy/selector.js';
import { SIGNAL_NAMES, type SignalFormat } from '../signals/read-load.js';
import type { LoadSignal, SignalLookup } from '../signals/types.js';
import { FleetQueryError, querySeries, queryVector } from './prometheus-query.js';

/** What the fleet says about one backend. */
export interface FleetFigures {
  /** Finished attempts in all sidecars' windows. */
  readonly requests: number;
  /** Failed / finished attempts across the fleet, 0..1. */
  readonly errorRatio: number;
  /** Time to first byte p95, ms, weighted by each sidecar's requests; undefined without samples. */
  readonly ttfbP95Ms: number | undefined;
}

/** decide's view (through the health blend): fresh figures by backend, or undefined. */
export type FleetLookup = (backend: string) => FleetFigures | undefined;

/** Default interval between rounds, ms. */
export const FLEET_INTERVAL_MS = 5000;
/** A round is abandoned after this, ms. */
export const FLEET_TIMEOUT_MS = 2000;
/** Figures older than this many intervals are ignored. */
export const FLEET_STALE_AFTER_ROUNDS = 3;

/** The PromQL of each figure, by `routecar_backend`. */
export const FLEET_QUERIES = {
  requests: 'sum by (routecar_backend) (routecar_window_requests)',
  errorRatio:
    'sum by (routecar_backend) (routecar_window_error_ratio * routecar_window_requests)' +
    ' / sum by (routecar_backend) (routecar_window_requests)',
  ttfbP95Seconds:
    'sum by (routecar_backend) (routecar_window_ttfb_quantile_seconds{routecar_quantile="0.95"}' +
    ' * on (instance, job, routecar_backend) group_left routecar_window_requests)' +
    ' / sum by (routecar_backend) (routecar_window_requests' +
    ' and on (instance, job, routecar_backend) routecar_window_ttfb_quantile_seconds{routecar_quantile="0.95"})',
} as const;

/** For `/admin/state`. */
export interface FleetStats {
  readonly url: string;
  /** `pending` before the first good round; `stale` once the last one is too old. */
  readonly state: 'pending' | 'fresh' | 'stale';
  readonly ageMs: number | undefined;
  readonly rounds: number;
  readonly failures: number;
  readonly lastError: string | null;
  readonly backends: Readonly<Record<string, FleetFigures>>;
  /** Load signals read from Prometheus (backends with `signals.selector`). */
  readonly signals: Readonly<Record<string, LoadSignal>>;
}

export interface FleetViewOptions {
  /** Base URL of the query API, e.g. `http://prometheus:9090`. */
  readonly url: string;
  readonly now: () => number;
  readonly random: () => number;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** One query; the default is {@link queryVector}. */
  readonly query?: typeof queryVector;
  /** One query keeping every series' labels; the default is {@link querySeries}. */
  readonly querySeries?: typeof querySeries;
  /**
   * Backends whose load is read from this Prometheus (`signals.selector`): the model servers'
   * own gauges, as Prometheus scraped them. Asked at each round, so it follows the policy.
   */
  readonly signalSources?: () => readonly FleetSignalSource[];
}

/** A backend whose load signal comes from the fleet's Prometheus. */
export interface FleetSignalSource {
  readonly backend: string;
  readonly format: SignalFormat;
  /** Which series are this backend's servers. */
  readonly matchers: readonly LabelMatcher[];
}

export class FleetView {
  /** Fresh figures by backend. */
  readonly lookup: FleetLookup = (backend) => (this.isFresh() ? this.figures.get(backend) : undefined);
  /** Fresh load signals of the backends read through `signals.selector`. */
  readonly signalLookup: SignalLookup = (backend) => (this.isFresh() ? this.signals.get(backend) : undefined);

  private readonly url: string;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly query: typeof queryVector;
  private figures = new Map<string, FleetFigures>();
  private signals = new Map<string, LoadSignal>();
  private readonly querySeries: typeof querySeries;
  private readonly signalSources: (() => readonly FleetSignalSource[]) | undefined;
  private atMs = 0;
  private rounds = 0;
  private failures = 0;
  private lastError: string | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private abort: AbortController | undefined;
  private closed = false;

  constructor(options: FleetViewOptions) {
    this.url = options.url;
    this.now = options.now;
    this.random = options.random;
    this.intervalMs = options.intervalMs ?? FLEET_INTERVAL_MS;
    this.timeoutMs = Math.min(options.timeoutMs ?? FLEET_TIMEOUT_MS, this.intervalMs / 2);
    this.query = options.query ?? queryVector;
    this.querySeries = options.querySeries ?? querySeries;
    this.signalSources = options.signalSources;
  }

  /** Starts polling: the first round at once (a new pod wants the figures before its first requests). */
  start(): void {
    this.schedule(0);
  }

  /** Stops polling and aborts a round in flight. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.abort?.abort(new Error('closed'));
  }

  /** Runs one round now (tests and the first round). Never rejects. */
  async refresh(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const timeout = setTimeout(() => abort.abort(new FleetQueryError('timed out')), this.timeoutMs);
    timeout.unref();
    try {
      const [requests, errorRatio, ttfb] = await Promise.all([
        this.query(this.url, FLEET_QUERIES.requests, 'routecar_backend', abort.signal),
        this.query(this.url, FLEET_QUERIES.errorRatio, 'routecar_backend', abort.signal),
        this.query(this.url, FLEET_QUERIES.ttfbP95Seconds, 'routecar_backend', abort.signal),
      ]);
      const figures = new Map<string, FleetFigures>();
      for (const [backend, n] of requests) {
        if (!(n > 0)) continue;
        const ratio = errorRatio.get(backend);
        const p95 = ttfb.get(backend);
        figures.set(backend, {
          requests: n,
          errorRatio: ratio === undefined ? 0 : Math.min(1, Math.max(0, ratio)),
          ttfbP95Ms: p95 === undefined || !(p95 >= 0) ? undefined : p95 * 1000,
        });
      }
      const signals = await this.readSignals(abort.signal);
      if (this.closed) return;
      this.figures = figures;
      this.signals = signals;
      this.atMs = this.now();
      this.rounds++;
      this.lastError = null;
    } catch (err) {
      if (this.closed) return;
      this.failures++;
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : err;
      this.lastError = (reason instanceof Error ? reason.message : String(reason)).slice(0, 300);
    } finally {
      clearTimeout(timeout);
      this.abort = undefined;
    }
  }

  stats(): FleetStats {
    const age = this.rounds === 0 ? undefined : this.now() - this.atMs;
    return {
      url: this.url,
      state: this.rounds === 0 ? 'pending' : this.isFresh() ? 'fresh' : 'stale',
      ageMs: age,
      rounds: this.rounds,
      failures: this.failures,
      lastError: this.lastError,
      backends: Object.fromEntries(this.figures),
      signals: Object.fromEntries(this.signals),
    };
  }

  /**
   * The model servers' gauges for the backends read through Prometheus: one query per family per
   * format in use (whatever the number of backends), matched to backends by their selectors.
   * Request counts add up over a backend's servers; KV-cache usage is the fullest server's.
   */
  private async readSignals(signal: AbortSignal): Promise<Map<string, LoadSignal>> {
    const out = new Map<string, LoadSignal>();
    const sources = this.signalSources?.() ?? [];
    if (sources.length === 0) return out;
    const formats = new Set(sources.map((s) => s.format));
    const series = new Map<string, Awaited<ReturnType<typeof querySeries>>>();
    await Promise.all(
      [...formats].flatMap((format) => {
        const n = SIGNAL_NAMES[format];
        return [...n.queued, ...n.running, ...n.kvCacheUsage].map(async (name) => {
          series.set(name, await this.querySeries(this.url, name, signal));
        });
      }),
    );
    for (const source of sources) {
      const n = SIGNAL_NAMES[source.format];
      const mine = (names: readonly string[]): number[] => {
        for (const name of names) {
          const values = (series.get(name) ?? [])
            .filter((s) => matchesSelector(source.matchers, s.labels))
            .map((s) => s.value);
          if (values.length > 0) return values;
        }
        return [];
      };
      const queued = mine(n.queued);
      const running = mine(n.running);
      if (queued.length === 0 && running.length === 0) continue; // no server of it in Prometheus
      const kv = mine(n.kvCacheUsage);
      out.set(source.backend, {
        queued: sum(queued),
        running: sum(running),
        kvCacheUsage: kv.length === 0 ? undefined : Math.min(1, Math.max(0, ...kv)),
      });
    }
    return out;
  }

  private isFresh(): boolean {
    return this.rounds > 0 && this.now() - this.atMs <= FLEET_STALE_AFTER_ROUNDS * this.intervalMs;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => {
        const jitter = 0.8 + 0.4 * this.random();
        this.schedule(this.intervalMs * jitter);
      });
    }, delayMs);
    this.timer.unref();
  }
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
