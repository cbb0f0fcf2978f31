/**
 * The latest load reading per backend, with its age. Scrapes write it; decide reads it through
 * `lookup`, which answers only fresh readings. A reading older than {@link STALE_AFTER_INTERVALS}
 * scrape intervals is stale: ignored by routing, counted, and shown in `/admin/state`.
 * Time is injected; the store does no I/O.
 */
import type { LoadReading, SignalFormat } from './read-load.js';
import type { LoadSignal, SignalLookup } from './types.js';

/** A reading this many intervals old is stale. */
export const STALE_AFTER_INTERVALS = 3;

/**
 * Weight of a new reading against the one in use. Readings are smoothed so that one scrape
 * caught mid-burst does not swing every pod's traffic at once; at 0.5 a reversal shows in the
 * value in use by half at the next scrape and by seven eighths after three.
 */
export const SMOOTHING = 0.5;

/** Where a backend's signal stands. */
export type SignalState = 'pending' | 'fresh' | 'stale';

/** One backend's signal, for `/admin/state` and telemetry. */
export interface SignalStats {
  readonly backend: string;
  readonly format: SignalFormat;
  readonly metricsUrl: string;
  readonly intervalMs: number;
  /** `pending` before the first good scrape; `stale` once the last good one is too old. */
  readonly state: SignalState;
  /** The smoothed reading in use (also shown when stale, though routing ignores it then). */
  readonly queued: number | undefined;
  readonly running: number | undefined;
  readonly kvCacheUsage: number | undefined;
  /** Age of the last good scrape, ms; undefined before the first one. */
  readonly ageMs: number | undefined;
  /** Scrapes that produced a reading. */
  readonly scrapes: number;
  /** Scrapes that failed (network, HTTP status, timeout, unreadable page). */
  readonly failures: number;
  /** Times the signal went from fresh to stale. */
  readonly staleTransitions: number;
  /** Message of the last failure; null after a success. */
  readonly lastError: string | null;
}

/** Where a backend's metrics come from. */
export interface SignalSource {
  readonly metricsUrl: string;
  readonly format: SignalFormat;
  readonly intervalMs: number;
}

interface Entry {
  readonly source: SignalSource;
  /** The smoothed reading; undefined before the first success. */
  value: { queued: number; running: number; kvCacheUsage: number | undefined } | undefined;
  /** Clock reading of the last success, epoch ms. */
  atMs: number;
  scrapes: number;
  failures: number;
  staleTransitions: number;
  /** Whether the last look found the value fresh (for counting transitions). */
  wasFresh: boolean;
  lastError: string | null;
}

export class SignalStore {
  /** decide's view: the fresh smoothed reading, or undefined. */
  readonly lookup: SignalLookup = (backend) => this.fresh(backend);

  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();

  constructor(options: { readonly now: () => number }) {
    this.now = options.now;
  }

  /** Starts tracking `backend` (or resets it when its source changed). */
  track(backend: string, source: SignalSource): void {
    const entry = this.entries.get(backend);
    if (entry !== undefined && sameSource(entry.source, source)) return;
    this.entries.set(backend, {
      source,
      value: undefined,
      atMs: 0,
      scrapes: 0,
      failures: 0,
      staleTransitions: 0,
      wasFresh: false,
      lastError: null,
    });
  }

  /** Stops tracking `backend`; its readings are forgotten. */
  untrack(backend: string): void {
    this.entries.delete(backend);
  }

  /** Backends tracked, with their sources. */
  sources(): ReadonlyMap<string, SignalSource> {
    const out = new Map<string, SignalSource>();
    for (const [name, entry] of this.entries) out.set(name, entry.source);
    return out;
  }

  /** A scrape of `backend` succeeded. Ignored for an untracked backend. */
  record(backend: string, reading: LoadReading): void {
    const entry = this.entries.get(backend);
    if (entry === undefined) return;
    const now = this.now();
    const prev = entry.value;
    if (prev === undefined || !this.checkFresh(entry, now)) {
      // After a gap the old value says nothing: start again from the new reading.
      entry.value = { queued: reading.queued, running: reading.running, kvCacheUsage: reading.kvCacheUsage };
    } else {
      prev.queued = blend(prev.queued, reading.queued);
      prev.running = blend(prev.running, reading.running);
      prev.kvCacheUsage =
        reading.kvCacheUsage === undefined || prev.kvCacheUsage === undefined
          ? reading.kvCacheUsage
          : blend(prev.kvCacheUsage, reading.kvCacheUsage);
    }
    entry.atMs = now;
    entry.scrapes++;
    entry.wasFresh = true;
    entry.lastError = null;
  }

  /** A scrape of `backend` failed; the reading in use ages on. */
  fail(backend: string, message: string): void {
    const entry = this.entries.get(backend);
    if (entry === undefined) return;
    entry.failures++;
    entry.lastError = message;
  }

  /** The fresh reading of `backend`, or undefined (untracked, pending or stale). */
  fresh(backend: string): LoadSignal | undefined {
    const entry = this.entries.get(backend);
    if (entry === undefined || entry.value === undefined) return undefined;
    return this.checkFresh(entry, this.now()) ? entry.value : undefined;
  }

  /** Every tracked backend's signal, in tracking order. */
  stats(): SignalStats[] {
    const now = this.now();
    const out: SignalStats[] = [];
    for (const [backend, entry] of this.entries) {
      // Reading freshness here also counts a transition nobody routed through yet.
      this.fresh(backend);
      const value = entry.value;
      out.push({
        backend,
        format: entry.source.format,
        metricsUrl: entry.source.metricsUrl,
        intervalMs: entry.source.intervalMs,
        state: value === undefined ? 'pending' : this.isFresh(entry, now) ? 'fresh' : 'stale',
        queued: value?.queued,
        running: value?.running,
        kvCacheUsage: value?.kvCacheUsage,
        ageMs: value === undefined ? undefined : now - entry.atMs,
        scrapes: entry.scrapes,
        failures: entry.failures,
        staleTransitions: entry.staleTransitions,
        lastError: entry.lastError,
      });
    }
    return out;
  }

  /** isFresh, counting the first look that finds a fresh value gone stale. */
  private checkFresh(entry: Entry, now: number): boolean {
    if (this.isFresh(entry, now)) return true;
    if (entry.wasFresh) {
      entry.wasFresh = false;
      entry.staleTransitions++;
    }
    return false;
  }

  private isFresh(entry: Entry, now: number): boolean {
    return now - entry.atMs <= STALE_AFTER_INTERVALS * entry.source.intervalMs;
  }
}

function blend(prev: number, next: number): number {
  return prev + SMOOTHING * (next - prev);
}

function sameSource(a: SignalSource, b: SignalSource): boolean {
  return a.metricsUrl === b.metricsUrl && a.format === b.format && a.intervalMs === b.intervalMs;
}
