import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../../src/policy/compile.js';
import { formatPolicyError } from '../../../src/policy/errors.js';
import { policyDocumentSchema, type PolicyDocumentInput } from '../../../src/policy/schema.js';
import type { CompiledPolicy } from '../../../src/policy/types.js';
import { baseDocument } from './fixtures.js';

function compile(input: PolicyDocumentInput, overrides?: ReadonlyMap<string, ReadonlyMap<string, number>>) {
  return compilePolicy(policyDocumentSchema.parse(input), overrides);
}

function compiled(
  input: PolicyDocumentInput,
  overrides?: ReadonlyMap<string, ReadonlyMap<string, number>>,
): CompiledPolicy {
  const result = compile(input, overrides);
  if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
  return result.policy;
}

function errorsOf(input: PolicyDocumentInput): string[] {
  const result = compile(input);
  if (result.ok) throw new Error('expected compile errors');
  return result.errors.map(formatPolicyError);
}

describe('compilePolicy: normalisation', () => {
  it('strips the trailing slash of base URLs', () => {
    const policy = compiled(baseDocument());
    expect(policy.backends.get('big')?.baseUrl).toBe('http://big.local:8000/v1');
    expect(policy.backends.get('small')?.baseUrl).toBe('http://small.local:8000/v1');
  });

  it('maps prices (cached input at the input price unless set), and makes maxInflight Infinity when unset', () => {
    const doc = baseDocument();
    doc.backends.small = {
      ...doc.backends.small!,
      maxInflight: 8,
      price: { input: 1, output: 2, cachedInput: 0.25 },
      tokenizerFactor: 3.5,
    };
    const policy = compiled(doc);
    expect(policy.backends.get('big')?.price).toEqual({
      inputPerMTok: 0.6,
      outputPerMTok: 0.8,
      cachedInputPerMTok: 0.6,
    });
    expect(policy.backends.get('small')?.price).toEqual({
      inputPerMTok: 1,
      outputPerMTok: 2,
      cachedInputPerMTok: 0.25,
    });
    expect(policy.backends.get('big')?.tokenizerFactor).toBe(4);
    expect(policy.backends.get('small')?.tokenizerFactor).toBe(3.5);
    expect(policy.backends.get('big')?.maxInflight).toBe(Infinity);
    expect(policy.backends.get('small')?.maxInflight).toBe(8);
    expect(policy.backends.get('big')?.labels).toEqual({});
  });

  it('fills route defaults: objective, overBudget, defaultMaxTokens, maxAttempts, sticky none, no split', () => {
    const route = compiled(baseDocument()).routes.get('chat');
    expect(route).toMatchObject({
      backends: ['big', 'small'],
      split: undefined,
      splitSource: undefined,
      sticky: { kind: 'none' },
      objective: { latency: 1, errors: 4, cost: 0 },
      overBudget: 'refuse',
      defaultMaxTokens: 256,
      maxAttempts: 3,
      maxCostUsd: undefined,
    });
  });

  it('fills a partial objective from the defaults', () => {
    const doc = baseDocument();
    doc.routes.chat = { backends: ['big'], objective: { cost: 2 } };
    expect(compiled(doc).routes.get('chat')?.objective).toEqual({ latency: 1, errors: 4, cost: 2, load: 1 });
  });

  it('lower-cases the sticky header name and parses body:user', () => {
    const doc = baseDocument();
    doc.routes.chat = { backends: ['big'], sticky: 'body:user' };
    const policy = compiled(doc);
    expect(policy.routes.get('canary')?.sticky).toEqual({ kind: 'header', name: 'x-user-id' });
    expect(policy.routes.get('chat')?.sticky).toEqual({ kind: 'body', field: 'user' });
  });

  it('keeps zero-weight split arms (they switch the arm off) and marks the split as from the policy', () => {
    const doc = baseDocument();
    doc.routes.canary = { backends: ['big', 'next', 'small'], split: { big: 100, next: 0 } };
    const route = compiled(doc).routes.get('canary');
    expect([...(route?.split ?? [])]).toEqual([
      ['big', 100],
      ['next', 0],
    ]);
    expect(route?.splitSource).toBe('policy');
  });

  it('applies split overrides in place of the policy split', () => {
    const policy = compiled(
      baseDocument(),
      new Map([
        [
          'canary',
          new Map([
            ['next', 5],
            ['big', 95],
          ]),
        ],
      ]),
    );
    const route = policy.routes.get('canary');
    expect(route?.splitSource).toBe('consul');
    expect(Object.fromEntries(route?.split ?? [])).toEqual({ big: 95, next: 5 });
  });

  it('carries breaker and window settings', () => {
    const policy = compiled({
      ...baseDocument(),
      breaker: { volumeThreshold: 3 },
      window: { sizeMs: 10000, buckets: 10 },
    });
    expect(policy.breaker).toEqual({
      errorThresholdPercentage: 50,
      volumeThreshold: 3,
      resetTimeoutMs: 15000,
      consecutiveFailures: 5,
    });
    expect(policy.window).toEqual({ sizeMs: 10000, buckets: 10 });
  });
});

describe('compilePolicy: version', () => {
  it('is 12 hex chars and depends on content, not key order', () => {
    const a = compiled(baseDocument());
    const doc = baseDocument();
    const reordered = { routes: doc.routes, rules: doc.rules, backends: doc.backends, version: doc.version };
    expect(a.version).toMatch(/^[0-9a-f]{12}$/);
    expect(compiled(reordered).version).toBe(a.version);
    const changed = baseDocument();
    changed.backends.big = { ...changed.backends.big!, model: 'other' };
    expect(compiled(changed).version).not.toBe(a.version);
  });

  it('changes with the split overrides', () => {
    const plain = compiled(baseDocument()).version;
    const overridden = compiled(baseDocument(), new Map([['canary', new Map([['big', 1]])]])).version;
    expect(overridden).not.toBe(plain);
  });
});

describe('compilePolicy: cross-references', () => {
  it.each<[string, (doc: PolicyDocumentInput) => void, string[]]>([
    [
      'unknown backend in a route, with a suggestion',
      (d) => (d.routes.chat = { backends: ['big', 'smal'] }),
      ['routes.chat.backends.1: unknown backend "smal" (did you mean "small"?)'],
    ],
    [
      'duplicate backend in a route',
      (d) => (d.routes.chat = { backends: ['big', 'small', 'big'] }),
      ['routes.chat.backends.2: duplicate backend "big"'],
    ],
    [
      'split naming a backend outside the route',
      (d) => (d.routes.chat = { backends: ['big'], split: { big: 1, small: 1 } }),
      ['routes.chat.split.small: backend "small" is not in this route\'s backends'],
    ],
    [
      'split naming an unknown backend',
      (d) => (d.routes.chat = { backends: ['big'], split: { big: 1, ghost: 1 } }),
      ['routes.chat.split.ghost: unknown backend "ghost"'],
    ],
    [
      'negative split weight',
      (d) => (d.routes.chat = { backends: ['big', 'small'], split: { big: 1, small: -1 } }),
      ['routes.chat.split.small: weight of "small" must be a number >= 0, got -1'],
    ],
    [
      'split weights summing to 0',
      (d) => (d.routes.chat = { backends: ['big', 'small'], split: { big: 0, small: 0 } }),
      ['routes.chat.split: weights sum to 0'],
    ],
    [
      'empty split',
      (d) => (d.routes.chat = { backends: ['big'], split: {} }),
      ['routes.chat.split: split names no backend'],
    ],
    [
      'split weights too large to add up (1.7e308 twice would sum to Infinity)',
      (d) => (d.routes.chat = { backends: ['big', 'small'], split: { big: 1.7e308, small: 1.7e308 } }),
      [
        'routes.chat.split.big: weight of "big" must be at most 1000000, got 1.7e+308',
        'routes.chat.split.small: weight of "small" must be at most 1000000, got 1.7e+308',
      ],
    ],
    [
      'rule split weight above the maximum',
      (d) => (d.rules = [{ name: 'r', match: { route: 'chat' }, split: { big: 1e6 + 1, small: 1 } }]),
      ['rules.0.split.big: weight of "big" must be at most 1000000, got 1000001'],
    ],
    [
      'rule routing to an unknown route',
      (d) => (d.rules = [{ name: 'r', match: {}, route: 'nope' }]),
      ['rules.0.route: unknown route "nope"'],
    ],
    [
      'rule matching an unknown route (single and in a list)',
      (d) =>
        (d.rules = [
          { name: 'a', match: { route: 'nope' }, allowPin: true },
          { name: 'b', match: { route: ['chat', 'nope'] }, allowPin: true },
        ]),
      ['rules.0.match.route: unknown route "nope"', 'rules.1.match.route.1: unknown route "nope"'],
    ],
    [
      'prefer / only / exclude naming unknown backends',
      (d) =>
        (d.rules = [
          { name: 'r', match: {}, prefer: ['big', 'x'], only: ['y'], exclude: ['small', 'small'] },
        ]),
      [
        'rules.0.prefer.1: unknown backend "x"',
        'rules.0.only.0: unknown backend "y"',
        'rules.0.exclude.1: duplicate backend "small"',
      ],
    ],
    [
      'only and exclude leaving nothing',
      (d) => (d.rules = [{ name: 'r', match: {}, only: ['big'], exclude: ['big'] }]),
      ['rules.0.exclude: only and exclude together leave no backend'],
    ],
    [
      'rule split with an unknown backend and a zero sum',
      (d) =>
        (d.rules = [
          { name: 'a', match: {}, split: { ghost: 1 } },
          { name: 'b', match: {}, split: { big: 0 } },
        ]),
      ['rules.0.split.ghost: unknown backend "ghost"', 'rules.1.split: weights sum to 0'],
    ],
    [
      'backends outside the one route a rule can apply to',
      (d) =>
        (d.rules = [
          { name: 'a', match: { route: 'chat' }, prefer: ['next'], only: ['big', 'next'], exclude: ['next'] },
          { name: 'b', match: {}, route: 'chat', split: { big: 1, next: 1 } },
          { name: 'c', match: { route: ['chat', 'canary'] }, prefer: ['next'] },
        ]),
      [
        'rules.0.prefer.0: backend "next" is not in route "chat"',
        'rules.0.only.1: backend "next" is not in route "chat"',
        'rules.1.split.next: backend "next" is not in route "chat"',
      ],
    ],
    [
      'duplicate rule names',
      (d) =>
        (d.rules = [
          { name: 'r', match: {}, allowPin: true },
          { name: 'r', match: {}, allowPin: true },
        ]),
      ['rules.1.name: duplicate rule name "r" (also rules.0)'],
    ],
  ])('reports %s', (_name, mutate, expected) => {
    const doc = baseDocument();
    mutate(doc);
    expect(errorsOf(doc)).toEqual(expected);
  });
});

describe('compilePolicy: headersRead (what the access log records for replay)', () => {
  it('lists the headers rules match and sticky keys hash, lower case, sorted, once each', () => {
    const doc = baseDocument();
    doc.rules = [
      {
        name: 'plan',
        match: { header: { 'X-Plan': 'pro', 'x-data-region': 'eu' } },
        route: 'chat',
      },
      { name: 'again', match: { header: { 'x-user-id': 'u1' } }, route: 'chat' },
    ];
    expect(compiled(doc).headersRead).toEqual(['x-data-region', 'x-plan', 'x-user-id']);
  });

  it('is empty when nothing reads a header', () => {
    const doc = baseDocument();
    doc.routes = { chat: { backends: ['big', 'small'] } };
    expect(compiled(doc).headersRead).toEqual([]);
  });
});
