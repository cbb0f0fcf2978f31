/**
 * Contract tests of Consul sessions and KV locks (`?acquire=` / `?release=`) as the canary
 * controller relies on them, with plain fetch. They run against the emulator, or against a real
 * Consul when CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN: a token that may write sessions and the
 * test prefix). The emulator is given `session_ttl_min = 1s` so a TTL lapse takes seconds; a real
 * Consul keeps its 10 s minimum, so that test takes up to ~25 s there.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../support/consul-emulator.js';

const realAddr = process.env.CONSUL_HTTP_ADDR ?? '';
const real = realAddr !== '';
const token = process.env.CONSUL_HTTP_TOKEN ?? '';
const prefix = `routecar-sessions-${randomUUID()}/`;
const emulator = real ? undefined : await new ConsulEmulator({ sessionTtlMinMs: 1000 }).start();
const base = real ? (/^https?:\/\//.test(realAddr) ? realAddr : `http://${realAddr}`) : emulator!.url;
/** The shortest TTL the server accepts, in seconds. */
const ttlS = real ? 10 : 1;
const created: string[] = [];

interface Entry {
  Key: string;
  Value: string | null;
  LockIndex: number;
  Session?: string;
  ModifyIndex: number;
}

interface Session {
  ID: string;
  Name: string;
  Behavior: string;
  TTL: string;
  LockDelay: number;
  CreateIndex: number;
  ModifyIndex: number;
}

function call(method: string, path: string, body?: string): Promise<Response> {
  return fetch(`${base}${path}`, { method, body, headers: token ? { 'X-Consul-Token': token } : {} });
}

async function createSession(fields: Record<string, unknown> = {}): Promise<string> {
  const res = await call('PUT', '/v1/session/create', JSON.stringify({ Name: 'routecar-test', ...fields }));
  expect(res.status).toBe(200);
  const { ID } = (await res.json()) as { ID: string };
  created.push(ID);
  return ID;
}

const kvPath = (key: string, query = ''): string => `/v1/kv/${prefix}${key}${query ? `?${query}` : ''}`;
const put = async (key: string, body: string, query: string): Promise<unknown> =>
  (await call('PUT', kvPath(key, query), body)).json();
async function entry(key: string): Promise<Entry | undefined> {
  const res = await call('GET', kvPath(key));
  if (res.status === 404) return undefined;
  return ((await res.json()) as Entry[])[0];
}
const b64 = (text: string): string => Buffer.from(text).toString('base64');

afterAll(async () => {
  for (const id of created) await call('PUT', `/v1/session/destroy/${id}`);
  await call('DELETE', kvPath('', 'recurse'));
  await emulator?.close();
});

describe(`Consul sessions and locks (${real ? `Consul at ${realAddr}` : 'emulator'})`, () => {
  it('create answers an ID; info lists the settings; renew answers the session; destroy ends it', async () => {
    const id = await createSession({ TTL: `${ttlS * 3}s`, Behavior: 'delete', LockDelay: '2s' });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const info = (await (await call('GET', `/v1/session/info/${id}`)).json()) as Session[];
    expect(info).toHaveLength(1);
    expect(info[0]).toMatchObject({ ID: id, Name: 'routecar-test', Behavior: 'delete', TTL: `${ttlS * 3}s` });
    expect(info[0]!.LockDelay).toBe(2e9);
    expect(info[0]!.CreateIndex).toBeGreaterThan(0);

    const renew = await call('PUT', `/v1/session/renew/${id}`);
    expect(renew.status).toBe(200);
    expect(((await renew.json()) as Session[])[0]!.ID).toBe(id);

    expect(await (await call('PUT', `/v1/session/destroy/${id}`)).json()).toBe(true);
    expect(await (await call('GET', `/v1/session/info/${id}`)).json()).toEqual([]);
    expect((await call('PUT', `/v1/session/renew/${id}`)).status).toBe(404);
  });

  it('defaults: Behavior release, LockDelay 15s, no TTL', async () => {
    const id = await createSession();
    const [info] = (await (await call('GET', `/v1/session/info/${id}`)).json()) as Session[];
    expect(info).toMatchObject({ Behavior: 'release', TTL: '', LockDelay: 15e9 });
  });

  it('refuses a TTL beyond 24h and an unknown Behavior (500, as Consul answers RPC errors)', async () => {
    expect((await call('PUT', '/v1/session/create', JSON.stringify({ TTL: '25h' }))).status).toBe(500);
    expect((await call('PUT', '/v1/session/create', JSON.stringify({ Behavior: 'keep' }))).status).toBe(500);
  });

  it('acquire: one holder at a time; LockIndex counts new holders; only the holder releases', async () => {
    const a = await createSession({ LockDelay: '0s' });
    const b = await createSession({ LockDelay: '0s' });
    expect(await put('lock/one', 'a-holds', `acquire=${a}`)).toBe(true);
    expect(await entry('lock/one')).toMatchObject({ Session: a, LockIndex: 1, Value: b64('a-holds') });

    expect(await put('lock/one', 'b-wants', `acquire=${b}`)).toBe(false);
    expect(await put('lock/one', 'a-again', `acquire=${a}`)).toBe(true);
    expect(await entry('lock/one')).toMatchObject({ Session: a, LockIndex: 1, Value: b64('a-again') });

    expect(await put('lock/one', 'b-frees', `release=${b}`)).toBe(false);
    expect(await put('lock/one', 'a-frees', `release=${a}`)).toBe(true);
    const released = await entry('lock/one');
    expect(released).toMatchObject({ LockIndex: 1, Value: b64('a-frees') });
    expect(released!.Session).toBeUndefined();

    expect(await put('lock/one', 'b-holds', `acquire=${b}`)).toBe(true);
    expect(await entry('lock/one')).toMatchObject({ Session: b, LockIndex: 2 });
  });

  it('a plain write keeps the lock; releasing a missing key is false', async () => {
    const a = await createSession({ LockDelay: '0s' });
    expect(await put('lock/plain', 'x', `acquire=${a}`)).toBe(true);
    expect(await put('lock/plain', 'overwritten', '')).toBe(true);
    expect(await entry('lock/plain')).toMatchObject({ Session: a, LockIndex: 1, Value: b64('overwritten') });
    expect(await put('lock/absent', 'x', `release=${a}`)).toBe(false);
  });

  it('acquire with an unknown session is an error; cas with acquire conflicts', async () => {
    expect((await call('PUT', kvPath('lock/bad', `acquire=${randomUUID()}`), 'x')).status).toBe(500);
    const a = await createSession();
    expect((await call('PUT', kvPath('lock/bad', `acquire=${a}&cas=0`), 'x')).status).toBe(400);
  });

  it('destroying a release session frees its keys, and its lock-delay holds them for a while', async () => {
    const delayed = await createSession({ LockDelay: '15s' });
    const quick = await createSession({ LockDelay: '0s' });
    const other = await createSession({ LockDelay: '0s' });
    expect(await put('lock/delayed', 'v', `acquire=${delayed}`)).toBe(true);
    expect(await put('lock/quick', 'v', `acquire=${quick}`)).toBe(true);
    const before = (await entry('lock/delayed'))!.ModifyIndex;
    await call('PUT', `/v1/session/destroy/${delayed}`);
    await call('PUT', `/v1/session/destroy/${quick}`);

    const freed = await entry('lock/delayed');
    expect(freed!.Session).toBeUndefined();
    expect(freed!.Value).toBe(b64('v'));
    expect(freed!.ModifyIndex).toBeGreaterThan(before);
    expect(await put('lock/delayed', 'w', `acquire=${other}`)).toBe(false);
    expect(await put('lock/quick', 'w', `acquire=${other}`)).toBe(true);
  });

  it('destroying a delete session deletes its keys', async () => {
    const id = await createSession({ Behavior: 'delete', LockDelay: '0s' });
    expect(await put('lock/ephemeral', 'v', `acquire=${id}`)).toBe(true);
    await call('PUT', `/v1/session/destroy/${id}`);
    expect(await entry('lock/ephemeral')).toBeUndefined();
  });

  it(
    'a TTL session that is not renewed lapses (no sooner than its TTL, within twice it) and frees its lock',
    async () => {
      const id = await createSession({ TTL: `${ttlS}s`, LockDelay: '0s' });
      const started = Date.now();
      expect(await put('lock/ttl', 'v', `acquire=${id}`)).toBe(true);
      let freedAfter = -1;
      while (Date.now() - started < ttlS * 2000 + 10_000) {
        const e = await entry('lock/ttl');
        if (e && e.Session === undefined) {
          freedAfter = Date.now() - started;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(freedAfter).toBeGreaterThanOrEqual(ttlS * 1000 - 50);
      expect(freedAfter).toBeLessThan(ttlS * 2000 + 10_000);
      expect(await (await call('GET', `/v1/session/info/${id}`)).json()).toEqual([]);
    },
    (ttlS * 2 + 20) * 1000,
  );

  it(
    'renewing keeps a TTL session alive past its TTL',
    async () => {
      const id = await createSession({ TTL: `${ttlS}s` });
      const until = Date.now() + ttlS * 2500;
      while (Date.now() < until) {
        expect((await call('PUT', `/v1/session/renew/${id}`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, (ttlS * 1000) / 4));
      }
      expect(((await (await call('GET', `/v1/session/info/${id}`)).json()) as Session[])[0]?.ID).toBe(id);
    },
    (ttlS * 3 + 20) * 1000,
  );
});
