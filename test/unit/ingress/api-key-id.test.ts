import { beforeEach, describe, expect, it, vi } from 'vitest';
import { extractRequest, withFeatures } from '../../../src/ingress/extract.js';
import * as keyHash from '../../../src/ingress/key-hash.js';
import { compileMatch } from '../../../src/policy/match.js';

// Every call of the hash goes through a spy that still computes the real value.
vi.mock('../../../src/ingress/key-hash.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/ingress/key-hash.js')>();
  return { ...real, apiKeyIdOf: vi.fn(real.apiKeyIdOf) };
});
const hashed = vi.mocked(keyHash.apiKeyIdOf);

const TOKEN = 'sk-the-apps-secret-key';
const request = (headers: Record<string, string> = {}) =>
  extractRequest(
    'chat.completions',
    { authorization: `Bearer ${TOKEN}`, 'x-tenant-id': 'acme', ...headers },
    Buffer.from(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })),
  ).features;

beforeEach(() => hashed.mockClear());

describe('ingress: apiKeyId is hashed only when something reads it', () => {
  it('computes no hash for a request no apiKeyId rule looks at', () => {
    const byTenant = compileMatch({ tenant: 'acme' });
    const f = request();
    expect(byTenant(f)).toBe(true);
    expect(hashed).not.toHaveBeenCalled();
  });

  it('computes no hash when an earlier clause of the rule already failed', () => {
    const rule = compileMatch({ tenant: 'other', apiKeyId: keyHash.shortHash(TOKEN) });
    expect(rule(request())).toBe(false);
    expect(hashed).not.toHaveBeenCalled();
  });

  it('hashes once when a rule matches on apiKeyId, however often it is read', () => {
    const byKey = compileMatch({ apiKeyId: keyHash.shortHash(TOKEN) });
    const f = request();
    expect(byKey(f)).toBe(true);
    expect(byKey(f)).toBe(true);
    expect(f.apiKeyId).toBe(keyHash.shortHash(TOKEN));
    expect(hashed).toHaveBeenCalledTimes(1);
  });

  it('keeps the raw key out of the features: only the hash, and no credential header', () => {
    const f = request({ 'x-api-key': 'azure-key', cookie: 'session=s3cret', 'x-plan': 'pro' });
    expect(f.headers['authorization']).toBeUndefined();
    expect(f.headers['x-api-key']).toBeUndefined();
    expect(f.headers['cookie']).toBeUndefined();
    expect(f.headers['x-plan']).toBe('pro');
    // Whatever enumerates the features (a spread, a log line) finds no token in them.
    for (const own of [JSON.stringify(f), JSON.stringify({ ...f }), Object.keys(f).join(',')]) {
      expect(own).not.toContain(TOKEN);
      expect(own).not.toContain('s3cret');
    }
    const seen = JSON.stringify({ ...f, apiKeyId: f.apiKeyId, headers: { ...f.headers } });
    expect(seen).not.toContain(TOKEN);
    expect(seen).not.toContain('s3cret');
    expect(seen).toContain(keyHash.shortHash(TOKEN));
  });

  it('a copy with another route or labels (route switch by a rule, classifiers) stays lazy and shares the hash', () => {
    const f = request();
    const switched = withFeatures(f, { route: 'other' });
    const labelled = withFeatures(switched, { classes: new Map([['topic', { label: 'code', score: 1 }]]) });
    expect(hashed).not.toHaveBeenCalled();
    expect([switched.route, labelled.route, f.route]).toEqual(['other', 'other', 'chat']);
    expect(labelled.classes?.get('topic')?.label).toBe('code');
    expect(labelled.tenant).toBe('acme');
    expect(labelled.apiKeyId).toBe(keyHash.shortHash(TOKEN));
    expect(f.apiKeyId).toBe(keyHash.shortHash(TOKEN));
    expect(switched.apiKeyId).toBe(keyHash.shortHash(TOKEN));
    expect(hashed).toHaveBeenCalledTimes(1);
    expect(labelled.headers).toBe(f.headers);
  });

  it('has no apiKeyId without a bearer token', () => {
    expect(request({ authorization: 'Bearer   ' }).apiKeyId).toBeUndefined();
    expect(
      extractRequest('chat.completions', {}, Buffer.from('{"model":"chat","messages":[]}')).features.apiKeyId,
    ).toBeUndefined();
  });
});
