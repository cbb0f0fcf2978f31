/**
 * Fans the request path's events out to every consumer (health, telemetry, logs) in order.
 */
import type { AttemptScope, RequestObserver, RequestScope } from './events.js';

/**
 * Every method present, except `requestStarted`, which is absent when no observer opens request
 * scopes: the forwarder's `requestStarted?.(...)` then skips building its argument altogether.
 */
export type CombinedObserver = Required<Omit<RequestObserver, 'requestStarted'>> &
  Pick<RequestObserver, 'requestStarted'>;

export function combineObservers(observers: readonly RequestObserver[]): CombinedObserver {
  const has = <K extends keyof RequestObserver>(k: K) => observers.filter((o) => o[k] !== undefined);
  const opening = has('requestStarted');
  const started = has('attemptStarted');
  const attempt = has('attemptFinished');
  const failover = has('failover');
  const request = has('requestFinished');
  return {
    requestStarted:
      opening.length === 0
        ? undefined
        : (start) => {
            if (opening.length === 1) return opening[0]!.requestStarted!(start);
            const scopes: RequestScope[] = [];
            for (const o of opening) {
              const scope = o.requestStarted!(start);
              if (scope) scopes.push(scope);
            }
            return scopes.length <= 1 ? scopes[0] : combineScopes(scopes);
          },
    attemptStarted: (backend) => {
      for (const o of started) o.attemptStarted!(backend);
    },
    attemptFinished: (r) => {
      for (const o of attempt) o.attemptFinished!(r);
    },
    failover: (r) => {
      for (const o of failover) o.failover!(r);
    },
    requestFinished: (r) => {
      for (const o of request) o.requestFinished!(r);
    },
  };
}

/** One scope standing for several: headers merged (later scopes win), every end passed on. */
function combineScopes(scopes: readonly RequestScope[]): RequestScope {
  return {
    attempt(backend, n): AttemptScope {
      const parts = scopes.map((s) => s.attempt(backend, n));
      return {
        headers: Object.assign({}, ...parts.map((p) => p.headers)) as Record<string, string>,
        end: (report) => {
          for (const p of parts) p.end(report);
        },
      };
    },
    end(report) {
      for (const s of scopes) s.end(report);
    },
  };
}
