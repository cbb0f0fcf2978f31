import { describe, expect, it } from 'vitest';
import { decide } from '../../../src/routing/decide.js';
import type { LocalGuardSpec } from '../../../src/routing/local-guard.js';
import { buildPolicy, features, healthTable, mulberry32, NOW } from './helpers.js';

const policy = buildPolicy({
  backends: ['stable', 'canary'],
  routes: { chat: { backends: ['stable', 'canary'], split: { stable: 50, canary: 50 } } },
});
const spec: LocalGuardSpec = {
  baseline: 'stable',
  candidate: 'canary',
  maxErrorRatioDelta: 0.1,
  minRequests: 20,
};

function firstPicks(health: Parameters<typeof healthTable>[0], guard: LocalGuardSpec | undefined) {
  const random = mulberry32(5);
  const picks = new Map<string, number>();
  let reason = '';
  for (let i = 0; i < 400; i++) {
    const r = decide({
      policy,
      health: healthTable(health),
      features: features({ route: 'chat' }),
      nowMs: NOW,
      random,
      localGuard: () => guard,
    });
    if (!r.ok) throw new Error(r.refusal.message);
    const first = r.decision.attempts[0]!;
    picks.set(first, (picks.get(first) ?? 0) + 1);
    reason = r.decision.reason;
  }
  return { picks, reason };
}

describe('local canary guard', () => {
  it.each([
    [
      'breached: the candidate gets no first attempt, and the reason says why',
      { canary: { requests: 40, errorRatio: 0.5 }, stable: { requests: 200, errorRatio: 0.01 } },
      spec,
      0,
    ],
    [
      'within the guard: the split holds',
      { canary: { requests: 40, errorRatio: 0.08 }, stable: { requests: 200, errorRatio: 0.01 } },
      spec,
      1,
    ],
    [
      'too few candidate attempts to judge: the split holds',
      { canary: { requests: 19, errorRatio: 1 }, stable: { requests: 200 } },
      spec,
      1,
    ],
    [
      'too few baseline attempts to judge: the split holds',
      { canary: { requests: 40, errorRatio: 1 }, stable: { requests: 5 } },
      spec,
      1,
    ],
    [
      'no spec: the split holds',
      { canary: { requests: 40, errorRatio: 1 }, stable: { requests: 200 } },
      undefined,
      1,
    ],
  ] as const)('%s', (_name, health, guard, canaryShouldServe) => {
    const { picks, reason } = firstPicks(health, guard);
    if (canaryShouldServe) {
      expect(picks.get('canary') ?? 0).toBeGreaterThan(150);
    } else {
      expect(picks.get('canary') ?? 0).toBe(0);
      expect(reason).toMatch(/canary guard: canary error ratio 0\.50 vs stable 0\.01 over 40\/200 attempts/);
    }
  });

  it('says canary_guard for the candidate among the candidates', () => {
    const r = decide({
      policy,
      health: healthTable({ canary: { requests: 40, errorRatio: 0.5 }, stable: { requests: 200 } }),
      features: features({ route: 'chat' }),
      nowMs: NOW,
      random: mulberry32(1),
      localGuard: () => spec,
    });
    if (!r.ok) throw new Error('refused');
    expect(r.decision.candidates.find((c) => c.backend === 'canary')?.excluded).toBe('canary_guard');
  });
});
