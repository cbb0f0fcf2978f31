import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../../src/policy/compile.js';
import { policyDocumentSchema } from '../../../src/policy/schema.js';
import { baseDocument } from './fixtures.js';

describe('routes.<r>.locality', () => {
  it.each(['prefer-zone', 'zone-only', 'any'] as const)('compiles %s', (locality) => {
    const doc = baseDocument();
    doc.routes.chat = { ...doc.routes.chat!, locality };
    const result = compilePolicy(policyDocumentSchema.parse(doc));
    if (!result.ok) throw new Error('expected a policy');
    expect(result.policy.routes.get('chat')?.locality).toBe(locality);
  });

  it('is unset by default (prefer-zone when the sidecar knows its zone)', () => {
    const result = compilePolicy(policyDocumentSchema.parse(baseDocument()));
    if (!result.ok) throw new Error('expected a policy');
    expect(result.policy.routes.get('chat')?.locality).toBeUndefined();
  });

  it('refuses other values', () => {
    const doc = baseDocument();
    doc.routes.chat = { ...doc.routes.chat!, locality: 'nearby' as 'any' };
    const parsed = policyDocumentSchema.safeParse(doc);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['routes', 'chat', 'locality']);
  });
});
