import { describe, expect, it } from 'vitest';
import { UNKNOWN_HEALTH } from '../../../src/health/types.js';
import { parsePolicy } from '../../../src/policy/parse.js';
import type { CompiledPolicy } from '../../../src/policy/types.js';
import { explainRequest } from '../../../src/server/explain.js';

const price = { input: 1, output: 1 };
const result = parsePolicy(
  JSON.stringify({
    version: 1,
    backends: {
      big: { url: 'http://big.local/v1', model: 'big', price },
      small: { url: 'http://small.local/v1', model: 'small', price },
    },
    routes: { chat: { backends: ['big', 'small'] } },
    classifiers: { topic: { url: 'http://classifier.local/classify' } },
    rules: [
      { name: 'sql', match: { prompt: { regex: '(?i)\\bsql\\b' } }, prefer: ['small'], continue: true },
      { name: 'math', match: { class: { topic: ['math'] } }, prefer: ['big'] },
    ],
  }),
);
if (!result.ok) throw new Error(JSON.stringify(result.errors));
const policy: CompiledPolicy = result.policy;

const explain = (envelope: Record<string, unknown>) =>
  explainRequest(policy, () => UNKNOWN_HEALTH, Buffer.from(JSON.stringify(envelope)), {});
const body = { model: 'chat', messages: [{ role: 'user', content: 'an SQL question about a sum' }] };

describe('explain with prompt and class rules', () => {
  it('lists every rule that applied, with the labels the envelope gives, and the prompt hash, not its text', () => {
    const e = explain({ body, classes: { topic: { label: 'math', score: 0.9 } } });
    expect(e.result.ok && e.result.decision).toMatchObject({
      rule: 'sql',
      rules: ['sql', 'math'],
      classes: { topic: { label: 'math', score: 0.9 } },
      prompt: { sha256: expect.stringMatching(/^[0-9a-f]{16}$/), chars: 27, truncated: false },
    });
    expect(e.unclassified).toBeUndefined();
    expect(JSON.stringify(e)).not.toContain('SQL question');
  });

  it('calls no classifier: without labels the class rule does not match and the classifier is named', () => {
    const e = explain({ body });
    expect(e.result.ok && e.result.decision.rules).toEqual(['sql']);
    expect(e.unclassified).toEqual(['topic']);
  });

  it('refuses malformed labels', () => {
    expect(() => explain({ body, classes: { topic: { label: 'math', score: 7 } } })).toThrow(
      /classes must map/,
    );
  });
});
