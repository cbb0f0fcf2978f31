/**
 * The sidecar's watch of canary specs against Consul (the emulator, or a real Consul at
 * CONSUL_HTTP_ADDR): specs with a maxErrorRatioDelta guard appear, change and disappear within
 * a blocking query's turn; invalid specs and specs without the guard give no local guard.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CanaryGuardWatch } from '../../src/canary/guard-watch.js';
import { ConsulEmulator } from '../support/consul-emulator.js';

const realAddr = process.env.CONSUL_HTTP_ADDR ?? '';
const emulator = realAddr ? undefined : await new ConsulEmulator().start();
const base = realAddr ? (/^https?:\/\//.test(realAddr) ? realAddr : `http://${realAddr}`) : emulator!.url;
const token = process.env.CONSUL_HTTP_TOKEN || undefined;
const prefix = `rc-guard-${randomUUID()}/`;
const watch = new CanaryGuardWatch({ baseUrl: base, token, prefix, waitS: 5, minGapMs: 10 });

const put = (key: string, value: string): Promise<Response> =>
  fetch(`${base}/v1/kv/${prefix}${key}`, {
    method: 'PUT',
    body: value,
    headers: token ? { 'X-Consul-Token': token } : {},
  });
const del = (key: string): Promise<Response> =>
  fetch(`${base}/v1/kv/${prefix}${key}`, {
    method: 'DELETE',
    headers: token ? { 'X-Consul-Token': token } : {},
  });
async function until(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('not within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}
const spec = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    baseline: 'a',
    candidate: 'b',
    steps: [10, 100],
    intervalS: 60,
    minRequests: 20,
    guards: { maxErrorRatioDelta: 0.1 },
    ...over,
  });

afterAll(async () => {
  watch.stop();
  await fetch(`${base}/v1/kv/${prefix}?recurse`, {
    method: 'DELETE',
    headers: token ? { 'X-Consul-Token': token } : {},
  });
  await emulator?.close();
});

describe('CanaryGuardWatch', () => {
  it('follows the specs with a local guard', async () => {
    await watch.start();
    expect(watch.all().size).toBe(0);
    await put('canary/chat', spec());
    await until(() => watch.get('chat') !== undefined);
    expect(watch.get('chat')).toEqual({
      baseline: 'a',
      candidate: 'b',
      minRequests: 20,
      maxErrorRatioDelta: 0.1,
    });

    await put('canary/chat', spec({ minRequests: 50 }));
    await until(() => watch.get('chat')?.minRequests === 50);

    await put('canary/noguard', spec({ guards: { maxCostRatio: 2 } }));
    await put('canary/broken', '{');
    await put('canary-status/chat', '{"state":"progressing"}');
    await put('canary/other', spec({ candidate: 'c' }));
    await until(() => watch.get('other') !== undefined);
    expect([...watch.all().keys()].sort()).toEqual(['chat', 'other']);

    await del('canary/chat');
    await until(() => watch.get('chat') === undefined);
  });
});
