/**
 * Fans the request path's events out to every consumer (health, telemetry, logs) in order.
 */
import type { RequestObserver } from './events.js';

export function combineObservers(observers: readonly RequestObserver[]): Required<RequestObserver> {
  const has = <K extends keyof RequestObserver>(k: K) => observers.filter((o) => o[k] !== undefined);
  const started = has('attemptStarted');
  const attempt = has('attemptFinished');
  const failover = has('failover');
  const request = has('requestFinished');
  return {
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
