/**
 * `routes.<r>.bandit`: Thompson sampling over the route's backends (or its split's arms).
 * The wire schema and its compiled form; `bandit: {}` alone is valid (every field defaults).
 */
import * as z from 'zod';

/** What a request earns its arm, 0..1. */
const RewardSchema = z
  .object({
    /** Time to first token at or under this scores 1; above, target / TTFT. Default 2000 ms. */
    ttftTargetMs: z.number().positive().default(2000),
    /** Weight of the cost term (cheapest arm 1, others cheapest / theirs) beside TTFT's weight of 1. Default 0.5. */
    costWeight: z.number().min(0).default(0.5),
    /** Weight of one feedback score (0..1) against one request's reward. Default 1. */
    feedbackWeight: z.number().min(0).default(1),
  })
  .strict();

export const BanditSchema = z
  .object({
    reward: RewardSchema.default({ ttftTargetMs: 2000, costWeight: 0.5, feedbackWeight: 1 }),
    /** Share of first attempts every usable arm keeps, to go on exploring (0..0.5). Default 0.02. */
    minShare: z.number().min(0).max(0.5).default(0.02),
    /** Half-life of the evidence, seconds: older outcomes weigh less, so a recovered arm can win back traffic. Default 600. */
    halfLifeS: z.number().positive().default(600),
  })
  .strict();

/** The compiled bandit settings of a route (every default filled in). */
export type BanditSettings = z.infer<typeof BanditSchema>;

/** Defaults, as `bandit: {}` compiles. */
export const DEFAULT_BANDIT: BanditSettings = BanditSchema.parse({});
