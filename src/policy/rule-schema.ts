/**
 * Wire schema of `rules[]`: ordered, first match wins unless a rule says `continue: true`. A rule is `{name, match, ...actions}`;
 * `match` lists clauses that must all hold, the other keys name what the rule changes.
 * The grammar is documented in docs/policy.md; `compile-rules.ts` turns it into predicates.
 */
import * as z from 'zod';
import { backendName, headerName, routeName, ruleName, splitWeights } from './names.js';

/** Endpoints a rule can match, as in RequestFeatures.endpoint. */
export const ENDPOINTS = [
  'chat.completions',
  'completions',
  'embeddings',
  'responses',
  'moderations',
  'rerank',
  'score',
  'audio.transcriptions',
  'messages',
] as const;

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

/**
 * `match.prompt`: the prompt's text (a bounded prefix, see docs/policy.md). The clause holds when
 * any `contains` entry occurs or the regex matches.
 * The regex is checked and compiled when the policy compiles (compile-rules.ts).
 */
export const promptMatcher = z
  .strictObject({
    contains: oneOrMany(z.string().min(1, 'an empty string matches every prompt'), 'a string')
      .optional()
      .describe('True when the prompt contains any of these strings, ignoring case.'),
    regex: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A regular expression (RE2 syntax: no backreferences or lookarounds), matched anywhere in the prompt; flags as (?i) or /.../i.',
      ),
  })
  .refine((p) => p.contains !== undefined || p.regex !== undefined, 'give contains, regex or both')
  .describe('Holds when the prompt (its first 32 Ki characters) contains any entry or matches the regex.');

/**
 * `match.class`: `{ <classifier>: [labels], minScore }`. Every classifier named must have given one
 * of its labels, with at least `minScore` when set.
 */
export const classMatcher = z
  .object({
    minScore: z
      .number({ error: 'expected a number' })
      .min(0, 'minScore is between 0 and 1')
      .max(1, 'minScore is between 0 and 1')
      .optional()
      .describe('Lowest score that counts (0..1); any score when unset.'),
  })
  .catchall(oneOrMany(z.string().min(1), 'a label'))
  .refine(
    (c) => Object.keys(c).some((k) => k !== 'minScore'),
    'name a classifier: { <classifier>: [labels] }',
  )
  .describe('Labels from classifiers declared under classifiers: { <classifier>: [labels], minScore }.');

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
    prompt: promptMatcher.optional(),
    class: classMatcher.optional(),
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
    continue: z
      .boolean()
      .optional()
      .describe('Apply this rule and keep matching: later matching rules refine it (see docs/policy.md).'),
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
    if (rule.deny !== undefined && rule.continue === true) {
      ctx.addIssue({
        code: 'custom',
        message: 'a deny rule ends matching: it cannot continue',
        path: ['continue'],
      });
    }
  })
  .describe('Ordered; the first rule whose match holds is applied (and, after a continue rule, the next).');

/** A rule as validated (wire form). */
export type RuleDocument = z.output<typeof ruleSchema>;
/** A `match` clause as validated. */
export type MatchDocument = z.output<typeof matchSchema>;
/** A value, list of values or `{prefix}`. */
export type StringMatcherDocument = z.output<typeof stringMatcher>;
/** A `match.prompt` clause. */
export type PromptMatchDocument = z.output<typeof promptMatcher>;
/** A `match.class` clause. */
export type ClassMatchDocument = z.output<typeof classMatcher>;
/** A `{lt, lte, gt, gte}` range. */
export type RangeDocument = z.output<typeof rangeMatcher>;
