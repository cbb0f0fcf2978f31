/**
 * A steady series of non-streaming requests, a few at a time, for end-to-end tests that watch
 * routecar react to upstream failures while traffic flows.
 */

/** What one request of the series got. */
export interface LoadOutcome {
  /** 0-based position in the series. */
  readonly index: number;
  /** HTTP status; 0 when the request failed without a response. */
  readonly status: number;
  /** `x-routecar-backend` of the response, when present. */
  readonly backend: string | undefined;
  /** `x-routecar-attempts`, when present. */
  readonly attempts: number | undefined;
  /** Transport error or error body, for failure messages. */
  readonly error: string | undefined;
  /** `Date.now()` when the response head arrived (or the request failed). */
  readonly at: number;
}

export interface LoadOptions {
  /** Full URL of the endpoint, e.g. `http://127.0.0.1:4100/v1/chat/completions`. */
  readonly url: string;
  /** JSON body sent with every request. */
  readonly body: unknown;
  readonly total: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Called (and awaited) before request `index` is sent, e.g. to kill an upstream midway. */
  readonly before?: (index: number) => void | Promise<void>;
  /** Stops issuing new requests once it returns true (checked before each one). */
  readonly stop?: () => boolean;
}

/** Sends `total` requests with `concurrency` workers; resolves with every outcome, in index order. */
export async function runLoad(options: LoadOptions): Promise<LoadOutcome[]> {
  const body = JSON.stringify(options.body);
  const outcomes: LoadOutcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (options.stop?.()) return;
      const index = next++;
      if (index >= options.total) return;
      await options.before?.(index);
      outcomes.push(await send(options.url, body, index));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return outcomes.sort((a, b) => a.index - b.index);
}

async function send(url: string, body: string, index: number): Promise<LoadOutcome> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const at = Date.now();
    const text = await res.text();
    const attempts = res.headers.get('x-routecar-attempts');
    return {
      index,
      status: res.status,
      backend: res.headers.get('x-routecar-backend') ?? undefined,
      attempts: attempts === null ? undefined : Number(attempts),
      error: res.status === 200 ? undefined : text,
      at,
    };
  } catch (err) {
    const cause = (err as Error).cause as Error | undefined;
    return {
      index,
      status: 0,
      backend: undefined,
      attempts: undefined,
      error: cause?.message ?? String(err),
      at: Date.now(),
    };
  }
}

/** Responses per `x-routecar-backend`. */
export function countByBackend(outcomes: readonly LoadOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) if (o.backend !== undefined) counts[o.backend] = (counts[o.backend] ?? 0) + 1;
  return counts;
}

/** The outcomes that were not a 200, summarised for an assertion message. */
export function failuresOf(outcomes: readonly LoadOutcome[]): string[] {
  return outcomes
    .filter((o) => o.status !== 200)
    .map((o) => `#${o.index}: ${o.status} ${o.error ?? ''}`.slice(0, 300));
}
