import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/policy/parse.js';
import { featuresOfLine, replayLog } from '../../../src/routing/replay.js';

const parsed = parsePolicy(`
version: 1
backends:
  a: { url: http://a.invalid/v1, model: a, price: { input: 1, output: 1 } }
  b: { url: http://b.invalid/v1, model: b, price: { input: 1, output: 1 } }
routes:
  chat: { backends: [a, b], split: { a: 50, b: 50 } }
rules:
  - { name: acme, match: { header: { x-tenant-id: [acme] } }, prefer: [b] }
  - { name: big, match: { promptTokens: { gte: 1000 } }, prefer: [a] }
`);
if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
const policy = parsed.policy;

const line = (over: Record<string, unknown>): string =>
  JSON.stringify({
    msg: 'request',
    endpoint: 'chat.completions',
    route: 'chat',
    backend: 'a',
    variant: 'a',
    ...over,
  });

describe('replayLog', () => {
  it('re-decides request lines, skips the rest, and counts before/after per backend, variant and rule', () => {
    const lines = [
      line({ tenant: 'acme', backend: 'a' }),
      line({ promptTokens: 2000, backend: 'b', variant: 'b' }),
      '{"msg":"routecar ready"}',
      'garbage',
      '',
    ];
    const s = replayLog(policy, lines);
    expect(s).toMatchObject({ requests: 2, skipped: 2, changed: 2, health: 'assumed healthy' });
    expect(s.backends).toEqual({ a: { before: 1, after: 1 }, b: { before: 1, after: 1 } });
    expect(s.rules).toEqual({
      '(no rule)': { before: 2, after: 0 },
      acme: { before: 0, after: 1 },
      big: { before: 0, after: 1 },
    });
  });

  it('is repeatable: the same log and seed give the same answer', () => {
    const lines = Array.from({ length: 200 }, (_, i) => line({ backend: i % 2 ? 'a' : 'b' }));
    expect(replayLog(policy, lines)).toEqual(replayLog(policy, lines));
    const split = replayLog(policy, lines).backends;
    expect(split.a!.after + split.b!.after).toBe(200);
    expect(split.a!.after).toBeGreaterThan(60);
  });

  it('rebuilds the features a rule can match, with the requested route, not the one a rule moved it to', () => {
    const f = featuresOfLine({
      msg: 'request',
      endpoint: 'chat.completions',
      route: 'moved',
      requestedRoute: 'chat',
      tenant: 't',
      user: 'ab12',
      maxTokens: 64,
      headers: { 'X-Plan': 'pro' },
      classes: { topic: { label: 'math', score: 0.9 }, lang: null },
      prompt: { sha256: 'f00', chars: 10 },
    });
    expect(f).toMatchObject({ route: 'chat', tenant: 't', user: 'ab12', maxTokens: 64, choices: 1 });
    expect(f!.headers).toMatchObject({ 'x-plan': 'pro', 'x-tenant-id': 't', 'x-user-id': 'ab12' });
    expect(f!.classes?.get('topic')).toEqual({ label: 'math', score: 0.9 });
    expect(f!.classes?.has('lang')).toBe(true);
    expect(f!.prompt?.hash()).toBe('f00');
    expect(f!.prompt?.text()).toBe('');
  });
});
