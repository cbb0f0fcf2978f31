import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../../src/policy/compile.js';
import { policyDocumentSchema, type PolicyDocumentInput } from '../../../src/policy/schema.js';
import { baseDocument } from './fixtures.js';

function withSignals(signals: unknown): PolicyDocumentInput {
  const doc = baseDocument();
  doc.backends.big = { ...doc.backends.big!, signals } as (typeof doc.backends)['big'];
  return doc;
}

describe('backends.<b>.signals', () => {
  it('compiles with the default interval, and backends without it have none', () => {
    const parsed = policyDocumentSchema.parse(
      withSignals({ metricsUrl: 'http://big.local:8000/metrics', format: 'vllm' }),
    );
    const result = compilePolicy(parsed);
    if (!result.ok) throw new Error('expected a policy');
    expect(result.policy.backends.get('big')?.signals).toEqual({
      metricsUrl: 'http://big.local:8000/metrics',
      format: 'vllm',
      intervalMs: 1000,
    });
    expect(result.policy.backends.get('small')?.signals).toBeUndefined();
  });

  it.each([
    [{ metricsUrl: 'http://x/metrics', format: 'triton' }, ['signals', 'format']],
    [{ metricsUrl: 'ftp://x/metrics', format: 'tgi' }, ['signals', 'metricsUrl']],
    [{ metricsUrl: 'http://x/metrics', format: 'sglang', intervalMs: 10 }, ['signals', 'intervalMs']],
    [{ metricsUrl: 'http://x/metrics', format: 'vllm', interval: 1000 }, ['signals']],
  ])('refuses %j', (signals, path) => {
    const result = policyDocumentSchema.safeParse(withSignals(signals));
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['backends', 'big', ...path]);
  });

  it('objective.load defaults to 1 and may be set', () => {
    const doc = baseDocument();
    doc.routes.chat = { ...doc.routes.chat!, objective: { load: 3 } };
    expect(policyDocumentSchema.parse(doc).routes.chat?.objective).toEqual({
      latency: 1,
      errors: 4,
      cost: 0,
      load: 3,
    });
  });
});
