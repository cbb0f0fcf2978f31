import { describe, expect, it } from 'vitest';
import type {
  AttemptReport,
  RequestObserver,
  RequestReport,
  RequestScope,
} from '../../../src/proxy/events.js';
import { combineObservers } from '../../../src/proxy/observers.js';
import { attempt, request } from './fixtures.js';

const unexpected = (err: unknown): never => {
  throw err;
};

/** An observer opening a scope that records what it was told and adds one header. */
function opener(name: string, log: string[]): RequestObserver {
  return {
    requestStarted: (start) => ({
      attempt: (backend, n) => ({
        headers: { [`x-${name}`]: `${backend}-${n}`, traceparent: name },
        end: (r: AttemptReport | undefined) =>
          log.push(`${name} attempt ${n} ${r ? r.outcome.kind : 'refused'}`),
      }),
      end: (r: RequestReport) => log.push(`${name} end ${start.requestId} ${r.status}`),
    }),
  };
}

describe('combineObservers: request scopes (the tracing hook)', () => {
  it('has no requestStarted at all when no observer opens scopes, so the forwarder builds nothing', () => {
    const combined = combineObservers(
      [{ requestFinished: () => {} }, { attemptFinished: () => {} }],
      unexpected,
    );
    expect(combined.requestStarted).toBeUndefined();
  });

  it('passes through the one scope when a single observer opens one', () => {
    const log: string[] = [];
    const scope: RequestScope = {
      attempt: (b) => ({ headers: { x: b }, end: () => log.push(`attempt ${b}`) }),
      end: () => log.push('end'),
    };
    const combined = combineObservers(
      [{ attemptFinished: () => {} }, { requestStarted: () => scope }],
      unexpected,
    );
    const opened = combined.requestStarted!(startOf())!;
    const part = opened.attempt('alpha', 1);
    expect(part.headers).toEqual({ x: 'alpha' });
    part.end(undefined);
    opened.end(request({ status: 200 }));
    expect(log).toEqual(['attempt alpha', 'end']);
  });

  it('merges the headers of several scopes (later ones win) and passes every end on', () => {
    const log: string[] = [];
    const combined = combineObservers(
      [opener('a', log), { requestStarted: () => undefined }, opener('b', log)],
      unexpected,
    );
    const scope = combined.requestStarted!(startOf())!;
    const first = scope.attempt('alpha', 1);
    expect(first.headers).toEqual({ 'x-a': 'alpha-1', 'x-b': 'alpha-1', traceparent: 'b' });
    first.end(undefined);
    scope.attempt('beta', 2).end(attempt());
    scope.end(request({ status: 200 }));
    expect(log).toEqual([
      'a attempt 1 refused',
      'b attempt 1 refused',
      'a attempt 2 success',
      'b attempt 2 success',
      'a end req-1 200',
      'b end req-1 200',
    ]);
  });
});

function startOf() {
  return {
    requestId: 'req-1',
    endpoint: 'chat.completions' as const,
    requestedRoute: 'chat',
    route: 'chat',
    variant: 'alpha',
    stream: false,
    startedAtMs: 0,
    policyVersion: 'v1',
    rule: undefined,
    reason: 'r',
    traceparent: undefined,
    tracestate: undefined,
  };
}

describe('combineObservers: one observer that throws never reaches the request path', () => {
  it('reports each throw with the event it came from, and still calls the other observers', () => {
    const errors: string[] = [];
    const seen: string[] = [];
    const boom = (): never => {
      throw new Error('observer bug');
    };
    const combined = combineObservers(
      [
        { attemptFinished: boom, failover: boom, requestFinished: boom, requestStarted: boom },
        {
          attemptFinished: () => seen.push('attempt'),
          failover: () => seen.push('failover'),
          requestFinished: () => seen.push('request'),
        },
      ],
      (err, event) => errors.push(`${event}: ${(err as Error).message}`),
    );
    expect(() => combined.requestStarted!(startOf())).not.toThrow();
    combined.attemptFinished(attempt());
    combined.failover({
      requestId: 'r',
      route: 'chat',
      from: 'a',
      to: 'b',
      reason: 'x',
      outcome: { kind: 'success' },
    });
    combined.requestFinished(request({ status: 200 }));
    expect(seen).toEqual(['attempt', 'failover', 'request']);
    expect(errors).toEqual([
      'requestStarted: observer bug',
      'attemptFinished: observer bug',
      'failover: observer bug',
      'requestFinished: observer bug',
    ]);
  });

  it('isolates a scope whose attempt or end throws', () => {
    const errors: string[] = [];
    const boom = (): never => {
      throw new Error('scope bug');
    };
    const combined = combineObservers(
      [{ requestStarted: () => ({ attempt: () => ({ headers: {}, end: boom }), end: boom }) }],
      (_err, event) => errors.push(event),
    );
    const scope = combined.requestStarted!(startOf())!;
    expect(() => scope.attempt('a', 1).end(undefined)).not.toThrow();
    expect(() => scope.end(request({ status: 200 }))).not.toThrow();
    const failing = combineObservers(
      [{ requestStarted: () => ({ attempt: boom, end: () => {} }) }],
      (_e, event) => errors.push(event),
    ).requestStarted!(startOf())!;
    expect(failing.attempt('a', 1).headers).toEqual({});
    expect(errors).toEqual(['attempt.end', 'scope.end', 'scope.attempt']);
  });

  it('survives an error handler that throws too', () => {
    const combined = combineObservers(
      [
        {
          requestFinished: () => {
            throw new Error('a');
          },
        },
      ],
      () => {
        throw new Error('logger down');
      },
    );
    expect(() => combined.requestFinished(request({ status: 200 }))).not.toThrow();
  });
});
