/**
 * Name grammars shared by the schema pieces. Names end up in metrics, logs, response headers and
 * Consul keys, so they are kept to characters that need no escaping anywhere.
 */
import * as z from 'zod';

/**
 * Backend and rule names: letters, digits, `.`, `_`, `:`, `-`, starting with a letter or digit
 * (which also keeps `__proto__` out of every name-keyed object).
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** Route names are what clients send as `model`, so `/` is allowed too (`meta-llama/Llama-3.1-8B`). */
export const ROUTE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;

/** HTTP header field names (RFC 9110 token characters). */
export const HEADER_NAME_PATTERN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Names of environment variables (`apiKeyEnv`). */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A backend name (also the key under `backends`). */
export const backendName = z
  .string()
  .regex(NAME_PATTERN, 'backend names are letters, digits and . _ : - (starting with a letter or digit)');

/** A route name (also the key under `routes`, and what clients send as `model`). */
export const routeName = z
  .string()
  .regex(
    ROUTE_NAME_PATTERN,
    'route names are letters, digits and . _ : / - (starting with a letter or digit)',
  );

/** A rule's `name`. */
export const ruleName = z
  .string()
  .regex(NAME_PATTERN, 'rule names are letters, digits and . _ : - (starting with a letter or digit)');

/** A header name in `match.header`; compared case-insensitively. */
export const headerName = z.string().regex(HEADER_NAME_PATTERN, 'not a valid HTTP header name');

/** Split weights by backend name, as written; checked against the route when compiled. */
export const splitWeights = z
  .record(backendName, z.number({ error: 'weight must be a number' }))
  .describe(
    'Relative weights by backend name (any scale: 90/10 and 0.9/0.1 are the same), each at most 1000000. 0 turns an arm off, fallback traffic included.',
  );
