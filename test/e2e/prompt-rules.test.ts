/**
 * Rules that read the prompt, end to end: a real routecar process, the official openai client, a
 * fake model server, and a fake classifier service that labels, hangs or answers garbage.
 */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeClassifier, type FakeClassifier } from '../support/fake-classifier.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const CLASSIFIER_TIMEOUT_MS = 300;

let upstream: FakeUpstream;
let classifier: FakeClassifier;
let routecar: Routecar;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream({ name: 'model', latencyMs: 1, tokenDelayMs: 0 });
  classifier = await startFakeClassifier({
    integral: ['math', 0.95],
    sonnet: ['poetry', 0.9],
    vague: ['math', 0.4],
  });
  const backend = (model: string) => ({ url: upstream.baseURL, model, price: { input: 1, output: 1 } });
  routecar = await startRoutecar({
    group: procs,
    policy: {
      version: 1,
      backends: {
        big: backend('big'),
        small: backend('small'),
        cheap: backend('cheap'),
        'code-big': backend('code-big'),
        'code-small': backend('code-small'),
      },
      routes: {
        chat: { backends: ['big', 'small'] },
        code: { backends: ['code-big', 'code-small'] },
        ask: { backends: ['big', 'small', 'cheap'] },
      },
      classifiers: { topic: { url: classifier.url, timeoutMs: CLASSIFIER_TIMEOUT_MS, cacheSize: 100 } },
      rules: [
        {
          name: 'code-prompts',
          match: {
            route: 'chat',
            prompt: { contains: ['```', 'def ', 'function '], regex: '(?i)\\b(python|typescript|sql)\\b' },
          },
          route: 'code',
          continue: true,
        },
        { name: 'code-free-tier', match: { route: 'code', tenant: 'free' }, only: ['code-small'] },
        {
          name: 'topic-math',
          match: { route: 'ask', class: { topic: ['math'], minScore: 0.7 } },
          only: ['big'],
        },
        { name: 'topic-poetry', match: { route: 'ask', class: { topic: ['poetry'] } }, only: ['small'] },
        { name: 'ask-default', match: { route: 'ask' }, only: ['cheap'] },
      ],
    },
  });
  client = new OpenAI({ baseURL: routecar.baseURL, apiKey: 'test', maxRetries: 0 });
});

afterAll(async () => {
  await routecar?.stop();
  await classifier?.close();
  await upstream?.close();
});

afterEach(() => {
  classifier.mode = 'label';
});

async function ask(route: string, content: string, tenant?: string) {
  const started = performance.now();
  const { data, response } = await client.chat.completions
    .create(
      { model: route, messages: [{ role: 'user', content }] },
      { headers: tenant === undefined ? {} : { 'x-tenant-id': tenant } },
    )
    .withResponse();
  return {
    ms: performance.now() - started,
    backend: response.headers.get('x-routecar-backend'),
    route: response.headers.get('x-routecar-route'),
    model: data.model,
  };
}

describe('content rules', () => {
  it('prompts with code go to the code route, others do not', async () => {
    expect((await ask('chat', 'Why does my Python loop never end?')).route).toBe('code');
    expect((await ask('chat', 'here:\n```\nx = 1\n```')).route).toBe('code');
    const chat = await ask('chat', 'What is a good name for a cat?');
    expect(chat.route).toBe('chat');
    expect(['big', 'small']).toContain(chat.backend);
  });

  it("a free-tier tenant's code prompt goes to the small code model (two rules combined)", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await ask('chat', `def step_${i}(): pass  # why is this slow?`, 'free');
      expect(r).toMatchObject({ route: 'code', backend: 'code-small', model: 'code-small' });
    }
    // The same prompt from a paying tenant may use either code model; a free tenant's chat stays on chat.
    expect((await ask('chat', 'def f(): pass', 'acme')).route).toBe('code');
    expect((await ask('chat', 'Tell me about cats', 'free')).route).toBe('chat');
  });
});

describe('an external classifier', () => {
  it('labels route as configured; minScore and no label fall through to the next rule', async () => {
    expect((await ask('ask', 'Solve this integral for me')).backend).toBe('big');
    expect((await ask('ask', 'Write me a sonnet')).backend).toBe('small');
    expect((await ask('ask', 'Something vague')).backend).toBe('cheap'); // math, but 0.4 < minScore
    expect((await ask('ask', 'Anything else')).backend).toBe('cheap'); // label "other"
  });

  it('is called only when a rule that reads it is reached, and caches by text', async () => {
    const before = classifier.texts.length;
    await ask('chat', 'An integral, but on the chat route');
    expect(classifier.texts.length).toBe(before);
    await ask('ask', 'Another integral, please');
    await ask('ask', 'Another integral, please');
    expect(classifier.texts.slice(before)).toEqual(['Another integral, please']);
  });

  it.each(['hang', 'garbage', 'error'] as const)(
    'a classifier that answers %s costs at most timeoutMs and fails no request',
    async (mode) => {
      classifier.mode = mode;
      const r = await ask('ask', `An integral, while the classifier answers ${mode}`);
      expect(r.backend).toBe('cheap');
      // The bound is timeoutMs (300 ms) plus the request itself; generous, so a loaded machine passes.
      expect(r.ms).toBeLessThan(CLASSIFIER_TIMEOUT_MS + 2000);
    },
  );

  it('counts the classifier outcomes in /metrics', async () => {
    const text = await (await fetch(`${routecar.adminUrl}/metrics`)).text();
    for (const outcome of ['labelled', 'cached', 'timeout', 'malformed', 'error']) {
      expect(text).toMatch(
        new RegExp(`routecar_classifier_calls_total\\{[^}]*routecar_outcome="${outcome}"[^}]*\\} [1-9]`),
      );
    }
  });
});
