/**
 * Weighted random choice and weight ordering over a handful of candidates.
 */
import type { Candidate } from './candidates.js';

/**
 * Index of a candidate drawn with probability proportional to its weight, using one call to
 * `random`. A single candidate, or weights that are all zero, need no draw: index 0.
 */
export function pickWeighted(cands: readonly Candidate[], random: () => number): number {
  if (cands.length <= 1) return 0;
  let total = 0;
  for (const c of cands) if (c.weight > 0) total += c.weight;
  if (!(total > 0)) return 0;
  let r = random() * total;
  let last = 0;
  for (let i = 0; i < cands.length; i++) {
    const w = (cands[i] as Candidate).weight;
    if (!(w > 0)) continue;
    last = i;
    r -= w;
    if (r < 0) return i;
  }
  // Rounding can leave r at a hair above zero after the last weight.
  return last;
}

/**
 * Appends `cands` to `out`: `cands[first]` (when given), then the others by weight descending.
 * Ties keep their route order. Insertion sort: the lists are a few backends long.
 */
export function appendByWeight(out: Candidate[], cands: readonly Candidate[], first = -1): void {
  if (first >= 0) out.push(cands[first] as Candidate);
  const restStart = out.length;
  for (let i = 0; i < cands.length; i++) {
    if (i === first) continue;
    const c = cands[i] as Candidate;
    let j = out.length;
    out.push(c);
    while (j > restStart && (out[j - 1] as Candidate).weight < c.weight) {
      out[j] = out[j - 1] as Candidate;
      j--;
    }
    out[j] = c;
  }
}
