/**
 * Prompt-prefix affinity (`routes.<r>.affinity: {by: prefix}`): requests whose leading text is
 * the same go to the same backend on every pod, so the backend's prefix cache (vLLM's automatic
 * prefix caching, SGLang's radix cache) already holds the system prompt and leading messages.
 *
 * The home backend of a key is chosen by rendezvous hashing over the eligible candidates: each
 * scores unitHash(key, name), the highest wins. No coordination is needed, and a backend that
 * leaves the eligible set only moves its own keys (to their second choice). Eligible means:
 * - usable (health, ceiling, rules and zone decide that first, as for any request);
 * - scoring within a factor of AFFINITY_TOLERANCE of the best candidate, so a failing or
 *   swamped backend does not keep the keys that hash to it;
 * - bounded load: not above `maxLoadFactor` × the mean load of the candidates (the servers'
 *   queued + running requests when every candidate has a fresh signal, else this sidecar's
 *   requests in flight; the mean counts as at least MIN_MEAN_LOAD), so affinity never piles
 *   onto one server.
 */
import type { Candidate } from './candidates.js';
import { keyHash, unitHash } from './hash.js';

/** A candidate may be a key's home while it weighs at least 1 / AFFINITY_TOLERANCE of the best. */
export const AFFINITY_TOLERANCE = 10;
/**
 * The mean load the bound is computed from counts as at least this: with a handful of requests in
 * flight, one more on the home would otherwise already be "above the mean" and keys would wander.
 */
export const MIN_MEAN_LOAD = 4;

/** Where a key went. */
export interface AffinityPick {
  /** Index of the chosen candidate in the list given. */
  readonly index: number;
  /** Better-hashing candidates passed over, best hash first: `a (load 3.2x mean)`, `b (score)`. */
  readonly skipped: readonly string[];
}

/**
 * The key's home among `cands` (weights already assigned); undefined when none is eligible.
 * Sets every candidate's affinity term (home or not, load over the mean, why it was skipped).
 */
export function affinityPick(
  cands: readonly Candidate[],
  key: string,
  maxLoadFactor: number,
): AffinityPick | undefined {
  const n = cands.length;
  if (n === 0) return undefined;
  let signals = true;
  for (const c of cands) if (c.load === undefined) signals = false;
  let total = 0;
  let best = 0;
  for (const c of cands) {
    total += loadOf(c, signals);
    if (c.weight > best) best = c.weight;
  }
  const mean = Math.max(total / n, MIN_MEAN_LOAD);
  const k = keyHash(key);
  // Candidates by hash, highest first: the first eligible one is the home.
  const ranked = cands.map((c, i) => ({ i, h: unitHash(k, c.name) })).sort((a, b) => b.h - a.h);
  const skipped: string[] = [];
  let index = -1;
  for (const { i } of ranked) {
    const c = cands[i] as Candidate;
    const loadFactor = loadOf(c, signals) / mean;
    if (index !== -1) {
      c.affinity = { home: false, loadFactor };
      continue;
    }
    const overLoad = loadFactor > maxLoadFactor;
    if (!overLoad && c.weight * AFFINITY_TOLERANCE >= best) {
      index = i;
      c.affinity = { home: true, loadFactor };
      continue;
    }
    c.affinity = { home: false, loadFactor, skipped: overLoad ? 'load' : 'score' };
    skipped.push(overLoad ? `${c.name} (load ${loadFactor.toFixed(1)}x mean)` : `${c.name} (score)`);
  }
  return index === -1 ? undefined : { index, skipped };
}

/** Exclusions that pass a key's home over for its health, not for what the request needs. */
const HEALTH_EXCLUSIONS: ReadonlySet<string> = new Set([
  'breaker_open',
  'cooling_down',
  'at_max_inflight',
  'canary_guard',
]);

/**
 * Whether `picked` is the key's home among the candidates that could have been (usable, or
 * unusable only for their health right now), within `domain` (the zone's when prefer-zone kept the
 * traffic local): `home`, else `skipped`.
 */
export function affinityOutcome(
  all: readonly Candidate[],
  inDomain: (c: Candidate) => boolean,
  key: string,
  picked: Candidate | undefined,
): 'home' | 'skipped' {
  if (picked === undefined) return 'skipped';
  const k = keyHash(key);
  const own = unitHash(k, picked.name);
  for (const c of all) {
    if (c === picked || !inDomain(c)) continue;
    if (c.excluded !== undefined && !HEALTH_EXCLUSIONS.has(c.excluded)) continue;
    if (unitHash(k, c.name) > own) return 'skipped';
  }
  return 'home';
}

function loadOf(c: Candidate, signals: boolean): number {
  if (signals && c.load !== undefined) return c.load.queued + c.load.running;
  return c.health.inflight;
}
