import { describe, expect, it } from 'vitest';
import { extractRequest } from '../../../src/ingress/extract.js';
import type { Endpoint } from '../../../src/ingress/features.js';
import { formatPolicyError } from '../../../src/policy/errors.js';
import { compileMatch } from '../../../src/policy/match.js';
import { parsePolicy } from '../../../src/policy/parse.js';
import { compileRegex } from '../../../src/policy/regex.js';
import { matchSchema } from '../../../src/policy/rule-schema.js';
import { baseDocument, text } from './fixtures.js';

const CODE = { contains: ['```', 'def ', 'function '], regex: '(?i)\\b(python|typescript|sql)\\b' };

function matches(clause: unknown, endpoint: Endpoint, body: Record<string, unknown>): boolean {
  const match = matchSchema.parse(clause);
  const regex = match.prompt?.regex === undefined ? undefined : compileRegex(match.prompt.regex);
  if (regex !== undefined && !regex.ok) throw new Error(regex.message);
  const { features } = extractRequest(endpoint, {}, Buffer.from(JSON.stringify({ model: 'chat', ...body })));
  return compileMatch(match, regex?.test)(features);
}

const chat = (...contents: unknown[]) => ({
  messages: contents.map((content) => ({ role: 'user', content })),
});

type Row = [
  name: string,
  clause: unknown,
  endpoint: Endpoint,
  body: Record<string, unknown>,
  expected: boolean,
];

const rows: Row[] = [
  [
    'contains, chat string',
    { prompt: { contains: 'def ' } },
    'chat.completions',
    chat('def f(): pass'),
    true,
  ],
  [
    'contains ignores case',
    { prompt: { contains: ['FUNCTION '] } },
    'chat.completions',
    chat('a function f'),
    true,
  ],
  [
    'contains, none occurs',
    { prompt: { contains: ['```', 'def '] } },
    'chat.completions',
    chat('hello there'),
    false,
  ],
  [
    'contains, earlier message',
    { prompt: { contains: '```' } },
    'chat.completions',
    chat('```js', 'and?'),
    true,
  ],
  [
    'contains, multimodal text part',
    { prompt: { contains: 'select *' } },
    'chat.completions',
    chat([
      { type: 'image_url', image_url: { url: 'http://x/select *' } },
      { type: 'text', text: 'SELECT * FROM t' },
    ]),
    true,
  ],
  [
    'contains, only in an image url: no',
    { prompt: { contains: 'select *' } },
    'chat.completions',
    chat([{ type: 'image_url', image_url: { url: 'http://x/select *' } }]),
    false,
  ],
  ['regex (?i)', { prompt: { regex: CODE.regex } }, 'chat.completions', chat('I write TypeScript'), true],
  [
    'regex word boundary',
    { prompt: { regex: CODE.regex } },
    'chat.completions',
    chat('pythonic ideas'),
    false,
  ],
  ['regex /literal/i', { prompt: { regex: '/^hello/i' } }, 'chat.completions', chat('HELLO world'), true],
  [
    'regex case-sensitive by default',
    { prompt: { regex: '^hello' } },
    'chat.completions',
    chat('HELLO'),
    false,
  ],
  ['regex /…/m', { prompt: { regex: '/^sql$/m' } }, 'completions', { prompt: 'intro\nsql\nend' }, true],
  ['regex /…/s', { prompt: { regex: '/a.b/s' } }, 'completions', { prompt: 'a\nb' }, true],
  [
    'contains or regex: both hold',
    CODE_BOTH('def ', 'python'),
    'completions',
    { prompt: 'def f(): # python' },
    true,
  ],
  [
    'contains or regex: contains alone',
    CODE_BOTH('def ', 'python'),
    'completions',
    { prompt: 'def f(): # ruby' },
    true,
  ],
  [
    'contains or regex: regex alone',
    CODE_BOTH('def ', 'python'),
    'completions',
    { prompt: 'Python, why?' },
    true,
  ],
  ['contains or regex: neither', CODE_BOTH('def ', 'python'), 'completions', { prompt: 'Ruby, why?' }, false],
  ['completions prompt', { prompt: { contains: 'def ' } }, 'completions', { prompt: ['x', 'def g()'] }, true],
  ['responses string input', { prompt: { contains: 'sql' } }, 'responses', { input: 'write sql' }, true],
  [
    'responses input_text part',
    { prompt: { regex: '(?i)typescript' } },
    'responses',
    { input: [{ role: 'user', content: [{ type: 'input_text', text: 'Typescript please' }] }] },
    true,
  ],
  [
    'responses instructions are not read',
    { prompt: { contains: 'sql' } },
    'responses',
    { input: 'hi', instructions: 'sql' },
    false,
  ],
  [
    'with another clause',
    { route: 'other', prompt: { contains: 'def ' } },
    'completions',
    { prompt: 'def' },
    false,
  ],
];

function CODE_BOTH(contains: string, word: string): unknown {
  return { prompt: { contains, regex: `(?i)\\b${word}\\b` } };
}

describe('match.prompt', () => {
  it.each(rows)('%s', (_name, clause, endpoint, body, expected) => {
    expect(matches(clause, endpoint, body)).toBe(expected);
  });

  it('a pathological regex on a 32 KiB prompt completes in bounded time (linear-time engine)', () => {
    const prompt = `${'a'.repeat(32 * 1024 - 1)}!`;
    for (const regex of ['(a+)+$', '(a|aa)*b', '^(\\w+\\s?)*$', '(.*a){20}$']) {
      const started = performance.now();
      expect(matches({ prompt: { regex } }, 'completions', { prompt })).toBe(false);
      // Backtracking engines take longer than the age of the universe here; RE2 takes milliseconds.
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });
});

describe('prompt and class rules at validation', () => {
  function errors(document: Record<string, unknown>): string[] {
    const result = parsePolicy(text({ ...baseDocument(), ...document }));
    return result.ok ? [] : result.errors.map(formatPolicyError);
  }
  const rule = (match: unknown, extra: Record<string, unknown> = {}) => ({
    rules: [{ name: 'r', match, prefer: ['small'], ...extra }],
  });

  it.each([
    ['(python', /^rules\.0\.match\.prompt\.regex: invalid regex: .*missing closing \)/],
    ['(?=lookahead)', /^rules\.0\.match\.prompt\.regex: invalid regex: .*unsupported Perl syntax/],
    ['(a)\\1', /^rules\.0\.match\.prompt\.regex: invalid regex: .*invalid escape/],
    ['/python/x', /^rules\.0\.match\.prompt\.regex: unknown regex flag "x"/],
  ])('refuses the regex %s, naming where it is', (regex, message) => {
    const found = errors(rule({ prompt: { regex } }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('accepts the contract example', () => {
    expect(errors(rule({ prompt: CODE }))).toEqual([]);
  });

  it('refuses an empty prompt clause and an empty contains entry', () => {
    expect(errors(rule({ prompt: {} }))).toEqual(['rules.0.match.prompt: give contains, regex or both']);
    expect(errors(rule({ prompt: { contains: [''] } }))).toEqual([
      'rules.0.match.prompt.contains.0: an empty string matches every prompt',
    ]);
  });

  it('refuses a class clause naming an undeclared classifier, with the near miss', () => {
    const classifiers = { topic: { url: 'http://router.local:8080/classify' } };
    expect(errors({ classifiers, ...rule({ class: { topics: ['math'] } }) })).toEqual([
      'rules.0.match.class.topics: unknown classifier "topics" (did you mean "topic"?) (declare it under classifiers)',
    ]);
    expect(errors({ classifiers, ...rule({ class: { topic: ['math'], minScore: 0.7 } }) })).toEqual([]);
    expect(errors({ classifiers, ...rule({ class: { minScore: 0.7 } }) })).toEqual([
      'rules.0.match.class: name a classifier: { <classifier>: [labels] }',
    ]);
    expect(errors({ classifiers, ...rule({ class: { topic: ['math'], minScore: 2 } }) })).toEqual([
      'rules.0.match.class.minScore: minScore is between 0 and 1',
    ]);
  });

  it('refuses a classifier without an http(s) url, and fills in the defaults', () => {
    expect(errors({ classifiers: { topic: { url: 'ftp://x/classify' } } })).toHaveLength(1);
    const ok = parsePolicy(text({ ...baseDocument(), classifiers: { topic: { url: 'http://x:1/c' } } }));
    expect(ok.ok && ok.policy.classifiers?.get('topic')).toEqual({
      name: 'topic',
      url: 'http://x:1/c',
      timeoutMs: 100,
      cacheSize: 10000,
    });
  });

  it('refuses continue on a deny rule', () => {
    expect(errors({ rules: [{ name: 'r', match: {}, deny: { message: 'no' }, continue: true }] })).toEqual([
      'rules.0.continue: a deny rule ends matching: it cannot continue',
    ]);
  });
});
