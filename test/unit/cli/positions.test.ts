/**
 * Error paths mapped to line and column in the policy text: mapping keys, list items, names
 * with dots, JSON, paths that exist only partly, and errors about the text as a whole.
 */
import { describe, expect, it } from 'vitest';
import { errorPositions } from '../../../src/cli/positions.js';

const YAML = `version: 1
backends:
  llama-3.1-8b:
    url: http://127.0.0.1:8101/v1
routes:
  chat:
    backends: [llama-3.1-8b, smal]
    split:
      llama-3.1-8b: 0
rules:
  - name: first
    match: {}
  - name: second
    match: { route: chta }
`;

describe('errorPositions', () => {
  const at = errorPositions(YAML);
  it.each([
    ['routes.chat.backends.1', { line: 7, column: 30 }],
    ['routes.chat.backends', { line: 7, column: 5 }],
    ['routes.chat.split', { line: 8, column: 5 }],
    ['routes.chat.split.llama-3.1-8b', { line: 9, column: 7 }],
    ['backends.llama-3.1-8b.url', { line: 4, column: 5 }],
    // A required key that is missing: the deepest part that exists.
    ['backends.llama-3.1-8b.model', { line: 3, column: 3 }],
    ['rules.1', { line: 13, column: 5 }],
    ['rules.1.match.route', { line: 14, column: 14 }],
  ])('%s → %j', (path, position) => {
    expect(at({ path, message: 'x' })).toEqual(position);
  });

  it('finds paths in JSON too', () => {
    const json = '{\n  "version": 1,\n  "routes": {\n    "chat": { "backends": ["a", "b"] }\n  }\n}\n';
    expect(errorPositions(json)({ path: 'routes.chat.backends.1', message: 'x' })).toEqual({
      line: 4,
      column: 33,
    });
  });

  it('takes the position of a YAML syntax error from its message, and a bare line as column 1', () => {
    expect(at({ path: '', message: 'invalid YAML/JSON: oops (line 3, column 7)', line: 3 })).toEqual({
      line: 3,
      column: 7,
    });
    expect(at({ path: '', message: 'policy is binary data', line: 5 })).toEqual({ line: 5, column: 1 });
    expect(at({ path: '', message: 'policy is empty' })).toBeUndefined();
  });
});
