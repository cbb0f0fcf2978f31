import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  POLICY_SCHEMA_PATH,
  policyJsonSchema,
  policyJsonSchemaText,
} from '../../../src/policy/json-schema.js';

describe('docs/policy.schema.json', () => {
  it('is the schema generated from src/policy/schema.ts', async () => {
    // Refresh with: UPDATE_POLICY_SCHEMA=1 npx vitest run test/unit/policy/json-schema.test.ts
    if (process.env.UPDATE_POLICY_SCHEMA === '1') await writeFile(POLICY_SCHEMA_PATH, policyJsonSchemaText());
    const committed = await readFile(POLICY_SCHEMA_PATH, 'utf8');
    expect(committed).toBe(policyJsonSchemaText());
  });

  it('describes the wire document: required fields, defaults, no unknown keys', () => {
    const schema = policyJsonSchema() as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { default?: unknown }>;
    };
    expect(schema.required).toEqual(['version', 'backends', 'routes']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.window?.default).toEqual({ sizeMs: 60000, buckets: 12 });
  });
});
