/**
 * Backends that cannot serve a request whatever their health: another API than the endpoint's
 * (`wrong_api`), or a context window the request's estimate does not fit (`context_window`).
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/ingress/features.js';
import type { CompiledBackend, CompiledPolicy } from '../../../src/policy/types.js';
import { buildPolicy, decided, refused } from './helpers.js';

/** `small` (8k window), `large` (128k), `claude` (Anthropic API), one route each way. */
function policy(): CompiledPolicy {
  const base = buildPolicy({
    backends: ['small', 'large', 'claude', 'open'],
    routes: {
      chat: { backends: ['small', 'large'] },
      tiny: { backends: ['small'] },
      mixed: { backends: ['claude', 'open'] },
    },
  });
  const extra: Record<string, Partial<CompiledBackend>> = {
    small: { contextWindow: 8192 },
    large: { contextWindow: 131072 },
    claude: { api: 'anthropic' },
  };
  const backends = new Map(
    [...base.backends].map(([name, b]) => [name, { ...b, ...extra[name] } as CompiledBackend]),
  );
  return { ...base, backends };
}

describe('context windows', () => {
  const table: Array<[string, { promptTokens: number; maxTokens?: number }, string, string | undefined]> = [
    ['fits both: the small one is a candidate', { promptTokens: 1000 }, 'chat', undefined],
    ['prompt over 8k: small left out', { promptTokens: 9000 }, 'chat', 'context_window'],
    [
      'prompt fits, prompt + max_tokens does not',
      { promptTokens: 8000, maxTokens: 500 },
      'chat',
      'context_window',
    ],
    ['exactly the window fits', { promptTokens: 7192, maxTokens: 1000 }, 'chat', undefined],
  ];
  it.each(table)('%s', (_name, f, route, smallExcluded) => {
    const d = decided({ policy: policy(), features: { ...f, promptChars: f.promptTokens * 4, route } });
    expect(d.candidates.find((c) => c.backend === 'small')?.excluded).toBe(smallExcluded);
    if (smallExcluded !== undefined) expect(d.attempts).toEqual(['large']);
  });

  it('fitting no window of the route is a 400 context_length_exceeded, not a 503', () => {
    const r = refused({
      policy: policy(),
      features: { route: 'tiny', promptTokens: 9000, promptChars: 36000 },
    });
    expect(r.code).toBe('context_length_exceeded');
    expect(r.status).toBe(400);
    expect(r.candidates).toEqual([expect.objectContaining({ backend: 'small', excluded: 'context_window' })]);
  });
});

describe('the API a backend speaks', () => {
  const table: Array<[Endpoint, string[], string]> = [
    ['messages', ['claude'], 'open'],
    ['chat.completions', ['open'], 'claude'],
    ['embeddings', ['open'], 'claude'],
  ];
  it.each(table)('%s goes to %j, never to %s', (endpoint, attempts, other) => {
    const d = decided({ policy: policy(), features: { route: 'mixed', endpoint } });
    expect(d.attempts).toEqual(attempts);
    expect(d.candidates.find((c) => c.backend === other)?.excluded).toBe('wrong_api');
  });
});
