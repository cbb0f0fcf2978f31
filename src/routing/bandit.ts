/**
 * The `bandit` strategy: Thompson sampling over the route's backends (or its split's arms).
 *
 * Each usable arm's reward has a Beta posterior (bandit-posteriors.ts, fed by attempt outcomes and
 * feedback); every request draws one sample per arm and goes to the highest. With probability
 * `minShare × arms` the pick is uniform instead, so every usable arm keeps at least `minShare` of
 * first attempts and the bandit never stops exploring. Arms that are not usable (open breaker,
 * excluded by a rule, ...) are not candidates at all, so they get nothing. A sticky request goes
 * to its arm by weighted rendezvous hashing over the arms' posterior means (floored at
 * `minShare`): a user stays on one arm while the means hold, and moves only when its arm falls
 * behind or is excluded. Pure: the only randomness is the injected source.
 */
import type { BanditSettings } from '../policy/bandit-schema.js';
import type { ArmPosterior } from './bandit-posteriors.js';
import type { Candidate } from './candidates.js';
import { rendezvousPick } from './rendezvous.js';
import { assignScores, scoreOrder } from './score.js';
import { stickyKeyOf, stickyLabel } from './split.js';
import type { Strategy } from './strategy.js';
import { appendByWeight } from './weighted.js';

/** What decide hands the bandit strategy for one route. */
export interface BanditView {
  readonly settings: BanditSettings;
  /** Posteriors by arm; an arm absent here has the Beta(1, 1) prior. */
  readonly posteriors: ReadonlyMap<string, ArmPosterior>;
}

const PRIOR: ArmPosterior = { alpha: 1, beta: 1 };

/** A standard normal draw (Box–Muller, two uniforms). */
function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A Gamma(shape, 1) draw (Marsaglia–Tsang; boosted below shape 1). */
export function sampleGamma(shape: number, random: () => number): number {
  if (shape < 1) return sampleGamma(shape + 1, random) * (1 - random()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(α, β) draw. */
export function sampleBeta(alpha: number, beta: number, random: () => number): number {
  const x = sampleGamma(alpha, random);
  const y = sampleGamma(beta, random);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/** The strategy for a route with `bandit`, over the given posteriors. */
export function banditStrategy(view: BanditView): Strategy {
  return ({ usable, route, split, objective, features, random }) => {
    const arms: Candidate[] = [];
    const fallbacks: Candidate[] = [];
    for (const c of usable) {
      if (split === undefined || (split.get(c.name) ?? 0) > 0) arms.push(c);
      else fallbacks.push(c);
    }
    const order: Candidate[] = [];
    if (arms.length === 0) {
      const picked = scoreOrder(fallbacks, objective, random, order);
      return { order, variant: 'default', reason: `bandit has no usable arm; score -> ${picked.name}` };
    }
    const { minShare } = view.settings;
    let total = 0;
    for (const arm of arms) {
      const p = view.posteriors.get(arm.name) ?? PRIOR;
      arm.weight = p.alpha / (p.alpha + p.beta);
      total += arm.weight;
    }
    for (const arm of arms) arm.weight = Math.max(arm.weight / total, minShare);
    if (fallbacks.length > 0) assignScores(fallbacks, objective);

    let first: number;
    let how: string;
    const key = stickyKeyOf(route.sticky, features);
    if (arms.length === 1) {
      first = 0;
      how = 'single arm';
    } else if (key !== undefined) {
      first = rendezvousPick(key, arms);
      how = `sticky(${stickyLabel(route.sticky)})`;
    } else if (random() < Math.min(1, minShare * arms.length)) {
      first = Math.min(arms.length - 1, Math.floor(random() * arms.length));
      how = 'explore';
    } else {
      first = 0;
      let best = -1;
      for (let i = 0; i < arms.length; i++) {
        const p = view.posteriors.get((arms[i] as Candidate).name) ?? PRIOR;
        const theta = sampleBeta(p.alpha, p.beta, random);
        if (theta > best) {
          best = theta;
          first = i;
        }
      }
      how = 'thompson';
    }
    appendByWeight(order, arms, first);
    appendByWeight(order, fallbacks);
    const picked = arms[first] as Candidate;
    const p = view.posteriors.get(picked.name) ?? PRIOR;
    const mean = p.alpha / (p.alpha + p.beta);
    return {
      order,
      variant: picked.name,
      reason: `bandit ${how} -> ${picked.name} (mean reward ${mean.toFixed(2)} over ${(p.alpha + p.beta - 2).toFixed(0)} observations)`,
    };
  };
}
