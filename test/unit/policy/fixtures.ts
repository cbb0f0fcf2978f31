/**
 * Policy documents for the policy tests: a small valid base that each test bends in one place.
 */
import type { PolicyDocumentInput } from '../../../src/policy/schema.js';

/** Two backends, one scored route, one split route; valid as is. */
export function baseDocument(): PolicyDocumentInput {
  return {
    version: 1,
    backends: {
      big: { url: 'http://big.local:8000/v1/', model: 'llama-70b', price: { input: 0.6, output: 0.8 } },
      small: { url: 'http://small.local:8000/v1', model: 'llama-8b', price: { input: 0.05, output: 0.08 } },
      next: { url: 'https://next.local/v1', model: 'llama-70b-next', price: { input: 0.6, output: 0.8 } },
    },
    routes: {
      chat: { backends: ['big', 'small'] },
      canary: {
        backends: ['big', 'next', 'small'],
        split: { big: 90, next: 10 },
        sticky: 'header:X-User-Id',
      },
    },
    rules: [],
  };
}

/** The document as JSON text (a valid policy format: YAML is a superset of JSON). */
export function text(document: unknown): string {
  return JSON.stringify(document, null, 2);
}

/** A valid policy in YAML, with comments, as a user would write it. */
export const BASE_YAML = `# test policy
version: 1
backends:
  big:
    url: http://big.local:8000/v1/
    model: llama-70b
    price: { input: 0.6, output: 0.8 }
  small:
    url: http://small.local:8000/v1
    model: llama-8b
    price: { input: 0.05, output: 0.08 }
routes:
  chat:
    backends: [big, small]
`;
