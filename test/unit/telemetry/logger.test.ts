import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { shortHash } from '../../../src/ingress/key-hash.js';
import {
  accessLogEnabled,
  createLogger,
  requestLog,
  type AccessLogReport,
} from '../../../src/telemetry/logger.js';
import { features } from '../../support/features.js';
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

/** A sink collecting parsed JSON lines. */
function sink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { stream, lines };
}

const ON = { ROUTECAR_ACCESS_LOG: 'true' };

/** The access log observer writing into an array, as ROUTECAR_ACCESS_LOG=true makes it. */
function accessLog(options: { headers?: () => readonly string[] } = {}) {
  const { stream, lines } = sink();
  const observer = requestLog(capture().logger, { env: ON, destination: stream, ...options });
  return { observer, lines };
}

describe('request log (access log)', () => {
  it('is off by default: no line per request, and no requestFinished at all', () => {
    const { stream, lines } = sink();
    for (const env of [{}, { ROUTECAR_ACCESS_LOG: 'false' }, { ROUTECAR_ACCESS_LOG: '' }]) {
      const observer = requestLog(capture().logger, { env, destination: stream });
      expect(observer.requestFinished).toBeUndefined();
    }
    expect(lines).toHaveLength(0);
    expect(accessLogEnabled({ ROUTECAR_ACCESS_LOG: 'TRUE' })).toBe(true);
    expect(accessLogEnabled({ ROUTECAR_ACCESS_LOG: '1' })).toBe(true);
    expect(accessLogEnabled({})).toBe(false);
  });

  it('writes one JSON line per request with route, backend, variant, status, attempts, latency and tokens', () => {
    const { observer, lines } = accessLog();
    observer.requestFinished!(request({ durationMs: 123.456, attempts: 2, tenant: 'acme' }));
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
      tenant: 'acme',
    });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('carries every feature a rule can match (user and key hashed, the headers rules read), for policy replay', () => {
    const { observer, lines } = accessLog({ headers: () => ['x-plan', 'x-user-id', 'x-absent'] });
    const f = features({
      user: 'alice@example.com',
      apiKeyId: '0123456789abcdef',
      tenant: 'acme',
      priority: 'high',
      stream: true,
      promptTokens: 512,
      maxTokens: 256,
      choices: 2,
      payloadBytes: 2048,
      maxCostUsd: 0.5,
      pin: 'beta',
      headers: { 'x-plan': 'pro', 'x-user-id': 'alice@example.com', 'x-other': 'not read' },
    });
    const report: AccessLogReport = { ...request({ tenant: 'acme', stream: true }), features: f };
    observer.requestFinished!(report);
    expect(lines[0]).toMatchObject({
      endpoint: 'chat.completions',
      route: 'chat',
      stream: true,
      tenant: 'acme',
      user: shortHash('alice@example.com'),
      apiKeyId: '0123456789abcdef',
      priority: 'high',
      promptTokens: 512,
      maxTokens: 256,
      choices: 2,
      payloadBytes: 2048,
      maxCostUsd: 0.5,
      pin: 'beta',
      headers: { 'x-plan': 'pro', 'x-user-id': shortHash('alice@example.com') },
    });
    expect(lines[0]!.headers).not.toHaveProperty('x-other');
  });

  it('carries nothing of the prompt: the report has no prompt, and the line only the report’s fields', () => {
    const { observer, lines } = accessLog();
    const report = { ...request(), messages: [{ role: 'user', content: 'my secret prompt' }] };
    observer.requestFinished!(report);
    expect(JSON.stringify(lines)).not.toContain('my secret prompt');
  });

  it('needs no redaction: built from named fields only, so a credential in the report never reaches the line', () => {
    const { observer, lines } = accessLog({ headers: () => ['authorization'] });
    const report = {
      ...request(),
      authorization: 'Bearer sk-1',
      headers: { authorization: 'Bearer sk-2' },
      // The features' header view never holds credential headers (ingress leaves them out).
      features: features({ headers: { accept: 'json' } }),
    };
    observer.requestFinished!(report);
    expect(JSON.stringify(lines)).not.toContain('sk-');
  });

  it('does not depend on ROUTECAR_LOG_LEVEL: warn keeps the access line when it is on', () => {
    const { stream, lines } = sink();
    requestLog(capture('warn').logger, { env: ON, destination: stream }).requestFinished!(request());
    expect(lines).toHaveLength(1);
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
