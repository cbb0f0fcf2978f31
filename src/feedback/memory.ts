/**
 * What routecar remembers of a finished request so that feedback can be attributed later:
 * request id → (route, backend, variant), for a bounded time and number (defaults 15 min, 100k).
 *
 * Every finished request is remembered, so this sits on the hot path and holds up to 100k entries
 * for minutes: kept as JS objects and id strings they would be ~15 MB of long-lived heap that
 * every request adds to, which is what grows V8's old space under load. So the memory is flat
 * typed arrays allocated once:
 * - a ring of slots in arrival order (oldest first): a 64-bit hash of the id, the finish time,
 *   and an index into the interned (route, backend, variant) tuples;
 * - an open-addressing table (linear probing, backward-shift deletion) from id hash to slot.
 * Expiry and the size bound both evict from the ring's front, O(1) per request. The ring has room
 * for twice the entries (an id remembered again leaves a dead slot behind): about 62 bytes per
 * entry, 6.2 MB at 100k (bench/feedback-memory.js), outside the JS heap, and no garbage. Two ids with the same 64-bit hash (about 3 in 10^10 at
 * 100k entries) would share an entry. Time is passed in.
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
/** Distinct (route, backend, variant) tuples kept; past it (policies churning) everything restarts. */
const MAX_TUPLES = 10_000;
/** Marks a ring slot whose id was remembered again later (the newer slot answers). */
const DEAD = 0xffffffff;

export class RequestMemory {
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** Ring slots: twice the entries, so ids remembered again (their old slot dead) leave room. */
  private readonly capacity: number;
  private readonly hashHi: Uint32Array;
  private readonly hashLo: Uint32Array;
  private readonly atMs: Float64Array;
  private readonly tupleOf: Uint32Array;
  /** id hash → ring slot + 1 (0: empty). */
  private readonly table: Uint32Array;
  private readonly mask: number;
  private head = 0;
  private count = 0;
  private live = 0;
  private tuples: RememberedTuple[] = [];
  private tupleIndex = new Map<string, number>();

  constructor(options: RequestMemoryOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_FEEDBACK_TTL_MS;
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_FEEDBACK_MAX_ENTRIES);
    const n = (this.capacity = this.maxEntries * 2);
    this.hashHi = new Uint32Array(n);
    this.hashLo = new Uint32Array(n);
    this.atMs = new Float64Array(n);
    this.tupleOf = new Uint32Array(n);
    let size = 2;
    while (size < n * 2) size *= 2;
    this.table = new Uint32Array(size);
    this.mask = size - 1;
  }

  /** Ids remembered now (expired ones may still count until the next call). */
  get size(): number {
    return this.live;
  }

  /** Remembers a finished request (a repeated id is moved to the back with the new answer). */
  remember(requestId: string, route: string, backend: string, variant: string, nowMs: number): void {
    if (requestId.length > MAX_ID_CHARS) return;
    this.prune(nowMs);
    const [hi, lo] = hash64(requestId);
    const existing = this.find(hi, lo);
    if (existing >= 0) this.forget(existing);
    else if (this.live === this.maxEntries) this.evictOldest();
    if (this.count === this.capacity) this.compact();
    const slot = (this.head + this.count) % this.capacity;
    this.count++;
    this.live++;
    this.hashHi[slot] = hi;
    this.hashLo[slot] = lo;
    this.atMs[slot] = nowMs;
    this.tupleOf[slot] = this.intern(route, backend, variant);
    this.insert(lo, slot);
  }

  /** The request, unless unknown or older than the TTL. */
  lookup(requestId: string, nowMs: number): RememberedRequest | undefined {
    if (requestId.length > MAX_ID_CHARS) return undefined;
    const [hi, lo] = hash64(requestId);
    const slot = this.find(hi, lo);
    if (slot < 0) return undefined;
    const atMs = this.atMs[slot]!;
    if (nowMs - atMs > this.ttlMs) {
      // Entries are in finish order: everything before an expired one has expired too.
      this.prune(nowMs);
      return undefined;
    }
    const t = this.tuples[this.tupleOf[slot]!]!;
    return { route: t.route, backend: t.backend, variant: t.variant, atMs };
  }

  /** Drops expired (and superseded) entries from the front. */
  prune(nowMs: number): void {
    while (this.count > 0) {
      const slot = this.head;
      if (this.tupleOf[slot] !== DEAD && nowMs - this.atMs[slot]! <= this.ttlMs) return;
      this.dropHead();
    }
  }

  /** Evicts the oldest live entry (and the dead slots before it). */
  private evictOldest(): void {
    while (this.count > 0 && !this.dropHead()) {
      // a dead slot: keep going until a live entry is gone
    }
  }

  /** Drops the ring's first slot; whether it held a live entry. */
  private dropHead(): boolean {
    const slot = this.head;
    const live = this.tupleOf[slot] !== DEAD;
    if (live) {
      this.remove(this.hashHi[slot]!, this.hashLo[slot]!);
      this.live--;
    }
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return live;
  }

  /**
   * Moves the live slots to the front of the ring, in order, dropping the dead ones. Runs only
   * when the ring is full of slots and some are dead (ids remembered again): O(capacity), rare.
   */
  private compact(): void {
    const rotate = <T extends Uint32Array | Float64Array>(a: T): T => {
      const out = a.slice() as T;
      out.set(a.subarray(this.head));
      out.set(a.subarray(0, this.head), a.length - this.head);
      return out;
    };
    const [hi, lo, at, tuple] = [
      rotate(this.hashHi),
      rotate(this.hashLo),
      rotate(this.atMs),
      rotate(this.tupleOf),
    ];
    let to = 0;
    for (let k = 0; k < this.count; k++) {
      if (tuple[k] === DEAD) continue;
      this.hashHi[to] = hi[k]!;
      this.hashLo[to] = lo[k]!;
      this.atMs[to] = at[k]!;
      this.tupleOf[to] = tuple[k]!;
      to++;
    }
    this.head = 0;
    this.count = to;
    this.table.fill(0);
    for (let slot = 0; slot < to; slot++) this.insert(this.hashLo[slot]!, slot);
  }

  /** Takes a slot out of the index; it stays in the ring, dead, until evicted. */
  private forget(slot: number): void {
    this.remove(this.hashHi[slot]!, this.hashLo[slot]!);
    this.tupleOf[slot] = DEAD;
    this.live--;
  }

  private intern(route: string, backend: string, variant: string): number {
    const key = `${route}\u0001${backend}\u0001${variant}`;
    let i = this.tupleIndex.get(key);
    if (i !== undefined) return i;
    if (this.tuples.length >= MAX_TUPLES) this.clear();
    i = this.tuples.length;
    this.tuples.push({ route, backend, variant });
    this.tupleIndex.set(key, i);
    return i;
  }

  private clear(): void {
    this.table.fill(0);
    this.head = 0;
    this.count = 0;
    this.live = 0;
    this.tuples = [];
    this.tupleIndex = new Map();
  }

  /** The ring slot of an id hash, or -1. */
  private find(hi: number, lo: number): number {
    for (let i = lo & this.mask; ; i = (i + 1) & this.mask) {
      const entry = this.table[i]!;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (this.hashLo[slot] === lo && this.hashHi[slot] === hi) return slot;
    }
  }

  private insert(lo: number, slot: number): void {
    let i = lo & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
  }

  /** Linear-probing deletion that shifts later members of the run back, so no tombstones pile up. */
  private remove(hi: number, lo: number): void {
    let i = lo & this.mask;
    for (;;) {
      const entry = this.table[i]!;
      if (entry === 0) return;
      const slot = entry - 1;
      if (this.hashLo[slot] === lo && this.hashHi[slot] === hi) break;
      i = (i + 1) & this.mask;
    }
    let hole = i;
    for (let j = (hole + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const entry = this.table[j]!;
      if (entry === 0) break;
      const home = this.hashLo[entry - 1]! & this.mask;
      // Move the entry back when its home is not in the (hole, j] stretch of the probe run.
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        this.table[hole] = entry;
        hole = j;
      }
    }
    this.table[hole] = 0;
  }
}

interface RememberedTuple {
  readonly route: string;
  readonly backend: string;
  readonly variant: string;
}

/** Two independent 32-bit FNV-1a style hashes of the id's UTF-16 code units. */
function hash64(id: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b = Math.imul(b ^ (b >>> 16), 0xc2b2ae35);
  b ^= b >>> 16;
  return [a >>> 0, b >>> 0];
}
