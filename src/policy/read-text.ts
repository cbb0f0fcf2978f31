/**
 * Policy text -> plain value. YAML 1.2 is a superset of JSON, so one parser reads both.
 * Refuses, with a message that says why, what cannot be a policy: binary data, empty input,
 * several YAML documents, a scalar or a list at the top, YAML-only values (!!binary, !!set, ...).
 * Also knows where each path is in the text, so later errors can carry a line number.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { policyError, type PolicyError } from './errors.js';

/** Larger than any sane policy; Consul caps values at 512 KiB anyway. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** The plain value read from the text, or why the text cannot be a policy. */
export type ReadTextResult =
  | {
      readonly ok: true;
      /** The document as plain JSON-compatible data. */
      readonly value: Record<string, unknown>;
      /** 1-based line of the deepest node on a dot `path` (as in PolicyError.path) that exists in the text. */
      readonly lineOf: (path: string) => number | undefined;
    }
  | { readonly ok: false; readonly errors: PolicyError[] };

/** Reads YAML or JSON text (or UTF-8 bytes); never throws. */
export function readPolicyText(input: string | Uint8Array): ReadTextResult {
  const decoded = typeof input === 'string' ? checkText(input) : decode(input);
  if (typeof decoded !== 'string') return { ok: false, errors: [decoded] };
  const text = decoded.replace(/^\uFEFF/, '');
  if (text.trim() === '') return fail('policy is empty');

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { schema: 'core', merge: true, prettyErrors: false, lineCounter });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    return {
      ok: false,
      errors: problems.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { path: '', message: `invalid YAML/JSON: ${e.message} (line ${line}, column ${col})`, line };
      }),
    };
  }

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Alias bombs and the like; the library reports them by throwing.
    return fail(`invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value === null || value === undefined) return fail('policy is empty (only comments)');
  if (typeof value !== 'object' || Array.isArray(value)) {
    return fail(
      `policy must be a mapping of keys to values, got ${Array.isArray(value) ? 'a list' : typeof value}`,
    );
  }

  const lineOf = (path: string) => locate(doc, lineCounter, path === '' ? [] : path.split('.'));
  const exotic = findExoticValues(value, [], lineOf);
  if (exotic.length > 0) return { ok: false, errors: exotic };
  return { ok: true, value: dropNulls(value) as Record<string, unknown>, lineOf };
}

function fail(message: string): ReadTextResult {
  return { ok: false, errors: [{ path: '', message }] };
}

function decode(bytes: Uint8Array): string | PolicyError {
  if (bytes.length > MAX_POLICY_BYTES)
    return { path: '', message: `policy is larger than ${MAX_POLICY_BYTES} bytes` };
  const nul = bytes.indexOf(0);
  if (nul >= 0) return { path: '', message: `policy is binary data, not text (NUL byte at offset ${nul})` };
  try {
    return checkText(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { path: '', message: 'policy is not valid UTF-8 text' };
  }
}

/** Text that went through a lossy decoder shows U+FFFD; control characters mean it was never text. */
function checkText(text: string): string | PolicyError {
  if (text.length > MAX_POLICY_BYTES)
    return { path: '', message: `policy is larger than ${MAX_POLICY_BYTES} bytes` };
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFD]/.exec(text);
  if (control === null) return text;
  const line = text.slice(0, control.index).split('\n').length;
  const code = control[0].charCodeAt(0);
  const what = code === 0xfffd ? 'is not valid UTF-8 text' : 'is binary data, not text';
  return {
    path: '',
    message: `policy ${what} (U+${code.toString(16).toUpperCase().padStart(4, '0')} at line ${line})`,
    line,
  };
}

/**
 * YAML can express values JSON cannot (!!binary, !!set, !!omap, !!timestamp, an alias inside
 * itself); a policy has no use for them, and a self-containing value would never finish validating.
 */
function findExoticValues(
  value: unknown,
  path: readonly PropertyKey[],
  lineOf: (path: string) => number | undefined,
  ancestors: ReadonlySet<object> = new Set(),
): PolicyError[] {
  if (value === null || typeof value !== 'object') return [];
  const at = (message: string): PolicyError[] => {
    const error = policyError(path, message);
    return [{ ...error, line: lineOf(error.path) }];
  };
  if (ancestors.has(value)) return at('recursive alias: the value contains itself');
  if (value instanceof Uint8Array) return at('binary values (!!binary) are not allowed in a policy');
  if (value instanceof Map || value instanceof Set || value instanceof Date) {
    return at('YAML-specific values (!!set, !!omap, !!timestamp) are not allowed in a policy');
  }
  // The validator drops this key silently (it would replace the object's prototype): refuse it instead.
  if (Object.hasOwn(value, '__proto__')) return at('"__proto__" is not allowed as a key');
  const inside = new Set(ancestors).add(value);
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return entries.flatMap(([key, v]) => findExoticValues(v, [...path, key], lineOf, inside));
}

/**
 * `rules:` with everything below it commented out reads as null: treat an empty value as an
 * absent key, so it gets its default (or a "required" error) instead of "expected array, got null".
 */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(([, v]) => v !== null);
  return Object.fromEntries(entries.map(([k, v]) => [k, dropNulls(v)]));
}

/**
 * Follows a dot path through the YAML tree and returns the line of the last key or item found.
 * Names may contain dots (`llama-3.1-8b`), so at each mapping the longest run of segments that
 * names a key wins.
 */
function locate(doc: Document, counter: LineCounter, segments: readonly string[]): number | undefined {
  const offset = offsetOfPath(doc.contents, segments);
  return offset === undefined ? undefined : counter.linePos(offset).line;
}

/**
 * The source offset of the node a document path names (dot-separated segments, where a key may
 * itself contain dots: the longest run of segments that names a key wins), or of its deepest
 * ancestor found; undefined when the document has no positions.
 */
export function offsetOfPath(root: unknown, segments: readonly string[]): number | undefined {
  let node: unknown = root;
  let offset = isNode(node) ? node.range?.[0] : undefined;
  let i = 0;
  while (i < segments.length) {
    if (isMap(node)) {
      const map = node;
      let consumed = 0;
      for (let k = segments.length - i; k >= 1 && consumed === 0; k--) {
        const key = segments.slice(i, i + k).join('.');
        const pair = map.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
        if (pair !== undefined) {
          consumed = k;
          offset = isNode(pair.key) ? (pair.key.range?.[0] ?? offset) : offset;
          node = pair.value;
        }
      }
      if (consumed === 0) break;
      i += consumed;
    } else if (isSeq(node)) {
      const item: unknown = node.items[Number(segments[i])];
      if (!isNode(item)) break;
      offset = item.range?.[0] ?? offset;
      node = item;
      i += 1;
    } else {
      break;
    }
  }
  return offset;
}

function isNode(value: unknown): value is Node {
  return isMap(value) || isSeq(value) || isScalar(value);
}
