import { describe, expect, it } from 'vitest';
import { matchesSelector, parseSelector } from '../../../src/policy/selector.js';

describe('signals.selector: PromQL label matchers', () => {
  it.each([
    ['job="llama-70b"', { job: 'llama-70b', instance: 'a' }, true],
    ['job="llama-70b"', { job: 'llama-8b' }, false],
    ['{job="llama-70b", namespace!="staging"}', { job: 'llama-70b', namespace: 'prod' }, true],
    ['job="llama-70b", namespace!="staging"', { job: 'llama-70b', namespace: 'staging' }, false],
    ['pod=~"llama-70b-.*"', { pod: 'llama-70b-7f9c' }, true],
    ['pod=~"llama-70b-.*"', { pod: 'x-llama-70b-7f9c' }, false], // anchored, as in PromQL
    ['pod!~"canary-.*"', { pod: 'canary-1' }, false],
    ['zone=""', {}, true], // a missing label reads as ""
    ['model_name="meta/llama \\"3\\""', { model_name: 'meta/llama "3"' }, true],
  ])('%s on %j → %s', (text, labels, expected) => {
    const parsed = parseSelector(text);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(matchesSelector(parsed.matchers, labels)).toBe(expected);
  });

  it.each([
    ['', 'at least one'],
    ['job', 'expected label matchers'],
    ['job=llama', 'expected label matchers'],
    ['pod=~"("', 'pod=~"("'],
  ])('refuses %j, saying why', (text, message) => {
    const parsed = parseSelector(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(message);
  });
});
