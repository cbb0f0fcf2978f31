/**
 * Fans the request path's events out to every consumer (telemetry, logs) in order. Each call to
 * each consumer is isolated: one that throws is reported through `onError` and the others, and
 * the request, go on. An observer is a bystander; it must never be able to fail a request or,
 * through an unhandled rejection in the forwarder, end the process.
 */
import type { AttemptScope, RequestObserver, RequestScope } from './events.js';

/**
 * Every method present, except `requestStarted`, which is absent when no observer opens request
 * scopes: the forwarder's `requestStarted?.(...)` then skips building its argument altogether.
 */
export type CombinedObserver = Required<Omit<RequestObserver, 'requestStarted'>> &
  Pick<RequestObserver, 'requestStarted'>;

/** Told about an observer that threw; `event` names the call (`attemptFinished`, `scope.end`, ...). */
export type ObserverErrorHandler = (err: unknown, event: string) => void;

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export function combineObservers(
  observers: readonly RequestObserver[],
  onError: ObserverErrorHandler,
): CombinedObserver {
  const has = <K extends keyof RequestObserver>(k: K) => observers.filter((o) => o[k] !== undefined);
  const opening = has('requestStarted');
  const attempt = has('attemptFinished');
  const failover = has('failover');
  const request = has('requestFinished');
  const safely = <A>(event: string, call: (arg: A) => void, arg: A): void => {
    try {
      call(arg);
    } catch (err) {
      reportSafely(onError, err, event);
    }
  };
  return {
    requestStarted:
      opening.length === 0
        ? undefined
        : (start) => {
            const scopes: RequestScope[] = [];
            for (const o of opening) {
              try {
                const scope = o.requestStarted!(start);
                if (scope) scopes.push(guardScope(scope, onError));
              } catch (err) {
                reportSafely(onError, err, 'requestStarted');
              }
            }
            return scopes.length <= 1 ? scopes[0] : combineScopes(scopes);
          },
    attemptFinished: (r) => {
      for (const o of attempt) safely('attemptFinished', o.attemptFinished!.bind(o), r);
    },
    failover: (r) => {
      for (const o of failover) safely('failover', o.failover!.bind(o), r);
    },
    requestFinished: (r) => {
      for (const o of request) safely('requestFinished', o.requestFinished!.bind(o), r);
    },
  };
}

/** A scope whose every call is isolated like the observer's own methods. */
function guardScope(scope: RequestScope, onError: ObserverErrorHandler): RequestScope {
  return {
    attempt(backend, n): AttemptScope {
      let part: AttemptScope;
      try {
        part = scope.attempt(backend, n);
      } catch (err) {
        reportSafely(onError, err, 'scope.attempt');
        return { headers: NO_HEADERS, end: () => {} };
      }
      return {
        headers: part.headers,
        end: (report) => {
          try {
            part.end(report);
          } catch (err) {
            reportSafely(onError, err, 'attempt.end');
          }
        },
      };
    },
    end(report) {
      try {
        scope.end(report);
      } catch (err) {
        reportSafely(onError, err, 'scope.end');
      }
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

/** Even the error handler (a logger) may throw; nothing escapes from here. */
function reportSafely(onError: ObserverErrorHandler, err: unknown, event: string): void {
  try {
    onError(err, event);
  } catch {
    // Nowhere left to report to.
  }
}
