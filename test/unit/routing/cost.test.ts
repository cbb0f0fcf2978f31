import { describe, expect, it } from 'vitest';
import { estimateCostUsd } from '../../../src/routing/cost.js';
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

  it('n > 1 can put a request over the ceiling it fits with n = 1', () => {
    const policy = policyWith({ maxCostUsd: 0.001 });
    // cheap: $0.0002 prompt + n × $0.0002 output
    expect(decided({ policy, features: req }).attempts).toEqual(['cheap']);
    const r = refused({ policy, features: { ...req, choices: 5 } });
    expect(r.code).toBe('no_healthy_backend');
    expect(r.candidates.map((c) => c.excluded)).toEqual(['over_budget', 'over_budget', 'over_budget']);
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

  it('overBudget refuse: nothing under the ceiling → 503 naming the cheapest estimate and the ceiling', () => {
    const r = refused({ policy: policyWith({ maxCostUsd: 0.0001 }), features: req });
    expect(r.code).toBe('no_healthy_backend');
    expect(r.status).toBe(503);
    expect(r.message).toContain('within the cost ceiling $0.0001');
    expect(r.message).toContain('cheapest estimate $0.0004 on cheap');
    expect(r.message).toContain('dear over_budget, mid over_budget, cheap over_budget');
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
    expect(r.message).toContain('cheap breaker_open');
    expect(r.message).toContain('mid over_budget');
  });
});
