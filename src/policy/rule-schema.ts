/**
 * Wire schema of `rules[]`: ordered, first match wins. A rule is `{name, match, ...actions}`;
 * `match` lists clauses that must all hold, the other keys name what the rule changes.
 * The grammar is documented in docs/policy.md; `compile-rules.ts` turns it into predicates.
 */
import * as z from 'zod';
import { backendName, headerName, routeName, ruleName, splitWeights } from './names.js';

/** Endpoints a rule can match, as in RequestFeatures.endpoint. */
export const ENDPOINTS = ['chat.completions', 'completions', 'embeddings', 'responses'] as const;

/** Matches a string value exactly, against any of a list, or by prefix. */
export const stringMatcher = z
  .union(
    [
      z.string(),
      z.array(z.string()).min(1, 'the list is empty'),
      z.strictObject({ prefix: z.string().min(1) }),
    ],
    {
      error: `expected a string (quote numbers: '1'), a list of strings, or { prefix: "..." }`,
    },
  )
  .describe('A value, a list of values (any matches), or { prefix: "..." }. Comparison is case-sensitive.');

const oneOrMany = <T extends z.ZodType>(item: T, what: string) =>
  z.union([item, z.array(item).min(1, 'the list is empty')], { error: `expected ${what} or a list of them` });

const bound = z.number({ error: 'expected a number' });

/** A numeric range; every bound given must hold. A missing value (no max_tokens sent) never matches. */
export const rangeMatcher = z
  .strictObject({
    lt: bound.optional().describe('Less than.'),
    lte: bound.optional().describe('Less than or equal.'),
    gt: bound.optional().describe('Greater than.'),
    gte: bound.optional().describe('Greater than or equal.'),
  })
  .superRefine((r, ctx) => {
    if (r.lt === undefined && r.lte === undefined && r.gt === undefined && r.gte === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a range needs at least one of lt, lte, gt, gte' });
    }
    if (r.lt !== undefined && r.lte !== undefined)
      ctx.addIssue({ code: 'custom', message: 'give lt or lte, not both' });
    if (r.gt !== undefined && r.gte !== undefined)
      ctx.addIssue({ code: 'custom', message: 'give gt or gte, not both' });
    const low = r.gt ?? r.gte;
    const high = r.lt ?? r.lte;
    const inclusive = r.gt === undefined && r.lt === undefined;
    if (low !== undefined && high !== undefined && (low > high || (low === high && !inclusive))) {
      ctx.addIssue({ code: 'custom', message: 'the range is empty: no value can match it' });
    }
  })
  .describe('Numeric range: { lt, lte, gt, gte }.');

/** The `match` clause: every clause given must hold; `{}` matches every request. */
export const matchSchema = z
  .strictObject({
    header: z
      .record(headerName, stringMatcher)
      .optional()
      .describe('Request headers by name (case-insensitive names, case-sensitive values).'),
    tenant: stringMatcher.optional().describe('The x-tenant-id header.'),
    user: stringMatcher.optional().describe('The x-user-id header, else body.user.'),
    apiKeyId: stringMatcher
      .optional()
      .describe('First 16 hex chars of the SHA-256 of the bearer token (never the token).'),
    route: oneOrMany(routeName, 'a route name')
      .optional()
      .describe('The route the client asked for (body.model).'),
    endpoint: oneOrMany(z.enum(ENDPOINTS), 'an endpoint').optional().describe('The OpenAI endpoint called.'),
    stream: z.boolean().optional().describe('Whether the request asks for a streamed response.'),
    promptTokens: rangeMatcher.optional().describe('Estimated prompt tokens.'),
    maxTokens: rangeMatcher.optional().describe('max_tokens as sent; requests without it never match.'),
    payloadBytes: rangeMatcher.optional().describe('Size of the request body in bytes.'),
    priority: oneOrMany(z.string(), `a string (quote numbers: '1')`)
      .optional()
      .describe('The x-priority header.'),
  })
  .describe('Clauses that must all hold; {} matches every request.');

/** Keys of a rule that are actions (everything but name and match). */
export const ACTION_KEYS = [
  'route',
  'prefer',
  'only',
  'exclude',
  'objective',
  'maxCostUsd',
  'overBudget',
  'split',
  'allowPin',
  'deny',
] as const;

const backendList = z.array(backendName).min(1, 'the list is empty');
const weight = z.number().min(0, 'objective weights must be >= 0');

/** One entry of `rules[]`: name, match, and at least one action. */
export const ruleSchema = z
  .strictObject({
    name: ruleName.describe('Shown in decisions, logs and metrics; unique.'),
    match: matchSchema,
    route: routeName.optional().describe('Send matching requests to this route instead.'),
    prefer: backendList.optional().describe('Try these backends first, in this order, when available.'),
    only: backendList.optional().describe('Restrict the candidates to these backends.'),
    exclude: backendList.optional().describe('Remove these backends from the candidates.'),
    objective: z
      .strictObject({ latency: weight.optional(), errors: weight.optional(), cost: weight.optional() })
      .refine((o) => Object.keys(o).length > 0, 'give at least one of latency, errors, cost')
      .optional()
      .describe('Override some scoring weights for matching requests.'),
    maxCostUsd: z
      .number()
      .positive()
      .optional()
      .describe('USD ceiling per request (the lowest ceiling wins).'),
    overBudget: z.enum(['refuse', 'cheapest']).optional().describe('When nothing fits under the ceiling.'),
    split: splitWeights.optional().describe('Replace the route split for matching requests.'),
    allowPin: z.boolean().optional().describe('Honour the x-routecar-backend header for matching requests.'),
    deny: z
      .strictObject({
        message: z.string().min(1).describe('Returned to the client as error.message.'),
        status: z
          .int()
          .min(400, 'deny status must be 4xx')
          .max(499, 'deny status must be 4xx')
          .default(403)
          .describe('HTTP status, 4xx.'),
      })
      .optional()
      .describe('Refuse matching requests.'),
  })
  .superRefine((rule, ctx) => {
    const actions = ACTION_KEYS.filter((key) => rule[key] !== undefined);
    if (actions.length === 0) {
      ctx.addIssue({ code: 'custom', message: `rule has no action (one of ${ACTION_KEYS.join(', ')})` });
    } else if (rule.deny !== undefined && actions.length > 1) {
      ctx.addIssue({ code: 'custom', message: 'deny cannot be combined with other actions', path: ['deny'] });
    }
  })
  .describe('Ordered; the first rule whose match holds is applied.');

/** A rule as validated (wire form). */
export type RuleDocument = z.output<typeof ruleSchema>;
/** A `match` clause as validated. */
export type MatchDocument = z.output<typeof matchSchema>;
/** A value, list of values or `{prefix}`. */
export type StringMatcherDocument = z.output<typeof stringMatcher>;
/** A `{lt, lte, gt, gte}` range. */
export type RangeDocument = z.output<typeof rangeMatcher>;
