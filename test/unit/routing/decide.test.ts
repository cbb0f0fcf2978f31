import { afterEach, describe, expect, it, vi } from 'vitest';
import { decide } from '../../../src/routing/decide.js';
import { buildPolicy, decided, features, healthTable, mulberry32, NOW, refused, run } from './helpers.js';

const three = buildPolicy({
  backends: ['a', 'b', 'c'],
  routes: { chat: { backends: ['a', 'b', 'c'] }, embed: { backends: ['c'] } },
});

describe('decide: route lookup and refusals', () => {
  it('refuses an unknown route with model_not_found 404 naming the known routes', () => {
    const r = refused({ policy: three, features: { route: 'gpt-4' } });
    expect(r.code).toBe('model_not_found');
    expect(r.status).toBe(404);
    expect(r.message).toContain('"gpt-4"');
    expect(r.message).toContain('chat, embed');
    expect(r.requestedRoute).toBe('gpt-4');
  });

  it('refuses with no_healthy_backend 503 listing every exclusion reason when nothing is available', () => {
    const policy = buildPolicy({
      backends: { 'llama-70b': {}, 'llama-8b': {}, 'llama-1b': { maxInflight: 2 } },
      routes: { chat: { backends: ['llama-70b', 'llama-8b', 'llama-1b'] } },
    });
    const r = refused({
      policy,
      health: {
        'llama-70b': { breaker: 'open' },
        'llama-8b': { coolingUntilMs: NOW + 5000 },
        'llama-1b': { inflight: 2 },
      },
    });
    expect(r.code).toBe('no_healthy_backend');
    expect(r.status).toBe(503);
    expect(r.message).toBe(
      'no healthy backend for route "chat": llama-70b breaker_open, llama-8b cooling_down, llama-1b at_max_inflight',
    );
    expect(r.candidates.map((c) => [c.backend, c.excluded])).toEqual([
      ['llama-70b', 'breaker_open'],
      ['llama-8b', 'cooling_down'],
      ['llama-1b', 'at_max_inflight'],
    ]);
  });
});

describe('decide: attempt list', () => {
  it.each([
    { maxAttempts: 1, expected: 1 },
    { maxAttempts: 2, expected: 2 },
    { maxAttempts: 3, expected: 3 },
    { maxAttempts: 10, expected: 3 },
  ])('cuts the attempts to maxAttempts=$maxAttempts', ({ maxAttempts, expected }) => {
    const policy = buildPolicy({
      backends: ['a', 'b', 'c'],
      routes: { chat: { backends: ['a', 'b', 'c'], maxAttempts } },
    });
    const d = decided({ policy });
    expect(d.attempts).toHaveLength(expected);
    expect(new Set(d.attempts).size).toBe(expected);
  });

  it('reports every backend of the route with its cost and a weight or an exclusion', () => {
    const d = decided({ policy: three, health: { b: { breaker: 'open' } } });
    expect(d.candidates.map((c) => c.backend)).toEqual(['a', 'b', 'c']);
    for (const c of d.candidates) {
      expect(c.estimatedCostUsd).toBeGreaterThan(0);
      expect((c.weight === undefined) !== (c.excluded === undefined)).toBe(true);
    }
    expect(d.candidates[1]?.excluded).toBe('breaker_open');
    expect(d.attempts).toEqual(expect.not.arrayContaining(['b']));
  });

  it('fills in the decision fields', () => {
    const d = decided({ policy: three });
    expect(d).toMatchObject({
      requestedRoute: 'chat',
      route: 'chat',
      variant: 'default',
      rule: undefined,
      maxCostUsd: undefined,
    });
    expect(d.reason).toMatch(/^score -> [abc] \(weight 0\.33\)$/);
  });
});

describe('decide: purity', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads neither Math.random nor the clock, and the same inputs give the same decision', () => {
    const rnd = vi.spyOn(Math, 'random');
    const now = vi.spyOn(Date, 'now');
    const input = () => ({
      policy: three,
      health: healthTable({ a: { latencyEwmaMs: 100 }, b: { latencyEwmaMs: 300 } }),
      features: features(),
      nowMs: NOW,
      random: mulberry32(7),
    });
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(JSON.stringify(decide(input())));
    expect(seen.size).toBe(1);
    expect(rnd).not.toHaveBeenCalled();
    expect(now).not.toHaveBeenCalled();
  });

  it('takes its randomness from the injected source', () => {
    const firsts = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const r = run({ policy: three, seed });
      if (r.ok) firsts.add(r.decision.attempts[0] as string);
    }
    expect(firsts).toEqual(new Set(['a', 'b', 'c']));
  });
});
