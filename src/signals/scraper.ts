/**
 * Scrapes each model server's `/metrics` on its own jittered interval and writes the load it
 * reads into a {@link SignalStore}. One request per backend at a time (the next scrape is
 * scheduled when the previous one ends), each cut off well before the next is due. A scrape
 * that fails only ages the signal: nothing here is on the request path, and no error escapes.
 */
import { readLoad } from './read-load.js';
import { type SignalSource, type SignalStats, SignalStore } from './store.js';
import type { SignalLookup } from './types.js';

/** Each wait is the interval times a factor drawn from [1 - JITTER, 1 + JITTER]. */
export const SIGNAL_JITTER = 0.2;
/** A scrape is abandoned after this share of the interval, so it never overlaps the next one. */
export const SIGNAL_TIMEOUT_SHARE = 0.5;
/** Longest page read, bytes: a vLLM page with every histogram is a few hundred KB. */
export const MAX_METRICS_BYTES = 4 * 1024 * 1024;

/** GETs `url` and returns the body as text; rejects on a non-2xx status or when `signal` aborts. */
export type FetchText = (url: string, signal: AbortSignal) => Promise<string>;

export interface SignalScraperOptions {
  /** Clock, epoch ms (ages and staleness). */
  readonly now: () => number;
  /** Uniform in [0, 1): jitter. */
  readonly random: () => number;
  /** HTTP client; the default uses the global `fetch` with a size cap. */
  readonly fetchText?: FetchText;
}

/** The part of the compiled policy the scraper reads (`CompiledPolicy` fits it). */
export interface SignalPolicy {
  readonly backends: ReadonlyMap<
    string,
    { readonly signals?: (Omit<SignalSource, 'metricsUrl'> & { readonly metricsUrl?: string }) | undefined }
  >;
}

interface Job {
  readonly source: SignalSource;
  timer: ReturnType<typeof setTimeout> | undefined;
  abort: AbortController | undefined;
  stopped: boolean;
}

export class SignalScraper {
  /** decide's view of the signals (fresh readings only). */
  readonly lookup: SignalLookup;

  private readonly store: SignalStore;
  private readonly random: () => number;
  private readonly fetchText: FetchText;
  private readonly jobs = new Map<string, Job>();

  constructor(options: SignalScraperOptions) {
    this.store = new SignalStore({ now: options.now });
    this.lookup = this.store.lookup;
    this.random = options.random;
    this.fetchText = options.fetchText ?? fetchMetricsText;
  }

  /**
   * Brings the scrape jobs in line with a policy: backends with `signals` get a job (restarted
   * when their source changed), the others lose theirs. A job's first scrape comes after a
   * random part of its interval, so pods started together do not scrape in step.
   */
  reconcile(policy: SignalPolicy): void {
    for (const [name, backend] of policy.backends) {
      // Only a load page of the backend's own is scraped here; `selector` is the fleet view's.
      const s = backend.signals;
      const source: SignalSource | undefined =
        s?.metricsUrl === undefined
          ? undefined
          : { metricsUrl: s.metricsUrl, format: s.format, intervalMs: s.intervalMs };
      const job = this.jobs.get(name);
      if (source === undefined) {
        if (job !== undefined) this.stop(name, job);
        continue;
      }
      if (job !== undefined && sameSource(job.source, source)) continue;
      if (job !== undefined) this.stop(name, job);
      this.store.track(name, source);
      const fresh: Job = { source, timer: undefined, abort: undefined, stopped: false };
      this.jobs.set(name, fresh);
      this.schedule(name, fresh, source.intervalMs * this.random());
    }
    for (const [name, job] of this.jobs) if (!policy.backends.has(name)) this.stop(name, job);
  }

  /** Every tracked backend's signal state, for `/admin/state`. */
  stats(): SignalStats[] {
    return this.store.stats();
  }

  /** Stops every job and aborts scrapes in flight. */
  close(): void {
    for (const [name, job] of this.jobs) this.stop(name, job);
  }

  private schedule(name: string, job: Job, delayMs: number): void {
    job.timer = setTimeout(() => void this.scrape(name, job), delayMs);
    job.timer.unref();
  }

  private async scrape(name: string, job: Job): Promise<void> {
    job.timer = undefined;
    const { source } = job;
    const abort = new AbortController();
    job.abort = abort;
    const timeout = setTimeout(
      () => abort.abort(new Error('timed out')),
      source.intervalMs * SIGNAL_TIMEOUT_SHARE,
    );
    timeout.unref();
    try {
      const text = await this.fetchText(source.metricsUrl, abort.signal);
      if (!job.stopped) this.store.record(name, readLoad(text, source.format));
    } catch (err) {
      if (!job.stopped) this.store.fail(name, describe(err, abort.signal));
    } finally {
      clearTimeout(timeout);
      job.abort = undefined;
    }
    if (job.stopped) return;
    const factor = 1 - SIGNAL_JITTER + 2 * SIGNAL_JITTER * this.random();
    this.schedule(name, job, source.intervalMs * factor);
  }

  private stop(name: string, job: Job): void {
    job.stopped = true;
    if (job.timer !== undefined) clearTimeout(job.timer);
    job.abort?.abort(new Error('stopped'));
    this.jobs.delete(name);
    this.store.untrack(name);
  }
}

/** The default {@link FetchText}: global fetch, 2xx only, at most {@link MAX_METRICS_BYTES}. */
export async function fetchMetricsText(url: string, signal: AbortSignal): Promise<string> {
  const res = await fetch(url, { signal, headers: { accept: 'text/plain;version=0.0.4' } });
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_METRICS_BYTES) throw new Error(`page larger than ${MAX_METRICS_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof Error ? reason.message : 'aborted';
  }
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return (message + cause).slice(0, 300);
}

function sameSource(a: SignalSource, b: SignalSource): boolean {
  return a.metricsUrl === b.metricsUrl && a.format === b.format && a.intervalMs === b.intervalMs;
}
