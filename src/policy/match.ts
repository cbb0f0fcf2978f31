/**
 * `match` clause -> pure predicate over RequestFeatures. Everything that can be computed once
 * (lower-cased header names, value sets) is computed here, so a request pays only for lookups.
 */
import type { RequestFeatures } from '../ingress/features.js';
import type { MatchDocument, RangeDocument, StringMatcherDocument } from './rule-schema.js';

type Predicate = (features: RequestFeatures) => boolean;
type ValueTest = (value: string | undefined) => boolean;

/** Compiles a match clause; every clause given must hold, and `{}` matches every request. */
export function compileMatch(match: MatchDocument): Predicate {
  const tests: Predicate[] = [];
  for (const [name, matcher] of Object.entries(match.header ?? {})) {
    // features.headers has lower-case names; the policy may be written in any case.
    const lower = name.toLowerCase();
    const test = stringTest(matcher);
    tests.push((f) => test(f.headers[lower]));
  }
  addString(tests, match.tenant, (f) => f.tenant);
  addString(tests, match.user, (f) => f.user);
  addString(tests, match.apiKeyId, (f) => f.apiKeyId);
  addString(tests, match.route, (f) => f.route);
  addString(tests, match.endpoint, (f) => f.endpoint);
  addString(tests, match.priority, (f) => f.priority);
  if (match.stream !== undefined) {
    const stream = match.stream;
    tests.push((f) => f.stream === stream);
  }
  addRange(tests, match.promptTokens, (f) => f.promptTokens);
  addRange(tests, match.maxTokens, (f) => f.maxTokens);
  addRange(tests, match.payloadBytes, (f) => f.payloadBytes);

  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0] ?? (() => true);
  return (features) => tests.every((test) => test(features));
}

function addString(
  tests: Predicate[],
  matcher: StringMatcherDocument | undefined,
  read: (f: RequestFeatures) => string | undefined,
): void {
  if (matcher === undefined) return;
  const test = stringTest(matcher);
  tests.push((f) => test(read(f)));
}

/** An absent value (header not sent) never matches. */
function stringTest(matcher: StringMatcherDocument): ValueTest {
  if (typeof matcher === 'string') return (v) => v === matcher;
  if (Array.isArray(matcher)) {
    const values = new Set(matcher);
    return (v) => v !== undefined && values.has(v);
  }
  const prefix = matcher.prefix;
  return (v) => v !== undefined && v.startsWith(prefix);
}

function addRange(
  tests: Predicate[],
  range: RangeDocument | undefined,
  read: (f: RequestFeatures) => number | undefined,
): void {
  if (range === undefined) return;
  const { lt, lte, gt, gte } = range;
  tests.push((f) => {
    const v = read(f);
    if (v === undefined) return false;
    return (
      (lt === undefined || v < lt) &&
      (lte === undefined || v <= lte) &&
      (gt === undefined || v > gt) &&
      (gte === undefined || v >= gte)
    );
  });
}
