/**
 * The nesting limit on request bodies, checked right after JSON.parse. V8 parses any depth, but
 * JSON.stringify (the body is re-serialised for each backend) and the prompt-token estimate
 * recurse, and a few thousand levels overflow the stack. Real requests nest a few levels, a deep
 * JSON schema in `response_format` or a tool's `parameters` a few dozen.
 */

/** Most levels of arrays and objects a request body may nest, the body itself being level 1. */
export const MAX_JSON_DEPTH = 256;

/**
 * True when `value` nests arrays and objects more than `limit` levels deep. Iterative, with an
 * explicit stack, so the check itself cannot overflow; scalars are never pushed, so a long array
 * of numbers (token ids) costs one pass and no memory.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: object[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    if (Array.isArray(node)) {
      for (const item of node as unknown[]) {
        if (item !== null && typeof item === 'object') {
          stack.push(item);
          depths.push(depth + 1);
        }
      }
    } else {
      const record = node as Record<string, unknown>;
      for (const key in record) {
        const item = record[key];
        if (item !== null && typeof item === 'object') {
          stack.push(item);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}
