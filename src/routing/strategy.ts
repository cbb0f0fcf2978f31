/**
 * The one contract every selection strategy implements: given the usable candidates, put them
 * in attempt order and say which variant the request belongs to.
 * Strategies: `score` (health and cost, no split) and `split` (canary / A-B weights,
 * optionally sticky). Pins, half-open trials, `prefer` and the `maxAttempts` cut are applied by
 * decide on top of whatever the strategy returns, so they behave the same for both.
 */
import type { RequestFeatures } from '../ingress/features.js';
import type { CompiledRoute, Objective, SplitWeights } from '../policy/types.js';
import type { Candidate } from './candidates.js';
import type { LocalityView } from './locality.js';
import type { AffinityOutcome } from './types.js';

export interface StrategyInput {
  /** Every backend of the route, in route order, excluded ones included (for reasons). */
  readonly all: readonly Candidate[];
  /** The usable candidates, in route order; never empty. */
  readonly usable: readonly Candidate[];
  readonly route: CompiledRoute;
  /** The split in force (the rule's, else the route's); only the split strategy reads it. */
  readonly split: SplitWeights | undefined;
  /** The objective in force (the route's, with the rule's overrides). */
  readonly objective: Objective;
  readonly features: RequestFeatures;
  /** Uniform in [0, 1); the only source of randomness. */
  readonly random: () => number;
  /** The sidecar's zone and the route's locality; undefined when zones do not matter. */
  readonly locality?: LocalityView | undefined;
}

export interface Selection {
  /** Every usable candidate, in attempt order. Each has its `weight` (and `terms` when scored) set. */
  readonly order: Candidate[];
  /** A/B label: the split arm assigned, or `default`. */
  readonly variant: string;
  /** The strategy's part of the decision reason, e.g. `score -> a (weight 0.62)`. */
  readonly reason: string;
  /** Prefix affinity's outcome and the backend it chose, when the route has `affinity` (score only). */
  readonly affinity?: { readonly outcome: AffinityOutcome; readonly backend?: string };
  /** The route's zone state after this selection (locality.ts ZoneChoice.left); absent when zones did not decide. */
  readonly zoneLeft?: boolean;
}

export type Strategy = (input: StrategyInput) => Selection;

/**
 * What a selection adds to the decision: prefix affinity's outcome for the first attempt (a
 * half-open trial or `prefer` may have put another backend first: then the home was `skipped`)
 * and the route's zone state.
 */
export function selectionFacts(
  selection: Selection,
  first: string | undefined,
): { affinity?: AffinityOutcome; zoneLeft?: boolean } {
  const a = selection.affinity;
  if (a === undefined && selection.zoneLeft === undefined) return {};
  const out: { affinity?: AffinityOutcome; zoneLeft?: boolean } = {};
  if (a !== undefined) out.affinity = a.outcome === 'home' && a.backend !== first ? 'skipped' : a.outcome;
  if (selection.zoneLeft !== undefined) out.zoneLeft = selection.zoneLeft;
  return out;
}
