/**
 * The read-only view of one backend's health that decide consumes.
 * Produced by the health registry; never mutated by the router.
 */

/** opossum's three states, named as opossum names its events. */
export type BreakerState = 'closed' | 'open' | 'halfOpen';

/** Latency quantiles over the rolling window, in milliseconds. */
export interface Quantiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface BackendHealth {
  /** Breaker state; `open` backends get no traffic, `halfOpen` ones get exactly one trial. */
  readonly breaker: BreakerState;
  /** Epoch ms until which a 429's Retry-After keeps the backend out; 0 when not cooling down. */
  readonly coolingUntilMs: number;
  /** Attempts currently in flight to this backend. */
  readonly inflight: number;
  /** Finished attempts in the rolling window (successes plus failures; ignored outcomes excluded). */
  readonly requests: number;
  /** Failed attempts in the rolling window. */
  readonly failures: number;
  /** failures / requests, 0 when the window is empty. */
  readonly errorRatio: number;
  /** Exponentially weighted total latency of successful attempts, ms; undefined before the first sample. */
  readonly latencyEwmaMs: number | undefined;
  /** Exponentially weighted time to first byte of successful attempts, ms; undefined before the first sample. */
  readonly ttfbEwmaMs: number | undefined;
  /**
   * p95 of the window's time to first byte, ms (it may lag the window by a moment: it is a
   * quantile walk, refreshed by the registry, not per request); undefined without samples or
   * when the registry does not provide it.
   */
  readonly ttfbP95Ms?: number | undefined;
}

/** A backend nobody has sent anything to yet. */
export const UNKNOWN_HEALTH: BackendHealth = Object.freeze({
  breaker: 'closed',
  coolingUntilMs: 0,
  inflight: 0,
  requests: 0,
  failures: 0,
  errorRatio: 0,
  latencyEwmaMs: undefined,
  ttfbEwmaMs: undefined,
});

/** How decide reads health: a pure lookup by backend name. */
export type HealthLookup = (backend: string) => BackendHealth;
