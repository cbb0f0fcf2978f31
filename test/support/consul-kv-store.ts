/**
 * The state behind the Consul emulator: Consul's KV table, its tombstone graveyard and its ACL
 * key rules, with the index arithmetic of Consul's state store (agent/consul/state/kvs.go):
 *
 * - every write request is one Raft entry, so it consumes a Raft index even when it changes
 *   nothing (a failed CAS, an identical PUT, deleting a missing key);
 * - the "kvs" table index and the "tombstones" table index move only when something changed;
 * - a single-key read answers the entry's ModifyIndex, or the table index when it is missing;
 * - a prefix read answers the highest ModifyIndex among the matched entries and the tombstones
 *   under the prefix (so deleting a key moves its prefix's index), else the table index;
 * - an index of 0 is never handed out: Consul answers 1 instead, so clients never spin.
 */

/** One stored key, as Consul keeps it. */
export interface KvEntry {
  readonly key: string;
  /** The bytes as sent; `null` for an empty value (Consul answers `"Value": null`). */
  readonly value: Buffer | null;
  /** uint64 flags (`?flags=`). */
  readonly flags: bigint;
  readonly createIndex: number;
  readonly modifyIndex: number;
  /** How many times the key was acquired (`?acquire=` by a session that did not hold it). */
  readonly lockIndex: number;
  /** The session holding the key's lock, if any. */
  readonly session?: string;
}

/** Opaque copy of the whole store, for `restoreSnapshot`. */
export interface KvSnapshot {
  readonly entries: ReadonlyMap<string, KvEntry>;
  readonly tombstones: ReadonlyMap<string, number>;
  readonly raftIndex: number;
  readonly kvsIndex: number;
  readonly tombstonesIndex: number;
}

/** The result of a read: the index to send as `X-Consul-Index`, and what matched. */
export interface KvRead<T> {
  readonly index: number;
  readonly result: T;
}

/** Byte-wise key order, as Consul's radix tree iterates (JS string order differs past ASCII). */
function byKey(a: KvEntry, b: KvEntry): number {
  return Buffer.compare(Buffer.from(a.key), Buffer.from(b.key));
}

function sameValue(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

/** Consul's KV state store, in memory. `onChange` runs after every write that changed something. */
export class KvStore {
  private entries = new Map<string, KvEntry>();
  private tombstones = new Map<string, number>();
  private kvsIndex = 0;
  private tombstonesIndex = 0;

  constructor(
    private raftIndex: number,
    private readonly onChange: () => void,
  ) {}

  /** The last Raft index handed out (the cluster's commit index). */
  get lastIndex(): number {
    return this.raftIndex;
  }

  /** Consumes one Raft index for a write outside the KV table (a session operation). */
  nextIndex(): number {
    return ++this.raftIndex;
  }

  /** Consul's kvsMaxIndex: the highest index of the kvs and tombstones tables, at least 1. */
  private tableIndex(): number {
    return Math.max(this.kvsIndex, this.tombstonesIndex, 1);
  }

  /** A single key (`GET /v1/kv/<key>`). */
  get(key: string): KvRead<KvEntry | undefined> {
    const entry = this.entries.get(key);
    return { index: entry ? entry.modifyIndex : this.tableIndex(), result: entry };
  }

  /** Every entry under a prefix, in key order (`?recurse`, `?keys`), before any ACL filtering. */
  list(prefix: string): KvRead<KvEntry[]> {
    const matched = [...this.entries.values()].filter((e) => e.key.startsWith(prefix)).sort(byKey);
    let index = Math.max(0, ...matched.map((e) => e.modifyIndex));
    if (prefix === '') {
      index = this.tableIndex();
    } else {
      for (const [key, at] of this.tombstones) if (key.startsWith(prefix)) index = Math.max(index, at);
    }
    return { index: index || this.tableIndex(), result: matched };
  }

  /**
   * `PUT`: stores the value; with `cas`, only when the key's ModifyIndex equals it (0: only when
   * absent). Returns whether the write applied. An identical write succeeds without changing
   * ModifyIndex, as in Consul 1.x's kvsSetTxn.
   */
  set(key: string, value: Buffer | null, flags: bigint, cas?: bigint): boolean {
    const idx = ++this.raftIndex;
    const existing = this.entries.get(key);
    if (cas !== undefined) {
      if (
        cas === 0n ? existing !== undefined : existing === undefined || BigInt(existing.modifyIndex) !== cas
      ) {
        return false;
      }
    }
    const stored = value && value.length > 0 ? Buffer.from(value) : null;
    if (existing && existing.flags === flags && sameValue(existing.value, stored)) return true;
    this.entries.set(key, {
      key,
      value: stored,
      flags,
      createIndex: existing ? existing.createIndex : idx,
      modifyIndex: idx,
      lockIndex: existing ? existing.lockIndex : 0,
      ...(existing?.session ? { session: existing.session } : {}),
    });
    this.kvsIndex = idx;
    this.onChange();
    return true;
  }

  /**
   * `PUT ?acquire=<session>` once the session is known valid (Consul's kvsLockTxn): fails when
   * another session holds the key; the holder may rewrite the value; a new holder moves LockIndex.
   */
  lock(key: string, value: Buffer | null, flags: bigint, session: string): boolean {
    const idx = ++this.raftIndex;
    const existing = this.entries.get(key);
    if (existing?.session && existing.session !== session) return false;
    const stored = value && value.length > 0 ? Buffer.from(value) : null;
    const reacquire = existing?.session === session;
    if (reacquire && existing.flags === flags && sameValue(existing.value, stored)) return true;
    this.entries.set(key, {
      key,
      value: stored,
      flags,
      createIndex: existing ? existing.createIndex : idx,
      modifyIndex: idx,
      lockIndex: reacquire ? existing.lockIndex : (existing?.lockIndex ?? 0) + 1,
      session,
    });
    this.kvsIndex = idx;
    this.onChange();
    return true;
  }

  /** `PUT ?release=<session>` (Consul's kvsUnlockTxn): only the holder may release; LockIndex stays. */
  unlock(key: string, value: Buffer | null, flags: bigint, session: string): boolean {
    const idx = ++this.raftIndex;
    const existing = this.entries.get(key);
    if (!existing || existing.session !== session) return false;
    this.entries.set(key, {
      key,
      value: value && value.length > 0 ? Buffer.from(value) : null,
      flags,
      createIndex: existing.createIndex,
      modifyIndex: idx,
      lockIndex: existing.lockIndex,
    });
    this.kvsIndex = idx;
    this.onChange();
    return true;
  }

  /**
   * An invalidated session's locks, at the session's Raft index `idx` (Consul's deleteSessionTxn):
   * `release` clears Session and moves ModifyIndex, `delete` removes the keys. Returns the keys.
   */
  dropSession(session: string, behavior: 'release' | 'delete', idx: number): string[] {
    const held = [...this.entries.values()].filter((e) => e.session === session);
    for (const e of held) {
      if (behavior === 'delete') {
        this.entries.delete(e.key);
        this.tombstones.set(e.key, idx);
        this.tombstonesIndex = idx;
      } else {
        const { session: _held, ...rest } = e;
        this.entries.set(e.key, { ...rest, modifyIndex: idx });
      }
    }
    if (held.length > 0) {
      this.kvsIndex = idx;
      this.onChange();
    }
    return held.map((e) => e.key);
  }

  /**
   * `DELETE` of one key; with `cas`, only when its ModifyIndex equals it. Like Consul, a CAS delete
   * of a key that does not exist answers true, and a delete leaves a tombstone at the key.
   */
  delete(key: string, cas?: bigint): boolean {
    const idx = ++this.raftIndex;
    const existing = this.entries.get(key);
    if (!existing) return true;
    if (cas !== undefined && BigInt(existing.modifyIndex) !== cas) return false;
    this.entries.delete(key);
    this.tombstones.set(key, idx);
    this.tombstonesIndex = idx;
    this.kvsIndex = idx;
    this.onChange();
    return true;
  }

  /** `DELETE ?recurse`: removes the subtree and leaves one tombstone at the prefix (none for the root). */
  deleteTree(prefix: string): boolean {
    const idx = ++this.raftIndex;
    const doomed = [...this.entries.keys()].filter((k) => k.startsWith(prefix));
    if (doomed.length === 0) return true;
    for (const key of doomed) this.entries.delete(key);
    if (prefix !== '') {
      this.tombstones.set(prefix, idx);
      this.tombstonesIndex = idx;
    }
    this.kvsIndex = idx;
    this.onChange();
    return true;
  }

  /** A copy of the whole state. */
  snapshot(): KvSnapshot {
    const { raftIndex, kvsIndex, tombstonesIndex } = this;
    return {
      entries: new Map(this.entries),
      tombstones: new Map(this.tombstones),
      raftIndex,
      kvsIndex,
      tombstonesIndex,
    };
  }

  /** Replaces the whole state (a `consul snapshot restore`): indexes may go backwards. */
  restore(snapshot: KvSnapshot): void {
    this.entries = new Map(snapshot.entries);
    this.tombstones = new Map(snapshot.tombstones);
    this.raftIndex = snapshot.raftIndex;
    this.kvsIndex = snapshot.kvsIndex;
    this.tombstonesIndex = snapshot.tombstonesIndex;
  }

  /**
   * Keeps the data but winds every index back to at most `index`, as after restoring a snapshot
   * into a rebuilt cluster: the data survives, the Raft history does not.
   */
  resetIndex(index: number): void {
    const clamp = (n: number): number => Math.min(n, index);
    for (const [key, e] of this.entries) {
      this.entries.set(key, { ...e, createIndex: clamp(e.createIndex), modifyIndex: clamp(e.modifyIndex) });
    }
    for (const [key, at] of this.tombstones) this.tombstones.set(key, clamp(at));
    this.raftIndex = index;
    this.kvsIndex = clamp(this.kvsIndex);
    this.tombstonesIndex = clamp(this.tombstonesIndex);
  }
}

/** Key rules of one ACL token: prefixes granted read, write (implies read), or explicitly denied. */
export interface KvAclRules {
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  readonly deny?: readonly string[];
}

const LEVELS = { deny: 0, read: 1, write: 2 } as const;

/**
 * Consul's `key_prefix` semantics: the longest matching prefix decides; nothing matching means the
 * default policy, which is `deny` whenever the emulator has ACLs enabled. At equal length, deny wins.
 */
export class KvAuthorizer {
  private readonly rules: Array<{ prefix: string; level: number }> = [];

  constructor(rules: KvAclRules) {
    for (const kind of ['write', 'read', 'deny'] as const) {
      for (const prefix of rules[kind] ?? []) this.rules.push({ prefix, level: LEVELS[kind] });
    }
  }

  private level(key: string): number {
    let best: { prefix: string; level: number } | undefined;
    for (const r of this.rules) {
      if (!key.startsWith(r.prefix)) continue;
      if (
        !best ||
        r.prefix.length > best.prefix.length ||
        (r.prefix.length === best.prefix.length && r.level < best.level)
      ) {
        best = r;
      }
    }
    return best ? best.level : LEVELS.deny;
  }

  canRead(key: string): boolean {
    return this.level(key) >= LEVELS.read;
  }

  canWrite(key: string): boolean {
    return this.level(key) >= LEVELS.write;
  }

  /** Consul's KeyWritePrefix, used by `DELETE ?recurse`: write on the prefix and on every rule under it. */
  canWritePrefix(prefix: string): boolean {
    return (
      this.canWrite(prefix) &&
      this.rules.every((r) => !r.prefix.startsWith(prefix) || r.level === LEVELS.write)
    );
  }
}
