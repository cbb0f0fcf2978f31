import { describe, expect, it } from 'vitest';
import { parseCanarySpec, type CanarySpec, type CanaryStatus } from '../../../src/canary/spec.js';
import { brokenGuard, stepCanary, type ArmFigures, type FleetFigures } from '../../../src/canary/step.js';

const spec: CanarySpec = {
  baseline: 'old',
  candidate: 'new',
  steps: [20, 50, 100],
  intervalS: 60,
  minRequests: 100,
  guards: { maxErrorRatioDelta: 0.05, maxTtftP95Ratio: 1.5, maxCostRatio: 2, minFeedbackDelta: -0.1 },
};
const T0 = Date.UTC(2026, 10, 29);
const arm = (over: Partial<ArmFigures> = {}): ArmFigures => ({ attempts: 200, errors: 2, ...over });
const figures = (b: Partial<ArmFigures> = {}, c: Partial<ArmFigures> = {}): FleetFigures => ({
  ok: true,
  baseline: arm(b),
  candidate: arm(c),
});
const status = (over: Partial<CanaryStatus> = {}): CanaryStatus => ({
  state: 'progressing',
  weight: 20,
  reason: '',
  updatedAt: '',
  stepStartedAt: T0,
  splitIndex: 42,
  specHash: 'h1',
  ...over,
});
const step = (s: CanaryStatus | undefined, f: FleetFigures | undefined, now = T0 + 61_000, splitIndex = 42) =>
  stepCanary({ spec, specHash: 'h1', status: s, splitIndex, figures: f, now });

describe('stepCanary', () => {
  it('starts at the first step, with CAS against the split as it is now', () => {
    const a = step(undefined, undefined, T0, 7);
    expect(a).toMatchObject({
      kind: 'split',
      weight: 20,
      casIndex: 7,
      status: { state: 'progressing', weight: 20 },
    });
  });

  it('a changed spec starts over', () => {
    const a = step(status({ specHash: 'old', state: 'rolled_back', weight: 0 }), undefined, T0, 42);
    expect(a).toMatchObject({ kind: 'split', weight: 20 });
  });

  it.each([
    [
      'healthy, interval over: next step',
      status(),
      figures(),
      { kind: 'split', weight: 50, state: 'progressing' },
    ],
    [
      'healthy at the last step below 100: promoted',
      status({ weight: 50 }),
      figures(),
      { kind: 'split', weight: 100, state: 'promoted' },
    ],
    [
      'healthy, interval not over: hold',
      status(),
      figures(),
      { kind: 'status', state: 'progressing' },
      T0 + 30_000,
    ],
    [
      'too few attempts: waiting',
      status(),
      figures({}, { attempts: 99 }),
      { kind: 'status', state: 'waiting' },
    ],
    [
      'error delta broken: rolled back',
      status(),
      figures({}, { errors: 100 }),
      { kind: 'split', weight: 0, state: 'rolled_back', reason: /maxErrorRatioDelta/ },
    ],
    [
      'broken before the interval is over: rolled back at once',
      status(),
      figures({}, { errors: 100 }),
      { kind: 'split', weight: 0, state: 'rolled_back' },
      T0 + 1000,
    ],
    [
      'TTFT ratio broken',
      status(),
      figures({ ttftP95S: 1 }, { ttftP95S: 2 }),
      { kind: 'split', weight: 0, reason: /maxTtftP95Ratio/ },
    ],
    [
      'cost ratio broken',
      status(),
      figures({ costPerRequestUsd: 0.001 }, { costPerRequestUsd: 0.005 }),
      { kind: 'split', weight: 0, reason: /maxCostRatio/ },
    ],
    [
      'feedback broken',
      status(),
      figures({ feedbackMean: 0.9 }, { feedbackMean: 0.5 }),
      { kind: 'split', weight: 0, reason: /minFeedbackDelta/ },
    ],
    [
      'Prometheus down: paused, weight held',
      status(),
      { ok: false, error: 'refused' } as FleetFigures,
      { kind: 'status', state: 'progressing', weight: 20, reason: /Prometheus unavailable/ },
    ],
  ] as const)('%s', (_name, s, f, want, now = T0 + 61_000) => {
    const a = step(s, f, now);
    expect(a.kind).toBe(want.kind);
    if (a.kind === 'none') return;
    const { state, reason } = want as { state?: string; reason?: RegExp };
    if ('weight' in want) expect(a.kind === 'split' ? a.weight : a.status.weight).toBe(want.weight);
    if (state) expect(a.status.state).toBe(state);
    if (reason) expect(a.status.reason).toMatch(reason);
  });

  it('a split changed by someone else pauses for good, with the reason', () => {
    const a = step(status(), figures({}, { errors: 100 }), T0 + 61_000, 43);
    expect(a).toMatchObject({ kind: 'status', status: { paused: expect.stringMatching(/changed outside/) } });
    if (a.kind !== 'status') throw new Error('expected a status');
    expect(step(a.status, figures(), T0 + 200_000, 43)).toEqual({ kind: 'none' });
  });

  it('finished canaries do nothing', () => {
    expect(step(status({ state: 'promoted', weight: 100 }), figures())).toEqual({ kind: 'none' });
    expect(step(status({ state: 'rolled_back', weight: 0 }), figures())).toEqual({ kind: 'none' });
  });

  it('an unchanged status is not rewritten', () => {
    const a = step(status(), figures({}, { attempts: 10 }));
    if (a.kind !== 'status') throw new Error('expected a status');
    expect(step(a.status, figures({}, { attempts: 10 }))).toEqual({ kind: 'none' });
  });
});

describe('brokenGuard', () => {
  it('holds with no guards, and skips guards without figures on both arms', () => {
    expect(brokenGuard({}, arm({ errors: 0 }), arm({ errors: 200 }))).toBeUndefined();
    expect(brokenGuard({ maxTtftP95Ratio: 1.1 }, arm(), arm({ ttftP95S: 9 }))).toBeUndefined();
  });
});

describe('parseCanarySpec', () => {
  it('accepts the documented shape and names what is wrong', () => {
    const ok = parseCanarySpec(JSON.stringify({ ...spec, guards: undefined }));
    expect(ok.ok).toBe(true);
    const bad = parseCanarySpec(JSON.stringify({ ...spec, steps: [5, 25] }));
    expect(bad).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^steps: the last step must be 100/),
    });
    expect(parseCanarySpec('{').ok).toBe(false);
  });
});

describe('the local guards as evidence', () => {
  it('rolls back when sidecars report their local guard dropping the candidate, even below minRequests', () => {
    const a = step(status(), figures({}, { attempts: 3, guardBreachedPods: 2 }), T0 + 1000);
    expect(a).toMatchObject({
      kind: 'split',
      weight: 0,
      status: {
        state: 'rolled_back',
        reason: 'guard maxErrorRatioDelta broken: the local guard drops new in 2 sidecar(s)',
      },
    });
  });
});
