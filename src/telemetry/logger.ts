/**
 * Structured JSON logs (pino): one line per request, plus lifecycle and policy events.
 * Prompts are never logged, and anything that looks like a credential is redacted.
 */
import { pino, type Logger } from 'pino';
import type { RequestObserver, RequestReport } from '../proxy/events.js';

export type { Logger } from 'pino';

export function createLogger(level: string = process.env.ROUTECAR_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'routecar' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['authorization', 'headers.authorization', '*.token', 'token', '*.apiKey', 'apiKey', 'x-consul-token'],
      censor: '[redacted]',
    },
  });
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
      logger.warn({ requestId: f.requestId, route: f.route, from: f.from, to: f.to, reason: f.reason }, 'failover');
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
