import { describe, expect, it } from 'vitest';
import type {
  AttemptReport,
  RequestObserver,
  RequestReport,
  RequestScope,
} from '../../../src/proxy/events.js';
import { combineObservers } from '../../../src/proxy/observers.js';
import { attempt, request } from './fixtures.js';

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
    const combined = combineObservers([{ requestFinished: () => {} }, { attemptFinished: () => {} }]);
    expect(combined.requestStarted).toBeUndefined();
  });

  it('hands back the one scope when a single observer opens one', () => {
    const scope: RequestScope = { attempt: () => ({ headers: {}, end: () => {} }), end: () => {} };
    const combined = combineObservers([{ attemptFinished: () => {} }, { requestStarted: () => scope }]);
    expect(combined.requestStarted!(startOf())).toBe(scope);
  });

  it('merges the headers of several scopes (later ones win) and passes every end on', () => {
    const log: string[] = [];
    const combined = combineObservers([
      opener('a', log),
      { requestStarted: () => undefined },
      opener('b', log),
    ]);
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
