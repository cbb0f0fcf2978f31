import { describe, expect, it } from 'vitest';
import { formatPolicyError } from '../../../src/policy/errors.js';
import { parsePolicy, parsePolicyDocument } from '../../../src/policy/parse.js';
import { BASE_YAML, baseDocument, text } from './fixtures.js';

/** The errors of a refused policy, formatted as the CLI prints them. */
function errorsOf(input: string | Uint8Array): string[] {
  const result = parsePolicy(input);
  if (result.ok) throw new Error('expected the policy to be refused');
  return result.errors.map(formatPolicyError);
}

describe('parsePolicy', () => {
  it('accepts YAML with comments and fills in defaults', () => {
    const result = parsePolicy(BASE_YAML);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.document.routes.chat?.failover.maxAttempts).toBe(3);
    expect(result.document.backends.big?.timeouts).toEqual({
      connectMs: 2000,
      firstByteMs: 60000,
      idleMs: 30000,
    });
    expect(result.document.breaker).toEqual({
      errorThresholdPercentage: 50,
      volumeThreshold: 10,
      resetTimeoutMs: 15000,
      consecutiveFailures: 5,
    });
    expect(result.document.window).toEqual({ sizeMs: 60000, buckets: 12 });
    expect(result.policy.routes.get('chat')?.objective).toEqual({ latency: 1, errors: 4, cost: 0, load: 1 });
  });

  it('accepts JSON, and the same content in JSON and YAML has the same version', () => {
    const yaml = parsePolicy(BASE_YAML);
    const json = parsePolicy(
      JSON.stringify((parsePolicyDocument(BASE_YAML) as { document: unknown }).document),
    );
    expect(json.ok && yaml.ok && json.policy.version === yaml.policy.version).toBe(true);
  });

  it('accepts UTF-8 bytes and strips a byte-order mark', () => {
    const bytes = new TextEncoder().encode(`\uFEFF${BASE_YAML}`);
    expect(parsePolicy(bytes).ok).toBe(true);
  });

  it('reports invalid YAML with its line', () => {
    const result = parsePolicy('version: 1\nbackends: [a\n');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors[0]?.path).toBe('');
    expect(result.errors[0]?.message).toMatch(/^invalid YAML\/JSON: .*\(line \d+, column \d+\)$/);
    expect(result.errors[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('refuses duplicate keys instead of silently keeping the last one', () => {
    expect(errorsOf('version: 1\nversion: 1\n')[0]).toMatch(
      /^\(document\): invalid YAML\/JSON: Map keys must be unique/,
    );
  });

  it.each([
    ['empty text', '', '(document): policy is empty'],
    ['whitespace', '  \n\n', '(document): policy is empty'],
    ['only comments', '# nothing here\n', '(document): policy is empty (only comments)'],
    ['a list', '- a\n- b\n', '(document): policy must be a mapping of keys to values, got a list'],
    ['a scalar', 'hello', '(document): policy must be a mapping of keys to values, got string'],
  ])('refuses %s', (_name, input, expected) => {
    expect(errorsOf(input)).toEqual([expected]);
  });

  it('refuses binary input: NUL bytes, invalid UTF-8, control characters', () => {
    expect(errorsOf(new Uint8Array([0x76, 0x00, 0x01]))).toEqual([
      '(document): policy is binary data, not text (NUL byte at offset 1)',
    ]);
    expect(errorsOf(new Uint8Array([0x76, 0xff, 0xfe]))).toEqual([
      '(document): policy is not valid UTF-8 text',
    ]);
    expect(errorsOf('version: 1\n\u0007\n')).toEqual([
      '(document): policy is binary data, not text (U+0007 at line 2)',
    ]);
    expect(errorsOf('version: \uFFFD\n')[0]).toContain('policy is not valid UTF-8 text');
  });

  it('refuses a !!binary value, at its path', () => {
    const result = parsePolicy(BASE_YAML.replace('model: llama-8b', 'model: !!binary aGVsbG8='));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      {
        path: 'backends.small.model',
        message: 'binary values (!!binary) are not allowed in a policy',
        line: 10,
      },
    ]);
  });

  it('reports a misspelt key at its own path, with a suggestion and the line', () => {
    const result = parsePolicy(
      BASE_YAML.replace('    model: llama-70b', '    model: llama-70b\n    tiemouts: { connectMs: 5 }'),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.path).toBe('backends.big.tiemouts');
    expect(result.errors[0]?.message).toMatch(/^unknown key \(did you mean "timeouts"\?\)/);
    expect(result.errors[0]?.line).toBe(7);
  });

  it('reports a missing required field as required', () => {
    const doc = baseDocument();
    const { model: _model, ...rest } = doc.backends.small ?? { model: '' };
    const errors = errorsOf(text({ ...doc, backends: { ...doc.backends, small: rest } }));
    expect(errors).toEqual(['backends.small.model: required (expected string)']);
  });

  it('reports an unknown backend in a route with its index', () => {
    const doc = baseDocument();
    doc.routes.chat = { backends: ['big', 'x'] };
    expect(errorsOf(text(doc))).toEqual(['routes.chat.backends.1: unknown backend "x"']);
  });

  it('reports split weights that sum to 0', () => {
    const doc = baseDocument();
    doc.routes.canary = { backends: ['big', 'next'], split: { big: 0, next: 0 } };
    expect(errorsOf(text(doc))).toEqual(['routes.canary.split: weights sum to 0']);
  });

  it('reports a bad rule: no action, bad clause, unknown route, with their indices', () => {
    const doc = baseDocument();
    doc.rules = [
      { name: 'ok', match: {}, prefer: ['small'] },
      { name: 'no-action', match: { tenant: 'a' } },
      { name: 'bad-clause', match: { tenant: { prefx: 'a' } }, prefer: ['small'] },
      { name: 'bad-route', match: {}, route: 'chta' },
    ] as never;
    const errors = errorsOf(text(doc));
    expect(errors).toContain(
      'rules.1: rule has no action (one of route, prefer, only, exclude, objective, maxCostUsd, overBudget, split, allowPin, deny)',
    );
    expect(errors).toContain(
      `rules.2.match.tenant: expected a string (quote numbers: '1'), a list of strings, or { prefix: "..." }`,
    );
    // Cross-references are checked only once the document is well-formed.
    expect(errors.some((e) => e.startsWith('rules.3'))).toBe(false);
    doc.rules = [{ name: 'bad-route', match: {}, route: 'chta' }];
    expect(errorsOf(text(doc))).toEqual(['rules.0.route: unknown route "chta" (did you mean "chat"?)']);
  });

  it('reports a wrong version and a non-http URL', () => {
    const doc = baseDocument();
    const errors = errorsOf(
      text({
        ...doc,
        version: 2,
        backends: { ...doc.backends, big: { ...doc.backends.big, url: 'ftp://x/v1' } },
      }),
    );
    expect(errors).toEqual([
      'version: unsupported policy version (expected 1)',
      'backends.big.url: must be an http:// or https:// URL, got "ftp:"',
    ]);
  });

  it('treats an empty value as an absent key', () => {
    const result = parsePolicy(`${BASE_YAML}rules:\n  # - name: later\nbreaker:\n`);
    expect(result.ok && result.document.rules).toEqual([]);
    expect(errorsOf(BASE_YAML.replace('model: llama-8b', 'model:'))).toEqual([
      'backends.small.model: required (expected string)',
    ]);
  });

  it('says to quote numbers where strings are expected', () => {
    const doc = baseDocument();
    doc.rules = [
      { name: 'r', match: { priority: 1 as never, header: { 'x-canary': 1 as never } }, allowPin: true },
    ];
    expect(errorsOf(text(doc))).toEqual([
      `rules.0.match.header.x-canary: expected a string (quote numbers: '1'), a list of strings, or { prefix: "..." }`,
      `rules.0.match.priority: expected a string (quote numbers: '1') or a list of them`,
    ]);
  });

  it('keeps dotted names intact in paths and still finds their line', () => {
    const yaml = BASE_YAML.replace(/\bsmall\b/g, 'llama-3.1-8b').replace(
      '[big, llama-3.1-8b]',
      '[big, llama-3.1-8b, nope]',
    );
    const result = parsePolicy(yaml);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      { path: 'routes.chat.backends.2', message: 'unknown backend "nope"', line: 14 },
    ]);
  });

  it('refuses invalid names as record keys', () => {
    const doc = baseDocument();
    expect(errorsOf(text({ ...doc, backends: { ...doc.backends, 'b@d': doc.backends.big } }))).toEqual([
      'backends.b@d: invalid name: backend names are letters, digits and . _ : - (starting with a letter or digit)',
    ]);
  });

  it('never throws, whatever the input', () => {
    for (const input of [
      '{',
      ']]',
      '*alias',
      '!!set {a}',
      'a: &x [*x]',
      'version: 1\nbackends: 7',
      '\u0000',
    ]) {
      expect(() => parsePolicy(input)).not.toThrow();
      expect(parsePolicy(input).ok).toBe(false);
    }
  });
});

describe('parsePolicy: hostile YAML', () => {
  it('refuses a value that contains itself, at its path', () => {
    const result = parsePolicy('version: 1\nbackends: &b { x: *b }\n');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map(formatPolicyError)).toEqual([
      'backends.x: recursive alias: the value contains itself',
    ]);
  });

  it('refuses __proto__ as a backend name', () => {
    const yaml = BASE_YAML.replace('  small:', '  __proto__:').replace('[big, small]', '[big]');
    expect(errorsOf(yaml)).toEqual(['backends: "__proto__" is not allowed as a key']);
  });
});
