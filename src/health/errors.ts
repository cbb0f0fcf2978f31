/**
 * The two errors that cross the breaker: the attempt's own failure going in, and the
 * breaker's refusal coming out. Each has a stable code.
 */
import type { FailureClass, Outcome } from '../proxy/classify.js';
import type { BreakerState } from './types.js';

/** A failed outcome, as classify produces it. */
export type FailureOutcome = Extract<Outcome, { kind: 'failure' }>;

/**
 * What an attempt rejects with when classify called it a failure. Only this error counts
 * against the backend's breaker; every other rejection is routecar's own bug and passes through
 * without opening anything.
 */
export class AttemptFailedError extends Error {
  /** Stable code. */
  readonly code = 'ROUTECAR_ATTEMPT_FAILED';
  /** The classified outcome (the same object the registry receives). */
  readonly outcome: FailureOutcome;

  constructor(outcome: FailureOutcome, options?: { cause?: unknown }) {
    super(`attempt failed: ${outcome.failure}`, options);
    this.name = 'AttemptFailedError';
    this.outcome = outcome;
  }

  /** How the attempt failed. */
  get failure(): FailureClass {
    return this.outcome.failure;
  }
}

/** Codes of the refusals the breaker itself produces. */
export type BreakerRejectionCode =
  /** Open, or half-open with its one trial already running. */
  | 'EOPENBREAKER'
  /** The backend left the policy and its breaker was shut down. */
  | 'ESHUTDOWN'
  /** Not produced with routecar's options (no capacity, no opossum timeout); kept for completeness. */
  | 'ESEMLOCKED'
  | 'ETIMEDOUT';

/**
 * The breaker refused the call: the attempt never ran, so the upstream is not to blame.
 * The forwarder records it as an `ignored` outcome (`breaker_rejected`) and moves on.
 */
export class BreakerRejectedError extends Error {
  /** Stable code, opossum's own. */
  readonly code: BreakerRejectionCode;
  /** Backend whose breaker refused. */
  readonly backend: string;
  /** Breaker state at the refusal. */
  readonly state: BreakerState;

  constructor(backend: string, code: BreakerRejectionCode, state: BreakerState) {
    super(`breaker for backend ${backend} refused the call (${code}, ${state})`);
    this.name = 'BreakerRejectedError';
    this.code = code;
    this.backend = backend;
    this.state = state;
  }
}
