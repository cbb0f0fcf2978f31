/**
 * The `split` strategy: canary and A/B weights.
 *
 * Arms are the split's backends that are usable for this request; unusable arms are dropped and
 * the others keep their relative weights (renormalised). When the route is sticky and the
 * request carries the sticky key, the arm comes from weighted rendezvous hashing, so a user
 * stays on one variant across requests and pods; otherwise it is a weighted random draw.
 * Attempt order: the assigned arm, the other arms by weight, then the route's backends that are
 * not in the split (fallbacks only) by health-and-cost score.
 */
import type { RequestFeatures } from '../ingress/features.js';
import type { SplitWeights, StickyKey } from '../policy/types.js';
import type { Candidate } from './candidates.js';
import { rendezvousPick } from './rendezvous.js';
import { assignScores, scoreOrder } from './score.js';
import type { Strategy } from './strategy.js';
import { appendByWeight, pickWeighted } from './weighted.js';

/** The request's sticky key value; undefined when the route is not sticky or the request lacks it. */
export function stickyKeyOf(sticky: StickyKey, features: RequestFeatures): string | undefined {
  let value: string | undefined;
  // Header names are compared lower-case: ingress lower-cases them, compile lower-cases the policy's.
  if (sticky.kind === 'header') value = features.headers[sticky.name];
  else if (sticky.kind === 'body') value = features.user;
  return value === '' ? undefined : value;
}

/** `header:x-user-id`, `body:user`: how the policy spells the sticky key. */
export function stickyLabel(sticky: StickyKey): string {
  return sticky.kind === 'header' ? `header:${sticky.name}` : sticky.kind === 'body' ? 'body:user' : 'none';
}

export const splitStrategy: Strategy = ({ all, usable, route, split, objective, features, random }) => {
  const arms: Candidate[] = [];
  const fallbacks: Candidate[] = [];
  let total = 0;
  for (const c of usable) {
    const w = split?.get(c.name);
    if (w !== undefined && w > 0) {
      c.weight = w;
      total += w;
      arms.push(c);
    } else {
      fallbacks.push(c);
    }
  }
  const order: Candidate[] = [];
  if (arms.length === 0) {
    const picked = scoreOrder(fallbacks, objective, random, order);
    return {
      order,
      variant: 'default',
      reason: `split has no usable arm; score -> ${picked.name} (weight ${picked.weight.toFixed(2)})`,
    };
  }
  for (const arm of arms) arm.weight /= total;
  if (fallbacks.length > 0) assignScores(fallbacks, objective);

  const key = stickyKeyOf(route.sticky, features);
  const first = key !== undefined ? rendezvousPick(key, arms) : pickWeighted(arms, random);
  appendByWeight(order, arms, first);
  appendByWeight(order, fallbacks);

  const picked = arms[first] as Candidate;
  let how: string;
  if (key !== undefined) how = `sticky(${stickyLabel(route.sticky)})`;
  else if (route.sticky.kind === 'none') how = 'weighted';
  else how = `weighted (no ${stickyLabel(route.sticky)})`;
  return { order, variant: picked.name, reason: `split ${how} -> ${picked.name}${unusableArms(all, split)}` };
};

/** ` (a, b unavailable)` when arms of the split were dropped for this request, else ''. */
function unusableArms(all: readonly Candidate[], split: SplitWeights | undefined): string {
  let names = '';
  for (const c of all) {
    if (c.excluded === undefined || c.excluded === 'split_weight_zero') continue;
    const w = split?.get(c.name);
    if (w !== undefined && w > 0) names += `${names === '' ? '' : ', '}${c.name}`;
  }
  return names === '' ? '' : ` (${names} unavailable)`;
}
