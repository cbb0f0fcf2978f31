/**
 * The canary controller against Consul (the emulator, or a real Consul when CONSUL_HTTP_ADDR is
 * set), with the fleet's figures injected: locking between replicas, check-and-set on the split,
 * promotion, rollback, a Prometheus outage, a lost session. Time is injected; ticks are driven by
 * the test. The end-to-end run with real sidecars and a real Prometheus is in test/e2e.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CanaryConsul } from '../../src/canary/consul.js';
import { CanaryController } from '../../src/canary/controller.js';
import type { CanaryStatus } from '../../src/canary/spec.js';
import type { FleetFigures } from '../../src/canary/step.js';
import { ConsulEmulator } from '../support/consul-emulator.js';

const realAddr = process.env.CONSUL_HTTP_ADDR ?? '';
const emulator = realAddr ? undefined : await new ConsulEmulator({ sessionTtlMinMs: 1000 }).start();
const base = realAddr ? (/^https?:\/\//.test(realAddr) ? realAddr : `http://${realAddr}`) : emulator!.url;
const consul = new CanaryConsul(base, process.env.CONSUL_HTTP_TOKEN || undefined);
const ttlS = realAddr ? 10 : 1;

const healthy: FleetFigures = {
  ok: true,
  baseline: { attempts: 500, errors: 5 },
  candidate: { attempts: 500, errors: 5 },
};
const failing: FleetFigures = {
  ok: true,
  baseline: { attempts: 500, errors: 0 },
  candidate: { attempts: 500, errors: 250 },
};

let prefix = '';
let clock = Date.UTC(2026, 10, 29);
let fleet: FleetFigures = healthy;
const controllers: CanaryController[] = [];

function controller(id: string): CanaryController {
  const c = new CanaryController({
    consul,
    prometheusUrl: 'http://unused.invalid',
    prefix,
    id,
    sessionTtlS: ttlS,
    tickMs: 1000,
    minRangeS: 30,
    log: () => undefined,
    now: () => clock,
    figures: () => Promise.resolve(fleet),
  });
  controllers.push(c);
  return c;
}

async function putSpec(route: string, over: Record<string, unknown> = {}): Promise<void> {
  const spec = {
    baseline: 'old',
    candidate: 'new',
    steps: [20, 50, 100],
    intervalS: 60,
    minRequests: 100,
    guards: { maxErrorRatioDelta: 0.05 },
    ...over,
  };
  await consul.put(`${prefix}canary/${route}`, JSON.stringify(spec));
}
const split = async (route: string): Promise<unknown> =>
  JSON.parse((await consul.get(`${prefix}splits/${route}`))?.value ?? 'null');
const statusOf = async (route: string): Promise<CanaryStatus> =>
  JSON.parse((await consul.get(`${prefix}canary-status/${route}`))!.value) as CanaryStatus;

afterEach(async () => {
  for (const c of controllers.splice(0)) await c.stop();
  fleet = healthy;
});
afterAll(async () => {
  await emulator?.close();
});

describe(`canary controller (${realAddr ? `Consul at ${realAddr}` : 'emulator'})`, () => {
  it('one replica takes the lock and steps 20 → 50 → 100 (promoted); the other never writes', async () => {
    prefix = `rc-${randomUUID()}/`;
    await putSpec('chat');
    const a = controller('a');
    const b = controller('b');
    await a.tick();
    await b.tick();
    expect(a.routes).toEqual(['chat']);
    expect(b.routes).toEqual([]);
    expect((await consul.get(`${prefix}canary-lock/chat`))?.value).toBe('a');
    expect(await split('chat')).toEqual({ old: 80, new: 20 });
    expect(await statusOf('chat')).toMatchObject({ state: 'progressing', weight: 20 });

    clock += 30_000;
    await a.tick();
    expect(await split('chat')).toEqual({ old: 80, new: 20 });
    clock += 31_000;
    await a.tick();
    await b.tick();
    expect(await split('chat')).toEqual({ old: 50, new: 50 });
    clock += 61_000;
    await a.tick();
    expect(await split('chat')).toEqual({ old: 0, new: 100 });
    expect(await statusOf('chat')).toMatchObject({ state: 'promoted', weight: 100 });
  });

  it('a candidate breaking a guard is rolled back at the next tick, with the guard named', async () => {
    prefix = `rc-${randomUUID()}/`;
    await putSpec('chat');
    const a = controller('a');
    await a.tick();
    fleet = failing;
    clock += 1000;
    await a.tick();
    expect(await split('chat')).toEqual({ old: 100, new: 0 });
    expect(await statusOf('chat')).toMatchObject({
      state: 'rolled_back',
      weight: 0,
      reason: expect.stringMatching(/^guard maxErrorRatioDelta broken/),
    });
  });

  it('a Prometheus outage pauses (weight held, reason given) and the canary resumes after it', async () => {
    prefix = `rc-${randomUUID()}/`;
    await putSpec('chat');
    const a = controller('a');
    await a.tick();
    fleet = { ok: false, error: 'connection refused' };
    clock += 61_000;
    await a.tick();
    expect(await split('chat')).toEqual({ old: 80, new: 20 });
    expect((await statusOf('chat')).reason).toMatch(/Prometheus unavailable \(connection refused\)/);
    fleet = healthy;
    await a.tick();
    expect(await split('chat')).toEqual({ old: 50, new: 50 });
  });

  it('a person changing the split pauses the canary with a reason; deleting the status restarts it', async () => {
    prefix = `rc-${randomUUID()}/`;
    await putSpec('chat');
    const a = controller('a');
    await a.tick();
    await consul.put(`${prefix}splits/chat`, JSON.stringify({ old: 100, new: 0 }));
    clock += 61_000;
    await a.tick();
    await a.tick();
    expect(await split('chat')).toEqual({ old: 100, new: 0 });
    const paused = await statusOf('chat');
    expect(paused.reason).toMatch(/changed outside the controller/);
    expect(paused.weight).toBe(20);

    await fetch(`${base}/v1/kv/${prefix}canary-status/chat`, { method: 'DELETE' });
    await a.tick();
    expect(await split('chat')).toEqual({ old: 80, new: 20 });
  });

  it('a replica whose session is gone stops acting at once; another takes over', async () => {
    if (!emulator) return;
    prefix = `rc-${randomUUID()}/`;
    await putSpec('chat');
    const a = controller('a');
    const b = controller('b');
    await a.tick();
    for (const s of emulator.sessions) if (s.name === 'routecar-canary a') emulator.expireSession(s.id);
    fleet = failing;
    clock += 1000;
    await b.tick();
    expect(b.routes).toEqual(['chat']);
    expect(await split('chat')).toEqual({ old: 100, new: 0 });
    const written = (await consul.get(`${prefix}splits/chat`))!.modifyIndex;
    await a.tick();
    expect(a.routes).toEqual([]);
    expect((await consul.get(`${prefix}splits/chat`))!.modifyIndex).toBe(written);
  });

  it('stop() destroys the session, so the other replica takes the lock at its next tick', async () => {
    prefix = `rc-${randomUUID()}/`;
    await putSpec('chat');
    const a = controller('a');
    const b = controller('b');
    await a.tick();
    await b.tick();
    expect(b.routes).toEqual([]);
    await a.stop();
    await b.tick();
    expect(b.routes).toEqual(['chat']);
  });
});
