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
import type { BanditView } from '../routing/bandit.js';
import type { FeedbackEvent } from './feedback.js';

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
