/**
 * What the bandit has learnt: a Beta(α, β) posterior of each arm's reward, per route, fed by
 * attempt outcomes and feedback, decaying towards the Beta(1, 1) prior with the route's half-life
 * (so an arm that recovers wins traffic back). Time is passed in; decay is applied lazily, when an
 * arm is read or updated. decide reads `posteriors(route)`, a plain snapshot.
 */
import type { BanditSettings } from '../policy/bandit-schema.js';

/** One arm's posterior: α − 1 rewards earned, β − 1 rewards missed (decayed). */
export interface ArmPosterior {
  readonly alpha: number;
  readonly beta: number;
}

/** An arm's outcome as the reward reads it. */
export interface BanditOutcome {
  /** Not a failure after classification. */
  readonly success: boolean;
  /** Time to first byte of the answer, ms; undefined when unknown (then TTFT counts as met). */
  readonly ttftMs?: number;
  /** USD this request cost (or would have) on this arm. */
  readonly costUsd?: number;
  /** USD the same request costs on the cheapest arm of the route. */
  readonly cheapestUsd?: number;
}

/** The reward of one attempt, 0..1: 0 on failure, else TTFT and cost terms weighted (reward settings). */
export function attemptReward(o: BanditOutcome, reward: BanditSettings['reward']): number {
  if (!o.success) return 0;
  const ttft = o.ttftMs === undefined || o.ttftMs <= reward.ttftTargetMs ? 1 : reward.ttftTargetMs / o.ttftMs;
  const cost =
    o.costUsd === undefined || o.cheapestUsd === undefined || o.costUsd <= 0
      ? 1
      : Math.min(1, o.cheapestUsd / o.costUsd);
  return (ttft + reward.costWeight * cost) / (1 + reward.costWeight);
}

interface Arm {
  alpha: number;
  beta: number;
  atMs: number;
}

export class BanditPosteriors {
  private readonly routes = new Map<string, Map<string, Arm>>();

  /** Adds `weight` observations of `reward` (0..1) to an arm, after decaying what it knew. */
  observe(
    route: string,
    arm: string,
    reward: number,
    weight: number,
    halfLifeS: number,
    nowMs: number,
  ): void {
    if (!(weight > 0)) return;
    let arms = this.routes.get(route);
    if (!arms) this.routes.set(route, (arms = new Map()));
    let a = arms.get(arm);
    if (!a) arms.set(arm, (a = { alpha: 1, beta: 1, atMs: nowMs }));
    decay(a, halfLifeS, nowMs);
    const r = Math.min(1, Math.max(0, reward));
    a.alpha += weight * r;
    a.beta += weight * (1 - r);
  }

  /** A decayed copy of every arm's posterior on the route (arms never observed are absent: prior). */
  posteriors(route: string, halfLifeS: number, nowMs: number): ReadonlyMap<string, ArmPosterior> {
    const out = new Map<string, ArmPosterior>();
    for (const [name, a] of this.routes.get(route) ?? []) {
      decay(a, halfLifeS, nowMs);
      out.set(name, { alpha: a.alpha, beta: a.beta });
    }
    return out;
  }

  /** Forgets a route (it left the policy or lost its bandit). */
  forget(route: string): void {
    this.routes.delete(route);
  }
}

function decay(a: Arm, halfLifeS: number, nowMs: number): void {
  const dt = nowMs - a.atMs;
  if (dt <= 0) return;
  const f = 0.5 ** (dt / (halfLifeS * 1000));
  a.alpha = 1 + (a.alpha - 1) * f;
  a.beta = 1 + (a.beta - 1) * f;
  a.atMs = nowMs;
}
