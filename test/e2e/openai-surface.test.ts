/**
 * The rest of the OpenAI surface through the real routecar process, with the official client
 * where it has the method: models.retrieve, moderations, audio transcriptions (multipart,
 * streamed through with `model` rewritten), vLLM's rerank and score, and Anthropic's Messages API
 * on a route whose backends speak it.
 */
import { createHash } from 'node:crypto';
import OpenAI, { NotFoundError, toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);

let alpha: FakeUpstream;
let beta: FakeUpstream;
let claude: FakeUpstream;
let routecar: Routecar;
let client: OpenAI;

const ANTHROPIC_KEY_ENV = 'ROUTECAR_E2E_ANTHROPIC_KEY';

beforeAll(async () => {
  alpha = await startFakeUpstream({ name: 'alpha' });
  beta = await startFakeUpstream({ name: 'beta' });
  claude = await startFakeUpstream({ name: 'claude' });
  routecar = await startRoutecar({
    group: procs,
    env: { [ANTHROPIC_KEY_ENV]: 'sk-ant-backend' },
    policy: {
      version: 1,
      backends: {
        alpha: { url: alpha.baseURL, model: 'acme/alpha-large', price: { input: 0.1, output: 0.1 } },
        beta: { url: beta.baseURL, model: 'acme/beta-large', price: { input: 0.2, output: 0.2 } },
        claude: {
          url: claude.baseURL,
          model: 'claude-sonnet-4',
          price: { input: 3, output: 15 },
          api: 'anthropic',
          apiKeyEnv: ANTHROPIC_KEY_ENV,
          headers: { 'anthropic-version': '2023-06-01' },
        },
      },
      routes: {
        // Ordered split: alpha first, so the failover case knows where the request goes.
        whisper: { backends: ['alpha', 'beta'], split: { alpha: 100, beta: 0.0001 } },
        guard: { backends: ['alpha'] },
        ranker: { backends: ['beta'] },
        sonnet: { backends: ['claude'] },
      },
    },
  });
  client = new OpenAI({ baseURL: routecar.baseURL, apiKey: 'app-key', maxRetries: 0 });
});

beforeEach(async () => {
  await Promise.all([alpha.reset(), beta.reset(), claude.reset()]);
});

afterAll(async () => {
  await routecar?.stop();
  await Promise.all([alpha?.close(), beta?.close(), claude?.close()]);
});

/** A short mono 16-bit PCM WAV: 44-byte header and `samples` samples of a ramp. */
function wav(samples: number): Buffer {
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(((i * 97) % 65536) - 32768, i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('GET /v1/models/{id}', () => {
  it('models.retrieve returns the route as a model', async () => {
    const model = await client.models.retrieve('whisper');
    expect(model).toMatchObject({ id: 'whisper', object: 'model', owned_by: 'routecar' });
  });

  it('an unknown id is a 404 model_not_found the client raises as NotFoundError', async () => {
    const err = await client.models.retrieve('no-such-route').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).status).toBe(404);
    expect((err as NotFoundError).code).toBe('model_not_found');
  });
});

describe('POST /v1/moderations', () => {
  it('moderations.create is routed by model and answered by the backend', async () => {
    const { data, response } = await client.moderations
      .create({ model: 'guard', input: ['hello there', 'I will kill the process'] })
      .withResponse();
    expect(data.results.map((r) => r.flagged)).toEqual([false, true]);
    expect(data.model).toBe('acme/alpha-large');
    expect(response.headers.get('x-routecar-backend')).toBe('alpha');
    expect(alpha.stats.lastRequest?.body).toMatchObject({ model: 'acme/alpha-large' });
  });
});

describe('POST /v1/rerank and /v1/score (vLLM, TEI)', () => {
  it('rerank comes back in vLLM’s shape from the route’s backend', async () => {
    const res = await client.post<{
      model: string;
      results: Array<{ index: number; relevance_score: number }>;
    }>('/rerank', {
      body: { model: 'ranker', query: 'sidecar', documents: ['a sidecar proxy', 'a teapot', 'a car'] },
    });
    expect(res.model).toBe('acme/beta-large');
    expect(res.results.map((r) => r.index).sort()).toEqual([0, 1, 2]);
    expect(beta.stats.lastRequest).toMatchObject({ path: '/v1/rerank', body: { model: 'acme/beta-large' } });
  });

  it('score comes back with one score per pair', async () => {
    const res = await client.post<{ model: string; data: Array<{ object: string; score: number }> }>(
      '/score',
      {
        body: { model: 'ranker', text_1: 'what is a sidecar', text_2: ['a helper container', 'a teapot'] },
      },
    );
    expect(res.model).toBe('acme/beta-large');
    expect(res.data.map((d) => d.object)).toEqual(['score', 'score']);
    expect(beta.stats.lastRequest?.path).toBe('/v1/score');
  });
});

describe('POST /v1/audio/transcriptions (multipart, streamed through)', () => {
  const audio = wav(40_000); // 80 KB: several chunks on the way

  it.each([
    ['model before the file', true],
    ['model after the file', false],
  ])('%s: the backend gets the same audio and its own model name', async (_name, modelFirst) => {
    const file = await toFile(audio, 'clip.wav', { type: 'audio/wav' });
    const params = modelFirst
      ? { model: 'whisper', file, language: 'en' }
      : { file, model: 'whisper', language: 'en' };
    const { data, response } = await client.audio.transcriptions.create(params).withResponse();
    expect(response.headers.get('x-routecar-backend')).toBe('alpha');
    expect(data.text).toBe(`[alpha] heard ${audio.length} bytes of clip.wav`);
    const received = alpha.stats.lastRequest!;
    expect(received.body).toMatchObject({
      model: 'acme/alpha-large',
      language: 'en',
      file_bytes: audio.length,
      file_sha256: sha256(audio),
    });
    // The length was recomputed for the longer model name, not left at the app's.
    const sent = Number(received.headers['content-length']);
    expect(sent).toBeGreaterThan(audio.length);
    expect(String(received.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
  });

  it('fails over when the first backend is down: the body was not sent, so it can go to the next', async () => {
    await alpha.down();
    const file = await toFile(audio, 'clip.wav', { type: 'audio/wav' });
    const { data, response } = await client.audio.transcriptions
      .create({ model: 'whisper', file })
      .withResponse();
    expect(response.headers.get('x-routecar-backend')).toBe('beta');
    expect(response.headers.get('x-routecar-attempts')).toBe('2');
    expect(data.text).toContain('[beta] heard');
    expect(beta.stats.lastRequest?.body).toMatchObject({
      model: 'acme/beta-large',
      file_sha256: sha256(audio),
    });
  });

  it('does not try another backend once the body went out: a 500 after the upload is a 502', async () => {
    alpha.configure({ mode: 'error500' });
    const file = await toFile(audio, 'clip.wav', { type: 'audio/wav' });
    const err = (await client.audio.transcriptions
      .create({ model: 'whisper', file })
      .catch((e: unknown) => e)) as { status: number; code: string; headers: Headers };
    expect(err.status).toBe(502);
    expect(err.code).toBe('upstream_unavailable');
    expect(err.headers.get('x-routecar-attempts')).toBe('1');
    expect(alpha.stats.requests).toBe(1);
    expect(beta.stats.requests).toBe(0);
  });

  it('a form without a model part is a 400 missing_model', async () => {
    const form = new FormData();
    form.append('file', new Blob([audio]), 'clip.wav');
    const res = await fetch(`${routecar.baseURL}/audio/transcriptions`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'missing_model' } });
  });
});

describe('POST /v1/messages (Anthropic-compatible backends)', () => {
  const request = {
    model: 'sonnet',
    max_tokens: 64,
    messages: [{ role: 'user', content: 'Say hello to the sidecar.' }],
  };

  it('passes through to a backend that speaks it, with the backend’s key in x-api-key', async () => {
    const res = await fetch(`${routecar.baseURL}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'app-key' },
      body: JSON.stringify(request),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-routecar-backend')).toBe('claude');
    const body = (await res.json()) as { type: string; model: string; content: Array<{ text: string }> };
    expect(body.type).toBe('message');
    expect(body.model).toBe('claude-sonnet-4');
    expect(body.content[0]?.text).toContain('[claude] echo: Say hello');
    const headers = claude.stats.lastRequest!.headers;
    expect(headers['x-api-key']).toBe('sk-ant-backend');
    expect(headers['anthropic-version']).toBe('2023-06-01');
    expect(headers.authorization).toBeUndefined();
  });

  it('a Messages call to a route of OpenAI backends is refused (wrong_api), and vice versa', async () => {
    const toOpenAi = await fetch(`${routecar.baseURL}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...request, model: 'guard' }),
    });
    expect(toOpenAi.status).toBe(503);
    // A Messages client gets routecar's own errors in Anthropic's envelope.
    expect(await toOpenAi.json()).toMatchObject({
      type: 'error',
      error: {
        type: 'overloaded_error',
        code: 'no_healthy_backend',
        candidates: [{ backend: 'alpha', reason: 'wrong_api' }],
      },
    });
    const unknown = await fetch(`${routecar.baseURL}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...request, model: 'no-such-model' }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      type: 'error',
      error: { type: 'not_found_error', code: 'model_not_found' },
    });
    const err = (await client.chat.completions
      .create({ model: 'sonnet', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)) as { status: number };
    expect(err.status).toBe(503);
    expect(claude.stats.requests).toBe(0);
  });
});
