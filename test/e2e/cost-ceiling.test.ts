/**
 * A cost ceiling is a bound on the bill: each backend is sent an output limit no larger than
 * what the ceiling affords at its prices (recomputed on failover), a prompt that is too expensive
 * on its own is refused, and a stream from a backend that ignores the limit is cut at the ceiling.
 * Checked against fake upstreams that record the body they received.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { startInProcess, type InProcessRoutecar } from '../support/in-process.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

let cheapFailing: FakeUpstream;
let cheap: FakeUpstream;
let dear: FakeUpstream;
let rc: Routecar;

beforeAll(async () => {
  [cheapFailing, cheap, dear] = await Promise.all([
    fakeUpstream({ name: 'cheap-failing', mode: 'error500' }),
    fakeUpstream({ name: 'cheap' }),
    fakeUpstream({ name: 'dear' }),
  ]);
  const backend = (u: FakeUpstream, output: number) => ({
    url: u.baseURL,
    model: `${u.name}-model`,
    price: { input: 0, output },
  });
  rc = await startRoutecar({
    group: procs,
    name: 'routecar-cost',
    policy: {
      version: 1,
      backends: {
        'cheap-failing': backend(cheapFailing, 50),
        cheap: backend(cheap, 100),
        dear: backend(dear, 400),
        // $1 per 1M prompt tokens: a 40,000-character prompt (~10,000 tokens) is $0.01 on its own.
        'prompt-priced': { url: cheap.baseURL, model: 'p', price: { input: 1, output: 1 } },
      },
      routes: {
        // $0.05 at $100 per 1M output tokens affords 500 tokens.
        chat: { backends: ['cheap'], maxCostUsd: 0.05 },
        failover: {
          backends: ['cheap-failing', 'dear'],
          split: { 'cheap-failing': 100, dear: 1 },
          maxCostUsd: 0.05,
          failover: { maxAttempts: 2 },
        },
        'prompt-priced': { backends: ['prompt-priced'], maxCostUsd: 0.005 },
      },
    },
  });
});

async function chat(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${rc.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
}

const sentLimit = (u: FakeUpstream): unknown =>
  (u.stats.lastRequest?.body as Record<string, unknown>).max_tokens;

describe('the cost ceiling bounds what each backend may generate', () => {
  it('no max_tokens under a $0.05 ceiling at $100/M output: the backend receives a limit of at most 500', async () => {
    const res = await chat({ model: 'chat' });
    expect(res.status).toBe(200);
    expect(sentLimit(cheap)).toBe(500);
  });

  it('n: 4 divides it among the completions', async () => {
    expect((await chat({ model: 'chat', n: 4 })).status).toBe(200);
    expect(sentLimit(cheap)).toBe(125);
  });

  it('a smaller limit of the app is kept; a larger one is lowered', async () => {
    await chat({ model: 'chat', max_tokens: 20 });
    expect(sentLimit(cheap)).toBe(20);
    await chat({ model: 'chat', max_completion_tokens: 100_000 });
    expect((cheap.stats.lastRequest?.body as Record<string, unknown>).max_completion_tokens).toBe(500);
  });

  it('x-routecar-max-cost lowers it further', async () => {
    await chat({ model: 'chat' }, { 'x-routecar-max-cost': '0.01' });
    expect(sentLimit(cheap)).toBe(100);
  });

  it('a failover to a pricier backend lowers the limit for that attempt', async () => {
    const res = await chat({ model: 'failover' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-routecar-backend')).toBe('dear');
    expect(sentLimit(cheapFailing)).toBe(1000); // $0.05 at $50/M
    expect(sentLimit(dear)).toBe(125); // $0.05 at $400/M
  });

  it('a prompt that costs more than the ceiling on its own is refused: 400 over_budget with the estimate and the ceiling', async () => {
    const before = cheap.stats.requests;
    const res = await chat({
      model: 'prompt-priced',
      messages: [{ role: 'user', content: 'x'.repeat(40_000) }],
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('over_budget');
    expect(error.message).toContain('$0.01');
    expect(error.message).toContain('$0.005');
    expect(cheap.stats.requests).toBe(before);
  });
});

describe('a stream from a backend that ignores the limit', () => {
  let upstream: ScriptedUpstream;
  let inProcess: InProcessRoutecar;
  afterEach(async () => {
    await inProcess?.close();
    await upstream?.close();
  });

  it('is cut at what the ceiling affords, with an over_budget error event', async () => {
    // sse-big sends 320 events whatever the limit says; the ceiling affords 50 tokens.
    upstream = await startScriptedUpstream('sse-big');
    inProcess = await startInProcess(`version: 1
backends:
  a: { url: "${upstream.url}", model: m, price: { input: 0, output: 1000 } }
routes:
  chat: { backends: [a], maxCostUsd: 0.05 }
`);
    const res = await fetch(`${inProcess.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.text();
    const events = text.match(/^data: \{"id"/gm)?.length ?? 0;
    expect(events).toBeGreaterThanOrEqual(50);
    expect(events).toBeLessThan(60);
    expect(text).toMatch(/event: error\ndata: .*"code":"over_budget".*\n\n$/);
    await expect.poll(() => inProcess.reports.length).toBe(1);
    expect(inProcess.reports[0]).toMatchObject({ errorCode: 'over_budget', status: 200 });
  });
});
