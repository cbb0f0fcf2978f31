import { describe, expect, it } from 'vitest';
import { compileRules } from '../../../src/policy/compile-rules.js';
import { formatPolicyError } from '../../../src/policy/errors.js';
import { parsePolicy } from '../../../src/policy/parse.js';
import { ruleSchema } from '../../../src/policy/rule-schema.js';
import type { RuleActions } from '../../../src/policy/types.js';
import { baseDocument, text } from './fixtures.js';

const context = {
  backends: new Set(['big', 'small', 'next']),
  routes: new Map([
    ['chat', ['big', 'small']],
    ['canary', ['big', 'next', 'small']],
  ]),
};

function actionsOf(rule: Record<string, unknown>): RuleActions {
  const compiled = compileRules([ruleSchema.parse({ name: 'r', match: {}, ...rule })], context);
  expect(compiled.errors).toEqual([]);
  const first = compiled.rules[0];
  if (first === undefined) throw new Error('no rule compiled');
  return first.actions;
}

describe('compileRules: actions', () => {
  it.each<[string, Record<string, unknown>, RuleActions]>([
    ['route', { route: 'canary' }, { route: 'canary' }],
    ['prefer', { prefer: ['small', 'big'] }, { prefer: ['small', 'big'] }],
    ['only', { only: ['big'] }, { only: ['big'] }],
    ['exclude', { exclude: ['small'] }, { exclude: ['small'] }],
    ['objective (only the weights given)', { objective: { cost: 3 } }, { objective: { cost: 3 } }],
    ['maxCostUsd', { maxCostUsd: 0.01 }, { maxCostUsd: 0.01 }],
    ['overBudget', { overBudget: 'cheapest' }, { overBudget: 'cheapest' }],
    [
      'split (zero arms kept: they switch the arm off)',
      { split: { big: 1, next: 0 } },
      {
        split: new Map([
          ['big', 1],
          ['next', 0],
        ]),
      },
    ],
    ['allowPin', { allowPin: true }, { allowPin: true }],
    ['deny with default status 403', { deny: { message: 'no' } }, { deny: { message: 'no', status: 403 } }],
    [
      'deny with a 4xx status',
      { deny: { message: 'pay', status: 402 } },
      { deny: { message: 'pay', status: 402 } },
    ],
    [
      'several actions together',
      { prefer: ['small'], maxCostUsd: 0.5, allowPin: true },
      { prefer: ['small'], maxCostUsd: 0.5, allowPin: true },
    ],
  ])('%s', (_name, rule, expected) => {
    expect(actionsOf(rule)).toEqual(expected);
  });

  it('keeps rules in order and compiles each match', () => {
    const rules = compileRules(
      [
        ruleSchema.parse({ name: 'acme', match: { tenant: 'acme' }, route: 'canary' }),
        ruleSchema.parse({ name: 'all', match: {}, prefer: ['small'] }),
      ],
      context,
    ).rules;
    expect(rules.map((r) => r.name)).toEqual(['acme', 'all']);
    const acme = { tenant: 'acme', headers: {} } as never;
    const other = { tenant: 'globex', headers: {} } as never;
    expect([rules[0]?.matches(acme), rules[0]?.matches(other), rules[1]?.matches(other)]).toEqual([
      true,
      false,
      true,
    ]);
  });
});

describe('rule validation', () => {
  function ruleErrors(rule: Record<string, unknown>): string[] {
    const doc = { ...baseDocument(), rules: [rule] };
    const result = parsePolicy(text(doc));
    return result.ok ? [] : result.errors.map(formatPolicyError);
  }

  it('refuses a rule with no action', () => {
    expect(ruleErrors({ name: 'r', match: { tenant: 'a' } })).toEqual([
      'rules.0: rule has no action (one of route, prefer, only, exclude, objective, maxCostUsd, overBudget, split, allowPin, deny)',
    ]);
  });

  it('refuses deny with a non-4xx status, and deny mixed with other actions', () => {
    expect(ruleErrors({ name: 'r', match: {}, deny: { message: 'x', status: 500 } })).toEqual([
      'rules.0.deny.status: deny status must be 4xx',
    ]);
    expect(ruleErrors({ name: 'r', match: {}, deny: { message: 'x' }, route: 'chat' })).toEqual([
      'rules.0.deny: deny cannot be combined with other actions',
    ]);
  });

  it('refuses an empty objective and a misspelt action', () => {
    expect(ruleErrors({ name: 'r', match: {}, objective: {} })).toEqual([
      'rules.0.objective: give at least one of latency, errors, cost',
    ]);
    const errors = ruleErrors({ name: 'r', match: {}, prefers: ['small'] });
    expect(errors[0]).toMatch(/^rules\.0\.prefers: unknown key \(did you mean "prefer"\?\)/);
  });

  it('requires a match clause', () => {
    expect(ruleErrors({ name: 'r', prefer: ['small'] })).toEqual([
      'rules.0.match: required (expected object)',
    ]);
  });
});
