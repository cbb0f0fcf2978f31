/**
 * The bandit strategy in closed loop with its posteriors: seeded simulations of the issue's
 * targets (a failing arm loses its traffic but keeps minShare; cost and feedback rewards steer
 * traffic; a recovered arm wins back traffic), deterministic by construction.
 */
import { describe, expect, it } from 'vitest';
import { UNKNOWN_HEALTH } from '../../../src/health/types.js';
import { BanditSchema, DEFAULT_BANDIT, type BanditSettings } from '../../../src/policy/bandit-schema.js';
import type { CompiledRoute } from '../../../src/policy/types.js';
import { attemptReward, BanditPosteriors } from '../../../src/routing/bandit-posteriors.js';
import { banditStrategy, sampleBeta } from '../../../src/routing/bandit.js';
import type { Candidate } from '../../../src/routing/candidates.js';
import { features } from '../../support/features.js';
import { mulberry32 } from './helpers.js';

const OBJECTIVE = { latency: 1, errors: 4, cost: 1 };
const route = (sticky: CompiledRoute['sticky'] = { kind: 'none' }): CompiledRoute =>
  ({ name: 'chat', sticky }) as unknown as CompiledRoute;
const cand = (name: string, costUsd = 0.001): Candidate => ({
  name,
  health: UNKNOWN_HEALTH,
  costUsd,
  inputCostUsd: 0,
  overCeiling: false,
  load: undefined,
  excluded: undefined,
  weight: 0,
  terms: undefined,
});

interface Arm {
  readonly name: string;
  readonly failRate?: number;
  readonly costUsd?: number;
  readonly feedback?: number;
}

/** Runs `n` requests; returns the first pick of each. Outcomes come from a second seeded source. */
function simulate(
  arms: readonly Arm[],
  n: number,
  settings: BanditSettings = DEFAULT_BANDIT,
  options: { posteriors?: BanditPosteriors; startMs?: number; seed?: number; feedbackEvery?: number } = {},
): { picks: string[]; posteriors: BanditPosteriors; endMs: number } {
  const posteriors = options.posteriors ?? new BanditPosteriors();
  const random = mulberry32(options.seed ?? 7);
  const world = mulberry32((options.seed ?? 7) + 1);
  const cheapest = Math.min(...arms.map((a) => a.costUsd ?? 0.001));
  const picks: string[] = [];
  let now = options.startMs ?? 0;
  for (let i = 0; i < n; i++) {
    now += 100;
    const cands = arms.map((a) => cand(a.name, a.costUsd));
    const view = { settings, posteriors: posteriors.posteriors('chat', settings.halfLifeS, now) };
    const sel = banditStrategy(view)({
      all: cands,
      usable: cands,
      route: route(),
      split: undefined,
      objective: OBJECTIVE,
      features: features(),
      random,
    });
    const picked = arms.find((a) => a.name === sel.order[0]!.name)!;
    picks.push(picked.name);
    const success = world() >= (picked.failRate ?? 0);
    const r = attemptReward(
      { success, costUsd: picked.costUsd ?? 0.001, cheapestUsd: cheapest },
      settings.reward,
    );
    posteriors.observe('chat', picked.name, r, 1, settings.halfLifeS, now);
    if (picked.feedback !== undefined && i % (options.feedbackEvery ?? 1) === 0) {
      posteriors.observe(
        'chat',
        picked.name,
        picked.feedback,
        settings.reward.feedbackWeight,
        settings.halfLifeS,
        now,
      );
    }
  }
  return { picks, posteriors, endMs: now };
}

const share = (picks: readonly string[], name: string): number =>
  picks.filter((p) => p === name).length / picks.length;

describe('bandit strategy', () => {
  it('a 40%-failing arm falls to ≤ 15% of first attempts within 300 requests, but keeps ≥ minShare', () => {
    const { picks } = simulate([{ name: 'good' }, { name: 'bad', failRate: 0.4 }], 5300);
    expect(share(picks.slice(200, 300), 'bad')).toBeLessThanOrEqual(0.15);
    expect(share(picks.slice(300), 'bad')).toBeLessThanOrEqual(0.15);
    // Exploration gives each arm minShare in expectation: over 5,000 picks, sd ≈ 0.2 points.
    expect(share(picks.slice(300), 'bad')).toBeGreaterThanOrEqual(DEFAULT_BANDIT.minShare * 0.9);
  });

  it('with a cost reward, the cheaper of two equally healthy arms takes ≥ 70%', () => {
    const settings = BanditSchema.parse({ reward: { costWeight: 1 } });
    const { picks } = simulate(
      [
        { name: 'cheap', costUsd: 0.001 },
        { name: 'dear', costUsd: 0.005 },
      ],
      1000,
      settings,
    );
    expect(share(picks.slice(300), 'cheap')).toBeGreaterThanOrEqual(0.7);
  });

  it('with a feedback reward, the arm users score 1 takes ≥ 70% once 200 feedback posts arrived', () => {
    const settings = BanditSchema.parse({ reward: { costWeight: 0, feedbackWeight: 2 } });
    const { picks } = simulate(
      [
        { name: 'liked', feedback: 1 },
        { name: 'disliked', feedback: 0 },
      ],
      600,
      settings,
    );
    expect(share(picks.slice(200), 'liked')).toBeGreaterThanOrEqual(0.7);
  });

  it('evidence decays with halfLifeS, so an arm that recovers wins traffic back', () => {
    const settings = BanditSchema.parse({ halfLifeS: 30 });
    const first = simulate([{ name: 'a' }, { name: 'b', failRate: 0.9 }], 600, settings);
    expect(share(first.picks.slice(300), 'b')).toBeLessThan(0.15);
    // b recovers; a starts failing.
    const second = simulate([{ name: 'a', failRate: 0.9 }, { name: 'b' }], 1200, settings, {
      posteriors: first.posteriors,
      startMs: first.endMs,
    });
    expect(share(second.picks.slice(600), 'b')).toBeGreaterThanOrEqual(0.7);
  });

  it('only usable arms are picked: an arm whose breaker is open gets nothing', () => {
    const a = cand('a');
    const b = cand('b');
    b.excluded = 'breaker_open';
    const random = mulberry32(3);
    for (let i = 0; i < 200; i++) {
      const sel = banditStrategy({ settings: DEFAULT_BANDIT, posteriors: new Map() })({
        all: [a, b],
        usable: [a],
        route: route(),
        split: undefined,
        objective: OBJECTIVE,
        features: features(),
        random,
      });
      expect(sel.order.map((c) => c.name)).toEqual(['a']);
    }
  });

  it('sticky users stay on their arm while the posteriors hold, and the reason says so', () => {
    const posteriors = new Map([
      ['a', { alpha: 50, beta: 10 }],
      ['b', { alpha: 45, beta: 12 }],
    ]);
    const pick = (user: string) =>
      banditStrategy({ settings: DEFAULT_BANDIT, posteriors })({
        all: [cand('a'), cand('b')],
        usable: [cand('a'), cand('b')],
        route: route({ kind: 'header', name: 'x-user-id' }),
        split: undefined,
        objective: OBJECTIVE,
        features: features({ headers: { 'x-user-id': user } }),
        random: mulberry32(Number(user.length)),
      });
    for (let u = 0; u < 50; u++) {
      const first = pick(`user-${u}`);
      expect(pick(`user-${u}`).variant).toBe(first.variant);
      expect(first.reason).toMatch(/^bandit sticky\(header:x-user-id\) -> (a|b) \(mean reward/);
    }
  });

  it('is deterministic for a seed', () => {
    const arms = [{ name: 'a' }, { name: 'b', failRate: 0.3 }];
    expect(simulate(arms, 300).picks).toEqual(simulate(arms, 300).picks);
  });
});

describe('attemptReward and sampleBeta', () => {
  it('a failure earns 0; a fast cheapest success 1; slow or dear less', () => {
    const r = DEFAULT_BANDIT.reward;
    expect(attemptReward({ success: false }, r)).toBe(0);
    expect(attemptReward({ success: true, ttftMs: 100, costUsd: 1, cheapestUsd: 1 }, r)).toBe(1);
    expect(attemptReward({ success: true, ttftMs: 4000 }, r)).toBeCloseTo((0.5 + 0.5) / 1.5);
    expect(attemptReward({ success: true, costUsd: 2, cheapestUsd: 1 }, r)).toBeCloseTo((1 + 0.25) / 1.5);
  });

  it('Beta samples have the right mean', () => {
    const random = mulberry32(11);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += sampleBeta(3, 7, random);
    expect(sum / 20_000).toBeCloseTo(0.3, 2);
  });

  it('bandit: {} is valid, every field defaulted', () => {
    expect(BanditSchema.parse({})).toEqual({
      reward: { ttftTargetMs: 2000, costWeight: 0.5, feedbackWeight: 1 },
      minShare: 0.02,
      halfLifeS: 600,
    });
    expect(BanditSchema.safeParse({ minShare: 0.9 }).success).toBe(false);
  });
});
