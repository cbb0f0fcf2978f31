/**
 * `routecar policy replay`: re-decides recorded requests (routecar's access log, one JSON line per
 * request) under another policy, and counts where they went before and where they would go now.
 *
 * Pure apart from the policy and lines it is given: health is assumed healthy for every backend
 * (the log does not record the fleet's health), time is fixed, and randomness is seeded, so a
 * replay is repeatable. What the log cannot give back: the prompt text (only its hash is logged, so
 * prompt-text rules see no text) and raw user ids (logged hashed: sticky splits keyed on the user
 * still keep each user together, but may place them on another arm than their real id would).
 */
import { UNKNOWN_HEALTH } from '../health/types.js';
import type { ClassLabel, Endpoint, PromptSource, RequestFeatures } from '../ingress/features.js';
import type { CompiledPolicy } from '../policy/types.js';
import { decide } from './decide.js';
import { seededRandom } from './seeded-random.js';

/** Before and after counts of one backend, variant or rule. */
export interface BeforeAfter {
  before: number;
  after: number;
}

/** What `--json` prints (the `requests`, `changed`, `backends`, `rules` names are fixed). */
export interface ReplaySummary {
  /** Request lines re-decided. */
  requests: number;
  /** Of those, how many would go to another backend (or be refused, or served where they were refused). */
  changed: number;
  /** Lines that were not request lines (other log lines, unparseable lines). */
  skipped: number;
  /** How health was taken. */
  health: 'assumed healthy';
  /** By backend (`none` for a refusal): first choice before (as recorded) and after. */
  backends: Record<string, BeforeAfter>;
  /** By split variant (`none` for a refusal). */
  variants: Record<string, BeforeAfter>;
  /** By rule: requests each rule applied to, before and after (`(no rule)` when none applied). */
  rules: Record<string, BeforeAfter>;
}

const NONE = 'none';
const NO_RULE = '(no rule)';

type Line = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The request features a logged line carries (see docs/metrics.md, "Access log"). */
export function featuresOfLine(line: Line): RequestFeatures | undefined {
  const route = str(line.requestedRoute) ?? str(line.route);
  const endpoint = str(line.endpoint);
  if (line.msg !== 'request' || route === undefined || endpoint === undefined) return undefined;
  const headers: Record<string, string> = {};
  if (line.headers && typeof line.headers === 'object') {
    for (const [k, v] of Object.entries(line.headers as Record<string, unknown>)) {
      if (typeof v === 'string') headers[k.toLowerCase()] = v;
    }
  }
  // The headers routecar reads by default are logged as fields; a rule may match them as headers.
  const standard: Record<string, unknown> = {
    'x-tenant-id': line.tenant,
    'x-user-id': line.user,
    'x-priority': line.priority,
    'x-routecar-backend': line.pin,
    'x-routecar-max-cost': num(line.maxCostUsd)?.toString(),
  };
  for (const [name, v] of Object.entries(standard)) if (typeof v === 'string') headers[name] ??= v;
  const promptTokens = num(line.promptTokens) ?? 0;
  const features: RequestFeatures = {
    endpoint: endpoint as Endpoint,
    route,
    stream: line.stream === true,
    tenant: str(line.tenant),
    user: str(line.user),
    priority: str(line.priority),
    apiKeyId: str(line.apiKeyId),
    promptTokens,
    promptChars: promptTokens * 4,
    promptMessages: 1,
    maxTokens: num(line.maxTokens),
    choices: num(line.choices) ?? 1,
    payloadBytes: num(line.payloadBytes) ?? 0,
    maxCostUsd: num(line.maxCostUsd),
    pin: str(line.pin),
    headers,
  };
  const prompt = promptOfLine(line.prompt);
  const classes = classesOfLine(line.classes);
  return { ...features, ...(prompt ? { prompt } : {}), ...(classes ? { classes } : {}) };
}

/** A prompt known only by its logged hash: no text to match. */
function promptOfLine(raw: unknown): PromptSource | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const p = raw as { sha256?: unknown; chars?: unknown; truncated?: unknown };
  if (typeof p.sha256 !== 'string') return undefined;
  const sha256 = p.sha256;
  const summary = { sha256, chars: num(p.chars) ?? 0, truncated: p.truncated === true };
  return { text: () => '', lower: () => '', hash: () => sha256, summary: () => summary };
}

function classesOfLine(raw: unknown): ReadonlyMap<string, ClassLabel | undefined> | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const out = new Map<string, ClassLabel | undefined>();
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    const c = v as { label?: unknown; score?: unknown } | null;
    out.set(
      name,
      c && typeof c.label === 'string' && typeof c.score === 'number'
        ? { label: c.label, score: c.score }
        : undefined,
    );
  }
  return out;
}

function bump(table: Record<string, BeforeAfter>, key: string, side: keyof BeforeAfter): void {
  (table[key] ??= { before: 0, after: 0 })[side]++;
}

/** Re-decides every request line of `lines` under `policy`. */
export function replayLog(
  policy: CompiledPolicy,
  lines: Iterable<string>,
  options: { seed?: number; nowMs?: number } = {},
): ReplaySummary {
  // Seeded: the replay's only randomness, so two runs over the same log agree.
  const random = seededRandom(options.seed ?? 1);
  const nowMs = options.nowMs ?? 0;
  const summary: ReplaySummary = {
    requests: 0,
    changed: 0,
    skipped: 0,
    health: 'assumed healthy',
    backends: {},
    variants: {},
    rules: {},
  };
  for (const text of lines) {
    if (text.trim() === '') continue;
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      summary.skipped++;
      continue;
    }
    const features = line && typeof line === 'object' ? featuresOfLine(line) : undefined;
    if (!features) {
      summary.skipped++;
      continue;
    }
    summary.requests++;
    const before = str(line.backend) ?? NONE;
    const beforeRules = Array.isArray(line.rules)
      ? line.rules.filter((r): r is string => typeof r === 'string')
      : str(line.rule) !== undefined
        ? [line.rule as string]
        : [];
    const result = decide({ policy, health: () => UNKNOWN_HEALTH, features, nowMs, random });
    const after = result.ok ? result.decision.attempts[0]! : NONE;
    const afterRules = result.ok ? result.decision.rules : result.refusal.rules;
    if (after !== before) summary.changed++;
    bump(summary.backends, before, 'before');
    bump(summary.backends, after, 'after');
    bump(summary.variants, str(line.variant) ?? NONE, 'before');
    bump(summary.variants, result.ok ? result.decision.variant : NONE, 'after');
    for (const r of beforeRules.length > 0 ? beforeRules : [NO_RULE]) bump(summary.rules, r, 'before');
    for (const r of afterRules.length > 0 ? afterRules : [NO_RULE]) bump(summary.rules, r, 'after');
  }
  return summary;
}
