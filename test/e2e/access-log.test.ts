/**
 * The access log on the real process: off by default; with ROUTECAR_ACCESS_LOG=true, one JSON line
 * per request on stdout carrying what rules match (hashed where it identifies someone) and no
 * credential.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

async function start(env: Record<string, string>): Promise<Routecar> {
  const upstream = await fakeUpstream({ name: 'logged' });
  return startRoutecar({
    group: procs,
    name: 'routecar-access-log',
    env,
    policy: {
      version: 1,
      backends: { m: { url: upstream.baseURL, model: 'm', price: { input: 1, output: 1 } } },
      routes: { chat: { backends: ['m'], sticky: 'header:x-user-id' } },
      rules: [
        { name: 'acme-cheap', match: { header: { 'x-plan': ['free'] } }, maxCostUsd: 0.01 },
        {
          name: 'no-banned',
          match: { header: { 'x-plan': ['banned'] } },
          deny: { status: 403, message: 'not for you' },
        },
      ],
    },
  });
}

async function send(rc: Routecar, plan = 'free', status = 200): Promise<void> {
  const res = await fetch(`${rc.baseURL}/chat/completions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Bearer sk-secret-key-123',
      'x-tenant-id': 'acme',
      'x-user-id': 'alice@example.com',
      'x-plan': plan,
      'x-priority': 'high',
    },
    body: JSON.stringify({
      model: 'chat',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hello there' }],
    }),
  });
  expect(res.status).toBe(status);
}

const requestLines = (rc: Routecar): Record<string, unknown>[] =>
  rc.child.stdout
    .filter((l) => l.includes('"msg":"request"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the access log', () => {
  it('is off by default', async () => {
    const rc = await start({});
    await send(rc);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(requestLines(rc)).toEqual([]);
    await rc.stop();
  });

  it('with ROUTECAR_ACCESS_LOG=true writes one line per request with the features rules read, and no credential', async () => {
    const rc = await start({ ROUTECAR_ACCESS_LOG: 'true' });
    await send(rc);
    await expect.poll(() => requestLines(rc).length, { timeout: 10_000 }).toBe(1);
    const line = requestLines(rc)[0]!;
    expect(line).toMatchObject({
      route: 'chat',
      backend: 'm',
      status: 200,
      tenant: 'acme',
      priority: 'high',
      rule: 'acme-cheap',
      rules: ['acme-cheap'],
      maxTokens: 50,
      choices: 1,
      promptChars: 11,
      promptMessages: 1,
      headers: { 'x-plan': 'free', 'x-user-id': line.user },
    });
    expect(line.user).toMatch(/^[0-9a-f]{16}$/);
    expect(line.apiKeyId).toMatch(/^[0-9a-f]{16}$/);
    const text = rc.child.stdout.join('\n');
    expect(text).not.toContain('sk-secret-key-123');
    expect(text).not.toContain('alice@example.com');
    // A request a rule refused is logged with that rule, for replay too.
    await send(rc, 'banned', 403);
    await expect.poll(() => requestLines(rc).length, { timeout: 10_000 }).toBe(2);
    expect(requestLines(rc)[1]).toMatchObject({
      status: 403,
      error: 'denied',
      rules: ['no-banned'],
      tenant: 'acme',
    });
    await rc.stop();
  });
});
