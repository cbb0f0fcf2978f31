/**
 * JSON Schema of the policy document, generated from the zod schema so the two cannot disagree.
 * Editors use it for completion and hover help (`# yaml-language-server: $schema=...`).
 * The committed copy, docs/policy.schema.json, is checked against this by a unit test; to refresh
 * it, run `UPDATE_POLICY_SCHEMA=1 npx vitest run test/unit/policy/json-schema.test.ts`.
 */
import * as z from 'zod';
import { policyDocumentSchema } from './schema.js';

/** Where the schema is published, relative to the repository root. */
export const POLICY_SCHEMA_PATH = 'docs/policy.schema.json';

/** The JSON Schema (draft 2020-12) of what users write: fields with defaults are optional. */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(policyDocumentSchema, { io: 'input', target: 'draft-2020-12' });
  return { ...schema, title: 'routecar policy' };
}

/** The file content: the schema as pretty JSON with a trailing newline. */
export function policyJsonSchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
