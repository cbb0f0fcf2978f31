/**
 * The health registry: per backend, a rolling window, two EWMAs, an opossum breaker, the
 * attempts in flight and a 429 cool-down. The request path feeds it outcomes; decide reads
 * it through `lookup`. It never calls the router.
 */
import { EventEmitter } from 'node:events';
import type { CompiledPolicy, WindowSettings } from '../policy/types.js';
import { DEFAULT_COOL_DOWN_MS, type FailureClass, type Outcome } from '../outcome/classify.js';
import { BackendBreaker, type SettleCall } from './breaker.js';
import { DEFAULT_EWMA_HALF_LIFE_MS, Ewma } from './ewma.js';
import {
  UNKNOWN_HEALTH,
  type BackendHealth,
  type BreakerState,
  type HealthLookup,
  type Quantiles,
} from './types.js';
import { RollingWindow } from './window.js';

/** What the forwarder reports when an attempt ends. */
export interface AttemptResult {
  readonly outcome: Outcome;
  /** Time to the response head, ms; absent when no head arrived. */
  readonly ttfbMs?: number | undefined;
  /** Time from sending the request to the end of the attempt, ms. */
  readonly durationMs: number;
}

/**
 * One attempt the registry let through (see `admit`). Handed back to `record` exactly once; the
 * fields are the registry's own.
 */
export interface Admission {
  readonly backend: string;
  /** Reports the attempt's end to the breaker that admitted it. */
  readonly settleBreaker: SettleCall;
}

/** A breaker changed state. */
export interface BreakerTransition {
  readonly backend: string;
  readonly state: BreakerState;
  /** Registry clock reading at the transition, epoch ms. */
  readonly atMs: number;
}

/** Everything known about one backend, for `/admin/state` and telemetry. */
export interface BackendStats extends BackendHealth {
  readonly backend: string;
  /**
   * The breaker's own state. (The snapshot decide reads reports a half-open breaker whose one
   * trial is already running as `open`, since it would refuse another call.)
   */
  readonly breaker: BreakerState;
  /** Whether the breaker would let a call through right now. */
  readonly breakerAdmitting: boolean;
  /** End of the 429 cool-down as an ISO timestamp; null when not cooling down. */
  readonly coolingUntil: string | null;
  /** Window quantiles of successful attempts' total latency, ms; undefined without samples. */
  readonly latency: Quantiles | undefined;
  /** Window quantiles of successful attempts' time to first byte, ms; undefined without samples. */
  readonly ttfb: Quantiles | undefined;
  readonly failuresByClass: Readonly<Record<FailureClass, number>>;
  /** Geometry of the window the counts cover. */
  readonly window: WindowSettings;
}

export interface HealthRegistryOptions {
  /** Clock, epoch ms. The only time source for windows, EWMAs and cool-downs. */
  readonly now: () => number;
  /** Half-life of the latency EWMAs, ms (default 5000). */
  readonly ewmaHalfLifeMs?: number;
}

interface Entry {
  readonly window: RollingWindow;
  readonly latency: Ewma;
  readonly ttfb: Ewma;
  readonly breaker: BackendBreaker;
  inflight: number;
  /** Epoch ms; 0 when not cooling down. */
  coolingUntilMs: number;
  /** Failures since the last success (429s excluded: a busy backend is not a dead one). */
  failuresInARow: number;
  /**
   * decide's view, cached: rebuilt only after something it shows changed (an attempt admitted
   * or recorded, a breaker transition, a reconcile) or when the clock passes `snapshotUntilMs`
   * (the window's next bucket boundary, or the end of a cool-down).
   */
  snapshot: BackendHealth | undefined;
  snapshotUntilMs: number;
}

export class HealthRegistry {
  /** decide's view: `lookup(name)` is `snapshot(name)`, bound. */
  readonly lookup: HealthLookup = (backend) => this.snapshot(backend);

  private readonly now: () => number;
  private readonly halfLifeMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(t: BreakerTransition) => void>();
  /** One timer rotates every breaker's opossum buckets (opossum would run one per breaker). */
  private readonly rotate = new EventEmitter().setMaxListeners(0);
  private ticker: ReturnType<typeof setInterval> | undefined;
  private windowSettings: WindowSettings | undefined;

  constructor(options: HealthRegistryOptions) {
    this.now = options.now;
    this.halfLifeMs = options.ewmaHalfLifeMs ?? DEFAULT_EWMA_HALF_LIFE_MS;
  }

  /**
   * Brings the entries in line with a policy: new backends get an entry, removed ones have
   * their breaker shut down, changed breaker or window settings are applied in place.
   * Everything else (counts, EWMAs, breaker state, inflight, cool-downs) is kept: a policy
   * reload must not make a failing backend look healthy.
   */
  reconcile(policy: CompiledPolicy): void {
    const now = this.now();
    const window = policy.window;
    if (!this.windowSettings || !sameWindow(this.windowSettings, window)) this.startTicker(window);
    for (const name of policy.backends.keys()) {
      const entry = this.entries.get(name);
      if (entry) {
        entry.window.resize(window, now);
        entry.breaker.reconfigure(policy.breaker, window);
        entry.snapshot = undefined;
        continue;
      }
      this.entries.set(name, {
        window: new RollingWindow(window, now),
        latency: new Ewma(this.halfLifeMs),
        ttfb: new Ewma(this.halfLifeMs),
        breaker: new BackendBreaker(name, policy.breaker, window, {
          rotate: this.rotate,
          onTransition: this.transitioned,
        }),
        inflight: 0,
        coolingUntilMs: 0,
        failuresInARow: 0,
        snapshot: undefined,
        snapshotUntilMs: 0,
      });
    }
    for (const [name, entry] of this.entries) {
      if (policy.backends.has(name)) continue;
      entry.breaker.shutdown();
      this.entries.delete(name);
    }
  }

  /**
   * Asks to send one attempt to `backend`: undefined when its breaker refuses (open, or
   * half-open with its one trial taken) or the backend has left the policy. An admitted attempt
   * counts as in flight until it is passed to `record`. This and `record` are the request path's
   * whole interface to health: the breaker, the window and the in-flight count move together.
   */
  admit(backend: string): Admission | undefined {
    const entry = this.entries.get(backend);
    if (!entry) return undefined;
    const settleBreaker = entry.breaker.enter();
    if (!settleBreaker) return undefined;
    started(entry);
    return { backend, settleBreaker };
  }

  /** The admitted attempt ended: its outcome goes to the breaker, the window and the EWMAs. */
  record(admission: Admission, result: AttemptResult): void {
    const outcome = result.outcome;
    admission.settleBreaker(outcome);
    this.attemptFinished(admission.backend, result);
  }

  /**
   * An attempt ended. Successes and failures are recorded in the window; `ignored` outcomes
   * (the app's own 4xx, the app hanging up, a breaker refusal) are not requests at all, since
   * they say nothing about the backend and would only dilute its error ratio. Successes feed
   * the EWMAs; a `rate_limited` failure starts (or extends) the cool-down.
   * Attempts to a backend that has left the policy meanwhile are dropped.
   */
  private attemptFinished(backend: string, result: AttemptResult): void {
    const entry = this.entries.get(backend);
    if (!entry) return;
    // A backend removed and re-added mid-attempt gets a fresh entry: never go below zero.
    if (entry.inflight > 0) entry.inflight--;
    entry.snapshot = undefined;
    const outcome = result.outcome;
    if (outcome.kind === 'ignored') return;
    const now = this.now();
    if (outcome.kind === 'success') {
      entry.failuresInARow = 0;
      entry.window.recordSuccess(now, result.durationMs, result.ttfbMs);
      entry.latency.update(result.durationMs, now);
      if (result.ttfbMs !== undefined) entry.ttfb.update(result.ttfbMs, now);
      return;
    }
    entry.window.recordFailure(now, outcome.failure);
    if (outcome.failure === 'rate_limited') {
      // Concurrent 429s may carry different Retry-After values: the latest end wins.
      const until = now + (outcome.coolDownMs ?? DEFAULT_COOL_DOWN_MS);
      if (until > entry.coolingUntilMs) entry.coolingUntilMs = until;
      return;
    }
    const limit = entry.breaker.settings.consecutiveFailures;
    if (limit > 0 && ++entry.failuresInARow >= limit) {
      entry.failuresInARow = 0;
      entry.breaker.trip();
      return;
    }
    entry.breaker.judge(entry.window.requests, entry.window.failures);
  }

  /**
   * decide's view of one backend: cached, and rebuilt (running counts, EWMAs and the window's
   * TTFB p95) only when it changed, so a decision over many backends allocates nothing for the
   * ones no request touched since.
   */
  snapshot(backend: string): BackendHealth {
    const entry = this.entries.get(backend);
    if (!entry) return UNKNOWN_HEALTH;
    const now = this.now();
    if (entry.snapshot !== undefined && now < entry.snapshotUntilMs) return entry.snapshot;
    const window = entry.window.advance(now);
    const state = entry.breaker.state;
    const coolingUntilMs = entry.coolingUntilMs > now ? entry.coolingUntilMs : 0;
    const snapshot: BackendHealth = {
      // Half-open with the trial taken refuses every call, so decide must treat it as open.
      breaker: state === 'halfOpen' && !entry.breaker.admitting ? 'open' : state,
      coolingUntilMs,
      inflight: entry.inflight,
      requests: window.requests,
      failures: window.failures,
      errorRatio: window.errorRatio,
      latencyEwmaMs: entry.latency.value,
      ttfbEwmaMs: entry.ttfb.value,
      ttfbP95Ms: window.quantiles('ttfb')?.p95,
    };
    entry.snapshot = snapshot;
    const boundary = window.nextBucketAtMs(now);
    entry.snapshotUntilMs = coolingUntilMs > 0 && coolingUntilMs < boundary ? coolingUntilMs : boundary;
    return snapshot;
  }

  /** Full view of one backend (walks the histograms); undefined for a backend not in the policy. */
  stats(backend: string): BackendStats | undefined {
    const entry = this.entries.get(backend);
    if (!entry) return undefined;
    const snap = this.snapshot(backend);
    const window = entry.window;
    return {
      ...snap,
      backend,
      breaker: entry.breaker.state,
      breakerAdmitting: entry.breaker.admitting,
      coolingUntil: snap.coolingUntilMs > 0 ? new Date(snap.coolingUntilMs).toISOString() : null,
      latency: window.quantiles('total'),
      ttfb: window.quantiles('ttfb'),
      failuresByClass: window.failuresByClass(),
      window: window.settings,
    };
  }

  /** stats() of every backend, in policy order. */
  allStats(): BackendStats[] {
    const out: BackendStats[] = [];
    for (const name of this.entries.keys()) out.push(this.stats(name)!);
    return out;
  }

  /** Subscribes to breaker transitions; returns the unsubscribe function. Listeners must not throw. */
  onBreakerTransition(listener: (transition: BreakerTransition) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Shuts down every breaker and the rotation timer. The registry is unusable afterwards. */
  shutdown(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const entry of this.entries.values()) entry.breaker.shutdown();
    this.entries.clear();
    this.listeners.clear();
  }

  private startTicker(window: WindowSettings): void {
    if (this.ticker) clearInterval(this.ticker);
    this.windowSettings = window;
    this.ticker = setInterval(() => this.rotate.emit('rotate'), Math.max(1, window.sizeMs / window.buckets));
    this.ticker.unref();
  }

  private readonly transitioned = (backend: string, state: BreakerState): void => {
    // A breaker closes only after a successful half-open trial. The failures that opened it
    // are still in the window and would keep the error ratio high for up to a whole window,
    // so the scorer would starve the recovered backend of the traffic that proves it healthy.
    const entry = this.entries.get(backend);
    if (entry) entry.snapshot = undefined;
    if (state === 'closed') entry?.window.clearFailures();
    if (this.listeners.size === 0) return;
    const transition: BreakerTransition = { backend, state, atMs: this.now() };
    for (const listener of this.listeners) {
      try {
        listener(transition);
      } catch (err) {
        // Throwing here would unwind inside opossum's state machine.
        process.emitWarning(`breaker transition listener threw: ${String(err)}`);
      }
    }
  };
}

function sameWindow(a: WindowSettings, b: WindowSettings): boolean {
  return a.sizeMs === b.sizeMs && a.buckets === b.buckets;
}

/** One more attempt in flight: the cached snapshot no longer shows it. */
function started(entry: Entry): void {
  entry.inflight++;
  entry.snapshot = undefined;
}
