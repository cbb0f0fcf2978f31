import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PolicyPushConflictError, PolicyPushError, pushPolicy } from '../../../src/policy/consul-push.js';
import { describeConsulError } from '../../../src/policy/sources/consul-client.js';
import { ConsulEmulator } from '../../support/consul-emulator.js';

let consul: ConsulEmulator;

beforeEach(async () => {
  consul = await new ConsulEmulator({
    acl: { tokens: { admin: { write: ['routecar/'] }, viewer: { read: ['routecar/'] } } },
  }).start();
});

afterEach(async () => {
  await consul.close();
});

const puts = () => consul.requests.filter((r) => r.method === 'PUT');

describe('pushPolicy', () => {
  it('creates an absent policy key with cas=0', async () => {
    const result = await pushPolicy({ addr: consul.address, token: 'admin', text: 'version: 1\n' });
    const entry = consul.get('routecar/policy')!;
    expect(entry.value?.toString()).toBe('version: 1\n');
    expect(result).toEqual({
      key: 'routecar/policy',
      previousModifyIndex: 0,
      modifyIndex: entry.modifyIndex,
    });
    expect(puts().map((r) => r.query.get('cas'))).toEqual(['0']);
  });

  it('overwrites with ?cas set to the ModifyIndex it read just before (prefix without trailing /)', async () => {
    consul.addToken('team-admin', { write: ['team/'] });
    consul.put('team/policy', 'version: 1 # old\n');
    const before = consul.get('team/policy')!.modifyIndex;
    const pushed = await pushPolicy({
      addr: `http://${consul.address}`,
      token: 'team-admin',
      prefix: 'team',
      text: 'version: 1 # new\n',
    });
    expect(pushed).toMatchObject({ key: 'team/policy', previousModifyIndex: before });
    expect(puts().at(-1)?.query.get('cas')).toBe(String(before));
    expect(consul.get('team/policy')!.value?.toString()).toBe('version: 1 # new\n');
  });

  it('reports a conflict when the key changed since it was read, and writes nothing', async () => {
    consul.put('routecar/policy', 'version: 1 # read by the operator\n');
    const read = consul.get('routecar/policy')!.modifyIndex;
    consul.put('routecar/policy', 'version: 1 # someone else pushed meanwhile\n');
    const err = await pushPolicy({
      addr: consul.address,
      token: 'admin',
      text: 'version: 1 # mine\n',
      cas: read,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyPushConflictError);
    expect((err as Error).message).toBe(
      `policy changed in Consul since ModifyIndex ${read} (the index read before writing, or given with --cas); ` +
        'review the current policy, then push again',
    );
    expect(consul.get('routecar/policy')!.value?.toString()).toBe(
      'version: 1 # someone else pushed meanwhile\n',
    );
  });

  it('reports a conflict when cas=0 was asked for but the key exists', async () => {
    consul.put('routecar/policy', 'version: 1\n');
    await expect(pushPolicy({ addr: consul.address, token: 'admin', text: 'x', cas: 0 })).rejects.toThrow(
      /ModifyIndex 0/,
    );
  });

  it('fails clearly with an unknown token', async () => {
    await expect(pushPolicy({ addr: consul.address, token: 'nope', text: 'x' })).rejects.toThrow(
      PolicyPushError,
    );
    await expect(pushPolicy({ addr: consul.address, token: 'nope', text: 'x' })).rejects.toThrow(
      /ACL not found/,
    );
  });

  it('fails clearly with a token that may not write', async () => {
    await expect(pushPolicy({ addr: consul.address, token: 'viewer', text: 'x' })).rejects.toThrow(
      /cannot push the policy to routecar\/policy: .*HTTP 403: Permission denied/,
    );
    expect(consul.get('routecar/policy')).toBeUndefined();
  });

  it('fails clearly when Consul is down', async () => {
    await consul.stop();
    await expect(pushPolicy({ addr: consul.address, token: 'admin', text: 'x' })).rejects.toThrow(
      /connection refused/,
    );
  });
});

describe('Consul error messages', () => {
  it('never repeat credentials embedded in CONSUL_HTTP_ADDR', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const withScheme = describeConsulError(refused, 'http://ops:s3cret@127.0.0.1:8500');
    const bare = describeConsulError(refused, 'ops:s3cret@127.0.0.1:8500');
    for (const m of [withScheme, bare]) {
      expect(m).not.toContain('s3cret');
      expect(m).toContain('127.0.0.1:8500');
    }
  });
});
