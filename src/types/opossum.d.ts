/**
 * Types for the part of opossum 10 that routecar uses. opossum ships no types and
 * @types/opossum lags behind; every member here was checked against
 * node_modules/opossum/lib/circuit.js (10.0.0).
 */
declare module 'opossum' {
  import { EventEmitter } from 'node:events';

  namespace CircuitBreaker {
    /** Error codes of the errors opossum creates itself (tagged for `isOurError`). */
    type OwnErrorCode = 'EOPENBREAKER' | 'ESHUTDOWN' | 'ESEMLOCKED' | 'ETIMEDOUT';

    /** An error opossum built itself: the call never reached (or was cut off from) the action. */
    interface OwnError extends Error {
      readonly code: OwnErrorCode;
    }

    /** Initial state, for rebuilding a breaker without losing where it stood. */
    interface InitialState {
      readonly enabled?: boolean;
      /** Default true; `closed: false, halfOpen: false` starts open (and starts the reset timer). */
      readonly closed?: boolean;
      /** Starts half-open with the trial slot free. */
      readonly halfOpen?: boolean;
      readonly warmUp?: boolean;
      readonly shutdown?: boolean;
      /** Epoch ms (Date.now) of the last open; an open breaker older than resetTimeout starts half-open. */
      readonly lastTimerAt?: number;
    }

    interface Options<TArgs extends unknown[]> {
      /** Per-call timeout in ms; `false` disables it. Default 10000. */
      timeout?: number | false;
      /** Time open before the single half-open trial, ms. Default 30000. */
      resetTimeout?: number;
      /** Opens when failures / fires × 100 is strictly above this. Default 50. */
      errorThresholdPercentage?: number;
      /** Fires needed in the window before the breaker may open. Default 0. */
      volumeThreshold?: number;
      /** Length of the statistical window, ms. Default 10000. */
      rollingCountTimeout?: number;
      /** Buckets in the statistical window. Default 10. */
      rollingCountBuckets?: number;
      /** Keep every latency and sort them on each `stats` read. Default true (costly). */
      rollingPercentilesEnabled?: boolean;
      /** Emit `snapshot` on a timer per breaker. Default true (costly). */
      enableSnapshots?: boolean;
      /** Emitter whose `rotate` event rotates the buckets, so one timer can drive every breaker. */
      rotateBucketController?: EventEmitter;
      /** Returning true counts the error as a success (the call still rejects). */
      errorFilter?: (error: unknown, ...args: TArgs) => boolean;
      /** Name used in stats; defaults to the action's name. */
      name?: string;
      group?: string;
      /** Concurrent calls allowed; the rest reject with ESEMLOCKED. Default unlimited. */
      capacity?: number;
      /** A disabled breaker calls the action unprotected. Default true. */
      enabled?: boolean;
      /** Ignore failures during the first rollingCountTimeout. Default false. */
      allowWarmUp?: boolean;
      state?: InitialState;
    }

    /** Cumulative counts over the window (`stats` getter). */
    interface Stats {
      readonly failures: number;
      readonly fallbacks: number;
      readonly successes: number;
      readonly rejects: number;
      readonly fires: number;
      readonly timeouts: number;
      readonly cacheHits: number;
      readonly cacheMisses: number;
      readonly coalesceCacheHits: number;
      readonly coalesceCacheMisses: number;
      readonly semaphoreRejections: number;
      /** -1 when rollingPercentilesEnabled is false. */
      readonly latencyMean: number;
      readonly percentiles: Readonly<Record<string, number>>;
    }

    /** Event name → listener arguments. */
    interface Events<TArgs extends unknown[]> {
      fire: [args: TArgs];
      /** `result` is the error itself when errorFilter turned a failure into a success. */
      success: [result: unknown, latencyMs: number];
      failure: [error: unknown, latencyMs: number, args: TArgs];
      timeout: [error: OwnError, latencyMs: number, args: TArgs];
      reject: [error: OwnError];
      open: [];
      halfOpen: [resetTimeoutMs: number];
      close: [];
      semaphoreLocked: [error: OwnError, latencyMs: number];
      shutdown: [];
    }
  }

  class CircuitBreaker<TArgs extends unknown[] = unknown[], TResult = unknown> extends EventEmitter<
    CircuitBreaker.Events<TArgs>
  > {
    /** True for errors opossum created (open breaker, shutdown, timeout, capacity), false for the action's own. */
    static isOurError(error: object): boolean;

    constructor(
      action: (...args: TArgs) => Promise<TResult> | TResult,
      options?: CircuitBreaker.Options<TArgs>,
    );

    /** Calls the action through the breaker; rejects with an OwnError when refused. */
    fire(...args: TArgs): Promise<TResult>;

    readonly name: string;
    readonly group: string;
    readonly opened: boolean;
    readonly closed: boolean;
    /** True from the halfOpen event until the trial settles. */
    readonly halfOpen: boolean;
    /** Half-open with the trial slot still free; cleared by the call that takes it. */
    readonly pendingClose: boolean;
    readonly isShutdown: boolean;
    readonly enabled: boolean;
    readonly warmUp: boolean;
    readonly volumeThreshold: number;
    /** Sums the window (and sorts latencies unless percentiles are off). */
    readonly stats: CircuitBreaker.Stats;

    open(): void;
    close(): void;
    enable(): void;
    disable(): void;
    /** Stops timers and listeners; later fires reject with ESHUTDOWN. */
    shutdown(): void;
  }

  export = CircuitBreaker;
}
