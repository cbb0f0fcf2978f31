/**
 * Client text quoted back in an error message: bounded and JSON-quoted, so a name of any length
 * or alphabet, or with control characters, reads as one short literal wherever the message goes
 * (the response body, a log line).
 */

/** Most characters of client text a message quotes; the rest is replaced by an ellipsis. */
export const MAX_QUOTED_CHARS = 200;

/** `text` as a JSON string literal, cut after `max` characters (never inside a surrogate pair). */
export function quoteClientText(text: string, max: number = MAX_QUOTED_CHARS): string {
  if (text.length <= max) return JSON.stringify(text);
  const last = text.charCodeAt(max - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
  return JSON.stringify(`${text.slice(0, end)}…`);
}

/** What a JSON value is, for "expected X, got Y" messages: never more than a quoted excerpt of it. */
export function describeJsonValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${quoteClientText(value, 40)}`;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'a number out of range';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
