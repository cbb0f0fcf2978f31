/**
 * Rules that combine (`continue: true`): which rules apply, and what their actions add up to.
 * Policies are compiled from documents, as an operator writes them.
 */
import { describe, expect, it } from 'vitest';
import type { ClassLabel, RequestFeatures } from '../../../src/ingress/features.js';
import { fixedPrompt } from '../../../src/ingress/prompt-text.js';
import { parsePolicy } from '../../../src/policy/parse.js';
import type { CompiledPolicy } from '../../../src/policy/types.js';
import { classifiersNeeded, combineActions, matchRules } from '../../../src/routing/rules.js';
import { decided, refused } from './helpers.js';

const price = { input: 1, output: 1 };
const url = (name: string) => `http://${name}.local:8000/v1`;
const BACKENDS = Object.fromEntries(
  ['big', 'small', 'code-big', 'code-small', 'cheap'].map((n) => [n, { url: url(n), model: n, price }]),
);

function policy(rules: unknown[], extra: Record<string, unknown> = {}): CompiledPolicy {
  const result = parsePolicy(
    JSON.stringify({
      version: 1,
      backends: BACKENDS,
      routes: {
        chat: { backends: ['big', 'small', 'cheap'] },
        code: { backends: ['code-big', 'code-small'] },
      },
      rules,
      ...extra,
    }),
  );
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.policy;
}

const CODE_RULE = {
  name: 'code-prompts',
  match: { prompt: { contains: ['```', 'def '], regex: '(?i)\\b(python|sql)\\b' } },
  route: 'code',
  continue: true,
};
const FREE_TIER = { name: 'free-tier', match: { tenant: 'free' }, only: ['code-small', 'cheap'] };

const code = fixedPrompt('```\ndef f(): # python\n```');
const chatter = fixedPrompt('how are you today?');

describe('rules that combine', () => {
  it('without continue, the first match wins as before', () => {
    const p = policy([
      { name: 'a', match: {}, prefer: ['small'] },
      { name: 'b', match: {}, prefer: ['cheap'] },
    ]);
    const d = decided({ policy: p });
    expect(d.rules).toEqual(['a']);
    expect(d.rule).toBe('a');
    expect(d.attempts[0]).toBe('small');
  });

  it('code prompts go to the code route, others do not', () => {
    const p = policy([CODE_RULE]);
    expect(decided({ policy: p, features: { prompt: code } })).toMatchObject({
      route: 'code',
      rules: ['code-prompts'],
    });
    expect(decided({ policy: p, features: { prompt: chatter } })).toMatchObject({ route: 'chat', rules: [] });
  });

  it("a free-tier tenant's code prompt goes to the small code model: two rules combined", () => {
    const p = policy([CODE_RULE, FREE_TIER]);
    const d = decided({ policy: p, features: { prompt: code, tenant: 'free' } });
    expect(d).toMatchObject({ route: 'code', rule: 'code-prompts', rules: ['code-prompts', 'free-tier'] });
    expect(d.attempts).toEqual(['code-small']);
    expect(d.reason).toMatch(/^rule code-prompts, free-tier -> route code; /);
    // A paying tenant's code prompt: only the first rule.
    const paid = decided({ policy: p, features: { prompt: code, tenant: 'acme' } });
    expect(paid.rules).toEqual(['code-prompts']);
    expect(new Set(paid.attempts)).toEqual(new Set(['code-big', 'code-small']));
  });

  it("after a route switch, later rules' match.route sees the new route", () => {
    const p = policy([CODE_RULE, { name: 'on-code', match: { route: 'code' }, prefer: ['code-small'] }]);
    expect(decided({ policy: p, features: { prompt: code } }).rules).toEqual(['code-prompts', 'on-code']);
    expect(decided({ policy: p, features: { prompt: chatter } }).rules).toEqual([]);
  });

  it('the prompt is read only when a prompt rule is reached; then the decision has its hash and length', () => {
    const p = policy([{ name: 'acme', match: { tenant: 'acme' }, prefer: ['small'] }, CODE_RULE]);
    const settled = decided({
      policy: p,
      features: { tenant: 'acme', prompt: fixedPrompt('def f(): python') },
    });
    expect(settled.prompt).toBeUndefined();
    const read = decided({ policy: p, features: { prompt: fixedPrompt('def f(): python') } });
    expect(read.prompt).toEqual({
      sha256: expect.stringMatching(/^[0-9a-f]{16}$/),
      chars: 15,
      truncated: false,
    });
  });

  it('matching stops at the first rule without continue', () => {
    const p = policy([
      { name: 'a', match: {}, prefer: ['small'], continue: true },
      { name: 'b', match: {}, prefer: ['cheap'] },
      { name: 'c', match: {}, prefer: ['big'] },
    ]);
    expect(decided({ policy: p }).rules).toEqual(['a', 'b']);
  });

  it('a deny after a continue rule refuses, listing every rule that applied', () => {
    const p = policy([
      { name: 'a', match: {}, prefer: ['small'], continue: true },
      { name: 'no-free', match: { tenant: 'free' }, deny: { message: 'not on the free tier' } },
    ]);
    const r = refused({ policy: p, features: { tenant: 'free' } });
    expect(r).toMatchObject({ code: 'denied', rule: 'a', rules: ['a', 'no-free'] });
  });

  it('a filter left empty by the intersection refuses with the reasons', () => {
    const p = policy([
      { name: 'a', match: {}, only: ['big', 'small'], continue: true },
      { name: 'b', match: {}, only: ['cheap'] },
    ]);
    const r = refused({ policy: p });
    expect(r.code).toBe('no_healthy_backend');
    expect(r.rules).toEqual(['a', 'b']);
  });
});

describe('combineActions', () => {
  const compiled = (rules: unknown[]) => {
    const p = policy(rules.map((r, i) => ({ name: `r${i}`, match: {}, continue: true, ...(r as object) })));
    return combineActions(matchRules(p.rules, features0));
  };
  const features0 = { route: 'chat', headers: {} } as unknown as RequestFeatures;

  type Row = [name: string, rules: unknown[], expected: Record<string, unknown>];
  const rows: Row[] = [
    [
      'only: intersect',
      [{ only: ['big', 'small', 'cheap'] }, { only: ['cheap', 'small'] }],
      { only: ['small', 'cheap'] },
    ],
    ['exclude: union', [{ exclude: ['big'] }, { exclude: ['small', 'big'] }], { exclude: ['big', 'small'] }],
    [
      'prefer: appended, earlier first, no repeats',
      [{ prefer: ['small'] }, { prefer: ['cheap', 'small'] }],
      { prefer: ['small', 'cheap'] },
    ],
    ['maxCostUsd: the last wins', [{ maxCostUsd: 0.01 }, { maxCostUsd: 0.5 }], { maxCostUsd: 0.5 }],
    [
      'objective: weight by weight, the last wins',
      [{ objective: { cost: 5, latency: 2 } }, { objective: { latency: 1 } }],
      { objective: { cost: 5, latency: 1 } },
    ],
    ['route: the last wins', [{ route: 'code' }, { route: 'chat' }], { route: 'chat' }],
    [
      'overBudget and allowPin: the last wins',
      [{ overBudget: 'cheapest', allowPin: true }, { allowPin: false }],
      { overBudget: 'cheapest', allowPin: false },
    ],
    [
      'actions no rule sets stay unset',
      [{ prefer: ['big'] }, { maxCostUsd: 1 }],
      { prefer: ['big'], maxCostUsd: 1 },
    ],
  ];
  it.each(rows)('%s', (_name, rules, expected) => {
    expect(compiled(rules)).toEqual(expected);
  });

  it('the last split wins', () => {
    const combined = compiled([{ split: { big: 1 } }, { split: { small: 1 } }]);
    expect(combined?.split).toEqual(new Map([['small', 1]]));
  });
});

describe('classifiersNeeded', () => {
  const classifiers = { topic: { url: 'http://c.local/classify' }, tone: { url: 'http://c.local/tone' } };
  const features = (over: Partial<RequestFeatures> = {}): RequestFeatures =>
    ({ route: 'chat', headers: {}, prompt: chatter, ...over }) as unknown as RequestFeatures;
  const labels = (entries: Record<string, ClassLabel | undefined>) => new Map(Object.entries(entries));

  it('asks nothing when a rule without continue applies first', () => {
    const p = policy(
      [
        { name: 'acme', match: { tenant: 'acme' }, prefer: ['big'] },
        { name: 'math', match: { class: { topic: ['math'] } }, prefer: ['big'] },
      ],
      { classifiers },
    );
    expect(classifiersNeeded(p.rules, features({ tenant: 'acme' } as Partial<RequestFeatures>))).toEqual([]);
    expect(classifiersNeeded(p.rules, features())).toEqual(['topic']);
  });

  it("asks nothing when the rule's other clauses do not hold", () => {
    const p = policy(
      [{ name: 'math', match: { route: 'code', class: { topic: ['math'] } }, prefer: ['code-big'] }],
      {
        classifiers,
      },
    );
    expect(classifiersNeeded(p.rules, features())).toEqual([]);
  });

  it('asks rule by rule, and not again once a label (or no label) is known', () => {
    const p = policy(
      [
        {
          name: 'math',
          match: { class: { topic: ['math'], minScore: 0.7 } },
          prefer: ['big'],
          continue: true,
        },
        { name: 'angry', match: { class: { tone: ['angry'] } }, prefer: ['small'] },
      ],
      { classifiers },
    );
    expect(classifiersNeeded(p.rules, features())).toEqual(['topic']);
    const afterTopic = features({ classes: labels({ topic: { label: 'math', score: 0.9 } }) });
    expect(classifiersNeeded(p.rules, afterTopic)).toEqual(['tone']);
    const done = features({ classes: labels({ topic: undefined, tone: undefined }) });
    expect(classifiersNeeded(p.rules, done)).toEqual([]);
  });

  it('the edge walk and decide scan the prompt once per request', () => {
    const p = policy(
      [
        { name: 'sql', match: { prompt: { regex: '(?i)\\bsql\\b' } }, prefer: ['big'], continue: true },
        { name: 'math', match: { class: { topic: ['math'] } }, prefer: ['small'] },
      ],
      { classifiers },
    );
    const source = fixedPrompt('a question about SQL');
    let reads = 0;
    const prompt = { ...source, text: () => (reads++, source.text()) };
    const f = features({ prompt });
    expect(classifiersNeeded(p.rules, f)).toEqual(['topic']);
    const d = decided({ policy: p, features: { prompt, classes: labels({ topic: undefined }) } });
    expect(d.rules).toEqual(['sql']);
    expect(reads).toBe(1);
  });

  it('labels decide: the label and minScore must hold; no label matches nothing', () => {
    const p = policy(
      [{ name: 'math', match: { class: { topic: ['math', 'physics'], minScore: 0.7 } }, prefer: ['small'] }],
      {
        classifiers,
      },
    );
    const with_ = (label: ClassLabel | undefined) =>
      decided({ policy: p, features: { classes: labels({ topic: label }) } });
    expect(with_({ label: 'physics', score: 0.8 })).toMatchObject({
      rules: ['math'],
      attempts: ['small', expect.any(String), expect.any(String)],
    });
    expect(with_({ label: 'physics', score: 0.8 }).classes).toEqual({
      topic: { label: 'physics', score: 0.8 },
    });
    expect(with_({ label: 'math', score: 0.5 }).rules).toEqual([]);
    expect(with_({ label: 'poetry', score: 0.99 }).rules).toEqual([]);
    expect(with_(undefined)).toMatchObject({ rules: [], classes: { topic: null } });
  });
});
