/**
 * The breaker's refusal, with a stable code. (The error going in, AttemptFailedError, is a leaf
 * of src/outcome: every layer may import it.)
 */
import type { BreakerState } from './types.js';

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
