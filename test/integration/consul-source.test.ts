/**
 * The Consul policy source against the KV emulator over real HTTP: blocking queries, index
 * resets, rate limiting and stop; real time, with wide bounds. (Address and prefix parsing are
 * pure and tested here too.)
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeConsulPrefix, parseConsulAddr } from '../../src/policy/sources/consul-client.js';
import { ConsulPolicySource, type ConsulSourceOptions } from '../../src/policy/sources/consul.js';
import type { SourceUpdate } from '../../src/policy/sources/source.js';
import { ConsulEmulator, type ConsulEmulatorOptions } from '../support/consul-emulator.js';

type Of<K extends SourceUpdate['kind']> = Extract<SourceUpdate, { kind: K }>;

/** Collects updates; `waitFor` resolves on the first matching one at or after a mark. */
class Recorder {
  readonly updates: SourceUpdate[] = [];
  private readonly listeners = new Set<() => void>();

  readonly push = (update: SourceUpdate): void => {
    this.updates.push(update);
    for (const listener of [...this.listeners]) listener();
  };

  get mark(): number {
    return this.updates.length;
  }

  since<K extends SourceUpdate['kind']>(from: number, kind: K): Array<Of<K>> {
    return this.updates.slice(from).filter((u): u is Of<K> => u.kind === kind);
  }

  waitFor<K extends SourceUpdate['kind']>(
    kind: K,
    match: (update: Of<K>) => boolean = () => true,
    from = 0,
    timeoutMs = 3000,
  ): Promise<Of<K>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.since(from, kind).find(match);
        if (found) done(() => resolve(found));
      };
      const done = (then: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        then();
      };
      const timer = setTimeout(() => {
        const seen = this.updates.slice(from).map((u) => u.kind);
        done(() => reject(new Error(`no matching ${kind} within ${timeoutMs} ms; saw ${seen.join(', ')}`)));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }
}

let consul: ConsulEmulator;
let sources: ConsulPolicySource[] = [];

async function startEmulator(options: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> {
  consul = await new ConsulEmulator(options).start();
  return consul;
}

function watch(options: Partial<ConsulSourceOptions> = {}): Recorder {
  const source = new ConsulPolicySource({
    addr: consul.address,
    backoff: { baseMs: 20, maxMs: 100 },
    ...options,
  });
  sources.push(source);
  const recorder = new Recorder();
  source.start(recorder.push);
  return recorder;
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The source's own watch requests, as the emulator saw them. */
const watchRequests = (): number =>
  consul.requests.filter((r) => r.key === 'routecar/' && r.query.has('recurse')).length;

/** An operator's `consul kv put`: one HTTP PUT. */
async function httpPut(key: string, value: string): Promise<void> {
  const res = await fetch(`${consul.url}/v1/kv/${key}`, { method: 'PUT', body: value });
  expect(await res.json()).toBe(true);
}

beforeEach(async () => {
  await startEmulator();
  consul.put('routecar/policy', 'version: 1\n');
  consul.put('routecar/splits/chat', '{"a": 90, "b": 10}');
  consul.put('routecar/splits/team/chat', '{"c": 100}');
  consul.put('routecar/splits/', '');
  consul.put('routecar/notes', 'not routecar material');
});

afterEach(async () => {
  await Promise.all(sources.map((s) => s.stop()));
  sources = [];
  await consul.close();
});

describe('ConsulPolicySource', () => {
  it('delivers the document, then the complete splits map (route names may contain /), on the first read', async () => {
    const r = watch();
    const splits = await r.waitFor('splits');
    expect(r.updates.map((u) => u.kind)).toEqual(['document', 'splits']);
    const doc = r.updates[0] as Of<'document'>;
    expect(doc.text).toBe('version: 1\n');
    expect(doc.origin).toEqual({
      source: 'consul',
      location: 'routecar/policy',
      modifyIndex: consul.get('routecar/policy')!.modifyIndex,
    });
    expect([...splits.splits]).toEqual([
      ['chat', '{"a": 90, "b": 10}'],
      ['team/chat', '{"c": 100}'],
    ]);
  });

  it('delivers a split PUT within 1 s, without re-sending the unchanged document', async () => {
    const r = watch();
    await r.waitFor('splits');
    const mark = r.mark;
    const started = performance.now();
    await httpPut('routecar/splits/chat', '{"a": 50, "b": 50}');
    const update = await r.waitFor('splits', (u) => u.splits.get('chat') === '{"a": 50, "b": 50}', mark);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(update.splits.get('team/chat')).toBe('{"c": 100}');
    expect(r.since(mark, 'document')).toEqual([]);
  });

  it('sends the splits map without a deleted split key', async () => {
    const r = watch();
    await r.waitFor('splits');
    const mark = r.mark;
    await fetch(`${consul.url}/v1/kv/routecar/splits/chat`, { method: 'DELETE' });
    const update = await r.waitFor('splits', (u) => !u.splits.has('chat'), mark);
    expect([...update.splits.keys()]).toEqual(['team/chat']);
  });

  it('reports a missing policy key once as document-missing, then the document when it appears', async () => {
    consul.delete('routecar/policy');
    const r = watch();
    const missing = await r.waitFor('document-missing');
    expect(missing.origin).toEqual({ source: 'consul', location: 'routecar/policy' });
    await httpPut('routecar/notes', 'an unrelated change');
    await httpPut('routecar/policy', 'version: 1\nroutes: {}\n');
    await r.waitFor('document', (u) => u.text === 'version: 1\nroutes: {}\n');
    expect(r.since(0, 'document-missing')).toHaveLength(1);
  });

  it('reports unavailable while Consul is down, keeps retrying, and picks up the change made meanwhile', async () => {
    const r = watch();
    await r.waitFor('splits');
    const mark = r.mark;
    await consul.stop();
    await r.waitFor('unavailable', (u) => /connect to Consul at .*connection refused/.test(u.error), mark);
    await r.waitFor('unavailable', () => r.since(mark, 'unavailable').length >= 3, mark);
    consul.put('routecar/policy', 'version: 1 # changed while down\n');
    await consul.start();
    await r.waitFor('document', (u) => u.text === 'version: 1 # changed while down\n', mark);
  });

  it('reports a 5xx as unavailable and announces the current state again once Consul recovers', async () => {
    const r = watch();
    await r.waitFor('splits');
    const mark = r.mark;
    consul.failWith(500);
    consul.put('routecar/notes', 'wake the watch');
    const down = await r.waitFor('unavailable', () => true, mark);
    expect(down.error).toMatch(/HTTP 500: No cluster leader/);
    consul.failWith(undefined);
    await r.waitFor('document', (u) => u.text === 'version: 1\n', mark);
    await r.waitFor('splits', () => true, mark);
  });

  it('resets when the index goes backwards, re-announces, and still sees a change at the old index', async () => {
    const r = watch();
    await r.waitFor('splits');
    const policyIndex = consul.get('routecar/policy')!.modifyIndex;
    const held = consul.index;
    // A restore wakes the queries blocked at that moment (a later one would wait out its `wait`).
    await until(() => consul.blockedQueries === 1);
    const mark = r.mark;
    const logged = consul.requests.length;
    consul.resetIndex(held - 1);
    // Reset to 0: the policy (whose ModifyIndex did not move) is announced again...
    await r.waitFor('document', (u) => u.origin.modifyIndex === policyIndex, mark);
    await until(() => consul.requests.slice(logged).some((req) => req.query.get('index') === '0'));
    // ...and the next write, which lands on the index held before the restore, is still seen.
    await httpPut('routecar/policy', 'version: 1 # after restore\n');
    const doc = await r.waitFor('document', (u) => u.text === 'version: 1 # after restore\n', mark, 2000);
    expect(doc.origin.modifyIndex).toBe(held);
  });

  it('reports a 403 for a bad token as unavailable with a clear message', async () => {
    await consul.close();
    await startEmulator({ acl: { tokens: { good: { read: ['routecar/'] } } } });
    consul.put('routecar/policy', 'version: 1\n');
    const r = watch({ token: 'not-a-token' });
    const update = await r.waitFor('unavailable');
    expect(update.error).toMatch(/HTTP 403: ACL not found.*CONSUL_HTTP_TOKEN/);
    const ok = watch({ token: 'good' });
    await ok.waitFor('document', (u) => u.text === 'version: 1\n');
  });

  it('rate-limits its loop: a burst of writes does not become a burst of requests', async () => {
    const r = watch(); // default bucket: 10 at once, then 4 per second
    await r.waitFor('splits');
    const before = watchRequests();
    const started = performance.now();
    for (let i = 0; i < 30; i++) {
      await httpPut('routecar/splits/chat', `{"a": ${i}, "b": 1}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const elapsedS = (performance.now() - started) / 1000;
    const requests = watchRequests() - before;
    expect(requests).toBeLessThanOrEqual(10 + Math.ceil(elapsedS * 4) + 1);
    // 30 writes 20 ms apart: without the bucket the loop would issue one request per write.
    expect(requests).toBeLessThan(30);
    await r.waitFor('splits', (u) => u.splits.get('chat') === '{"a": 29, "b": 1}', 0, 3000);
  });

  it('delivers nothing after stop() resolves, and ends its blocking query', async () => {
    const source = new ConsulPolicySource({ addr: consul.address });
    const r = new Recorder();
    source.start(r.push);
    await r.waitFor('splits');
    await source.stop();
    const mark = r.mark;
    await httpPut('routecar/policy', 'version: 1 # after stop\n');
    const requests = consul.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.mark).toBe(mark);
    expect(consul.requests.length).toBe(requests);
  });
});

describe('Consul address and prefix', () => {
  it.each([
    ['127.0.0.1:8500', false, { host: '127.0.0.1', port: 8500, secure: false }],
    ['http://consul.service:8500', false, { host: 'consul.service', port: 8500, secure: false }],
    ['https://consul.example.com:8501', false, { host: 'consul.example.com', port: 8501, secure: true }],
    ['https://consul.example.com', false, { host: 'consul.example.com', port: 443, secure: true }],
    ['consul:8501', true, { host: 'consul', port: 8501, secure: true }],
    ['http://consul:8501', true, { host: 'consul', port: 8501, secure: true }],
    ['consul', false, { host: 'consul', port: 80, secure: false }],
  ])('parses CONSUL_HTTP_ADDR %s (ssl %s)', (addr, ssl, expected) => {
    expect(parseConsulAddr(addr, ssl)).toEqual(expected);
  });

  it('refuses unix sockets with a clear message', () => {
    expect(() => parseConsulAddr('unix:///var/run/consul.sock')).toThrow(/only http:\/\/ and https:\/\//);
  });

  it.each([
    ['routecar/', 'routecar/'],
    ['routecar', 'routecar/'],
    ['/team/routecar', 'team/routecar/'],
    ['', ''],
  ])('normalises the prefix %j to %j', (prefix, expected) => {
    expect(normalizeConsulPrefix(prefix)).toBe(expected);
  });
});
