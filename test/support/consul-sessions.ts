/**
 * Consul sessions for the emulator, following the session HTTP API
 * (developer.hashicorp.com/consul/api-docs/session) and its server code (agent/session_endpoint.go,
 * agent/consul/session_endpoint.go, agent/consul/session_ttl.go, agent/consul/state/session.go):
 *
 * - a session has a Name, a Behavior (`release`, the default, or `delete`), an optional TTL
 *   (a Go duration between `session_ttl_min`, 10s by default, and 24h) and a LockDelay (default
 *   15s; a JSON number below 1000 means seconds, otherwise nanoseconds; at most 60s);
 * - an unrenewed TTL session is invalidated after TTL × 2 (Consul's SessionTTLMultiplier), so the
 *   TTL is a lower bound; create and renew restart the timer;
 * - invalidation (TTL lapse or destroy) releases or deletes every key the session holds, in one
 *   Raft entry, and blocks `?acquire=` on those keys for the session's LockDelay;
 * - the emulator's sessions have no health checks: the agent's `serfHealth` is listed, as Consul
 *   does by default, but a session only ends by TTL or destroy.
 */
import { randomUUID } from 'node:crypto';
import { parseGoDuration } from './consul-kv-api.js';
import type { KvStore } from './consul-kv-store.js';

/** The emulated agent's node name. */
export const EMULATOR_NODE = 'routecar-emulator';

/** One live session. */
export interface SessionEntry {
  readonly id: string;
  readonly name: string;
  readonly behavior: 'release' | 'delete';
  /** As sent (`"15s"`), '' when none. */
  readonly ttl: string;
  readonly lockDelayMs: number;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** An RPC error Consul answers with 500 and its message. */
export class SessionError extends Error {}

const MAX_TTL_MS = 24 * 3_600_000;
const MAX_LOCK_DELAY_MS = 60_000;
const DEFAULT_LOCK_DELAY_MS = 15_000;
/** Consul's SessionTTLMultiplier: a TTL session is invalidated after twice its TTL. */
const TTL_MULTIPLIER = 2;

/** The body of `PUT /v1/session/create`, as decoded by Consul. */
interface CreateBody {
  Name?: unknown;
  Behavior?: unknown;
  TTL?: unknown;
  LockDelay?: unknown;
}

/** Consul's FixupLockDelay: numbers under 1000 are seconds, larger ones nanoseconds; strings are durations. */
function lockDelayMs(raw: unknown): number {
  if (raw === undefined || raw === null) return DEFAULT_LOCK_DELAY_MS;
  if (typeof raw === 'number') return raw < 1000 ? raw * 1000 : raw / 1e6;
  const parsed = typeof raw === 'string' ? parseGoDuration(raw) : undefined;
  if (parsed === undefined) throw new SessionError(`invalid LockDelay: ${JSON.stringify(raw)}`);
  return parsed;
}

/** Go's time.Duration String for whole milliseconds (enough for error messages). */
function goDuration(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

/** The session table, sharing the KV store's Raft index. Timers are real (the emulator is a server). */
export class SessionTable {
  private readonly sessions = new Map<string, SessionEntry>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Key -> epoch ms until which `?acquire=` fails (Consul's lock-delay). */
  private readonly lockDelays = new Map<string, number>();

  constructor(
    private readonly kv: KvStore,
    private readonly ttlMinMs: number,
  ) {}

  /** `PUT /v1/session/create`; returns the new session. Throws SessionError for invalid settings. */
  create(body: CreateBody): SessionEntry {
    const behavior = body.Behavior === undefined || body.Behavior === '' ? 'release' : body.Behavior;
    if (behavior !== 'release' && behavior !== 'delete')
      throw new SessionError(`Invalid Behavior setting '${String(behavior)}'`);
    const ttl = typeof body.TTL === 'string' ? body.TTL : '';
    if (ttl !== '') {
      const ms = parseGoDuration(ttl);
      if (ms === undefined)
        throw new SessionError(`Session TTL '${ttl}' invalid: time: invalid duration "${ttl}"`);
      if (ms !== 0 && (ms < this.ttlMinMs || ms > MAX_TTL_MS))
        throw new SessionError(
          `Invalid Session TTL '${ms * 1e6}', must be between [${goDuration(this.ttlMinMs)}=${goDuration(MAX_TTL_MS)}]`,
        );
    }
    const idx = this.kv.nextIndex();
    const session: SessionEntry = {
      id: randomUUID(),
      name: typeof body.Name === 'string' ? body.Name : '',
      behavior,
      ttl,
      lockDelayMs: Math.min(lockDelayMs(body.LockDelay), MAX_LOCK_DELAY_MS),
      createIndex: idx,
      modifyIndex: idx,
    };
    this.sessions.set(session.id, session);
    this.arm(session);
    return session;
  }

  /** The session, if it is live. */
  get(id: string): SessionEntry | undefined {
    return this.sessions.get(id);
  }

  /** Every live session, oldest first. */
  list(): SessionEntry[] {
    return [...this.sessions.values()];
  }

  /** `PUT /v1/session/renew/:id`: restarts the TTL timer; undefined when the session is gone. */
  renew(id: string): SessionEntry | undefined {
    const session = this.sessions.get(id);
    if (session) this.arm(session);
    return session;
  }

  /** `PUT /v1/session/destroy/:id` (and a TTL lapse): invalidates the session and its locks. */
  destroy(id: string, now = Date.now()): void {
    const idx = this.kv.nextIndex();
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    for (const key of this.kv.dropSession(id, session.behavior, idx)) {
      if (session.lockDelayMs > 0) this.lockDelays.set(key, now + session.lockDelayMs);
    }
  }

  /** Whether `?acquire=` on the key is blocked by the lock-delay of an invalidated holder. */
  lockDelayed(key: string, now = Date.now()): boolean {
    const until = this.lockDelays.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.lockDelays.delete(key);
    return false;
  }

  /** Stops every TTL timer (the emulator is closing for good). */
  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private arm(session: SessionEntry): void {
    clearTimeout(this.timers.get(session.id));
    if (session.ttl === '') return;
    const ms = parseGoDuration(session.ttl) ?? 0;
    if (ms === 0) return;
    const timer = setTimeout(() => this.destroy(session.id), ms * TTL_MULTIPLIER);
    timer.unref();
    this.timers.set(session.id, timer);
  }
}

/** A session as Consul's API answers it (field order of structs.Session). */
export function sessionJson(s: SessionEntry): Record<string, unknown> {
  return {
    ID: s.id,
    Name: s.name,
    Node: EMULATOR_NODE,
    LockDelay: s.lockDelayMs * 1e6,
    Behavior: s.behavior,
    TTL: s.ttl,
    NodeChecks: ['serfHealth'],
    ServiceChecks: null,
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  };
}
