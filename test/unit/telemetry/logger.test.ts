import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, requestLog } from '../../../src/telemetry/logger.js';
import { request } from './fixtures.js';

/** A logger writing into an array of parsed JSON lines. */
function capture(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

describe('request log', () => {
  it('writes one JSON line per request with route, backend, variant, status, attempts, latency and tokens', () => {
    const { logger, lines } = capture();
    requestLog(logger).requestFinished!(request({ durationMs: 123.456, attempts: 2, tenant: 'acme' }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'request',
      level: 30,
      service: 'routecar',
      requestId: 'req-1',
      route: 'chat',
      backend: 'alpha',
      variant: 'alpha',
      status: 200,
      attempts: 2,
      latencyMs: 123.46,
      inputTokens: 120,
      outputTokens: 40,
      costUsd: 0.0001,
      policyVersion: 'v1',
    });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('carries nothing of the prompt: the report has no prompt, and the line only the report’s fields', () => {
    const { logger, lines } = capture();
    const report = { ...request(), messages: [{ role: 'user', content: 'my secret prompt' }] };
    requestLog(logger).requestFinished!(report);
    expect(JSON.stringify(lines)).not.toContain('my secret prompt');
  });

  it('writes nothing per request below info, so ROUTECAR_LOG_LEVEL=warn silences it', () => {
    const { logger, lines } = capture('warn');
    requestLog(logger).requestFinished!(request());
    expect(lines).toHaveLength(0);
  });

  it('logs failovers at warn', () => {
    const { logger, lines } = capture('warn');
    requestLog(logger).failover!({
      requestId: 'r',
      route: 'chat',
      from: 'a',
      to: 'b',
      reason: 'refused',
      outcome: { kind: 'failure', failure: 'refused' },
    });
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, msg: 'failover', from: 'a', to: 'b', reason: 'refused' }),
    ]);
  });
});

describe('createLogger', () => {
  it('redacts credentials wherever they appear', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        authorization: 'Bearer sk-1',
        headers: {
          authorization: 'Bearer sk-2',
          'x-api-key': 'k-3',
          cookie: 'session=4',
          'x-consul-token': 'c-5',
          accept: 'json',
        },
        consul: { token: 'c-6', addr: 'http://consul:8500' },
        backend: { apiKey: 'k-7' },
        adminToken: 'a-8',
      },
      'settings',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['sk-1', 'sk-2', 'k-3', 'session=4', 'c-5', 'c-6', 'k-7', 'a-8'])
      expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      headers: { accept: 'json', authorization: '[redacted]' },
      consul: { addr: 'http://consul:8500' },
    });
  });

  it('takes its level from the argument (ROUTECAR_LOG_LEVEL by default)', () => {
    expect(capture('debug').logger.level).toBe('debug');
    expect(capture('error').logger.isLevelEnabled('warn')).toBe(false);
  });
});
