/**
 * Structured JSON logs (pino): one line per request, plus lifecycle and policy events.
 * Prompts are never logged, and anything that looks like a credential is redacted.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
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

/** Logs one line per finished request. */
export function requestLog(logger: Logger): RequestObserver {
  return {
    requestFinished(r: RequestReport): void {
      if (!logger.isLevelEnabled('info')) return;
      logger.info(
        {
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
          policyVersion: r.policyVersion,
        },
        'request',
      );
    },
    failover(f): void {
      logger.warn(
        { requestId: f.requestId, route: f.route, from: f.from, to: f.to, reason: f.reason },
        'failover',
      );
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
