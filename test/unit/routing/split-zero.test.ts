/**
 * One meaning of a split weight of 0 wherever the split comes from (route, rule, Consul
 * override): the arm is off, and gets no traffic at all, fallback included. Policies go through
 * the real parse + compile path, because that is where a rule's zero arms used to be dropped
 * (turning the arm into a fallback).
 */
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/policy/parse.js';
import type { PolicyDocumentInput } from '../../../src/policy/schema.js';
import { parseSplitOverride } from '../../../src/policy/splits.js';
import type { CompiledPolicy } from '../../../src/policy/types.js';
import { refused, run } from './helpers.js';

const backend = (name: string) => ({
  url: `http://${name}.local/v1`,
  model: name,
  price: { input: 1, output: 1 },
});

/**
 * `main` and `canary` in a split with the canary at 0; on `chat`, `spare` is in the route but
 * outside the split (a fallback); `solo` has no fallback.
 */
function document(where: 'route' | 'rule' | 'override'): PolicyDocumentInput {
  const split = { main: 1, canary: 0 };
  // An override replaces the route split, so under it the policy's own split gives the canary traffic.
  const routeSplit =
    where === 'route' ? { split } : where === 'override' ? { split: { main: 1, canary: 1 } } : {};
  return {
    version: 1,
    backends: { main: backend('main'), canary: backend('canary'), spare: backend('spare') },
    routes: {
      chat: { backends: ['main', 'canary', 'spare'], ...routeSplit },
      solo: { backends: ['main', 'canary'], ...routeSplit },
    },
    rules:
      where === 'rule'
        ? [
            { name: 'canary-off', match: { route: 'chat' }, split },
            { name: 'solo-canary-off', match: { route: 'solo' }, split },
          ]
        : [],
  };
}

function compiled(where: 'route' | 'rule' | 'override'): CompiledPolicy {
  const text = JSON.stringify(document(where));
  const parsed = parsePolicy(text, {
    splitOverrides: (doc) => {
      if (where !== 'override') return new Map();
      const overrides = new Map();
      for (const route of ['chat', 'solo']) {
        const result = parseSplitOverride(doc, route, '{"main": 1, "canary": 0}');
        if (!result.ok) throw new Error(JSON.stringify(result.errors));
        overrides.set(route, result.weights);
      }
      return overrides;
    },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.policy;
}

const DOWN = { breaker: 'open' as const };

describe('a split weight of 0 is off everywhere', () => {
  describe.each(['route', 'rule', 'override'] as const)('split from the %s', (where) => {
    const policy = compiled(where);

    it.each([
      // [scenario, health, expected attempts]
      ['all healthy: main, then the route fallback', {}, ['main', 'spare']],
      ['main down: the fallback, never the zero arm', { main: DOWN }, ['spare']],
    ])('%s', (_name, health, attempts) => {
      const result = run({ policy, health, features: { route: 'chat' } });
      if (!result.ok) throw new Error(result.refusal.message);
      expect(result.decision.attempts).toEqual(attempts);
      const canary = result.decision.candidates.find((c) => c.backend === 'canary');
      expect(canary?.excluded).toBe('split_weight_zero');
    });

    it('main down and no fallback: no healthy backend, the zero arm stays off', () => {
      const refusal = refused({ policy, health: { main: DOWN }, features: { route: 'solo' } });
      expect(refusal.code).toBe('no_healthy_backend');
    });
  });
});
