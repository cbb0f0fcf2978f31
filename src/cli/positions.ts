/**
 * Where in the policy text each error is, as line and column, for `routecar policy validate`
 * (`policy.yaml:14:21: routes.chat.backends.1: unknown backend "smal"`). The policy pipeline
 * reports dot paths; this follows a path through the YAML node tree (JSON is YAML too) to the
 * node it names: the key of a mapping entry, the item of a list.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { PolicyError } from '../policy/errors.js';

/** 1-based line and column. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/** Returns a function from an error of `text` to its position, when the text has one. */
export function errorPositions(text: string): (error: PolicyError) => TextPosition | undefined {
  let tree: { contents: unknown; counter: LineCounter } | undefined;
  const parsed = (): { contents: unknown; counter: LineCounter } => {
    if (tree === undefined) {
      const counter = new LineCounter();
      const doc = parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter: counter, prettyErrors: false });
      tree = { contents: doc.contents, counter };
    }
    return tree;
  };
  return (error) => {
    if (error.path === '' || error.path.startsWith('splits/')) return fromMessage(error);
    const { contents, counter } = parsed();
    const offset = offsetOf(contents, error.path.split('.'));
    if (offset === undefined) return fromMessage(error);
    const { line, col } = counter.linePos(offset);
    return { line, column: col };
  };
}

/**
 * Errors about the text as a whole (YAML syntax, binary data) carry their line, and YAML syntax
 * errors say `(line N, column M)` in the message.
 */
function fromMessage(error: PolicyError): TextPosition | undefined {
  const m = /\(line (\d+), column (\d+)\)/.exec(error.message);
  if (m) return { line: Number(m[1]), column: Number(m[2]) };
  return error.line === undefined ? undefined : { line: error.line, column: 1 };
}

/**
 * Follows a dot path and returns the offset of the deepest node found: for a mapping entry its
 * key, for a list its item. Names may contain dots (`llama-3.1-8b`), so at each mapping the
 * longest run of segments that names a key wins.
 */
function offsetOf(root: unknown, segments: readonly string[]): number | undefined {
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
