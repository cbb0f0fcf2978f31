import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPolicyError } from '../../../src/policy/errors.js';
import { parsePolicy } from '../../../src/policy/parse.js';

const DIR = 'policies';
const files = (await readdir(DIR)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();

describe('example policies', () => {
  it('include the demo and every documented example', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'default.yaml',
        'canary.yaml',
        'ab-by-tenant.yaml',
        'cost-tiers.yaml',
        'premium-users.yaml',
        'failover-chain.yaml',
        'short-prompts-small-model.yaml',
        'regional-preference.yaml',
      ]),
    );
  });

  it.each(files)('%s compiles with no errors', async (file) => {
    const result = parsePolicy(await readFile(join(DIR, file), 'utf8'));
    expect(result.ok ? [] : result.errors.map(formatPolicyError)).toEqual([]);
  });

  it('default.yaml is the demo: three local backends on ports 8101-8103, chat scored, chat-canary split 90/10', async () => {
    const result = parsePolicy(await readFile(join(DIR, 'default.yaml'), 'utf8'));
    if (!result.ok) throw new Error('default.yaml is invalid');
    const urls = [...result.policy.backends.values()].map((b) => b.baseUrl).sort();
    expect(urls).toEqual([
      'http://127.0.0.1:8101/v1',
      'http://127.0.0.1:8102/v1',
      'http://127.0.0.1:8103/v1',
    ]);
    expect(result.policy.routes.get('chat')?.split).toBeUndefined();
    expect(result.policy.routes.get('chat')?.backends).toHaveLength(3);
    const canary = result.policy.routes.get('chat-canary');
    expect([...(canary?.split?.values() ?? [])]).toEqual([90, 10]);
    expect(canary?.sticky).toEqual({ kind: 'header', name: 'x-user-id' });
  });
});
