/**
 * Where in the policy text each error is, as line and column, for `routecar policy validate`
 * (`policy.yaml:14:21: routes.chat.backends.1: unknown backend "smal"`). The policy pipeline
 * reports dot paths; this follows a path through the YAML node tree (JSON is YAML too) to the
 * node it names: the key of a mapping entry, the item of a list.
 */
import { LineCounter, parseDocument } from 'yaml';
import type { PolicyError } from '../policy/errors.js';
import { offsetOfPath } from '../policy/read-text.js';

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
    const offset = offsetOfPath(contents, error.path.split('.'));
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
