/**
 * Which of the app's credentials reach a backend: none to a backend with its own key (apiKeyEnv),
 * on a first attempt or after a failover; all of them, as sent, to a backend without one.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

const BACKEND_KEY = 'backend-own-key-7f3a';
const APP_CREDENTIALS = {
  authorization: 'Bearer app-key',
  'api-key': 'azure-style-app-key',
  'x-api-key': 'anthropic-style-app-key',
  cookie: 'session=app',
};

let keyed: FakeUpstream;
let keyedFailing: FakeUpstream;
let plain: FakeUpstream;
let plainFailing: FakeUpstream;
let rc: Routecar;

beforeAll(async () => {
  [keyed, keyedFailing, plain, plainFailing] = await Promise.all([
    fakeUpstream({ name: 'keyed' }),
    fakeUpstream({ name: 'keyed-failing', mode: 'error500' }),
    fakeUpstream({ name: 'plain' }),
    fakeUpstream({ name: 'plain-failing', mode: 'error500' }),
  ]);
  const backend = (u: FakeUpstream, apiKeyEnv?: string) => ({
    url: u.baseURL,
    model: 'm',
    price: { input: 0.1, output: 0.1 },
    ...(apiKeyEnv ? { apiKeyEnv } : {}),
  });
  rc = await startRoutecar({
    group: procs,
    name: 'routecar-credentials',
    env: { E2E_BACKEND_KEY: BACKEND_KEY },
    policy: {
      version: 1,
      backends: {
        keyed: backend(keyed, 'E2E_BACKEND_KEY'),
        'keyed-failing': backend(keyedFailing, 'E2E_BACKEND_KEY'),
        plain: backend(plain),
        'plain-failing': backend(plainFailing),
      },
      routes: {
        keyed: { backends: ['keyed'] },
        plain: { backends: ['plain'] },
        'keyed-then-plain': { backends: ['keyed-failing', 'plain'], split: { 'keyed-failing': 1 } },
        'plain-then-keyed': { backends: ['plain-failing', 'keyed'], split: { 'plain-failing': 1 } },
      },
    },
  });
});

async function send(model: string): Promise<void> {
  const res = await fetch(`${rc.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...APP_CREDENTIALS },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status, await res.text()).toBe(200);
}

function expectOwnKeyOnly(headers: IncomingHttpHeaders | undefined): void {
  expect(headers?.authorization).toBe(`Bearer ${BACKEND_KEY}`);
  for (const name of ['api-key', 'x-api-key', 'cookie', 'proxy-authorization'])
    expect(headers).not.toHaveProperty(name);
}

describe('app credentials and backends', () => {
  it('a backend with its own key receives that key and no app credential', async () => {
    await send('keyed');
    expectOwnKeyOnly(keyed.stats.lastRequest?.headers);
  });

  it('a backend without apiKeyEnv receives the app credentials as sent', async () => {
    await send('plain');
    expect(plain.stats.lastRequest?.headers).toMatchObject(APP_CREDENTIALS);
  });

  it('a failover from a keyed backend to a plain one: each gets what it should', async () => {
    await send('keyed-then-plain');
    expectOwnKeyOnly(keyedFailing.stats.lastRequest?.headers);
    expect(plain.stats.lastRequest?.headers).toMatchObject(APP_CREDENTIALS);
  });

  it('a failover from a plain backend to a keyed one: the keyed one still gets no app credential', async () => {
    await send('plain-then-keyed');
    expect(plainFailing.stats.lastRequest?.headers).toMatchObject(APP_CREDENTIALS);
    expectOwnKeyOnly(keyed.stats.lastRequest?.headers);
  });
});
