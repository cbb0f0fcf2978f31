/**
 * Turns a strategy's order into the attempt list: the half-open trial, the rule's `prefer`, and
 * the route's `maxAttempts` cut, in that order. Works in place on the order array.
 */
import type { Candidate } from './candidates.js';

/**
 * A backend whose breaker is half-open needs one successful request to close it again. The
 * first such backend with nothing in flight goes first: this request is its trial, and failover
 * covers it if the trial fails. A half-open backend whose trial is already in flight would be
 * refused by its breaker anyway, so it moves to the end rather than spend an earlier attempt.
 * Returns the trial backend, if one was promoted.
 */
export function placeHalfOpen(order: Candidate[]): Candidate | undefined {
  let trial: Candidate | undefined;
  for (let i = 0; i < order.length; i++) {
    const c = order[i] as Candidate;
    if (c.health.breaker !== 'halfOpen' || c.health.inflight !== 0) continue;
    order.splice(i, 1);
    order.unshift(c);
    trial = c;
    break;
  }
  let end = order.length;
  for (let i = 0; i < end; i++) {
    const c = order[i] as Candidate;
    if (c.health.breaker === 'halfOpen' && c.health.inflight > 0) {
      order.splice(i, 1);
      order.push(c);
      i--;
      end--;
    }
  }
  return trial;
}

/**
 * Moves the usable backends named in `prefer` to the front, in the rule's order; names that are
 * not usable for this request are skipped. Returns how many were moved.
 */
export function applyPrefer(order: Candidate[], prefer: readonly string[]): number {
  let front = 0;
  for (const name of prefer) {
    for (let i = front; i < order.length; i++) {
      const c = order[i] as Candidate;
      if (c.name !== name) continue;
      order.splice(i, 1);
      order.splice(front, 0, c);
      front++;
      break;
    }
  }
  return front;
}

/** The names of the first `maxAttempts` candidates (at least one). */
export function cutAttempts(order: readonly Candidate[], maxAttempts: number): string[] {
  const n = Math.min(order.length, Math.max(1, maxAttempts));
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = (order[i] as Candidate).name;
  return out;
}
