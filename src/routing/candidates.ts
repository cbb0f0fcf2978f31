/**
 * The per-request working set: one record per backend of the route, with its cost estimate and,
 * when it cannot be used, the reason why.
 */
import type { BackendHealth, HealthLookup } from '../health/types.js';
import type { RequestFeatures } from '../ingress/features.js';
import type {
  CompiledBackend,
  CompiledPolicy,
  CompiledRoute,
  RuleActions,
  SplitWeights,
} from '../policy/types.js';
import { type LoadSignal, NO_SIGNALS, type SignalLookup } from '../signals/types.js';
import { costOn, promptTokensOn } from './cost.js';
import type { ZoneTerm } from './locality.js';
import type { AffinityTerm, CandidateReport, ExclusionReason } from './types.js';

/** Scoring terms of one candidate: relative latency, error ratio, relative price, relative load. */
export interface ScoreTerms {
  readonly latency: number;
  readonly errors: number;
  readonly cost: number;
  /** (1 + load cost) over the best candidate's; 1 when no candidate has a load signal. */
  readonly load: number;
  /** The window's time-to-first-byte p95, ms (half of the latency term); undefined without samples. */
  readonly ttfbP95Ms: number | undefined;
}

/** One backend of the route while the decision is being made. Mutable, and private to one decide call. */
export interface Candidate {
  readonly name: string;
  readonly health: BackendHealth;
  readonly costUsd: number;
  /** USD the prompt alone costs here. */
  readonly inputCostUsd: number;
  /** The prompt alone reaches the ceiling here: no output could be afforded. */
  readonly overCeiling: boolean;
  /** The backend's fresh load signal (queue, KV cache); undefined when it has none. */
  readonly load: LoadSignal | undefined;
  excluded: ExclusionReason | undefined;
  /** Selection weight set by the strategy (a share: the weights of one group sum to 1). */
  weight: number;
  terms: ScoreTerms | undefined;
  /** Zone term, set when the sidecar's zone applies to the route (locality.ts). */
  zone?: ZoneTerm | undefined;
  /** Affinity term, set when the route's prefix affinity chose among the candidates (affinity.ts). */
  affinity?: AffinityTerm | undefined;
}

/**
 * Builds one candidate per backend of the route, in the order the route lists them, and marks
 * the ones that cannot take this request. Checks run in a fixed order so that each backend
 * reports the most operator-relevant reason: a backend that cannot serve the request at all
 * (another API, too small a context window), the rule's `only`/`exclude`, an explicit split
 * weight of 0, then health (open breaker, Retry-After cool-down, `maxInflight`).
 * The cost ceiling is applied afterwards by {@link applyCeiling}, because what happens when
 * nothing fits depends on the whole set.
 */
export function collectCandidates(
  policy: CompiledPolicy,
  route: CompiledRoute,
  actions: RuleActions | undefined,
  split: SplitWeights | undefined,
  health: HealthLookup,
  features: RequestFeatures,
  nowMs: number,
  signals: SignalLookup = NO_SIGNALS,
  ceilingUsd: number | undefined = undefined,
): Candidate[] {
  const names = route.backends;
  const out: Candidate[] = new Array<Candidate>(names.length);
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const backend = policy.backends.get(name);
    if (backend === undefined) {
      // compile() rejects routes naming unknown backends; reaching this is a compiler bug.
      throw new Error(`route "${route.name}" names unknown backend "${name}"`);
    }
    const h = health(name);
    const cost = costOn(backend, route, features, ceilingUsd);
    out[i] = {
      name,
      health: h,
      costUsd: cost.estimateUsd,
      inputCostUsd: cost.inputUsd,
      overCeiling: cost.affordable === 0,
      load: signals(name),
      excluded: misfit(backend, features) ?? exclusionOf(name, h, backend.maxInflight, actions, split, nowMs),
      weight: 0,
      terms: undefined,
      zone: undefined,
      affinity: undefined,
    };
  }
  return out;
}

/**
 * Whether the backend cannot take this request whatever its health: it speaks another API than
 * the endpoint called, or the request's estimate (prompt plus max_tokens) exceeds its window.
 */
function misfit(backend: CompiledBackend, features: RequestFeatures): ExclusionReason | undefined {
  const anthropic = backend.api === 'anthropic';
  if (anthropic !== (features.endpoint === 'messages')) return 'wrong_api';
  const window = backend.contextWindow;
  if (window !== undefined && promptTokensOn(backend, features) + (features.maxTokens ?? 0) > window) {
    return 'context_window';
  }
  return undefined;
}

function exclusionOf(
  name: string,
  h: BackendHealth,
  maxInflight: number,
  actions: RuleActions | undefined,
  split: SplitWeights | undefined,
  nowMs: number,
): ExclusionReason | undefined {
  if (actions !== undefined) {
    if (actions.only !== undefined && !actions.only.includes(name)) return 'not_in_rule_only';
    if (actions.exclude !== undefined && actions.exclude.includes(name)) return 'excluded_by_rule';
  }
  // A split arm at 0 gets nothing, not even fallback traffic; backends absent from a split are fallbacks.
  // An entry that is present with 0 is an explicit "no traffic at all" (a rolled-back canary).
  if (split !== undefined) {
    const w = split.get(name);
    if (w !== undefined && !(w > 0)) return 'split_weight_zero';
  }
  if (h.breaker === 'open') return 'breaker_open';
  if (h.coolingUntilMs > nowMs) return 'cooling_down';
  if (h.inflight >= maxInflight) return 'at_max_inflight';
  return undefined;
}

/** What {@link applyCeiling} found. */
export type CeilingOutcome =
  /** Every usable candidate fits, or some fit and the rest were marked `over_budget`. */
  | { readonly kind: 'fits' }
  /** Nothing fitted; policy says take the cheapest usable backend, which is now the only one left. */
  | { readonly kind: 'cheapest'; readonly cheapest: Candidate }
  /** Nothing fitted and policy says refuse; `cheapest` is the best the request could have had. */
  | { readonly kind: 'refuse'; readonly cheapest: Candidate };

const FITS: CeilingOutcome = { kind: 'fits' };

/**
 * Marks usable candidates where the prompt alone reaches the ceiling as `over_budget` (anywhere
 * else the forwarder caps the output to what the ceiling affords). Must be called with at least
 * one usable candidate. When none fits, `overBudget: cheapest` keeps the candidate with the
 * cheapest prompt usable (first in route order on a tie); `refuse` leaves them all excluded.
 */
export function applyCeiling(
  pool: readonly Candidate[],
  ceilingUsd: number | undefined,
  overBudget: 'refuse' | 'cheapest',
): CeilingOutcome {
  if (ceilingUsd === undefined) return FITS;
  let fitting = 0;
  let cheapest: Candidate | undefined;
  for (const c of pool) {
    if (c.excluded !== undefined) continue;
    if (cheapest === undefined || c.inputCostUsd < cheapest.inputCostUsd) cheapest = c;
    if (c.overCeiling) c.excluded = 'over_budget';
    else fitting++;
  }
  if (fitting > 0 || cheapest === undefined) return FITS;
  if (overBudget === 'refuse') return { kind: 'refuse', cheapest };
  cheapest.excluded = undefined;
  return { kind: 'cheapest', cheapest };
}

/** Number of candidates still usable. */
export function countUsable(pool: readonly Candidate[]): number {
  let n = 0;
  for (const c of pool) if (c.excluded === undefined) n++;
  return n;
}

/** `llama-70b breaker_open, llama-8b cooling_down`: every excluded candidate with its reason. */
export function describeExclusions(pool: readonly Candidate[]): string {
  let text = '';
  for (const c of pool) {
    if (c.excluded === undefined) continue;
    text += `${text === '' ? '' : ', '}${c.name} ${c.excluded}`;
  }
  return text;
}

/**
 * The public report: the weight for usable candidates, the reason for excluded ones, the zone
 * term when zones apply, and the scoring terms (with the affinity term) when scoring was used.
 */
export function toReports(pool: readonly Candidate[]): CandidateReport[] {
  const out = new Array<CandidateReport>(pool.length);
  for (let i = 0; i < pool.length; i++) {
    const c = pool[i] as Candidate;
    const zone = c.zone === undefined ? undefined : { zone: c.zone };
    if (c.excluded !== undefined) {
      out[i] = { backend: c.name, estimatedCostUsd: c.costUsd, excluded: c.excluded, ...zone };
    } else if (c.terms !== undefined) {
      const terms = c.affinity === undefined ? c.terms : { ...c.terms, affinity: c.affinity };
      out[i] = { backend: c.name, estimatedCostUsd: c.costUsd, weight: c.weight, terms, ...zone };
    } else {
      out[i] = { backend: c.name, estimatedCostUsd: c.costUsd, weight: c.weight, ...zone };
    }
  }
  return out;
}
