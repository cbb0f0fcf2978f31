/**
 * The `score` strategy: without a split, traffic follows health, load and price.
 *
 *   weight = latRel^(-wL) × loadRel^(-wLoad) × costRel^(-wC) × exp(-wE × ERROR_SCALE × errExcess)
 *
 * - **latency**: the candidate's time to first byte, as the mean of its window p95 and its EWMA
 *   (the p95 sees the tail a mean hides; the EWMA reacts within seconds), times
 *   (1 + in-flight / INFLIGHT_SCALE) so a backend that is busy right now looks slower before
 *   either catches up. Without a TTFB
 *   sample the total-latency EWMA stands in; without any sample, the median of the others
 *   (a fair share, so a new backend warms up). latRel is that over the best candidate's.
 * - **load**: the model server's own queue and KV-cache pressure, from its scraped `/metrics`:
 *   loadCost = queued / QUEUE_SCALE + KV_SCALE × (kv above KV_KNEE, as a share of the headroom).
 *   loadRel = (1 + loadCost) / (1 + best loadCost). A candidate without a fresh signal counts as
 *   the median of those that have one: neither rewarded nor punished. No signal at all: off.
 * - **errors**: the error share with a prior, (failures + 0.1) / (requests + 20), above the best
 *   candidate's. With the default wE of 4, a backend failing 5% of its requests keeps about 0.01%
 *   of the weight of a clean peer, so it gets the exploration floor and what its sparse (hence
 *   noisy) samples earn back: a few percent of the traffic; at 1% errors it keeps about 14%. A cold
 *   backend whose first request fails drops to the floor until the failure leaves the window
 *   (or successes dilute it): steepness costs that much noise.
 * - **cost**: the request's estimated cost over the cheapest candidate's.
 *
 * Herding: the first attempt is a weighted random draw, never the best candidate outright, so
 * pods that see the same signals still spread in proportion (equal candidates split evenly), and
 * every usable candidate keeps an exploration floor of MIN_SHARE_TOTAL / n of the traffic, so a
 * penalised backend keeps producing the samples that clear it. Signals are smoothed where they
 * are scraped (signals/store.ts), so one scrape cannot swing the fleet. Later attempts follow
 * weight, highest first.
 */
import type { Objective } from '../policy/types.js';
import type { LoadSignal } from '../signals/types.js';
import type { Candidate } from './candidates.js';
import { affinityOutcome, affinityPick } from './affinity.js';
import {
  type LocalityView,
  ZONE_RETURN_RATIO,
  ZONE_TOLERANCE,
  zoneChoice,
  type ZoneChoice,
} from './locality.js';
import type { Strategy } from './strategy.js';
import { appendByWeight, pickWeighted } from './weighted.js';

/** Prior of the error share: as if every backend had failed 0.1 of 20 requests (0.5%). */
const ERROR_PRIOR_FAILURES = 0.1;
const ERROR_PRIOR_REQUESTS = 20;
/** Scale of the error term: with wE = 1, an error share 2 points above the best divides the weight by e. */
export const ERROR_SCALE = 50;
/**
 * Requests this sidecar has in flight to a backend that double its effective latency. Model
 * servers batch, so a few more concurrent requests barely slow each one down; the server's own
 * queue (the load term) says when it is really saturated. Linear in-flight weighting would let a
 * peer's handful of requests outweigh a steep error penalty.
 */
export const INFLIGHT_SCALE = 4;
/** Queued requests that add as much as the whole base cost (one queued request per this many = +1). */
export const QUEUE_SCALE = 4;
/** KV-cache usage below this costs nothing; above it, pressure grows linearly to KV_SCALE at 100%. */
export const KV_KNEE = 0.7;
export const KV_SCALE = 4;
/** Share of traffic reserved, in total, for the exploration floor of the usable candidates. */
export const MIN_SHARE_TOTAL = 0.01;
/** Weight of the `load` term when the objective does not set it. */
export const DEFAULT_LOAD_WEIGHT = 1;

/** Floors that keep the ratios finite when a latency or a price is zero. */
const MIN_LATENCY_MS = 1e-3;
const MIN_COST_USD = 1e-12;

/** Sets `weight` (a share: they sum to 1) and `terms` on every candidate given. */
export function assignScores(cands: readonly Candidate[], objective: Objective): void {
  const n = cands.length;
  const fallbackLatency = medianOf(cands, baseLatency) ?? 1;
  const fallbackLoad = medianOf(cands, loadCost);
  let minLatency = Infinity;
  let minCost = Infinity;
  let minLoad = Infinity;
  let minErrors = Infinity;
  for (const c of cands) {
    const latency = effectiveLatency(c, fallbackLatency);
    if (latency < minLatency) minLatency = latency;
    const cost = Math.max(c.costUsd, MIN_COST_USD);
    if (cost < minCost) minCost = cost;
    const load = loadCost(c) ?? fallbackLoad ?? 0;
    if (load < minLoad) minLoad = load;
    const errors = errorShare(c);
    if (errors < minErrors) minErrors = errors;
  }
  const wLoad = objective.load ?? DEFAULT_LOAD_WEIGHT;
  let total = 0;
  for (const c of cands) {
    const latRel = effectiveLatency(c, fallbackLatency) / minLatency;
    const costRel = Math.max(c.costUsd, MIN_COST_USD) / minCost;
    const loadRel = (1 + (loadCost(c) ?? fallbackLoad ?? 0)) / (1 + minLoad);
    const errors = errorShare(c);
    const w =
      Math.pow(latRel, -objective.latency) *
      Math.pow(loadRel, -wLoad) *
      Math.pow(costRel, -objective.cost) *
      Math.exp(-objective.errors * ERROR_SCALE * (errors - minErrors));
    c.weight = w;
    c.terms = {
      latency: latRel,
      errors: c.health.errorRatio,
      cost: costRel,
      load: loadRel,
      ttfbP95Ms: c.health.ttfbP95Ms,
    };
    total += w;
  }
  // Every weight can underflow to 0: then nobody is better.
  if (!(total > 0)) {
    for (const c of cands) c.weight = 1 / n;
    return;
  }
  if (n === 1) {
    (cands[0] as Candidate).weight = 1;
    return;
  }
  // Exploration floor: each gets at least MIN_SHARE_TOTAL / n, taken from the others in proportion.
  const floor = MIN_SHARE_TOTAL / n;
  for (const c of cands) c.weight = floor + (1 - MIN_SHARE_TOTAL) * (c.weight / total);
}

/** failures over requests in the window, with a prior of 0.1 failures in 20 requests. */
function errorShare(c: Candidate): number {
  return (c.health.failures + ERROR_PRIOR_FAILURES) / (c.health.requests + ERROR_PRIOR_REQUESTS);
}

/** Time to first byte (p95 and EWMA averaged), else the total-latency EWMA, else undefined. */
function baseLatency(c: Candidate): number | undefined {
  const h = c.health;
  const ewma = h.ttfbEwmaMs;
  if (ewma === undefined) return h.latencyEwmaMs;
  const p95 = h.ttfbP95Ms;
  return p95 === undefined ? ewma : (ewma + p95) / 2;
}

function effectiveLatency(c: Candidate, fallback: number): number {
  return Math.max(baseLatency(c) ?? fallback, MIN_LATENCY_MS) * (1 + c.health.inflight / INFLIGHT_SCALE);
}

/** The load term's cost of a fresh signal; undefined without one. */
function loadCost(c: Candidate): number | undefined {
  const s = c.load;
  if (s === undefined) return undefined;
  return signalCost(s);
}

/** queued / QUEUE_SCALE + KV pressure above the knee (see the module comment). */
export function signalCost(s: LoadSignal): number {
  const kv = s.kvCacheUsage;
  const kvPressure =
    kv === undefined || kv <= KV_KNEE ? 0 : (KV_SCALE * (Math.min(kv, 1) - KV_KNEE)) / (1 - KV_KNEE);
  return s.queued / QUEUE_SCALE + kvPressure;
}

/**
 * Median of `value` over the candidates that have one, when some (not all) lack it: the stand-in
 * for the ones that lack it. Undefined when there is nothing to stand in for, or nothing to take.
 */
function medianOf(
  cands: readonly Candidate[],
  value: (c: Candidate) => number | undefined,
): number | undefined {
  let known = 0;
  for (const c of cands) if (value(c) !== undefined) known++;
  if (known === 0 || known === cands.length) return undefined;
  const values: number[] = [];
  for (const c of cands) {
    const v = value(c);
    if (v !== undefined) values.push(v);
  }
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

export const scoreStrategy: Strategy = ({ all, usable, objective, random, locality, route, features }) => {
  const order: Candidate[] = [];
  assignScores(usable, objective);
  // In zone: the first attempt among the local candidates (their weights become shares of the
  // traffic); the others follow as failover, best first, with no traffic of their own.
  const zone = zoneChoice(usable, all, locality);
  const local = zone.local;
  const pool = local ?? usable;
  if (local !== undefined) {
    let total = 0;
    for (const c of local) total += c.weight;
    for (const c of local) c.weight /= total;
  }
  const affinity = route.affinity;
  const key = affinity === undefined ? '' : (features.prefix?.(affinity.prefixChars) ?? '');
  const home =
    key === '' || affinity === undefined ? undefined : affinityPick(pool, key, affinity.maxLoadFactor);
  const first = home?.index ?? pickWeighted(pool, random);
  appendByWeight(order, pool, first);
  if (local !== undefined) {
    const remote = usable.filter((c) => !local.includes(c));
    appendByWeight(order, remote);
    for (const c of remote) c.weight = 0;
  }
  const picked = pool[first] as Candidate;
  let how = `score -> ${picked.name} (weight ${picked.weight.toFixed(2)}${leader(pool, objective)}`;
  if (home !== undefined) {
    const spilled = home.skipped.length > 0 ? `${home.skipped.join(', ')} skipped; ` : '';
    how = `affinity prefix -> ${picked.name} (${spilled}weight ${picked.weight.toFixed(2)}`;
  } else if (key !== '') {
    how = `${how}; affinity: no eligible home`;
  }
  const where =
    local !== undefined ? `, zone ${(locality as LocalityView).zone})` : `)${leftZone(zone, locality)}`;
  const selection = { order, variant: 'default', reason: how + where };
  const withZone = zone.left === undefined ? selection : { ...selection, zoneLeft: zone.left };
  if (affinity === undefined) return withZone;
  if (key === '') return { ...withZone, affinity: { outcome: 'none' } };
  const inDomain = local === undefined ? () => true : (c: Candidate) => c.zone === 'same';
  const outcome = affinityOutcome(all, inDomain, key, home === undefined ? undefined : picked);
  return { ...withZone, affinity: { outcome, backend: picked.name } };
};

/** Weight ratio between the two best candidates under which neither is said to lead. */
const LEAD_RATIO = 1.25;

/**
 * `; a leads b on errors`: the term that most separates the best candidate from the runner-up
 * (the largest difference of their log-weight contributions), when one clearly leads.
 */
function leader(cands: readonly Candidate[], objective: Objective): string {
  if (cands.length < 2) return '';
  let top: Candidate | undefined;
  let next: Candidate | undefined;
  for (const c of cands) {
    if (top === undefined || c.weight > top.weight) {
      next = top;
      top = c;
    } else if (next === undefined || c.weight > next.weight) {
      next = c;
    }
  }
  if (top === undefined || next === undefined || !(top.weight > next.weight * LEAD_RATIO)) return '';
  const a = top.terms;
  const b = next.terms;
  if (a === undefined || b === undefined) return '';
  const gains: [string, number][] = [
    ['latency', objective.latency * Math.log(b.latency / a.latency)],
    ['load', (objective.load ?? DEFAULT_LOAD_WEIGHT) * Math.log(b.load / a.load)],
    ['cost', objective.cost * Math.log(b.cost / a.cost)],
    ['errors', objective.errors * ERROR_SCALE * (errorShare(next) - errorShare(top))],
  ];
  let best = gains[0] as [string, number];
  for (const g of gains) if (g[1] > best[1]) best = g;
  return best[1] > 0 ? `; ${top.name} leads ${next.name} on ${best[0]}` : '';
}

/**
 * `; left zone z1 (local scores 0.10 of remote; returns at 0.50)` when prefer-zone had local
 * backends but none usable or none scoring within the threshold.
 */
function leftZone(zone: ZoneChoice, locality: LocalityView | undefined): string {
  if (locality === undefined || zone.left !== true) return '';
  const back = (1 / ZONE_RETURN_RATIO).toFixed(2);
  if (zone.ratio === 0) return `; left zone ${locality.zone} (no usable local backend)`;
  const leaves = locality.left ? '' : `, under ${(1 / ZONE_TOLERANCE).toFixed(2)}`;
  return `; left zone ${locality.zone} (local scores ${zone.ratio.toFixed(2)} of remote${leaves}; returns at ${back})`;
}
