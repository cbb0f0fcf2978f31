/**
 * A rolling, time-bucketed window of one backend's attempts: counts, failures by class and
 * latency histograms. The clock is always passed in (`nowMs`), so tests run on fake time.
 *
 * Cost model: recording touches the newest bucket and a running aggregate of the live buckets
 * (a few increments, one Math.log per latency). Rotation is lazy: the next record or read
 * after a bucket boundary expires the buckets that fell out, subtracting them from the
 * aggregate, so reading counts never sums buckets and a quantile is one walk over the bins.
 */
import type { WindowSettings } from '../policy/types.js';
import type { FailureClass } from '../outcome/classify.js';
import { binOf, newHistogram, quantilesOf } from './histogram.js';
import type { Quantiles } from './types.js';

const FAILURE_INDEX = {
  refused: 0,
  reset: 1,
  connect_timeout: 2,
  first_byte_timeout: 3,
  idle_timeout: 4,
  server_error: 5,
  rate_limited: 6,
  stream_broken: 7,
  redirect: 8,
} as const satisfies Record<FailureClass, number>;

/** Every failure class, in a fixed order. */
export const FAILURE_CLASSES = Object.keys(FAILURE_INDEX) as readonly FailureClass[];

/** Counts of one bucket, or of the whole window (the running aggregate). */
class Tally {
  successes = 0;
  failures = 0;
  /** Successes that reported a time to first byte (the ttfb histogram's sample count). */
  ttfbSamples = 0;
  readonly byClass = new Uint32Array(FAILURE_CLASSES.length);
  readonly ttfb = newHistogram();
  readonly total = newHistogram();

  get empty(): boolean {
    return this.successes === 0 && this.failures === 0;
  }

  /** Adds (sign 1) or removes (sign -1) another tally's counts. */
  merge(other: Tally, sign: 1 | -1): void {
    this.successes += sign * other.successes;
    this.failures += sign * other.failures;
    this.ttfbSamples += sign * other.ttfbSamples;
    for (let i = 0; i < this.byClass.length; i++) this.byClass[i]! += sign * other.byClass[i]!;
    if (other.successes === 0) return; // histograms only hold successes
    for (let i = 0; i < this.total.length; i++) {
      this.total[i]! += sign * other.total[i]!;
      this.ttfb[i]! += sign * other.ttfb[i]!;
    }
  }

  clearFailures(): void {
    this.failures = 0;
    this.byClass.fill(0);
  }

  clear(): void {
    if (this.empty) return;
    this.successes = 0;
    this.ttfbSamples = 0;
    this.clearFailures();
    this.ttfb.fill(0);
    this.total.fill(0);
  }
}

/** Which latency a quantile read is about. */
export type LatencyKind = 'ttfb' | 'total';

export class RollingWindow {
  private sizeMs: number;
  private bucketMs: number;
  private ring: Tally[];
  /** Absolute bucket number (floor(now / bucketMs)) of the newest bucket. */
  private head: number;
  private readonly agg = new Tally();

  /** @param nowMs the clock reading the window starts at. */
  constructor(settings: WindowSettings, nowMs: number) {
    checkSettings(settings);
    this.sizeMs = settings.sizeMs;
    this.bucketMs = settings.sizeMs / settings.buckets;
    this.ring = Array.from({ length: settings.buckets }, () => new Tally());
    this.head = Math.floor(nowMs / this.bucketMs);
  }

  /** The geometry currently in use. */
  get settings(): WindowSettings {
    return { sizeMs: this.sizeMs, buckets: this.ring.length };
  }

  /**
   * Brings the window up to `nowMs`, expiring buckets that fell out. Every read below reflects
   * the window as of the last `advance` or record, so read as `window.advance(now).requests`.
   * A clock that steps backwards keeps writing into the newest bucket.
   */
  advance(nowMs: number): this {
    const slot = Math.floor(nowMs / this.bucketMs);
    if (slot <= this.head) return this;
    const n = this.ring.length;
    if (slot - this.head >= n) {
      // Idle for a whole window or more: everything expired, no need to walk the gap.
      for (const b of this.ring) b.clear();
      this.agg.clear();
    } else {
      for (let s = this.head + 1; s <= slot; s++) {
        const b = this.ring[mod(s, n)]!;
        if (b.empty) continue;
        this.agg.merge(b, -1);
        b.clear();
      }
    }
    this.head = slot;
    return this;
  }

  /** When the bucket holding `nowMs` ends: until then, reads change only by recording. */
  nextBucketAtMs(nowMs: number): number {
    return (Math.floor(nowMs / this.bucketMs) + 1) * this.bucketMs;
  }

  /** Records a successful attempt: total latency and, when known, time to first byte (ms). */
  recordSuccess(nowMs: number, totalMs: number, ttfbMs?: number): void {
    const b = this.current(nowMs);
    const total = binOf(totalMs);
    b.successes++;
    b.total[total]!++;
    this.agg.successes++;
    this.agg.total[total]!++;
    if (ttfbMs === undefined) return;
    const ttfb = binOf(ttfbMs);
    b.ttfbSamples++;
    b.ttfb[ttfb]!++;
    this.agg.ttfbSamples++;
    this.agg.ttfb[ttfb]!++;
  }

  /** Records a failed attempt. Failures carry no latency: a timeout's duration is the budget, not the backend's speed. */
  recordFailure(nowMs: number, failure: FailureClass): void {
    const b = this.current(nowMs);
    const i = FAILURE_INDEX[failure];
    b.failures++;
    b.byClass[i]!++;
    this.agg.failures++;
    this.agg.byClass[i]!++;
  }

  /** Finished attempts in the window: successes plus failures. */
  get requests(): number {
    return this.agg.successes + this.agg.failures;
  }

  /** Failed attempts in the window. */
  get failures(): number {
    return this.agg.failures;
  }

  /** failures / requests; 0 for an empty window. */
  get errorRatio(): number {
    const requests = this.requests;
    return requests === 0 ? 0 : this.agg.failures / requests;
  }

  /** Failures in the window by class (allocates; for admin and telemetry reads). */
  failuresByClass(): Record<FailureClass, number> {
    const out = {} as Record<FailureClass, number>;
    for (const c of FAILURE_CLASSES) out[c] = this.agg.byClass[FAILURE_INDEX[c]]!;
    return out;
  }

  /** p50/p95/p99 of successful attempts' latency, ms, within ±2.5%; undefined without samples. */
  quantiles(kind: LatencyKind): Quantiles | undefined {
    return kind === 'ttfb'
      ? quantilesOf(this.agg.ttfb, this.agg.ttfbSamples)
      : quantilesOf(this.agg.total, this.agg.successes);
  }

  /**
   * Forgets every failure in the window (the failed attempts leave the request count too);
   * successes and latencies stay.
   */
  clearFailures(): void {
    for (const b of this.ring) b.clearFailures();
    this.agg.clearFailures();
  }

  /**
   * Changes the geometry without losing history: each live bucket is moved into the new bucket
   * that covers its start time, and dropped if that lies outside the new window.
   */
  resize(settings: WindowSettings, nowMs: number): void {
    checkSettings(settings);
    if (settings.sizeMs === this.sizeMs && settings.buckets === this.ring.length) return;
    this.advance(nowMs);
    const oldRing = this.ring;
    const oldBucketMs = this.bucketMs;
    const oldHead = this.head;
    const n = settings.buckets;
    this.sizeMs = settings.sizeMs;
    this.bucketMs = settings.sizeMs / n;
    this.ring = Array.from({ length: n }, () => new Tally());
    this.head = Math.floor(nowMs / this.bucketMs);
    this.agg.clear();
    for (let age = 0; age < oldRing.length; age++) {
      const old = oldRing[mod(oldHead - age, oldRing.length)]!;
      if (old.empty) continue;
      const slot = Math.min(Math.floor(((oldHead - age) * oldBucketMs) / this.bucketMs), this.head);
      if (slot <= this.head - n) continue;
      this.ring[mod(slot, n)]!.merge(old, 1);
      this.agg.merge(old, 1);
    }
  }

  private current(nowMs: number): Tally {
    this.advance(nowMs);
    return this.ring[mod(this.head, this.ring.length)]!;
  }
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

function checkSettings(s: WindowSettings): void {
  if (!(s.sizeMs > 0) || !Number.isInteger(s.buckets) || s.buckets < 1) {
    throw new RangeError(`invalid window: sizeMs ${s.sizeMs}, buckets ${s.buckets}`);
  }
}
