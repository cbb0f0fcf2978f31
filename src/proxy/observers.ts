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
  // Bound once here, not per call: these run on every request.
  const attempt = has('attemptFinished').map((o) => o.attemptFinished!.bind(o));
  const failover = has('failover').map((o) => o.failover!.bind(o));
  const request = has('requestFinished').map((o) => o.requestFinished!.bind(o));
  const each = <A>(event: string, list: readonly ((arg: A) => void)[], arg: A): void => {
    for (const call of list) {
      try {
        call(arg);
      } catch (err) {
        reportSafely(onError, err, event);
      }
    }
  };
  return {
    requestStarted:
      opening.length === 0
        ? undefined
        : (start) => {
            let only: RequestScope | undefined;
            let scopes: RequestScope[] | undefined;
            for (const o of opening) {
              try {
                const scope = o.requestStarted!(start);
                if (scope === undefined) continue;
                const guarded = guardScope(scope, onError);
                if (only === undefined) only = guarded;
                else (scopes ??= [only]).push(guarded);
              } catch (err) {
                reportSafely(onError, err, 'requestStarted');
              }
            }
            return scopes === undefined ? only : combineScopes(scopes);
          },
    attemptFinished: (r) => each('attemptFinished', attempt, r),
    failover: (r) => each('failover', failover, r),
    requestFinished: (r) => each('requestFinished', request, r),
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
