/**
 * Backend kinds through the real routecar process: a backend's auth shape, static headers and
 * query (Azure OpenAI's `api-key` and `api-version`), and context windows: a request that does
 * not fit a backend's declared `contextWindow` is not sent there, and a backend's own
 * `context_length_exceeded` 400 fails over to a larger one without counting against it.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);

const AZURE_KEY_ENV = 'ROUTECAR_E2E_AZURE_KEY';

let azure: FakeUpstream;
let small: FakeUpstream;
let large: FakeUpstream;
let routecar: Routecar;
let client: OpenAI;

beforeAll(async () => {
  azure = await startFakeUpstream({ name: 'azure' });
  // The fake answers vLLM's 400 past 200 tokens; the policy does not say so for `small-silent`.
  small = await startFakeUpstream({ name: 'small', contextWindow: 200 });
  large = await startFakeUpstream({ name: 'large' });
  routecar = await startRoutecar({
    group: procs,
    env: { [AZURE_KEY_ENV]: 'azure-backend-key' },
    policy: {
      version: 1,
      backends: {
        azure: {
          url: azure.baseURL,
          model: 'gpt-4o-deployment',
          price: { input: 1, output: 1 },
          apiKeyEnv: AZURE_KEY_ENV,
          auth: { header: 'api-key', scheme: 'none' },
          query: { 'api-version': '2024-10-21' },
          headers: { 'x-ms-client-request-id': 'routecar' },
        },
        'small-declared': {
          url: small.baseURL,
          model: 'small-model',
          price: { input: 0.01, output: 0.01 },
          contextWindow: 200,
        },
        'small-silent': { url: small.baseURL, model: 'small-model', price: { input: 0.01, output: 0.01 } },
        // Both declare more than the server really takes (200): the estimate fits, the server says no.
        'small-400': {
          url: small.baseURL,
          model: 'small-model',
          price: { input: 0.01, output: 0.01 },
          contextWindow: 400,
        },
        'small-360': {
          url: small.baseURL,
          model: 'small-model',
          price: { input: 0.01, output: 0.01 },
          contextWindow: 360,
        },
        large: {
          url: large.baseURL,
          model: 'large-model',
          price: { input: 1, output: 1 },
          contextWindow: 128000,
        },
      },
      routes: {
        azure: { backends: ['azure'] },
        // Cheapest first: the small backend takes every request it can.
        declared: { backends: ['small-declared', 'large'], split: { 'small-declared': 100, large: 0.0001 } },
        silent: { backends: ['small-silent', 'large'], split: { 'small-silent': 100, large: 0.0001 } },
        tiny: { backends: ['small-declared'] },
        'silent-only': { backends: ['small-silent'] },
        ladder: {
          backends: ['small-400', 'small-360', 'large'],
          split: { 'small-400': 1000, 'small-360': 2, large: 1 },
          failover: { maxAttempts: 3 },
        },
      },
    },
  });
  client = new OpenAI({ baseURL: routecar.baseURL, apiKey: 'app-key', maxRetries: 0 });
});

beforeEach(async () => {
  await Promise.all([azure.reset(), small.reset(), large.reset()]);
});

afterAll(async () => {
  await routecar?.stop();
  await Promise.all([azure?.close(), small?.close(), large?.close()]);
});

const LONG = 'tell me about sidecars '.repeat(60); // about 350 tokens
const SHORT = 'hi';

describe('auth shape, static headers and query (Azure OpenAI)', () => {
  it('sends the key in api-key without a scheme, the api-version query and the static header', async () => {
    await client.chat.completions.create({ model: 'azure', messages: [{ role: 'user', content: SHORT }] });
    const got = azure.stats.lastRequest!;
    expect(got.path).toBe('/v1/chat/completions');
    expect(got.search).toBe('?api-version=2024-10-21');
    expect(got.headers['api-key']).toBe('azure-backend-key');
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers['x-ms-client-request-id']).toBe('routecar');
  });
});

describe('contextWindow', () => {
  it('a request that fits goes to the small backend', async () => {
    const { response } = await client.chat.completions
      .create({ model: 'declared', messages: [{ role: 'user', content: SHORT }] })
      .withResponse();
    expect(response.headers.get('x-routecar-backend')).toBe('small-declared');
  });

  it('a request whose estimate does not fit the declared window never reaches it', async () => {
    const { response } = await client.chat.completions
      .create({ model: 'declared', messages: [{ role: 'user', content: LONG }] })
      .withResponse();
    expect(response.headers.get('x-routecar-backend')).toBe('large');
    expect(response.headers.get('x-routecar-attempts')).toBe('1');
    expect(small.stats.requests).toBe(0);
  });

  it('max_tokens counts: a short prompt asking for more than the window is not sent there either', async () => {
    const { response } = await client.chat.completions
      .create({ model: 'declared', max_tokens: 500, messages: [{ role: 'user', content: SHORT }] })
      .withResponse();
    expect(response.headers.get('x-routecar-backend')).toBe('large');
  });

  it('a backend’s context_length_exceeded 400 fails over to the larger one and is not its failure', async () => {
    const before = await routecar.backend('small-silent');
    const { data, response } = await client.chat.completions
      .create({ model: 'silent', messages: [{ role: 'user', content: LONG }] })
      .withResponse();
    expect(response.headers.get('x-routecar-backend')).toBe('large');
    expect(response.headers.get('x-routecar-attempts')).toBe('2');
    expect(data.choices[0]?.message.content).toContain('[large] echo');
    expect(small.stats.requests).toBe(1);
    const after = await routecar.backend('small-silent');
    expect(after.failures).toBe(before.failures);
    expect(after.breaker).toBe('closed');
  });

  it('after a context_length_exceeded 400, backends whose window is not larger are skipped', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'ladder', messages: [{ role: 'user', content: LONG }] })
      .withResponse();
    expect(response.headers.get('x-routecar-backend')).toBe('large');
    expect(data.choices[0]?.message.content).toContain('[large] echo');
    // small-400 said no; small-360 (a smaller window) was never asked.
    expect(small.stats.requests).toBe(1);
  });

  it('the last backend’s context_length_exceeded 400 reaches the app as the backend sent it', async () => {
    const err = (await client.chat.completions
      .create({ model: 'silent-only', messages: [{ role: 'user', content: LONG }] })
      .catch((e: unknown) => e)) as { status: number; code: string; message: string };
    expect(err.status).toBe(400);
    expect(err.message).toContain("This model's maximum context length is 200 tokens");
    expect(err.code).toBe('context_length_exceeded');
  });

  it('a request that fits no window of the route is refused with 400 context_length_exceeded', async () => {
    const err = (await client.chat.completions
      .create({ model: 'tiny', messages: [{ role: 'user', content: LONG }] })
      .catch((e: unknown) => e)) as { status: number; code: string };
    expect(err.status).toBe(400);
    expect(err.code).toBe('context_length_exceeded');
    expect(small.stats.requests).toBe(0);
  });
});
