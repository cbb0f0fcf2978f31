/**
 * One opossum circuit breaker per backend, configured the way routecar needs it:
 * - `timeout: false`: the forwarder runs its own connect / first-byte / idle timers, and an
 *   opossum timeout would abort nothing while blaming the backend;
 * - `rollingPercentilesEnabled: false`, `enableSnapshots: false`: opossum's stats getter sorts
 *   every latency and runs on every failure; routecar keeps its own quantiles in RollingWindow;
 * - opossum never opens on its own error percentage (`errorThresholdPercentage: 100`, which no
 *   ratio can exceed): the registry's RollingWindow is the one window that counts attempts, and
 *   it calls `judge` after each failure, so the breaker and the scorer read the same counts.
 *   opossum keeps what it does well: the open → half-open → closed machine, the reset timer and
 *   the single half-open trial (whose failure re-opens it whatever the ratio).
 */
import type { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { BreakerSettings, WindowSettings } from '../policy/types.js';
import { AttemptFailedError } from '../outcome/attempt-error.js';
import type { Outcome } from '../outcome/classify.js';
import type { BreakerState } from './types.js';

/** Called on every state change of a breaker. */
export type BreakerTransitionHandler = (backend: string, state: BreakerState) => void;

export interface BackendBreakerOptions {
  /**
   * Emitter whose `rotate` event rotates opossum's buckets, so one timer drives every breaker.
   * Emit it every `window.sizeMs / window.buckets`. Without it each breaker runs its own interval.
   */
  readonly rotate?: EventEmitter;
  /** Told about every transition (open, halfOpen, close). */
  readonly onTransition?: BreakerTransitionHandler;
}

type Attempt = () => Promise<unknown>;

/** Reports how an admitted call ended, as classify saw it. */
export type SettleCall = (outcome: Outcome) => void;

/** opossum opens when failures / fires × 100 is strictly above its threshold: never, at 100. */
const OPOSSUM_NEVER_OPENS_ON_RATIO = 100;
type Inner = CircuitBreaker<[Attempt], unknown>;

const callAttempt = (attempt: Attempt): Promise<unknown> => attempt();
// Only classified failures count against the backend (errorFilter returning true = "not a failure").
const notAnAttemptFailure = (err: unknown): boolean => !(err instanceof AttemptFailedError);

export class BackendBreaker {
  private inner: Inner;
  private breakerSettings: BreakerSettings;
  private windowSettings: WindowSettings;

  /**
   * @param backend backend name (breaker name, and the name transitions are reported under)
   * @param settings thresholds from the policy
   * @param window the policy's rolling window; opossum's statistical window uses the same geometry
   */
  constructor(
    readonly backend: string,
    settings: BreakerSettings,
    window: WindowSettings,
    private readonly options: BackendBreakerOptions = {},
  ) {
    this.breakerSettings = settings;
    this.windowSettings = window;
    this.inner = this.build('closed');
  }

  /**
   * Admits one call without wrapping it in a promise of its own: returns the function that
   * reports how the call ended (its classified outcome), or undefined when the breaker refuses.
   * opossum decides admission synchronously, so `admitting` and `fire` agree.
   */
  enter(): SettleCall | undefined {
    if (!this.admitting) return undefined;
    // Closed, a call changes nothing in opossum: it never opens on its own ratio (the window
    // judges, see `judge`). Only the half-open trial goes through `fire`, whose outcome closes or
    // re-opens the breaker; so a call that started while closed and ends during half-open is not
    // taken for the trial, and a closed breaker costs an attempt no promises.
    if (this.inner.closed) return noop;
    let settle!: SettleCall;
    // Only a trial's failure becomes an error (with its stack trace): opossum needs a rejection.
    const call = new Promise<void>((resolve, reject) => {
      settle = (outcome) =>
        outcome.kind === 'failure' ? reject(new AttemptFailedError(outcome)) : resolve();
    });
    // The outcome was already recorded by the caller; opossum's rejection carries nothing new.
    this.inner.fire(() => call).catch(noop);
    return settle;
  }

  /** Current state. A shut-down breaker reports `closed` (it is gone from the registry by then). */
  get state(): BreakerState {
    if (this.inner.opened) return 'open';
    if (this.inner.halfOpen) return 'halfOpen';
    return 'closed';
  }

  /** Whether a call made now would reach the backend: closed, or half-open with the trial slot free. */
  get admitting(): boolean {
    return (this.inner.closed || this.inner.pendingClose) && !this.inner.isShutdown;
  }

  /** Settings in use. */
  get settings(): BreakerSettings {
    return this.breakerSettings;
  }

  /**
   * Applies new settings. opossum cannot change its options in place, so a changed breaker is
   * rebuilt and the old one shut down; the state carries over (an open breaker restarts its
   * reset timer), opossum's own counts start afresh. Returns whether anything was rebuilt.
   */
  reconfigure(settings: BreakerSettings, window: WindowSettings): boolean {
    if (sameBreaker(settings, this.breakerSettings) && sameWindow(window, this.windowSettings)) return false;
    const state = this.state;
    const old = this.inner;
    this.breakerSettings = settings;
    this.windowSettings = window;
    this.inner = this.build(state);
    old.shutdown();
    return true;
  }

  /**
   * Opens a closed breaker when the window's failures are strictly above
   * `errorThresholdPercentage` of at least `volumeThreshold` attempts. Returns whether it opened.
   */
  judge(requests: number, failures: number): boolean {
    const s = this.breakerSettings;
    if (!this.inner.closed || requests === 0 || requests < s.volumeThreshold) return false;
    if ((failures * 100) / requests <= s.errorThresholdPercentage) return false;
    this.inner.open();
    return true;
  }

  /** Opens the breaker now (consecutive failures); opossum starts its reset timer as for any opening. */
  trip(): void {
    if (this.inner.closed) this.inner.open();
  }

  /** Stops opossum's timers and listeners; `enter` refuses every call from then on. */
  shutdown(): void {
    this.inner.shutdown();
  }

  private build(state: BreakerState): Inner {
    const s = this.breakerSettings;
    const inner: Inner = new CircuitBreaker(callAttempt, {
      name: this.backend,
      timeout: false,
      resetTimeout: s.resetTimeoutMs,
      errorThresholdPercentage: OPOSSUM_NEVER_OPENS_ON_RATIO,
      volumeThreshold: 0,
      rollingCountTimeout: this.windowSettings.sizeMs,
      rollingCountBuckets: this.windowSettings.buckets,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      errorFilter: notAnAttemptFailure,
      ...(this.options.rotate ? { rotateBucketController: this.options.rotate } : {}),
      ...(state === 'closed' ? {} : { state: { closed: false, halfOpen: state === 'halfOpen' } }),
    });
    const notify = this.options.onTransition;
    if (notify) {
      inner.on('open', () => notify(this.backend, 'open'));
      inner.on('halfOpen', () => notify(this.backend, 'halfOpen'));
      inner.on('close', () => notify(this.backend, 'closed'));
    }
    return inner;
  }
}

function noop(): void {}

function sameBreaker(a: BreakerSettings, b: BreakerSettings): boolean {
  return (
    a.errorThresholdPercentage === b.errorThresholdPercentage &&
    a.volumeThreshold === b.volumeThreshold &&
    a.resetTimeoutMs === b.resetTimeoutMs &&
    a.consecutiveFailures === b.consecutiveFailures
  );
}

function sameWindow(a: WindowSettings, b: WindowSettings): boolean {
  return a.sizeMs === b.sizeMs && a.buckets === b.buckets;
}
