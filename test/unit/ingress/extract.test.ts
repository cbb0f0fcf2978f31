import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/ingress/features.js';
import { extractRequest } from '../../../src/ingress/extract.js';
import { MAX_JSON_DEPTH } from '../../../src/ingress/json-depth.js';
import { RoutecarError } from '../../../src/server/errors.js';

const extract = (endpoint: Endpoint, body: string) => extractRequest(endpoint, {}, Buffer.from(body));
const chat = (fields: Record<string, unknown>) =>
  extract('chat.completions', JSON.stringify({ model: 'chat', messages: [], ...fields }));

/** The RoutecarError extract throws for `body`, or fails the test. */
function refusal(endpoint: Endpoint, body: string): RoutecarError {
  try {
    extract(endpoint, body);
  } catch (err) {
    expect(err).toBeInstanceOf(RoutecarError);
    return err as RoutecarError;
  }
  throw new Error(`accepted: ${body.slice(0, 80)}`);
}

describe('ingress: output budget (the cost estimate counts the largest limit, times the choices)', () => {
  it.each<[string, Endpoint, Record<string, unknown>, number | undefined, number]>([
    ['chat: nothing sent', 'chat.completions', {}, undefined, 1],
    ['chat: max_tokens', 'chat.completions', { max_tokens: 300 }, 300, 1],
    [
      'chat: a zero max_completion_tokens does not hide a large max_tokens',
      'chat.completions',
      { max_completion_tokens: 0, max_tokens: 100_000 },
      100_000,
      1,
    ],
    [
      'chat: the larger of the two, whichever field',
      'chat.completions',
      { max_completion_tokens: 900, max_tokens: 10 },
      900,
      1,
    ],
    ['chat: null means unset', 'chat.completions', { max_tokens: null, n: null }, undefined, 1],
    ['chat: n multiplies', 'chat.completions', { max_tokens: 100, n: 8 }, 100, 8],
    ['chat: n without a limit still multiplies', 'chat.completions', { n: 3 }, undefined, 3],
    [
      'chat: max_output_tokens is not a chat field',
      'chat.completions',
      { max_output_tokens: 5 },
      undefined,
      1,
    ],
    ['completions: max_tokens and n', 'completions', { max_tokens: 50, n: 2 }, 50, 2],
    [
      'completions: best_of generates more than n',
      'completions',
      { max_tokens: 50, n: 2, best_of: 5 },
      50,
      5,
    ],
    ['completions: best_of alone', 'completions', { best_of: 4 }, undefined, 4],
    [
      'completions: max_completion_tokens is not a completions field',
      'completions',
      { max_completion_tokens: 9 },
      undefined,
      1,
    ],
    ['responses: max_output_tokens', 'responses', { max_output_tokens: 700 }, 700, 1],
    ['responses: n is not a responses field', 'responses', { n: 4 }, undefined, 1],
    ['embeddings: no output', 'embeddings', { max_tokens: 10, n: 3 }, undefined, 1],
  ])('%s', (_name, endpoint, fields, maxTokens, choices) => {
    const { features } = extract(endpoint, JSON.stringify({ model: 'chat', ...fields }));
    expect(features.maxTokens).toBe(maxTokens);
    expect(features.choices).toBe(choices);
  });

  it.each<[string, Endpoint, string, string]>([
    ['a string limit', 'chat.completions', '{"model":"chat","max_tokens":"100000"}', 'max_tokens'],
    [
      'a string limit next to a valid one',
      'chat.completions',
      '{"model":"chat","max_tokens":1,"max_completion_tokens":"9"}',
      'max_completion_tokens',
    ],
    [
      'an infinite limit (1e999 parses as Infinity)',
      'chat.completions',
      '{"model":"chat","max_tokens":1e999}',
      'max_tokens',
    ],
    [
      'a negative limit',
      'chat.completions',
      '{"model":"chat","max_completion_tokens":-1}',
      'max_completion_tokens',
    ],
    ['a fractional limit', 'completions', '{"model":"chat","max_tokens":10.5}', 'max_tokens'],
    ['a boolean limit', 'responses', '{"model":"chat","max_output_tokens":true}', 'max_output_tokens'],
    ['an object limit', 'responses', '{"model":"chat","max_output_tokens":{"a":1}}', 'max_output_tokens'],
    ['n of zero', 'chat.completions', '{"model":"chat","n":0}', 'n'],
    ['a string n', 'chat.completions', '{"model":"chat","n":"8"}', 'n'],
    ['an infinite n', 'completions', '{"model":"chat","n":1e999}', 'n'],
    ['a fractional n', 'completions', '{"model":"chat","n":1.5}', 'n'],
    ['best_of of zero', 'completions', '{"model":"chat","best_of":0}', 'best_of'],
  ])('%s is a 400 naming the field', (_name, endpoint, body, field) => {
    const err = refusal(endpoint, body);
    expect(err.status).toBe(400);
    expect(err.type).toBe('invalid_request_error');
    expect(err.code).toBe('invalid_value');
    expect(err.details).toEqual({ param: field });
    expect(err.message).toContain(`"${field}"`);
  });
});

describe('ingress: the model', () => {
  it.each([
    ['a number', '{"model":7}'],
    ['an object', '{"model":{"name":"chat"}}'],
    ['an array', '{"model":["chat"]}'],
    ['true', '{"model":true}'],
  ])('%s as model is a 400 naming the field', (_name, body) => {
    const err = refusal('chat.completions', body);
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_value');
    expect(err.details).toEqual({ param: 'model' });
  });

  it.each([
    ['absent', '{"messages":[]}'],
    ['empty', '{"model":""}'],
    ['null', '{"model":null}'],
  ])('%s model is a 400 missing_model', (_name, body) => {
    const err = refusal('chat.completions', body);
    expect(err.status).toBe(400);
    expect(err.code).toBe('missing_model');
  });

  it('any string, however odd, is a route name for decide to look up (no 4xx here)', () => {
    for (const model of ['chat\r\nx-evil: 1', 'чат', '💬', 'x'.repeat(100_000)]) {
      expect(extract('chat.completions', JSON.stringify({ model })).features.route).toBe(model);
    }
  });
});

describe(`ingress: JSON nesting is limited to ${MAX_JSON_DEPTH} levels`, () => {
  const nested = (depth: number, open = '[', close = ']') =>
    `{"model":"chat","messages":${open.repeat(depth - 1)}${close.repeat(depth - 1)}}`;

  it('the limit is a sane documented figure', () => {
    expect(MAX_JSON_DEPTH).toBe(256);
  });

  it('exactly the limit is accepted (the body itself is level 1)', () => {
    expect(() => extract('chat.completions', nested(MAX_JSON_DEPTH))).not.toThrow();
  });

  it.each([
    ['one level over, arrays', nested(MAX_JSON_DEPTH + 1)],
    ['100,000 levels of arrays', nested(100_000)],
    [
      '100,000 levels of objects',
      `{"model":"chat","messages":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`,
    ],
    [
      '100,000 levels of chat content parts (what the token estimate walks)',
      `{"model":"chat","messages":${'[{"content":'.repeat(100_000)}"x"${'}]'.repeat(100_000)}}`,
    ],
  ])('%s: 400 json_too_deep, not a stack overflow', (_name, body) => {
    const err = refusal('chat.completions', body);
    expect(err.status).toBe(400);
    expect(err.type).toBe('invalid_request_error');
    expect(err.code).toBe('json_too_deep');
    expect(err.message).toContain(String(MAX_JSON_DEPTH));
  });

  it('deep nesting in a string is just text', () => {
    const text = '['.repeat(100_000);
    const { features } = chat({ messages: [{ role: 'user', content: text }] });
    expect(features.promptTokens).toBeGreaterThan(20_000);
  });
});

describe('ingress: other malformed bodies are 4xx, never 500', () => {
  it.each([
    ['an array', '[{"model":"chat"}]'],
    ['a string', '"chat"'],
    ['a number', '42'],
    ['null', 'null'],
    ['empty', ''],
    ['a byte-order mark', '\ufeff{"model":"chat"}'],
  ])('a body that is %s: 400 invalid_json', (_name, body) => {
    const err = refusal('chat.completions', body);
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_json');
  });

  it.each<[string, Endpoint, Record<string, unknown>]>([
    ['messages as an object', 'chat.completions', { messages: { role: 'user', content: 'hi' } }],
    ['messages as a string', 'chat.completions', { messages: 'hi' }],
    ['messages with nulls and numbers', 'chat.completions', { messages: [null, 1, 'x', { content: null }] }],
    ['a prompt of numbers (token ids)', 'completions', { prompt: [1, 2, 3] }],
    ['a prompt as an object', 'completions', { prompt: { text: 'x' } }],
    ['input as an object', 'embeddings', { input: { a: 1 } }],
    ['instructions as a number', 'responses', { instructions: 5, input: [{ content: [{ text: 'x' }] }] }],
  ])('%s is left for the backend to judge (routecar only estimates)', (_name, endpoint, fields) => {
    expect(() => extract(endpoint, JSON.stringify({ model: 'chat', ...fields }))).not.toThrow();
  });

  it('request headers named like Object.prototype members read as absent', () => {
    const { features } = extractRequest('chat.completions', {}, Buffer.from('{"model":"chat"}'));
    expect(features.headers['constructor']).toBeUndefined();
    expect(features.headers['__proto__']).toBeUndefined();
  });
});
