/**
 * Feeds the bandit (src/routing/bandit-posteriors.ts): each finished attempt on a route with
 * `bandit` adds its reward to its backend's posterior, and each feedback post adds the score with
 * the route's `feedbackWeight`. Also answers decide's question "what does the bandit know about
 * this route now" (`view`). The one place that reads outcomes for the bandit, so the reward is the
 * same whoever asks.
 */
import type { CompiledPolicy, CompiledRoute } from '../policy/types.js';
import type { AttemptReport, RequestObserver } from '../proxy/events.js';
import { usageCostUsd } from '../routing/cost.js';
import { attemptReward, BanditPosteriors } from '../routing/bandit-posteriors.js';
import { sampleBeta, type BanditView } from '../routing/bandit.js';
import { seededRandom } from '../routing/seeded-random.js';
import type { FeedbackEvent } from './feedback.js';

/** One arm as /admin/state and the metrics show it. */
export interface BanditArmState {
  readonly alpha: number;
  readonly beta: number;
  /** α / (α + β). */
  readonly meanReward: number;
  /** Expected share of first attempts, 0..1. */
  readonly share: number;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

export class BanditFeed {
  readonly posteriors = new BanditPosteriors();

  constructor(
    private readonly policy: () => CompiledPolicy | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** What decide hands the bandit strategy; undefined for a route without `bandit`. */
  view(route: CompiledRoute): BanditView | undefined {
    const settings = route.bandit;
    if (settings === undefined) return undefined;
    return { settings, posteriors: this.posteriors.posteriors(route.name, settings.halfLifeS, this.now()) };
  }

  /**
   * Every bandit route's arms: posterior (α, β), mean reward, and expected share of first
   * attempts (minShare exploration plus the chance of winning the Thompson draw, estimated from
   * `draws` seeded draws, so the figure is stable between calls). For /admin/state and metrics.
   */
  snapshot(draws = 2000): Record<string, Record<string, BanditArmState>> {
    const policy = this.policy();
    const out: Record<string, Record<string, BanditArmState>> = {};
    if (!policy) return out;
    for (const route of policy.routes.values()) {
      const view = this.view(route);
      if (!view) continue;
      const arms = route.split
        ? route.backends.filter((b) => (route.split?.get(b) ?? 0) > 0)
        : [...route.backends];
      const ps = arms.map((a) => view.posteriors.get(a) ?? { alpha: 1, beta: 1 });
      const wins = arms.map(() => 0);
      const random = seededRandom(1);
      for (let d = 0; d < draws; d++) {
        let best = 0;
        let top = -1;
        for (let i = 0; i < ps.length; i++) {
          const theta = sampleBeta(ps[i]!.alpha, ps[i]!.beta, random);
          if (theta > top) [top, best] = [theta, i];
        }
        wins[best]!++;
      }
      const explore = Math.min(1, view.settings.minShare * arms.length);
      out[route.name] = Object.fromEntries(
        arms.map((a, i) => {
          const p = ps[i]!;
          const share = explore / arms.length + (1 - explore) * (wins[i]! / draws);
          return [
            a,
            {
              alpha: round(p.alpha),
              beta: round(p.beta),
              meanReward: round(p.alpha / (p.alpha + p.beta)),
              share: round(share),
            },
          ];
        }),
      );
    }
    return out;
  }

  /** The request observer: attempt outcomes become rewards. */
  get observer(): RequestObserver {
    return { attemptFinished: (a) => this.attempt(a) };
  }

  /** One feedback post, weighted by the route's `feedbackWeight`. */
  feedback(e: FeedbackEvent): void {
    const settings = this.policy()?.routes.get(e.route)?.bandit;
    if (settings === undefined) return;
    this.posteriors.observe(
      e.route,
      e.backend,
      e.score,
      settings.reward.feedbackWeight,
      settings.halfLifeS,
      this.now(),
    );
  }

  private attempt(a: AttemptReport): void {
    if (a.outcome.kind === 'ignored') return;
    const policy = this.policy();
    const route = policy?.routes.get(a.route);
    const settings = route?.bandit;
    if (!policy || !route || settings === undefined) return;
    const backend = policy.backends.get(a.backend);
    let costUsd: number | undefined;
    let cheapestUsd: number | undefined;
    if (backend && a.usage) {
      costUsd = usageCostUsd(backend, a.usage);
      cheapestUsd = Math.min(
        ...route.backends.map((n) => {
          const b = policy.backends.get(n);
          return b ? usageCostUsd(b, a.usage!) : Infinity;
        }),
      );
    }
    const reward = attemptReward(
      { success: a.outcome.kind === 'success', ttftMs: a.firstChunkMs ?? a.ttfbMs, costUsd, cheapestUsd },
      settings.reward,
    );
    this.posteriors.observe(a.route, a.backend, reward, 1, settings.halfLifeS, this.now());
  }
}
