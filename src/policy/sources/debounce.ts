/**
 * A debounce with a cap: waits for a quiet moment after a burst of events, but never longer than
 * a maximum after the first event of the burst, so a source that never goes quiet still gets
 * through.
 */

/** The clock and timers a `Debouncer` runs on; injected so tests run on a manual clock. */
export interface DebounceTimers {
  /** Milliseconds, monotonic enough to measure waits. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_TIMERS: DebounceTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Options of `Debouncer`. */
export interface DebounceOptions {
  /** Quiet time after the last event before firing. */
  readonly quietMs: number;
  /** Longest wait after the first event of a burst, however many events follow it. */
  readonly maxWaitMs: number;
}

/** Calls `fire` once per burst of `poke`s; see the file comment. */
export class Debouncer {
  readonly #fire: () => void;
  readonly #quietMs: number;
  readonly #maxWaitMs: number;
  readonly #timers: DebounceTimers;
  #handle: unknown;
  /** When the current burst must fire at the latest; undefined when no burst is pending. */
  #deadline: number | undefined;

  constructor(fire: () => void, options: DebounceOptions, timers: DebounceTimers = SYSTEM_TIMERS) {
    this.#fire = fire;
    this.#quietMs = options.quietMs;
    this.#maxWaitMs = Math.max(options.quietMs, options.maxWaitMs);
    this.#timers = timers;
  }

  /** One event: fire `quietMs` from now, or at the burst's deadline if that comes first. */
  poke(): void {
    const now = this.#timers.now();
    this.#deadline ??= now + this.#maxWaitMs;
    const at = Math.min(now + this.#quietMs, this.#deadline);
    if (this.#handle !== undefined) this.#timers.clearTimeout(this.#handle);
    this.#handle = this.#timers.setTimeout(
      () => {
        this.#handle = undefined;
        this.#deadline = undefined;
        this.#fire();
      },
      Math.max(0, at - now),
    );
  }

  /** Drops a pending fire. */
  cancel(): void {
    if (this.#handle !== undefined) this.#timers.clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#deadline = undefined;
  }
}
