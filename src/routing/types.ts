/**
 * What decide returns: the ordered attempt list and why.
 */
import type { ClassLabel, PromptSummary } from '../ingress/features.js';

/** Why a backend of the route was not a candidate. */
export type ExclusionReason =
  | 'breaker_open'
  | 'cooling_down'
  | 'at_max_inflight'
  | 'over_budget'
  | 'excluded_by_rule'
  | 'not_in_rule_only'
  | 'split_weight_zero'
  /** A `zone-only` route: the backend is outside the sidecar's zone. */
  | 'other_zone'
  /** The backend speaks another API than the endpoint called (`api` in the policy). */
  | 'wrong_api'
  /** The request's estimated prompt plus max_tokens exceeds the backend's `contextWindow`. */
  | 'context_window'
  /** A canary candidate failing beyond its spec's guard in this sidecar's window (local-guard.ts). */
  | 'canary_guard';

/** A candidate's prefix-affinity term (routes with `affinity`, requests with a prefix). */
export interface AffinityTerm {
  /** This candidate is the prompt prefix's home: its rendezvous hash is the best among the eligible. */
  readonly home: boolean;
  /** Its load over the candidates' mean (queued + running with signals, else in flight); skipped above maxLoadFactor. */
  readonly loadFactor: number;
  /** Why a candidate that hashes better than the home was passed over: its load or its score. */
  readonly skipped?: 'load' | 'score';
}

/** What prefix affinity did for the first attempt: the home served it, it was passed over, or the request had no prefix. */
export type AffinityOutcome = 'home' | 'skipped' | 'none';

export interface CandidateReport {
  readonly backend: string;
  /** Estimated USD cost of this request on this backend. */
  readonly estimatedCostUsd: number;
  /** Present when the backend was left out. */
  readonly excluded?: ExclusionReason;
  /** Selection weight among the candidates (split weight, or the score-derived weight); higher is better. */
  readonly weight?: number;
  /** Scoring terms, when scoring was used: relative latency, error ratio, relative price. */
  readonly terms?: {
    readonly latency: number;
    readonly errors: number;
    readonly cost: number;
    /** (1 + load cost) over the best candidate's; 1 without load signals. */
    readonly load?: number;
    /** The window's time-to-first-byte p95, ms; absent without samples. */
    readonly ttfbP95Ms?: number | undefined;
    /** Prefix affinity, on routes with `affinity` for requests with a prefix. */
    readonly affinity?: AffinityTerm;
  };
  /**
   * Zone term when the sidecar's zone applies to the route: `same` zone, `other` zone (or none),
   * or `excluded` by a `zone-only` route.
   */
  readonly zone?: 'same' | 'other' | 'excluded';
}

export interface Decision {
  /** Route the request was sent with (`body.model`). */
  readonly requestedRoute: string;
  /** Route actually used (a rule may switch it). */
  readonly route: string;
  /** Backends to try, in order; never empty. */
  readonly attempts: readonly string[];
  /** Label for A/B attribution: the split arm picked, a pin, or `default`. */
  readonly variant: string;
  /** One-line explanation, e.g. `split sticky(header:x-user-id) -> llama-70b-next`. */
  readonly reason: string;
  /**
   * The first rule that applied, if any (kept for the consumers that name one rule: request
   * start events, traces, refusals). `rules` has every rule that applied.
   */
  readonly rule: string | undefined;
  /** Every rule that applied, in order (more than one when rules `continue`); empty when none. */
  readonly rules: readonly string[];
  /** Hash and length of the prompt text, when a rule read it (the text itself is never kept). */
  readonly prompt?: PromptSummary;
  /** Labels of the classifiers asked for this request; null when one gave none (timeout, error, garbage). */
  readonly classes?: Readonly<Record<string, ClassLabel | null>>;
  /** Effective ceiling in USD, if any. */
  readonly maxCostUsd: number | undefined;
  /** Every backend of the route, with its weight or the reason it was left out. */
  readonly candidates: readonly CandidateReport[];
  /**
   * Prefix affinity's outcome for the first attempt (`home`: the prompt's home backend; `skipped`:
   * the home was passed over for its load, score or health; `none`: the request had no prefix).
   * Absent when the route has no affinity or affinity did not choose (split, bandit, pin).
   */
  readonly affinity?: AffinityOutcome;
  /**
   * The route's zone state after this decision, for the caller to hand back as `zoneLeft`: true
   * while its traffic is out of the sidecar's zone (locality.ts). Absent when zones did not decide.
   */
  readonly zoneLeft?: boolean;
}

/** Why no decision could be made; mapped to an OpenAI-shaped error at the edge. */
export interface DecisionRefusal {
  readonly code:
    | 'model_not_found'
    | 'no_healthy_backend'
    | 'over_budget'
    | 'denied'
    | 'pin_not_allowed'
    | 'context_length_exceeded';
  readonly message: string;
  /** HTTP status to answer with. */
  readonly status: number;
  readonly requestedRoute: string;
  readonly route: string;
  /** The first rule that applied, if any. */
  readonly rule: string | undefined;
  /** Every rule that applied, in order; the last one is the one that refused, for `denied`. */
  readonly rules: readonly string[];
  /** As in Decision. */
  readonly prompt?: PromptSummary;
  /** As in Decision. */
  readonly classes?: Readonly<Record<string, ClassLabel | null>>;
  readonly candidates: readonly CandidateReport[];
}

export type DecideResult =
  | { readonly ok: true; readonly decision: Decision }
  | { readonly ok: false; readonly refusal: DecisionRefusal };
