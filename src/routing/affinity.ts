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
  /** Names of better-hashing candidates skipped for their load or score, best hash first. */
  readonly skipped: readonly string[];
}

/** The key's home among `cands` (weights already assigned); undefined when none is eligible. */
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
  const bound = maxLoadFactor * Math.max(total / n, MIN_MEAN_LOAD);
  const k = keyHash(key);
  // Candidates by hash, highest first: the first eligible one is the home.
  const ranked = cands.map((c, i) => ({ i, h: unitHash(k, c.name) })).sort((a, b) => b.h - a.h);
  const skipped: string[] = [];
  for (const { i } of ranked) {
    const c = cands[i] as Candidate;
    if (loadOf(c, signals) <= bound && c.weight * AFFINITY_TOLERANCE >= best) return { index: i, skipped };
    skipped.push(c.name);
  }
  return undefined;
}

function loadOf(c: Candidate, signals: boolean): number {
  if (signals && c.load !== undefined) return c.load.queued + c.load.running;
  return c.health.inflight;
}
