import { describe, expect, it } from 'vitest';
import type { RequestFeatures } from '../../../src/ingress/features.js';
import { features } from '../../support/features.js';
import { compileMatch } from '../../../src/policy/match.js';
import { matchSchema } from '../../../src/policy/rule-schema.js';

type Row = [clause: unknown, features: Partial<RequestFeatures>, expected: boolean];

const rows: Row[] = [
  // empty match: everything
  [{}, {}, true],
  // header: names case-insensitive, values exact, lists, prefixes, absent header
  [{ header: { 'X-Tenant-Id': 'acme' } }, { headers: { 'x-tenant-id': 'acme' } }, true],
  [{ header: { 'x-tenant-id': 'acme' } }, { headers: { 'x-tenant-id': 'ACME' } }, false],
  [{ header: { 'x-tenant-id': 'acme' } }, { headers: {} }, false],
  [{ header: { 'x-plan': ['pro', 'team'] } }, { headers: { 'x-plan': 'team' } }, true],
  [{ header: { 'x-plan': ['pro', 'team'] } }, { headers: { 'x-plan': 'free' } }, false],
  [{ header: { 'x-env': { prefix: 'stag' } } }, { headers: { 'x-env': 'staging-2' } }, true],
  [{ header: { 'x-env': { prefix: 'stag' } } }, { headers: { 'x-env': 'prod' } }, false],
  [{ header: { 'X-A': '1', 'x-b': '2' } }, { headers: { 'x-a': '1', 'x-b': '2' } }, true],
  [{ header: { 'X-A': '1', 'x-b': '2' } }, { headers: { 'x-a': '1' } }, false],
  // tenant / user / apiKeyId
  [{ tenant: 'acme' }, { tenant: 'acme' }, true],
  [{ tenant: 'acme' }, { tenant: 'globex' }, false],
  [{ tenant: 'acme' }, {}, false],
  [{ tenant: ['acme', 'globex'] }, { tenant: 'globex' }, true],
  [{ user: { prefix: 'vip-' } }, { user: 'vip-42' }, true],
  [{ user: { prefix: 'vip-' } }, { user: 'u-42' }, false],
  [{ user: { prefix: 'vip-' } }, {}, false],
  [{ apiKeyId: '0123456789abcdef' }, { apiKeyId: '0123456789abcdef' }, true],
  [{ apiKeyId: '0123456789abcdef' }, { apiKeyId: 'ffffffffffffffff' }, false],
  // route / endpoint / priority
  [{ route: 'chat' }, { route: 'chat' }, true],
  [{ route: 'chat' }, { route: 'chat-canary' }, false],
  [{ route: ['chat', 'chat-canary'] }, { route: 'chat-canary' }, true],
  [{ endpoint: 'embeddings' }, { endpoint: 'embeddings' }, true],
  [{ endpoint: 'embeddings' }, { endpoint: 'chat.completions' }, false],
  [{ endpoint: ['completions', 'responses'] }, { endpoint: 'responses' }, true],
  [{ priority: 'batch' }, { priority: 'batch' }, true],
  [{ priority: ['batch', 'low'] }, { priority: 'high' }, false],
  [{ priority: 'batch' }, {}, false],
  // stream
  [{ stream: true }, { stream: true }, true],
  [{ stream: true }, { stream: false }, false],
  [{ stream: false }, { stream: false }, true],
  // ranges: each bound, combined bounds, absent maxTokens
  [{ promptTokens: { lt: 200 } }, { promptTokens: 199 }, true],
  [{ promptTokens: { lt: 200 } }, { promptTokens: 200 }, false],
  [{ promptTokens: { lte: 200 } }, { promptTokens: 200 }, true],
  [{ promptTokens: { gt: 200 } }, { promptTokens: 200 }, false],
  [{ promptTokens: { gte: 200 } }, { promptTokens: 200 }, true],
  [{ promptTokens: { gte: 100, lt: 200 } }, { promptTokens: 150 }, true],
  [{ promptTokens: { gte: 100, lt: 200 } }, { promptTokens: 250 }, false],
  [{ maxTokens: { lte: 256 } }, { maxTokens: 128 }, true],
  [{ maxTokens: { lte: 256 } }, { maxTokens: 1024 }, false],
  [{ maxTokens: { lte: 256 } }, { maxTokens: undefined }, false],
  [{ payloadBytes: { gt: 1000 } }, { payloadBytes: 5000 }, true],
  [{ payloadBytes: { gt: 1000 } }, { payloadBytes: 50 }, false],
  // several clauses: all must hold
  [{ route: 'chat', tenant: 'acme', stream: true }, { route: 'chat', tenant: 'acme', stream: true }, true],
  [{ route: 'chat', tenant: 'acme', stream: true }, { route: 'chat', tenant: 'acme', stream: false }, false],
];

describe('compileMatch', () => {
  it.each(rows)('%j on %j -> %s', (clause, overrides, expected) => {
    const predicate = compileMatch(matchSchema.parse(clause));
    expect(predicate(features(overrides))).toBe(expected);
  });

  it('is a pure function: the same features always give the same answer', () => {
    const predicate = compileMatch(matchSchema.parse({ tenant: ['a', 'b'], promptTokens: { lt: 10 } }));
    const f = features({ tenant: 'a', promptTokens: 5 });
    expect([predicate(f), predicate(f), predicate(f)]).toEqual([true, true, true]);
  });
});

describe('match clause validation', () => {
  it.each([
    [{ promptTokens: {} }, 'a range needs at least one of lt, lte, gt, gte'],
    [{ promptTokens: { lt: 1, lte: 2 } }, 'give lt or lte, not both'],
    [{ promptTokens: { gt: 5, lt: 5 } }, 'the range is empty: no value can match it'],
    [{ endpoint: 'chat' }, 'expected an endpoint or a list of them'],
    [{ header: { 'bad header': 'x' } }, 'not a valid HTTP header name'],
    [{ tenant: [] }, 'the list is empty'],
    [{ tenant: 5 }, `expected a string (quote numbers: '1'), a list of strings, or { prefix: "..." }`],
    [{ route: [] }, 'the list is empty'],
  ])('refuses %j', (clause, message) => {
    const result = matchSchema.safeParse(clause);
    expect(result.success).toBe(false);
    const messages = result.error?.issues.flatMap((i) => [
      i.message,
      ...('issues' in i ? i.issues.map((n) => n.message) : []),
    ]);
    expect(messages).toContain(message);
  });
});
