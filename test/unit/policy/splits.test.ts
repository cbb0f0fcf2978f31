import { describe, expect, it } from 'vitest';
import { formatPolicyError } from '../../../src/policy/errors.js';
import { policyDocumentSchema } from '../../../src/policy/schema.js';
import { parseSplitOverride } from '../../../src/policy/splits.js';
import { baseDocument } from './fixtures.js';

const document = policyDocumentSchema.parse(baseDocument());

function refused(route: string, text: string): string[] {
  const result = parseSplitOverride(document, route, text);
  if (result.ok) throw new Error('expected the override to be refused');
  return result.errors.map(formatPolicyError);
}

describe('parseSplitOverride', () => {
  it('returns the weights of a valid override', () => {
    const result = parseSplitOverride(document, 'canary', '{"big": 95, "next": 5}');
    expect(result.ok && Object.fromEntries(result.weights)).toEqual({ big: 95, next: 5 });
  });

  it('keeps zero weights (instant rollback: the arm is off, not a fallback) next to the rest', () => {
    const result = parseSplitOverride(document, 'canary', '{"big": 100, "next": 0}');
    expect(result.ok && [...result.weights]).toEqual([
      ['big', 100],
      ['next', 0],
    ]);
  });

  it('accepts weights up to 1000000 each', () => {
    const result = parseSplitOverride(document, 'canary', '{"big": 1000000, "next": 1000000}');
    expect(result.ok && Object.fromEntries(result.weights)).toEqual({ big: 1e6, next: 1e6 });
  });

  it('may name route backends the policy split leaves out, and routes with no policy split', () => {
    expect(parseSplitOverride(document, 'canary', '{"small": 1}').ok).toBe(true);
    expect(parseSplitOverride(document, 'chat', '{"big": 1, "small": 3}').ok).toBe(true);
  });

  it.each([
    ['unknown route', 'nope', '{"big": 1}', ['splits/nope: unknown route "nope"']],
    ['invalid JSON', 'canary', '{big: 1', [expect.stringMatching(/^splits\/canary: not valid JSON: /)]],
    [
      'a list',
      'canary',
      '[1, 2]',
      ['splits/canary: expected a JSON object of backend weights, e.g. {"a": 90, "b": 10}'],
    ],
    [
      'a string weight',
      'canary',
      '{"big": "90"}',
      ['splits/canary: weight of "big" must be a number, got "90"'],
    ],
    [
      'a backend outside the route',
      'chat',
      '{"big": 1, "next": 1}',
      ['splits/chat: backend "next" is not in route "chat"'],
    ],
    [
      'a negative weight',
      'canary',
      '{"big": 1, "next": -1}',
      ['splits/canary: weight of "next" must be a number >= 0, got -1'],
    ],
    ['all zero', 'canary', '{"big": 0, "next": 0}', ['splits/canary: weights sum to 0']],
    [
      'weights too large to add up',
      'canary',
      '{"big": 1.7e308, "next": 1.7e308}',
      [
        'splits/canary: weight of "big" must be at most 1000000, got 1.7e+308',
        'splits/canary: weight of "next" must be at most 1000000, got 1.7e+308',
      ],
    ],
    ['empty', 'canary', '{}', ['splits/canary: split names no backend']],
  ])('refuses %s with the splits/<route> path', (_name, route, text, expected) => {
    expect(refused(route, text)).toEqual(expected);
  });

  it('does not treat inherited object keys as routes', () => {
    expect(refused('constructor', '{"big": 1}')).toEqual(['splits/constructor: unknown route "constructor"']);
  });
});
