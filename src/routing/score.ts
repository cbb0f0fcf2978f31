/**
 * The `score` strategy: without a split, traffic follows health and price.
 *
 *   weight = latRel^(-wL) × costRel^(-wC) × exp(-wE × 2.5 × errorShare)
 *
 * errorShare is failures / (requests + 5): the window's error ratio with a prior of five
 * successes, so one unlucky failure on a cold backend does not starve it of the traffic it
 * needs to show it is fine (and to give its breaker the volume to decide). A backend failing
 * half its requests keeps under 1% of the weight of a clean one with the default wE of 4.
 *
 * latRel is the candidate's effective latency over the best one's, where effective latency is
 * the latency EWMA times (1 + inflight) — peak-EWMA style, so a backend that is busy right now
 * looks slower before its EWMA catches up. A backend with no latency sample yet is treated as
 * the median of the known ones, so it gets a fair share of traffic and warms up. costRel is the
 * request's estimated cost over the cheapest candidate's. The first attempt is a weighted random
 * draw (equal backends share evenly; one 10× slower gets a tenth of the weight); later attempts
 * follow weight, highest first.
 */
import type { Objective } from '../policy/types.js';
import type { Candidate } from './candidates.js';
import type { Strategy } from './strategy.js';
import { appendByWeight, pickWeighted } from './weighted.js';

/** Successes assumed before the first sample when judging a backend's error share. */
const ERROR_PRIOR_REQUESTS = 5;
/** Scale of the error term: with wE = 1, an error share of 40% divides the weight by e. */
const ERROR_SCALE = 2.5;

/** Floors that keep the ratios finite when a latency or a price is zero. */
const MIN_LATENCY_MS = 1e-3;
const MIN_COST_USD = 1e-12;

/** Sets `weight` (a share: they sum to 1) and `terms` on every candidate given. */
export function assignScores(cands: readonly Candidate[], objective: Objective): void {
  const fallbackLatency = medianKnownLatency(cands) ?? 1;
  let minLatency = Infinity;
  let minCost = Infinity;
  for (const c of cands) {
    const latency = effectiveLatency(c, fallbackLatency);
    if (latency < minLatency) minLatency = latency;
    const cost = Math.max(c.costUsd, MIN_COST_USD);
    if (cost < minCost) minCost = cost;
  }
  let total = 0;
  for (const c of cands) {
    const latRel = effectiveLatency(c, fallbackLatency) / minLatency;
    const costRel = Math.max(c.costUsd, MIN_COST_USD) / minCost;
    const errors = c.health.failures / (c.health.requests + ERROR_PRIOR_REQUESTS);
    const w =
      Math.pow(latRel, -objective.latency) *
      Math.pow(costRel, -objective.cost) *
      Math.exp(-objective.errors * ERROR_SCALE * errors);
    c.weight = w;
    c.terms = { latency: latRel, errors, cost: costRel };
    total += w;
  }
  // Every weight can underflow to 0 (e.g. all error ratios at 1): then nobody is better.
  for (const c of cands) c.weight = total > 0 ? c.weight / total : 1 / cands.length;
}

function effectiveLatency(c: Candidate, fallback: number): number {
  const base = c.health.latencyEwmaMs ?? fallback;
  return Math.max(base, MIN_LATENCY_MS) * (1 + c.health.inflight);
}

function medianKnownLatency(cands: readonly Candidate[]): number | undefined {
  let known = 0;
  for (const c of cands) if (c.health.latencyEwmaMs !== undefined) known++;
  // Nothing to substitute (all known), or nothing to substitute with (none known).
  if (known === 0 || known === cands.length) return undefined;
  const values: number[] = [];
  for (const c of cands) if (c.health.latencyEwmaMs !== undefined) values.push(c.health.latencyEwmaMs);
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1
    ? (values[mid] as number)
    : ((values[mid - 1] as number) + (values[mid] as number)) / 2;
}

/** Scores `cands`, draws the first attempt, orders the rest by weight. */
export function scoreOrder(
  cands: readonly Candidate[],
  objective: Objective,
  random: () => number,
  out: Candidate[],
): Candidate {
  assignScores(cands, objective);
  const first = pickWeighted(cands, random);
  appendByWeight(out, cands, first);
  return cands[first] as Candidate;
}

export const scoreStrategy: Strategy = ({ usable, objective, random }) => {
  const order: Candidate[] = [];
  const picked = scoreOrder(usable, objective, random, order);
  return {
    order,
    variant: 'default',
    reason: `score -> ${picked.name} (weight ${picked.weight.toFixed(2)})`,
  };
};
