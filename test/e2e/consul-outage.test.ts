/**
 * Consul outages, end to end: routecar keeps serving while Consul is down, shows the error,
 * and picks up what changed meanwhile once Consul is back (also after Consul's index went
 * backwards); restarted while Consul is down, it serves the last good policy from
 * ROUTECAR_STATE_DIR and follows Consul again once it answers.
 *
 * On the emulator, an outage is the emulator's stop()/start() and a change made meanwhile is
 * written to its store directly. On a real Consul (CONSUL_HTTP_ADDR set) routecar talks to Consul
 * through a TCP relay that is stopped instead, and changes go to Consul directly; the index reset
 * can only be staged on the emulator.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConsulUnderTest,
  removeStateDirs,
  sleep,
  startConsulRoutecar,
  TcpRelay,
  type ConsulRoutecar,
} from '../support/consul-routecar.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

/** routecar's error backoff starts at 200 ms and doubles; outages here last ~1.5 s, so it is back within a few seconds. */
const BACK_WITHIN_MS = 10_000;
/**
 * A change with Consul up (the 1 s promise is checked by consul-propagation.test.ts; here it only
 * has to be well under the 30 s blocking-query wait a stale index would cost).
 */
const PICKUP_MS = 5_000;

let consul: ConsulUnderTest;
let relay: TcpRelay | undefined;
let slowRelay: TcpRelay | undefined;
let routecar: ConsulRoutecar;
let a: FakeUpstream;
let b: FakeUpstream;

function policy(extraRoutes: Record<string, object> = {}): string {
  const backend = (u: FakeUpstream): object => ({
    url: u.baseURL,
    model: `${u.name}-model`,
    price: { input: 0.1, output: 0.1 },
  });
  return JSON.stringify({
    version: 1,
    backends: { a: backend(a), b: backend(b) },
    routes: { chat: { backends: ['a', 'b'], split: { a: 100, b: 0 } }, ...extraRoutes },
  });
}

/** Consul becomes unreachable for routecar. */
async function consulDown(): Promise<void> {
  if (consul.emulator) await consul.emulator.stop();
  else await relay!.stop();
}

async function consulUp(): Promise<void> {
  if (consul.emulator) await consul.emulator.start();
  else await relay!.start();
}

/** A change made while routecar cannot reach Consul. */
async function writeWhileDown(name: string, value: string | object): Promise<void> {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (consul.emulator) consul.emulator.put(consul.key(name), text);
  else await consul.write(name, text);
}

function start(stateDir?: string): Promise<ConsulRoutecar> {
  return startConsulRoutecar({
    consul,
    group: procs,
    stateDir,
    env: relay ? { CONSUL_HTTP_ADDR: relay.url } : {},
  });
}

/** Sends a request every 20 ms for `ms`; every one must be a 200 on `version`. Returns how many were sent. */
async function keepsServing(r: ConsulRoutecar, version: string, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let sent = 0;
  while (performance.now() < until) {
    const answer = await r.chat('chat');
    expect(answer.status, answer.body).toBe(200);
    expect(answer.version).toBe(version);
    sent++;
    await sleep(20);
  }
  return sent;
}

async function waitForRoute(r: ConsulRoutecar, route: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    if ((await r.models()).includes(route)) return performance.now() - started;
    if (performance.now() - started > timeoutMs)
      throw new Error(`route "${route}" not listed within ${timeoutMs} ms\n${r.child.tail(10)}`);
    await sleep(20);
  }
}

beforeAll(async () => {
  [a, b] = await Promise.all([fakeUpstream({ name: 'a' }), fakeUpstream({ name: 'b' })]);
  consul = await ConsulUnderTest.start('outage');
  if (!consul.emulator) relay = await new TcpRelay(consul.base).start();
  await consul.write('policy', policy());
  routecar = await start();
});

afterAll(async () => {
  await procs.killAll();
  await relay?.stop();
  await slowRelay?.stop();
  await consul?.close();
  await removeStateDirs();
});

describe(`Consul outages (${process.env.CONSUL_HTTP_ADDR ? 'real Consul behind a relay' : 'emulator'})`, () => {
  it('Consul stopped: routecar keeps serving and shows the error; a change made meanwhile is picked up once it is back', async () => {
    const before = await routecar.policy();
    expect((await routecar.chat('chat')).backend).toBe('a');

    await consulDown();
    const p = await routecar.waitForPolicy((s) => s.lastError?.reason === 'unavailable', 'the Consul error');
    expect(p.lastError!.message).toMatch(/Consul at \S+/);
    expect(p.lastError!.message).toMatch(/connection refused|was reset|did not answer/);
    expect(p.lastError!.origin).toMatchObject({ source: 'consul', location: consul.prefix });
    // Nothing else changed.
    expect(p.version).toBe(before.version);
    expect(p.origin).toEqual(before.origin);
    expect(await routecar.readyz()).toBe(200);

    await writeWhileDown('policy', policy({ 'while-down': { backends: ['b'] } }));
    await writeWhileDown('splits/chat', { a: 0, b: 100 });
    // Still down: routecar serves the old policy (it cannot know about the change yet).
    const sent = await keepsServing(routecar, before.version!, 1_500);
    expect(sent).toBeGreaterThanOrEqual(5);
    expect(await routecar.models()).toEqual(['chat']);

    await consulUp();
    const tookMs = await waitForRoute(routecar, 'while-down', BACK_WITHIN_MS);
    console.log(
      `consul outage: change made during a ~2 s outage picked up ${tookMs.toFixed(0)} ms after Consul came back`,
    );
    const back = await routecar.waitForPolicy(
      (s) => s.splitOverrides.chat !== undefined,
      'the split written while down',
    );
    const key = await consul.mustGet('policy');
    expect(back.origin).toEqual({
      source: 'consul',
      location: consul.key('policy'),
      modifyIndex: key.modifyIndex,
    });
    expect(back.splitOverrides).toEqual({ chat: { a: 0, b: 100 } });
    expect(await routecar.chat('chat')).toMatchObject({ status: 200, backend: 'b', version: back.version });
    expect(await routecar.chat('while-down')).toMatchObject({ status: 200, backend: 'b' });
  });

  it('after Consul index went backwards (restore into a rebuilt cluster) the next change is still picked up', async () => {
    const before = await routecar.policy();
    let resetAt = 0;
    if (consul.emulator) {
      const indexBefore = consul.emulator.index;
      expect(indexBefore).toBeGreaterThan(5);
      resetAt = consul.emulator.requests.length;
      consul.emulator.resetIndex(3);
      // routecar re-reads from index 0 and then blocks on the new, lower index (not the stale one).
      await routecar.waitForPolicy((s) => s.origin?.modifyIndex === 3, 'the re-read after the reset');
    }

    const { respondedAt } = await consul.put('splits/chat', { a: 100, b: 0 });
    for (;;) {
      const answer = await routecar.chat('chat');
      expect(answer.status).toBe(200);
      if (answer.backend === 'a') break;
      expect(performance.now() - respondedAt, 'the split change is followed').toBeLessThan(PICKUP_MS);
      await sleep(10);
    }
    await consul.put(
      'policy',
      policy({ 'while-down': { backends: ['b'] }, 'after-reset': { backends: ['a'] } }),
    );
    await waitForRoute(routecar, 'after-reset', PICKUP_MS);
    const p = await routecar.policy();
    expect(p.version).not.toBe(before.version);
    expect(p.origin?.modifyIndex).toBe((await consul.mustGet('policy')).modifyIndex);

    if (consul.emulator) {
      const queries = consul.emulator.requests
        .slice(resetAt)
        .filter((r) => r.method === 'GET' && r.key === consul.prefix)
        .map((r) => Number(r.query.get('index')));
      expect(queries).toContain(0);
      // Never the stale pre-reset index again, and no spinning at index 0.
      expect(Math.max(...queries)).toBeLessThan(10);
      expect(queries.filter((i) => i === 0).length).toBe(1);
    }
  });

  it('restarted while Consul is down: serves the last good policy from ROUTECAR_STATE_DIR, then follows Consul once it is back', async () => {
    const before = await routecar.policy();
    const modelsBefore = await routecar.models();
    await routecar.stop();
    await consulDown();
    await writeWhileDown('policy', policy({ 'after-restart': { backends: ['a', 'b'] } }));

    const startedAt = performance.now();
    const restarted = await start(routecar.stateDir);
    const startMs = performance.now() - startedAt;
    routecar = restarted;
    expect(await restarted.readyz()).toBe(200);
    const p = await restarted.policy();
    expect(p.origin).toEqual({
      source: 'state',
      location: join(restarted.stateDir, 'last-good-policy.json'),
    });
    expect(p.version).toBe(before.version);
    expect(p.contentHash).toBe(before.contentHash);
    expect(p.splitOverrides).toEqual(before.splitOverrides);
    expect(await restarted.models()).toEqual(modelsBefore);
    await keepsServing(restarted, before.version!, 500);
    const down = await restarted.waitForPolicy(
      (s) => s.lastError?.reason === 'unavailable',
      'the Consul error',
    );
    expect(down.origin?.source).toBe('state');

    await consulUp();
    const tookMs = await waitForRoute(restarted, 'after-restart', BACK_WITHIN_MS);
    console.log(
      `consul outage: restarted with Consul down, ready in ${startMs.toFixed(0)} ms from the last good policy; followed Consul ${tookMs.toFixed(0)} ms after it came back`,
    );
    const back = await restarted.policy();
    expect(back.origin).toEqual({
      source: 'consul',
      location: consul.key('policy'),
      modifyIndex: (await consul.mustGet('policy')).modifyIndex,
    });
    expect(await restarted.models()).toEqual(['after-restart', 'chat']);
    expect(await restarted.chat('after-restart')).toMatchObject({ status: 200, version: back.version });
  });

  it('restarted while Consul is up, with an older last good policy on disk: serves what Consul has from the first request', async () => {
    await routecar.stop();
    // Changed while this routecar was stopped: its last good policy on disk is now out of date.
    const modifyIndex = await consul.write('policy', policy({ fresh: { backends: ['a'] } }));
    // A slow Consul (every answer 300 ms late), so that serving the stale copy first would be seen.
    slowRelay = await new TcpRelay(consul.base).start();
    slowRelay.delayMs = 300;
    const stateDir = routecar.stateDir;
    routecar = await startConsulRoutecar({
      consul,
      group: procs,
      stateDir,
      env: { CONSUL_HTTP_ADDR: slowRelay.url },
    });

    const first = await routecar.chat('fresh');
    expect(first.status, `the first request after /readyz: ${first.body}`).toBe(200);
    const p = await routecar.policy();
    expect(p.origin).toEqual({ source: 'consul', location: consul.key('policy'), modifyIndex });
    expect(first.version).toBe(p.version);
  });
});
