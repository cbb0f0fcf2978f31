/**
 * The read-only view of a model server's load that decide consumes, produced by the signal
 * store from the server's own `/metrics`. decide never sees a stale or missing reading: the
 * lookup answers undefined for those, and the `load` term then neither rewards nor punishes.
 */

/** A fresh, smoothed load reading of one backend. */
export interface LoadSignal {
  /** Requests waiting for a place in the server's running batch. */
  readonly queued: number;
  /** Requests in the running batch. */
  readonly running: number;
  /** KV-cache usage, 0..1; undefined when the server does not export it (TGI). */
  readonly kvCacheUsage: number | undefined;
}

/** How decide reads load signals: a pure lookup by backend name; undefined when there is no fresh one. */
export type SignalLookup = (backend: string) => LoadSignal | undefined;

/** No backend has a signal (the default when signals are not wired or not configured). */
export const NO_SIGNALS: SignalLookup = () => undefined;
