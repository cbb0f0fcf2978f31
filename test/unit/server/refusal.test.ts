import { validateHeaderValue } from 'node:http';
import { describe, expect, it } from 'vitest';
import { MAX_QUOTED_CHARS } from '../../../src/ingress/client-text.js';
import { refusalError, refusalHeaders } from '../../../src/server/refusal.js';
import { errorBody } from '../../../src/server/errors.js';
import { buildPolicy, refused } from '../routing/helpers.js';

const policy = buildPolicy({
  backends: ['a', 'b'],
  routes: { chat: { backends: ['a'] }, 'chat-premium': { backends: ['b'] } },
  rules: [{ name: 'to-premium', when: (f) => f.tenant === 'acme', route: 'chat-premium' }],
});

const ODD_NAMES: readonly (readonly [string, string])[] = [
  ['CR/LF (header injection)', 'chat\r\nx-evil: 1'],
  ['non-Latin-1', 'чат-💬'],
  ['a NUL byte', 'chat\u0000'],
  ['quotes and backslashes', 'a"b\\c'],
  ['100,000 characters', 'x'.repeat(100_000)],
];

describe('refusal: an unknown model', () => {
  it.each(ODD_NAMES)('named with %s: 404 model_not_found, and no header carries the name', (_n, model) => {
    const refusal = refused({ policy, features: { route: model } });
    const err = refusalError(refusal);
    expect(err.status).toBe(404);
    expect(err.code).toBe('model_not_found');
    const headers = refusalHeaders(refusal, policy);
    expect(headers).toEqual({ 'x-routecar-policy-version': policy.version });
    for (const [name, value] of Object.entries(headers))
      expect(() => validateHeaderValue(name, value)).not.toThrow();
  });

  it.each(ODD_NAMES)('named with %s: the message quotes the name JSON-escaped and capped', (_n, model) => {
    const { message } = refusalError(refused({ policy, features: { route: model } }));
    for (const raw of ['\r', '\n', '\u0000']) expect(message).not.toContain(raw);
    const quoted = JSON.stringify(
      model.length > MAX_QUOTED_CHARS ? `${model.slice(0, MAX_QUOTED_CHARS)}…` : model,
    );
    expect(message).toContain(`The model ${quoted} does not exist`);
    expect(message.length).toBeLessThan(MAX_QUOTED_CHARS + 200);
    // Still names the routes the client could have meant.
    expect(message).toContain('chat, chat-premium');
    // And survives the trip through the error envelope.
    expect(
      (
        JSON.parse(errorBody(refusalError(refused({ policy, features: { route: model } })))) as {
          error: { message: string };
        }
      ).error.message,
    ).toBe(message);
  });

  it('a cap never splits a surrogate pair', () => {
    const model = `${'x'.repeat(MAX_QUOTED_CHARS - 1)}💬tail`;
    const { message } = refusalError(refused({ policy, features: { route: model } }));
    expect(message).toContain(`"${'x'.repeat(MAX_QUOTED_CHARS - 1)}…"`);
    // No high surrogate without its low half.
    expect(message).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it('a plain unknown name reads as before', () => {
    const { message } = refusalError(refused({ policy, features: { route: 'gpt-17' } }));
    expect(message).toMatch(/^The model "gpt-17" does not exist/);
  });
});

describe('refusal headers: only a route the policy knows', () => {
  it('a refusal on a known route names it', () => {
    const down = buildPolicy({ backends: ['a'], routes: { chat: { backends: ['a'] } } });
    const refusal = refused({ policy: down, health: { a: { breaker: 'open' } } });
    expect(refusal.code).toBe('no_healthy_backend');
    expect(refusalHeaders(refusal, down)).toEqual({
      'x-routecar-route': 'chat',
      'x-routecar-policy-version': down.version,
    });
  });

  it('a refusal after a rule switched routes names the route switched to', () => {
    const down = buildPolicy({
      backends: ['a', 'b'],
      routes: { chat: { backends: ['a'] }, 'chat-premium': { backends: ['b'] } },
      rules: [{ name: 'to-premium', route: 'chat-premium' }],
    });
    const refusal = refused({ policy: down, health: { b: { breaker: 'open' } } });
    expect(refusalHeaders(refusal, down)['x-routecar-route']).toBe('chat-premium');
  });
});
