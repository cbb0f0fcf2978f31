/**
 * The whole pipeline from policy text to CompiledPolicy: read (YAML/JSON) -> validate (schema) ->
 * compile (cross-references). Never throws on bad input: every problem comes back as a
 * PolicyError with its path in the document and, where it can be found, its line.
 */
import { compilePolicy, type SplitOverrides } from './compile.js';
import type { PolicyError } from './errors.js';
import { readPolicyText } from './read-text.js';
import type { PolicyDocument } from './schema.js';
import type { CompiledPolicy } from './types.js';
import { validateDocument } from './validate.js';

/** A validated document (defaults filled in), or every error found. */
export type ParseDocumentResult =
  | { readonly ok: true; readonly document: PolicyDocument }
  | { readonly ok: false; readonly errors: PolicyError[] };

/** The compiled policy and the document it came from, or every error found. */
export type ParsePolicyResult =
  | { readonly ok: true; readonly policy: CompiledPolicy; readonly document: PolicyDocument }
  | { readonly ok: false; readonly errors: PolicyError[] };

/** Options of `parsePolicy`. */
export interface ParsePolicyOptions {
  /**
   * Split overrides from Consul, each already checked with `parseSplitOverride` against this
   * document; or a function that checks them once the document is known.
   */
  readonly splitOverrides?: SplitOverrides | ((document: PolicyDocument) => SplitOverrides);
}

/** Text -> validated document (schema only, no cross-reference checks). */
export function parsePolicyDocument(input: string | Uint8Array): ParseDocumentResult {
  const read = readPolicyText(input);
  if (!read.ok) return read;
  const validated = validateDocument(read.value);
  if (!validated.ok) return { ok: false, errors: withLines(validated.errors, read.lineOf) };
  return validated;
}

/** Text -> compiled policy, or every error found. */
export function parsePolicy(input: string | Uint8Array, options: ParsePolicyOptions = {}): ParsePolicyResult {
  const read = readPolicyText(input);
  if (!read.ok) return read;
  const validated = validateDocument(read.value);
  if (!validated.ok) return { ok: false, errors: withLines(validated.errors, read.lineOf) };
  const overrides =
    typeof options.splitOverrides === 'function'
      ? options.splitOverrides(validated.document)
      : options.splitOverrides;
  const compiled = compilePolicy(validated.document, overrides);
  if (!compiled.ok) return { ok: false, errors: withLines(compiled.errors, read.lineOf) };
  return { ok: true, policy: compiled.policy, document: validated.document };
}

/** Adds the line of each error's path, where the text has it. */
function withLines(
  errors: readonly PolicyError[],
  lineOf: (path: string) => number | undefined,
): PolicyError[] {
  return errors.map((error) => {
    if (error.path === '' || error.line !== undefined) return error;
    const line = lineOf(error.path);
    return line === undefined ? error : { ...error, line };
  });
}
