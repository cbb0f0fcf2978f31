import OpenAI from 'openai';
import { afterEach } from 'vitest';
import {
  useFakeUpstreams,
  type FakeUpstream,
  type FakeUpstreamOptions,
} from '../../support/fake-upstream.js';

const startUpstream = useFakeUpstreams(afterEach);

/** A fake upstream named `alpha` (closed after each test) and an openai client on it. */
export async function fake(
  options: Partial<FakeUpstreamOptions> = {},
): Promise<{ upstream: FakeUpstream; client: OpenAI }> {
  const upstream = await startUpstream({ name: 'alpha', ...options });
  return { upstream, client: new OpenAI({ baseURL: upstream.baseURL, apiKey: 'test-key', maxRetries: 0 }) };
}

export const hello = [
  { role: 'user' as const, content: 'Say hello to the routing sidecar, politely and briefly please' },
];

/** A raw JSON POST to the upstream's base URL (for what the openai client hides). */
export function post(
  upstream: FakeUpstream,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${upstream.baseURL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
