import { describe, expect, it } from 'vitest';
import type { RequestFeatures } from '../../../src/ingress/features.js';
import {
  affordableOutputTokens,
  capOf,
  estimateCostUsd,
  inputCostUsd,
  usageCostUsd,
} from '../../../src/routing/cost.js';
import { buildPolicy, decided, features, refused } from './helpers.js';

// 1000 prompt tokens + 1000 output tokens: cheap $0.0002 + $0.0002, mid $0.002, dear $0.02.
const prices = {
  cheap: { price: { input: 0.2, output: 0.2 } },
  mid: { price: { input: 1, output: 1 } },
  dear: { price: { input: 10, output: 10 } },
};
const req = { promptTokens: 1000, maxTokens: 1000 };

function policyWith(
  route: { maxCostUsd?: number; overBudget?: 'refuse' | 'cheapest' },
  ruleCeiling?: number,
) {
  return buildPolicy({
    backends: prices,
    routes: { chat: { backends: ['dear', 'mid', 'cheap'], ...route } },
    rules: ruleCeiling === undefined ? [] : [{ name: 'tight', maxCostUsd: ruleCeiling }],
  });
}

describe('cost estimate', () => {
  it('is prompt tokens at the input price plus max_tokens (else the route default) at the output price', () => {
    const p = buildPolicy({
      backends: { b: { price: { input: 2, output: 6 } } },
      routes: { chat: { backends: ['b'], defaultMaxTokens: 500 } },
    });
    const b = p.backends.get('b')!;
    const route = p.routes.get('chat')!;
    expect(estimateCostUsd(b, route, features({ promptTokens: 1000, maxTokens: 100 }))).toBeCloseTo(
      0.0026,
      12,
    );
    expect(estimateCostUsd(b, route, features({ promptTokens: 1000, maxTokens: undefined }))).toBeCloseTo(
      0.005,
      12,
    );
  });

  it('multiplies the output side by the completions generated (n), with or without max_tokens', () => {
    const p = buildPolicy({
      backends: { b: { price: { input: 2, output: 6 } } },
      routes: { chat: { backends: ['b'], defaultMaxTokens: 500 } },
    });
    const b = p.backends.get('b')!;
    const route = p.routes.get('chat')!;
    // 1000 × $2 + 8 × 100 × $6 per 1M tokens
    expect(
      estimateCostUsd(b, route, features({ promptTokens: 1000, maxTokens: 100, choices: 8 })),
    ).toBeCloseTo(0.0068, 12);
    // 1000 × $2 + 3 × 500 (the route default) × $6
    expect(estimateCostUsd(b, route, features({ promptTokens: 1000, choices: 3 }))).toBeCloseTo(0.011, 12);
  });

  it('n > 1 divides what the ceiling affords among the completions', () => {
    const policy = policyWith({ maxCostUsd: 0.001 });
    const cheap = policy.backends.get('cheap')!;
    // cheap: $0.0002 prompt, then $0.0008 left at $0.2/M = 4000 output tokens in all.
    expect(decided({ policy, features: req }).attempts).toEqual(['cheap']);
    /** The limit sent to `cheap` for `f` under `ceiling`, as forward works it out. */
    const outputCap = (f: RequestFeatures, ceiling: number | undefined): number | undefined =>
      capOf(affordableOutputTokens(cheap, f, ceiling), f);
    expect(outputCap(features(req), 0.001)).toBeUndefined(); // 1000 asked, 4000 affordable
    expect(outputCap(features({ ...req, choices: 5 }), 0.001)).toBe(800);
    expect(outputCap(features({ ...req, maxTokens: undefined }), 0.001)).toBe(4000);
    expect(outputCap(features(req), undefined)).toBeUndefined();
  });

  it("uses each backend's own characters per token for the prompt", () => {
    const p = buildPolicy({
      backends: { b: { price: { input: 2, output: 0 }, tokenizerFactor: 2 } },
      routes: { chat: { backends: ['b'] } },
    });
    const b = p.backends.get('b')!;
    // 4000 characters: 1000 tokens at the default 4, 2000 at this backend's 2.
    expect(inputCostUsd(b, features({ promptTokens: 1000 }))).toBeCloseTo(0.004, 12);
  });

  it('is reported per candidate', () => {
    const d = decided({ policy: policyWith({}), features: req });
    expect(d.candidates.map((c) => c.estimatedCostUsd)).toEqual([0.02, 0.002, 0.0004]);
  });
});

describe('cost ceiling (scenario table)', () => {
  it.each([
    {
      name: 'route ceiling excludes what is above it',
      route: { maxCostUsd: 0.005 },
      header: undefined,
      rule: undefined,
      ceiling: 0.005,
      out: ['dear'],
    },
    {
      name: 'the header lowers the route ceiling',
      route: { maxCostUsd: 0.005 },
      header: 0.001,
      rule: undefined,
      ceiling: 0.001,
      out: ['dear', 'mid'],
    },
    {
      name: 'the header cannot raise the route ceiling',
      route: { maxCostUsd: 0.005 },
      header: 1,
      rule: undefined,
      ceiling: 0.005,
      out: ['dear'],
    },
    {
      name: 'the header alone sets a ceiling',
      route: {},
      header: 0.005,
      rule: undefined,
      ceiling: 0.005,
      out: ['dear'],
    },
    {
      name: 'a rule ceiling lowers the route ceiling',
      route: { maxCostUsd: 0.05 },
      header: undefined,
      rule: 0.001,
      ceiling: 0.001,
      out: ['dear', 'mid'],
    },
    {
      name: 'no ceiling anywhere: nothing is over budget',
      route: {},
      header: undefined,
      rule: undefined,
      ceiling: undefined,
      out: [],
    },
  ])('$name', ({ route, header, rule, ceiling, out }) => {
    for (let seed = 1; seed <= 5; seed++) {
      const d = decided({ policy: policyWith(route, rule), features: { ...req, maxCostUsd: header }, seed });
      expect(d.maxCostUsd).toBe(ceiling);
      const over = d.candidates.filter((c) => c.excluded === 'over_budget').map((c) => c.backend);
      expect(over).toEqual(out);
      for (const b of out) expect(d.attempts).not.toContain(b);
      expect(d.attempts).toHaveLength(3 - out.length);
    }
  });

  it('overBudget refuse: the prompt alone over the ceiling everywhere → 400 over_budget naming the estimate and the ceiling', () => {
    const r = refused({ policy: policyWith({ maxCostUsd: 0.0001 }), features: req });
    expect(r.code).toBe('over_budget');
    expect(r.status).toBe(400);
    expect(r.message).toContain('the prompt alone (estimated $0.0002 on cheap, the cheapest)');
    expect(r.message).toContain('cost ceiling $0.0001');
    expect(r.message).toContain('dear over_budget, mid over_budget, cheap over_budget');
  });

  it('a large max_tokens is capped, not refused: the ceiling bounds the output it pays for', () => {
    const d = decided({
      policy: policyWith({ maxCostUsd: 0.001 }),
      features: { ...req, maxTokens: 100_000 },
    });
    expect(d.attempts).toEqual(['cheap']);
    expect(d.candidates.find((c) => c.backend === 'cheap')!.estimatedCostUsd).toBeCloseTo(0.001, 12);
  });

  it('overBudget cheapest: nothing under the ceiling → only the cheapest available backend', () => {
    const d = decided({
      policy: policyWith({ maxCostUsd: 0.0001, overBudget: 'cheapest' }),
      features: req,
      health: { cheap: { breaker: 'open' } },
    });
    expect(d.attempts).toEqual(['mid']);
    expect(d.reason).toContain('over budget: cheapest -> mid');
    expect(d.candidates.find((c) => c.backend === 'cheap')?.excluded).toBe('breaker_open');
    expect(d.candidates.find((c) => c.backend === 'dear')?.excluded).toBe('over_budget');
  });

  it('a rule can switch overBudget to cheapest', () => {
    const p = buildPolicy({
      backends: prices,
      routes: { chat: { backends: ['dear', 'mid', 'cheap'], maxCostUsd: 0.0001 } },
      rules: [{ name: 'lenient', overBudget: 'cheapest' }],
    });
    expect(decided({ policy: p, features: req }).attempts).toEqual(['cheap']);
  });

  it('down backends are reported as down, not over budget, and do not count as affordable', () => {
    const r = refused({
      policy: policyWith({ maxCostUsd: 0.001 }),
      features: req,
      health: { cheap: { breaker: 'open' } },
    });
    // cheap would fit if it were up: this is health (503, worth retrying), not the budget.
    expect(r.code).toBe('no_healthy_backend');
    expect(r.status).toBe(503);
    expect(r.message).toContain('cheap breaker_open');
    expect(r.message).toContain('mid over_budget');
  });
});

describe('usage cost', () => {
  it('prices cached prompt tokens at cachedInput and the rest at input', () => {
    const b = {
      ...buildPolicy({ backends: { b: {} }, routes: { chat: { backends: ['b'] } } }).backends.get('b')!,
      price: { inputPerMTok: 2, outputPerMTok: 8, cachedInputPerMTok: 0.5 },
    };
    // 1000 prompt tokens of which 600 cached, 100 output: 400 × 2 + 600 × 0.5 + 100 × 8 per 1M.
    expect(usageCostUsd(b, { inputTokens: 1000, cachedInputTokens: 600, outputTokens: 100 })).toBeCloseTo(
      0.0019,
      12,
    );
    expect(usageCostUsd(b, { inputTokens: 1000, outputTokens: 100 })).toBeCloseTo(0.0028, 12);
  });
});
