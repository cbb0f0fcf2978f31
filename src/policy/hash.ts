/**
 * Content hashes for policy versions. The version must not change when only key order or YAML
 * formatting changes, so it hashes a canonical JSON form (keys sorted) of the validated document.
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level; Maps are written as sorted objects. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortValue(value));
}

/** Lower-case hex SHA-256 of the text (UTF-8). */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function sortValue(value: unknown): unknown {
  if (value instanceof Map) return sortValue(Object.fromEntries(value));
  if (Array.isArray(value)) return value.map(sortValue);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortValue(v)]));
  }
  return value;
}
