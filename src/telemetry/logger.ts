/**
 * Structured JSON logs (pino): lifecycle and policy events on the process logger, where anything
 * that looks like a credential is redacted; and, when `ROUTECAR_ACCESS_LOG=true`, one access line
 * per request on a logger of its own. Prompts are never logged (a prompt rule's request logs its
 * hash and length).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { RequestFeatures } from '../ingress/features.js';
import { shortHash } from '../ingress/key-hash.js';
import type { RequestObserver, RequestReport } from '../proxy/events.js';

export type { Logger } from 'pino';

/**
 * Paths redacted wherever they appear in a log object: request headers that carry credentials,
 * and any field named like one (an admin token, an API key, a Consul token).
 */
export const REDACTED_PATHS: readonly string[] = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers["x-api-key"]',
  'headers["x-consul-token"]',
  'headers.cookie',
  '*.token',
  'token',
  '*.apiKey',
  'apiKey',
  '*.adminToken',
  'adminToken',
  'x-consul-token',
];

/**
 * The process logger: JSON lines on stdout (or `destination`), level from ROUTECAR_LOG_LEVEL
 * (trace, debug, info, warn, error, fatal, silent; default info).
 */
export function createLogger(
  level: string = process.env.ROUTECAR_LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { service: 'routecar' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * A request report as the access log reads it. `features` are the request's own, when the edge
 * passes them (the policy-replay input); without them the line carries the report's fields only.
 */
export type AccessLogReport = RequestReport & {
  readonly features?: RequestFeatures;
  /** Every rule that applied, in order. */
  readonly rules?: readonly string[];
  /** Labels of the classifiers asked. */
  readonly classes?: Readonly<Record<string, unknown>>;
  /** Hash and length of the prompt text when a rule read it; never the text. */
  readonly prompt?: unknown;
};

/** The header ingress reads the user from; its value is hashed on the access line like `user`. */
const USER_HEADER = 'x-user-id';

export interface RequestLogOptions {
  /** Environment read for `ROUTECAR_ACCESS_LOG`; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where access lines go; stdout, buffered, by default (tests pass a stream). */
  readonly destination?: DestinationStream;
  /** Names (lower case) of the request headers the policy's rules and sticky keys read; their values go on the line. */
  readonly headers?: () => readonly string[];
  /**
   * Of those, the ones that identify someone (sticky keys such as `x-user-id`): their values go on
   * the line hashed, as `user` does. `x-user-id` always is.
   */
  readonly hashedHeaders?: () => readonly string[];
}

/** Whether `ROUTECAR_ACCESS_LOG` asks for the per-request line (`true` or `1`; off by default). */
export function accessLogEnabled(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env.ROUTECAR_ACCESS_LOG?.trim().toLowerCase();
  return v === 'true' || v === '1';
}

/**
 * The request path's log observer: failovers at `warn` on the process logger always; one access
 * line per finished request only when `ROUTECAR_ACCESS_LOG=true` (the sidecar convention of Istio
 * and Linkerd: off by default, because a line per request costs every request).
 *
 * The access line has its own logger: no redaction (the line is built field by field from the
 * report and the features, which hold no credential: `apiKeyId` and the user are short hashes, and
 * the features' headers never include credential headers), and buffered writes (4 KiB, written
 * asynchronously; flushed at least every second, and by pino at exit). It does not depend on
 * `ROUTECAR_LOG_LEVEL`.
 */
export function requestLog(logger: Logger, options: RequestLogOptions = {}): RequestObserver {
  const failover: RequestObserver['failover'] = (f) => {
    logger.warn(
      { requestId: f.requestId, route: f.route, from: f.from, to: f.to, reason: f.reason },
      'failover',
    );
  };
  if (!accessLogEnabled(options.env)) return { failover };
  const write = accessWriter(options.destination);
  const headerNames = options.headers;
  const hashedNames = options.hashedHeaders;
  return {
    failover,
    requestFinished(r: AccessLogReport): void {
      write(accessLine(r, headerNames?.(), hashedNames?.()));
    },
  };
}

/**
 * Writes access lines: JSON on stdout without redaction, buffered in 4 KiB writes, flushed every
 * second while lines wait (a quiet sidecar would hold them otherwise) and synchronously by pino at
 * process exit. To `destination` unbuffered when given (tests).
 */
function accessWriter(destination: DestinationStream | undefined): (line: Record<string, unknown>) => void {
  const options = { level: 'info', base: { service: 'routecar' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (destination) {
    const logger = pino(options, destination);
    return (line) => logger.info(line, 'request');
  }
  const buffered = pino.destination({ dest: 1, minLength: 4096, sync: false });
  const logger = pino(options, buffered);
  let waiting = false;
  setInterval(() => {
    if (!waiting) return;
    waiting = false;
    buffered.flush();
  }, 1000).unref();
  return (line) => {
    logger.info(line, 'request');
    waiting = true;
  };
}

/**
 * The access line: what happened, and every request feature a rule can match, so that a future
 * `policy replay` can re-run a new policy over recorded traffic (docs/metrics.md lists the fields).
 */
function accessLine(
  r: AccessLogReport,
  headerNames: readonly string[] | undefined,
  hashedNames: readonly string[] | undefined,
): Record<string, unknown> {
  const f = r.features;
  let headers: Record<string, string> | undefined;
  if (f !== undefined && headerNames !== undefined) {
    for (const name of headerNames) {
      const v = f.headers[name];
      if (v === undefined) continue;
      const identifies = name === USER_HEADER || hashedNames?.includes(name) === true;
      (headers ??= {})[name] = identifies ? shortHash(v) : v;
    }
  }
  return {
    requestId: r.requestId,
    endpoint: r.endpoint,
    route: r.route,
    requestedRoute: r.requestedRoute === r.route ? undefined : r.requestedRoute,
    backend: r.backend,
    variant: r.variant,
    status: r.status,
    error: r.errorCode,
    attempts: r.attempts,
    stream: r.stream,
    latencyMs: round(r.durationMs),
    ttfbMs: r.ttfbMs === undefined ? undefined : round(r.ttfbMs),
    inputTokens: r.usage?.inputTokens,
    outputTokens: r.usage?.outputTokens,
    costUsd: r.costUsd,
    tenant: r.tenant,
    rule: r.rule,
    rules: r.rules,
    classes: r.classes,
    prompt: r.prompt,
    policyVersion: r.policyVersion,
    // The request's features (what rules match), when the edge passed them.
    user: f?.user === undefined ? undefined : shortHash(f.user),
    apiKeyId: f?.apiKeyId,
    priority: f?.priority,
    promptTokens: f?.promptTokens,
    promptChars: f?.promptChars,
    promptMessages: f?.promptMessages,
    maxTokens: f?.maxTokens,
    choices: f?.choices,
    payloadBytes: f?.payloadBytes,
    maxCostUsd: f?.maxCostUsd,
    pin: f?.pin,
    headers,
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
