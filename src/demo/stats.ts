/**
 * What a fake upstream observed, for assertions: requests by path, how each was answered,
 * how many completed and how many the client abandoned, and the last request as received.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';

/** How the fake upstream answered (or meant to answer) a request. */
export type FakeOutcome =
  | 'ok'
  | 'error500'
  | 'randomFailure' // a 500 drawn by `failureRate`
  | 'rateLimit'
  | 'hang'
  | 'resetBeforeHeaders'
  | 'resetMidStream'
  | 'badRequest'; // 4xx of the fake itself: bad JSON, unknown path, bad x-fake-* header

/** One received request. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** The query string with its `?`, empty when there was none. */
  readonly search?: string;
  /** The headers exactly as received (lower-case names). */
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body; the raw text when it was not JSON; undefined when empty. */
  readonly body: unknown;
  /** Epoch ms of arrival. */
  readonly receivedAt: number;
}

/** A snapshot of the counters (a copy: later requests do not change it). */
export interface FakeStatsSnapshot {
  /** Requests received, control API excluded. */
  readonly requests: number;
  /** Requests received per path, e.g. `{"/v1/chat/completions": 3}`. */
  readonly byPath: Readonly<Record<string, number>>;
  /** Requests per outcome. */
  readonly byOutcome: Readonly<Partial<Record<FakeOutcome, number>>>;
  /** Responses written to the end. */
  readonly completed: number;
  /** Connections the client closed before the response finished (deliberate resets not included). */
  readonly aborted: number;
  /** Requests received and neither completed, aborted nor reset yet. */
  readonly inflight: number;
  /** The most recent request with its body, once its body was read. */
  readonly lastRequest: RecordedRequest | undefined;
}

/** Events of a fake upstream. */
export interface FakeUpstreamEvents {
  /** A request arrived and its body was read. */
  request: [RecordedRequest];
  /** A response was written to the end. */
  complete: [RecordedRequest];
  /** The client went away before the response finished. */
  abort: [RecordedRequest];
  /** The fake itself destroyed the connection (a reset mode, `down()` or `close()`). */
  kill: [RecordedRequest];
}

const EVENTS = ['request', 'complete', 'abort', 'kill'] as const;

/** Mutable counters behind `FakeUpstream.stats`. */
export class FakeStats {
  /** Emits `request`, `complete`, `abort`. */
  readonly events = new EventEmitter<FakeUpstreamEvents>();
  private requests = 0;
  private byPath: Record<string, number> = {};
  private byOutcome: Partial<Record<FakeOutcome, number>> = {};
  private completed = 0;
  private aborted = 0;
  private inflight = 0;
  private lastRequest: RecordedRequest | undefined;

  arrived(path: string): void {
    this.requests++;
    this.inflight++;
    this.byPath[path] = (this.byPath[path] ?? 0) + 1;
  }

  received(request: RecordedRequest): void {
    this.lastRequest = request;
    this.events.emit('request', request);
  }

  outcome(outcome: FakeOutcome): void {
    this.byOutcome[outcome] = (this.byOutcome[outcome] ?? 0) + 1;
  }

  /** The response ended: `finished` (written to the end), `aborted` by the client, or killed by us. */
  ended(request: RecordedRequest, how: 'finished' | 'aborted' | 'killed'): void {
    this.inflight--;
    if (how === 'finished') {
      this.completed++;
      this.events.emit('complete', request);
    } else if (how === 'aborted') {
      this.aborted++;
      this.events.emit('abort', request);
    } else {
      this.events.emit('kill', request);
    }
  }

  snapshot(): FakeStatsSnapshot {
    return {
      requests: this.requests,
      byPath: { ...this.byPath },
      byOutcome: { ...this.byOutcome },
      completed: this.completed,
      aborted: this.aborted,
      inflight: this.inflight,
      lastRequest: this.lastRequest,
    };
  }

  reset(): void {
    // `inflight` is left alone: those requests are still open and will end later.
    this.requests = 0;
    this.byPath = {};
    this.byOutcome = {};
    this.completed = 0;
    this.aborted = 0;
    this.lastRequest = undefined;
  }

  /** Resolves with the first snapshot satisfying `predicate`; rejects after `timeoutMs`. */
  waitFor(
    predicate: (s: FakeStatsSnapshot) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<FakeStatsSnapshot> {
    const now = this.snapshot();
    if (predicate(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const s = this.snapshot();
        if (!predicate(s)) return;
        cleanup();
        resolve(s);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake upstream: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        for (const e of EVENTS) this.events.off(e, check);
      };
      for (const e of EVENTS) this.events.on(e, check);
    });
  }
}
