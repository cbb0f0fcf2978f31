/**
 * Plain value -> PolicyDocument, through the schema. Turns zod's issues into PolicyErrors with
 * dot paths and messages written for someone editing YAML: one error per unknown key, with a
 * "did you mean" when the key looks like a typo of a known one.
 */
import * as z from 'zod';
import { joinPath, suggestion, type PolicyError } from './errors.js';
import { policyDocumentSchema, type PolicyDocument } from './schema.js';

/** The document with defaults filled in, or every schema error found. */
export type ValidateResult =
  | { readonly ok: true; readonly document: PolicyDocument }
  | { readonly ok: false; readonly errors: PolicyError[] };

/** Validates a plain value against the policy schema; never throws. */
export function validateDocument(value: unknown): ValidateResult {
  // Known keys of each object that reported unknown ones, by path: zod hands the schema only to
  // the error map, not to the final issue. Nested union branches come first, so the last write wins.
  const knownKeys = new Map<string, readonly string[]>();
  const result = policyDocumentSchema.safeParse(value, {
    error: (issue) => {
      if (issue.code === 'invalid_type' && issue.input === undefined)
        return `required (expected ${issue.expected})`;
      if (issue.code === 'unrecognized_keys' && issue.inst instanceof z.ZodObject) {
        knownKeys.set(joinPath(issue.path ?? []), Object.keys(issue.inst.shape));
      }
      return undefined;
    },
  });
  if (result.success) return { ok: true, document: result.data };
  return { ok: false, errors: result.error.issues.flatMap((issue) => toPolicyErrors(issue, knownKeys)) };
}

function toPolicyErrors(
  issue: z.core.$ZodIssue,
  knownKeys: ReadonlyMap<string, readonly string[]>,
): PolicyError[] {
  const path = joinPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys.get(path) ?? [];
      return issue.keys.map((key) => ({
        path: joinPath([...issue.path, key]),
        message: `unknown key${suggestion(key, known)}${known.length > 0 ? `; expected one of ${known.join(', ')}` : ''}`,
      }));
    }
    case 'invalid_key':
      // A record key that breaks the name grammar: the nested issue says why.
      return [{ path, message: `invalid name: ${lowerFirst(issue.issues[0]?.message ?? issue.message)}` }];
    default:
      return [{ path, message: lowerFirst(issue.message) }];
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
