/**
 * Weighted rendezvous hashing (highest random weight): the sticky split assignment.
 *
 * For a key, every arm i gets the score  s_i = -w_i / ln(u_i),  where u_i = unitHash(key, arm)
 * is uniform in (0, 1); the arm with the highest score wins. -1/ln(u) is a stretched uniform
 * draw, so arm i wins with probability w_i / Σw, and the draw is the same on every pod.
 *
 * Why this and not "hash the key into [0, Σw) and walk the cumulative weights": an arm's score
 * depends only on the key, that arm's name and that arm's own weight. Hence
 *  - raising one arm's weight only raises its own scores: keys move INTO that arm, never
 *    between other arms, and nobody leaves it (a canary going 5% → 10% keeps its 5%);
 *  - lowering one arm's weight only lowers its own scores: keys move only OUT of it;
 *  - an arm with weight 0 (absent from the split) scores nothing and gets nobody;
 *  - an arm that becomes unavailable loses exactly its own keys, and gets them back on recovery;
 *  - scaling all weights by the same factor (renormalising) changes no assignment.
 */
import type { Candidate } from './candidates.js';
import { keyHash, unitHash } from './hash.js';

/** Index of the arm `key` is assigned to, among `arms` with weight > 0 (0 when none has weight). */
export function rendezvousPick(key: string, arms: readonly Candidate[]): number {
  const k = keyHash(key);
  let best = 0;
  let bestScore = -Infinity;
  for (let i = 0; i < arms.length; i++) {
    const arm = arms[i] as Candidate;
    if (!(arm.weight > 0)) continue;
    // ln(u) < 0 since u is strictly inside (0, 1), so every score is positive and finite.
    const score = -arm.weight / Math.log(unitHash(k, arm.name));
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}
