/**
 * Contract tests of the Consul KV HTTP API as routecar relies on it, with plain fetch.
 * They run against the emulator, or against a real Consul when CONSUL_HTTP_ADDR is set
 * (CONSUL_HTTP_TOKEN: a management token when ACLs are on); every run uses its own random prefix.
 * ACL tests need a real Consul with `acl.default_policy = "deny"`; emulator controls run only here.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../support/consul-emulator.js';

const realAddr = process.env.CONSUL_HTTP_ADDR ?? '';
const real = realAddr !== '';
const rootToken = real ? (process.env.CONSUL_HTTP_TOKEN ?? '') : 'root';
const prefix = `routecar-contract-${randomUUID()}/`;
const emulator = real ? undefined : new ConsulEmulator({ acl: { tokens: { root: { write: [''] } } } });
if (emulator) await emulator.start();
const base = real ? (/^https?:\/\//.test(realAddr) ? realAddr : `http://${realAddr}`) : emulator!.url;
const cleanups: Array<() => Promise<unknown>> = [];

interface Entry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

function call(method: string, path: string, init: { body?: string | Buffer; token?: string } = {}) {
  const token = init.token ?? rootToken;
  return fetch(`${base}${path}`, {
    method,
    body: init.body,
    headers: token ? { 'X-Consul-Token': token } : {},
  });
}

/** `/v1/kv/<prefix><key>?<query>`, with the key's segments encoded. */
function kv(method: string, key: string, query = '', init: { body?: string | Buffer; token?: string } = {}) {
  const path = (prefix + key).split('/').map(encodeURIComponent).join('/');
  return call(method, `/v1/kv/${path}${query ? `?${query}` : ''}`, init);
}

const put = async (key: string, body: string | Buffer, query = ''): Promise<boolean> =>
  (await (await kv('PUT', key, query, { body })).json()) as boolean;
const entries = async (res: Response): Promise<Entry[]> => (await res.json()) as Entry[];
const index = (res: Response): number => Number(res.headers.get('x-consul-index'));
const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');

const blockingSeen = (): number => emulator?.requests.filter((r) => r.query.has('index')).length ?? 0;

/**
 * Lets a blocking query reach the server before the test changes anything (the assertions hold
 * either way; this only makes the query really block). A real Consul gets a fixed head start.
 */
async function untilBlocked(before: number): Promise<void> {
  if (!emulator) return void (await new Promise((r) => setTimeout(r, 300)));
  while (blockingSeen() <= before) await new Promise((r) => setTimeout(r, 5));
}

/** A token with `key_prefix` read rules under the test prefix (created through the ACL API on a real Consul). */
async function provisionToken(readPrefixes: string[]): Promise<string> {
  if (emulator) {
    const secret = randomUUID();
    emulator.addToken(secret, { read: readPrefixes.map((p) => prefix + p) });
    return secret;
  }
  const name = `routecar-test-${randomUUID()}`;
  const Rules = readPrefixes.map((p) => `key_prefix "${prefix}${p}" { policy = "read" }`).join('\n');
  const policy = (await (
    await call('PUT', '/v1/acl/policy', { body: JSON.stringify({ Name: name, Rules }) })
  ).json()) as {
    ID: string;
  };
  const body = JSON.stringify({ Description: name, Policies: [{ ID: policy.ID }] });
  const token = (await (await call('PUT', '/v1/acl/token', { body })).json()) as {
    SecretID: string;
    AccessorID: string;
  };
  cleanups.push(() => call('DELETE', `/v1/acl/token/${token.AccessorID}`));
  cleanups.push(() => call('DELETE', `/v1/acl/policy/${policy.ID}`));
  return token.SecretID;
}

/** ACL tests need ACLs on with default deny; the emulator always has them. */
async function aclsEnforced(): Promise<boolean> {
  if (emulator) return true;
  const res = await call('GET', '/v1/acl/token/self');
  return res.ok && res.headers.get('x-consul-default-acl-policy') === 'deny';
}
const withAcls = await aclsEnforced();

afterAll(async () => {
  await kv('DELETE', '', 'recurse');
  for (const cleanup of cleanups) await cleanup();
  await emulator?.close();
});

describe(`Consul KV HTTP API (${real ? `Consul at ${realAddr}` : 'emulator'})`, () => {
  it('PUT stores the body; GET answers it base64-encoded, with its indexes and Consul headers', async () => {
    expect(await put('basic/a', 'hello')).toBe(true);
    const res = await kv('GET', 'basic/a');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-consul-knownleader')).toBe('true');
    expect(res.headers.get('x-consul-lastcontact')).not.toBeNull();
    const [entry] = await entries(res);
    expect(entry).toMatchObject({ Key: `${prefix}basic/a`, Value: b64('hello'), Flags: 0, LockIndex: 0 });
    expect(entry!.Session).toBeUndefined();
    expect(entry!.CreateIndex).toBe(entry!.ModifyIndex);
    expect(index(res)).toBe(entry!.ModifyIndex);

    expect(await put('basic/a', 'world')).toBe(true);
    const [updated] = await entries(await kv('GET', 'basic/a'));
    expect(updated!.ModifyIndex).toBeGreaterThan(entry!.ModifyIndex);
    expect(updated!.CreateIndex).toBe(entry!.CreateIndex);
    expect(updated!.Value).toBe(b64('world'));
  });

  it('stores bytes exactly as sent; ?raw answers them bare', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 255, 10, 13]), Buffer.from('héllo\n')]);
    expect(await put('bytes/bin', bytes)).toBe(true);
    const [entry] = await entries(await kv('GET', 'bytes/bin'));
    expect(entry!.Value).toBe(bytes.toString('base64'));
    const raw = await kv('GET', 'bytes/bin', 'raw');
    expect(raw.status).toBe(200);
    expect(Buffer.from(await raw.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('an empty value reads as null (and as an empty raw body)', async () => {
    expect(await put('empty/k', '')).toBe(true);
    const [entry] = await entries(await kv('GET', 'empty/k'));
    expect(entry!.Value).toBeNull();
    const raw = await kv('GET', 'empty/k', 'raw');
    expect(raw.status).toBe(200);
    expect(await raw.text()).toBe('');
  });

  it('?flags stores a uint64 with the entry', async () => {
    expect(await put('flags/k', 'v', 'flags=42')).toBe(true);
    const [entry] = await entries(await kv('GET', 'flags/k'));
    expect(entry!.Flags).toBe(42);
  });

  it('?keys lists the keys under a prefix; ?separator folds them at the separator', async () => {
    await put('keys/a', '1');
    await put('keys/dir/b', '2');
    await put('keys/dir/c', '3');
    const all = await kv('GET', 'keys/', 'keys');
    expect(await all.json()).toEqual([`${prefix}keys/a`, `${prefix}keys/dir/b`, `${prefix}keys/dir/c`]);
    const folded = await kv('GET', 'keys/', 'keys&separator=/');
    expect(await folded.json()).toEqual([`${prefix}keys/a`, `${prefix}keys/dir/`]);
    expect((await kv('GET', 'keys-none/', 'keys')).status).toBe(404);
  });

  it('?recurse answers every entry under the prefix in key order, indexed by the newest', async () => {
    await put('rec/b', '2');
    await put('rec/a/x', '1');
    await put('rec/c', '3');
    await put('recx', 'outside the prefix');
    const res = await kv('GET', 'rec/', 'recurse');
    const list = await entries(res);
    expect(list.map((e) => e.Key)).toEqual([`${prefix}rec/a/x`, `${prefix}rec/b`, `${prefix}rec/c`]);
    expect(index(res)).toBe(Math.max(...list.map((e) => e.ModifyIndex)));
  });

  it('a missing key or an empty prefix is 404 and still carries X-Consul-Index', async () => {
    const single = await kv('GET', 'missing/key');
    expect(single.status).toBe(404);
    expect(index(single)).toBeGreaterThanOrEqual(1);
    const recursive = await kv('GET', 'missing/', 'recurse');
    expect(recursive.status).toBe(404);
    expect(index(recursive)).toBeGreaterThanOrEqual(1);
  });

  it('CAS: cas=0 writes only an absent key; cas=N only when N is the current ModifyIndex', async () => {
    expect(await put('cas/k', 'first', 'cas=0')).toBe(true);
    expect(await put('cas/k', 'second', 'cas=0')).toBe(false);
    const [entry] = await entries(await kv('GET', 'cas/k'));
    expect(entry!.Value).toBe(b64('first'));
    expect(await put('cas/k', 'third', `cas=${entry!.ModifyIndex}`)).toBe(true);
    expect(await put('cas/k', 'stale', `cas=${entry!.ModifyIndex}`)).toBe(false);
    const [after] = await entries(await kv('GET', 'cas/k'));
    expect(after!.Value).toBe(b64('third'));
    expect(await put('cas/absent', 'x', `cas=${after!.ModifyIndex}`)).toBe(false);
    expect((await kv('GET', 'cas/absent')).status).toBe(404);
  });

  it('DELETE removes a key, ?recurse a subtree, and a deletion moves the prefix index', async () => {
    await put('del/a', '1');
    await put('del/sub/b', '2');
    await put('del/sub/c', '3');
    const before = index(await kv('GET', 'del/', 'recurse'));
    expect(await (await kv('DELETE', 'del/a')).json()).toBe(true);
    expect((await kv('GET', 'del/a')).status).toBe(404);
    const afterOne = await kv('GET', 'del/', 'recurse');
    expect(index(afterOne)).toBeGreaterThan(before);
    expect(await (await kv('DELETE', 'del/sub/', 'recurse')).json()).toBe(true);
    const afterTree = await kv('GET', 'del/', 'recurse');
    expect(afterTree.status).toBe(404);
    expect(index(afterTree)).toBeGreaterThan(index(afterOne));
  });

  it('DELETE ?cas deletes only when the ModifyIndex matches', async () => {
    await put('delcas/k', 'v');
    const [entry] = await entries(await kv('GET', 'delcas/k'));
    expect(await (await kv('DELETE', 'delcas/k', `cas=${entry!.ModifyIndex - 1}`)).json()).toBe(false);
    expect((await kv('GET', 'delcas/k')).status).toBe(200);
    expect(await (await kv('DELETE', 'delcas/k', `cas=${entry!.ModifyIndex}`)).json()).toBe(true);
    expect((await kv('GET', 'delcas/k')).status).toBe(404);
  });

  it('a blocking query on a key returns as soon as the key changes', async () => {
    await put('block/k', 'old');
    const first = await kv('GET', 'block/k');
    const seen = blockingSeen();
    const blocked = kv('GET', 'block/k', `index=${index(first)}&wait=20s`);
    await untilBlocked(seen);
    const started = performance.now();
    await put('block/k', 'new');
    const res = await blocked;
    expect(performance.now() - started).toBeLessThan(2000);
    expect(index(res)).toBeGreaterThan(index(first));
    expect((await entries(res))[0]!.Value).toBe(b64('new'));
  });

  it('a blocking query on a prefix wakes on a delete under it', async () => {
    await put('blockrec/a', '1');
    await put('blockrec/b', '2');
    const first = await kv('GET', 'blockrec/', 'recurse');
    const seen = blockingSeen();
    const blocked = kv('GET', 'blockrec/', `recurse&index=${index(first)}&wait=20s`);
    await untilBlocked(seen);
    await kv('DELETE', 'blockrec/a');
    const res = await blocked;
    expect(index(res)).toBeGreaterThan(index(first));
    expect((await entries(res)).map((e) => e.Key)).toEqual([`${prefix}blockrec/b`]);
  });

  it('a blocking query that sees no change times out with the same index and data', async () => {
    await put('timeout/k', 'steady');
    const first = await kv('GET', 'timeout/k');
    const firstBody = await first.text();
    const started = performance.now();
    const res = await kv('GET', 'timeout/k', `index=${index(first)}&wait=400ms`);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(380);
    expect(elapsed).toBeLessThan(400 * (1 + 1 / 16) + 1500);
    expect(index(res)).toBe(index(first));
    expect(await res.text()).toBe(firstBody);
  });

  it('an invalid wait is 400', async () => {
    expect((await kv('GET', 'basic/a', 'index=1&wait=soon')).status).toBe(400);
  });

  it('values over 512 KiB are refused with 413; exactly 512 KiB is accepted', async () => {
    expect(await put('big/ok', Buffer.alloc(512 * 1024, 'a'))).toBe(true);
    const res = await kv('PUT', 'big/too', '', { body: Buffer.alloc(512 * 1024 + 1, 'a') });
    expect(res.status).toBe(413);
    expect((await kv('GET', 'big/too')).status).toBe(404);
  });

  if (withAcls) {
    describe('ACLs', () => {
      let reader = '';
      beforeAll(async () => {
        reader = await provisionToken(['acl/open/']);
        await put('acl/open/a', 'visible');
        await put('acl/secret/b', 'hidden');
      });

      it('an unknown token is 403 "ACL not found"', async () => {
        const res = await kv('GET', 'acl/open/a', '', { token: randomUUID() });
        expect(res.status).toBe(403);
        expect(await res.text()).toMatch(/ACL not found/);
      });

      it('reading a key without permission is 403 "Permission denied"', async () => {
        const res = await kv('GET', 'acl/secret/b', '', { token: reader });
        expect(res.status).toBe(403);
        expect(await res.text()).toMatch(/Permission denied/);
        expect((await kv('GET', 'acl/open/a', '', { token: reader })).status).toBe(200);
      });

      it('a recursive read silently drops unreadable keys, and is 404 when none is left', async () => {
        const res = await kv('GET', 'acl/', 'recurse', { token: reader });
        expect(res.status).toBe(200);
        expect((await entries(res)).map((e) => e.Key)).toEqual([`${prefix}acl/open/a`]);
        expect((await kv('GET', 'acl/secret/', 'recurse', { token: reader })).status).toBe(404);
      });

      it('writing without permission is 403 and writes nothing', async () => {
        const res = await kv('PUT', 'acl/open/a', '', { body: 'overwritten', token: reader });
        expect(res.status).toBe(403);
        const [entry] = await entries(await kv('GET', 'acl/open/a'));
        expect(entry!.Value).toBe(b64('visible'));
      });

      it('the token is also accepted as Authorization: Bearer', async () => {
        const path = `/v1/kv/${prefix}acl/open/a`;
        const res = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${reader}` } });
        expect(res.status).toBe(200);
      });
    });
  }

  if (emulator) {
    describe('emulator controls', () => {
      it('stop() refuses connections; start() serves the same data on the same port', async () => {
        await put('ctl/k', 'kept');
        const url = emulator.url;
        await emulator.stop();
        await expect(fetch(`${url}/v1/kv/${prefix}ctl/k`)).rejects.toThrow();
        await emulator.start();
        expect(emulator.url).toBe(url);
        const [entry] = await entries(await kv('GET', 'ctl/k'));
        expect(entry!.Value).toBe(b64('kept'));
      });

      it('stop() resets blocked queries', async () => {
        const first = await kv('GET', 'ctl/', 'recurse');
        const seen = blockingSeen();
        const blocked = kv('GET', 'ctl/', `recurse&index=${index(first)}&wait=20s`);
        await untilBlocked(seen);
        await emulator.stop();
        await expect(blocked).rejects.toThrow();
        await emulator.start();
      });

      it('resetIndex() winds the index back and wakes blocked queries at once', async () => {
        await put('reset/k', 'v');
        const first = await kv('GET', 'reset/', 'recurse');
        const seen = blockingSeen();
        const blocked = kv('GET', 'reset/', `recurse&index=${index(first)}&wait=20s`);
        await untilBlocked(seen);
        emulator.resetIndex(3);
        const res = await blocked;
        expect(index(res)).toBeLessThanOrEqual(3);
        expect(emulator.index).toBe(3);
        expect(await put('reset/k', 'after')).toBe(true);
        expect(index(await kv('GET', 'reset/k'))).toBe(4);
      });

      it('restoreSnapshot() brings back earlier data with a lower index', async () => {
        await put('snap/k', 'before');
        const snapshot = emulator.snapshot();
        await put('snap/k', 'after');
        const later = index(await kv('GET', 'snap/k'));
        emulator.restoreSnapshot(snapshot);
        const res = await kv('GET', 'snap/k');
        expect(index(res)).toBeLessThan(later);
        expect((await entries(res))[0]!.Value).toBe(b64('before'));
      });

      it('failWith() answers every request with the injected status until cleared', async () => {
        emulator.failWith(500);
        const res = await kv('GET', 'basic/a');
        expect(res.status).toBe(500);
        expect(await res.text()).toBe('No cluster leader');
        emulator.failWith(undefined);
        expect((await kv('GET', 'basic/a')).status).toBe(200);
      });

      it('logs every request with its decoded key and query', async () => {
        await kv('GET', 'log/a b', 'recurse');
        const last = emulator.requests.at(-1)!;
        expect(last).toMatchObject({ method: 'GET', key: `${prefix}log/a b` });
        expect(last.query.has('recurse')).toBe(true);
      });
    });
  }
});
