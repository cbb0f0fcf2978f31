/**
 * What routecar remembers of a finished request so that feedback can be attributed later:
 * request id → (route, backend, variant), for a bounded time and number (defaults 15 min, 100k).
 *
 * A Map keeps insertion order, and entries are inserted as requests finish, so the oldest entry
 * is always first: expiry and the size bound both evict from the front, O(1) per request. Time is
 * passed in.
 *
 * Memory (bench/feedback-memory.js, Node 24): about 150 bytes per entry, 15 MB at the default
 * 100k. Ids are copied into flat strings first: `crypto.randomUUID()` returns a string built of
 * pieces that, kept as they are, hold about 570 bytes each (57 MB at 100k). Ids longer than
 * MAX_ID_CHARS are not remembered, so a client sending huge `x-request-id` headers cannot blow the
 * bound up.
 */

/** The request a feedback post is about. */
export interface RememberedRequest {
  readonly route: string;
  readonly backend: string;
  readonly variant: string;
  /** Epoch ms when the request finished. */
  readonly atMs: number;
}

export interface RequestMemoryOptions {
  /** How long an id is remembered, ms. Default 15 minutes. */
  readonly ttlMs?: number;
  /** How many ids are remembered at most; the oldest go first. Default 100,000. */
  readonly maxEntries?: number;
}

export const DEFAULT_FEEDBACK_TTL_MS = 15 * 60_000;
export const DEFAULT_FEEDBACK_MAX_ENTRIES = 100_000;
/** Longer request ids are not remembered (feedback on them answers 404). */
export const MAX_ID_CHARS = 128;

export class RequestMemory {
  private readonly entries = new Map<string, RememberedRequest>();
  readonly ttlMs: number;
  readonly maxEntries: number;

  constructor(options: RequestMemoryOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_FEEDBACK_TTL_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_FEEDBACK_MAX_ENTRIES;
  }

  /** Ids remembered now (expired ones may still count until the next call). */
  get size(): number {
    return this.entries.size;
  }

  /** Remembers a finished request (a repeated id is moved to the back with the new answer). */
  remember(requestId: string, route: string, backend: string, variant: string, nowMs: number): void {
    if (requestId.length > MAX_ID_CHARS) return;
    const flat = Buffer.from(requestId, 'utf8').toString('utf8');
    this.entries.delete(flat);
    this.entries.set(flat, { route, backend, variant, atMs: nowMs });
    this.prune(nowMs);
    while (this.entries.size > this.maxEntries) this.dropOldest();
  }

  /** The request, unless unknown or older than the TTL. */
  lookup(requestId: string, nowMs: number): RememberedRequest | undefined {
    const entry = this.entries.get(requestId);
    if (entry === undefined) return undefined;
    if (nowMs - entry.atMs > this.ttlMs) {
      this.entries.delete(requestId);
      return undefined;
    }
    return entry;
  }

  /** Drops expired entries from the front. */
  prune(nowMs: number): void {
    for (const [id, entry] of this.entries) {
      if (nowMs - entry.atMs <= this.ttlMs) return;
      this.entries.delete(id);
    }
  }

  private dropOldest(): void {
    const first = this.entries.keys().next();
    if (!first.done) this.entries.delete(first.value);
  }
}
