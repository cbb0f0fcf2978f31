import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatPolicyError } from '../../../src/policy/errors.js';
import { loadLastGood } from '../../../src/policy/last-good.js';
import type { PolicyOrigin } from '../../../src/policy/sources/source.js';
import { PolicyStore, type PolicyChange, type PolicyRefusal } from '../../../src/policy/store.js';
import { baseDocument, text } from './fixtures.js';

const T0 = Date.parse('2025-01-02T03:04:05.000Z');
const consul = (modifyIndex: number): PolicyOrigin => ({
  source: 'consul',
  location: 'routecar/policy',
  modifyIndex,
});
const splitsOrigin: PolicyOrigin = { source: 'consul', location: 'routecar/splits/' };
const GOOD = text(baseDocument());

function storeWithClock(stateDir?: string) {
  let now = T0;
  const store = new PolicyStore({ now: () => now, ...(stateDir === undefined ? {} : { stateDir }) });
  return { store, advance: (ms: number) => (now += ms) };
}

function badDocument(): string {
  const doc = baseDocument();
  doc.routes.chat = { backends: ['big', 'ghost'] };
  return text(doc);
}

describe('PolicyStore: documents', () => {
  it('serves the first valid document, with its metadata', () => {
    const { store } = storeWithClock();
    expect(store.current()).toBeUndefined();
    const result = store.apply({ kind: 'document', text: GOOD, origin: consul(7) });
    expect(result.kind).toBe('swapped');
    const status = store.status();
    expect(status.version).toBe(store.current()?.version);
    expect(status.contentHash).toBe(createHash('sha256').update(GOOD).digest('hex'));
    expect(status.origin).toEqual(consul(7));
    expect(status.loadedAt).toBe('2025-01-02T03:04:05.000Z');
    expect(status.reloads).toEqual({ accepted: 1, refused: 0 });
  });

  it('refuses an invalid document, keeps serving the last good one, and records why', () => {
    const { store, advance } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    const before = store.current();
    const refusals: PolicyRefusal[] = [];
    store.onRefused((r) => refusals.push(r));
    advance(1000);
    const result = store.apply({ kind: 'document', text: badDocument(), origin: consul(2) });
    expect(result).toEqual({
      kind: 'refused',
      errors: [
        { path: 'routes.chat.backends.1', message: 'unknown backend "ghost"', line: expect.any(Number) },
      ],
    });
    if (result.kind === 'refused')
      expect(badDocument().split('\n')[(result.errors[0]?.line ?? 0) - 1]).toContain('"ghost"');
    expect(store.current()).toBe(before);
    expect(store.status().origin).toEqual(consul(1));
    expect(store.status().lastError).toMatchObject({
      reason: 'invalid-document',
      message: 'routes.chat.backends.1: unknown backend "ghost"',
      errors: [{ path: 'routes.chat.backends.1' }],
      origin: consul(2),
      at: '2025-01-02T03:04:06.000Z',
    });
    expect(store.status().reloads).toEqual({ accepted: 1, refused: 1 });
    expect(refusals.map((r) => r.reason)).toEqual(['invalid-document']);
  });

  it('swaps atomically: a snapshot read before the swap stays intact', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    const held = store.current();
    const doc = baseDocument();
    doc.routes.chat = { backends: ['small'] };
    store.apply({ kind: 'document', text: text(doc), origin: consul(2) });
    expect(store.current()).not.toBe(held);
    expect(held?.routes.get('chat')?.backends).toEqual(['big', 'small']);
    expect(store.current()?.routes.get('chat')?.backends).toEqual(['small']);
  });

  it('notifies onChange with the previous snapshot, and not for unchanged content', () => {
    const { store } = storeWithClock();
    const changes: PolicyChange[] = [];
    store.onChange((c) => changes.push(c));
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    const first = store.current();
    expect(store.apply({ kind: 'document', text: GOOD, origin: consul(2) }).kind).toBe('unchanged');
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ previous: undefined, cause: 'document', origin: consul(1) });
    expect(store.current()).toBe(first);
    expect(store.status().origin).toEqual(consul(2));
  });

  it('keeps serving when the source is unavailable or the key is missing, and records it', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    const held = store.current();
    expect(store.apply({ kind: 'unavailable', error: 'connect ECONNREFUSED', origin: consul(1) })).toEqual({
      kind: 'kept',
      reason: 'unavailable',
    });
    expect(store.status().lastError?.message).toBe('(document): connect ECONNREFUSED');
    expect(store.apply({ kind: 'document-missing', origin: consul(1) }).kind).toBe('kept');
    expect(store.status().lastError?.reason).toBe('document-missing');
    expect(store.current()).toBe(held);
  });

  it('survives a listener that throws', () => {
    const { store } = storeWithClock();
    store.onChange(() => {
      throw new Error('listener bug');
    });
    expect(store.apply({ kind: 'document', text: GOOD, origin: consul(1) }).kind).toBe('swapped');
    expect(store.current()).toBeDefined();
  });

  it('stops notifying after unsubscribe', () => {
    const { store } = storeWithClock();
    let calls = 0;
    const off = store.onChange(() => (calls += 1));
    off();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    expect(calls).toBe(0);
  });
});

describe('PolicyStore: split overrides', () => {
  const splitOf = (store: PolicyStore, route: string) =>
    Object.fromEntries(store.current()?.routes.get(route)?.split ?? []);

  it('applies overrides over the policy split and falls back when the key is deleted', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    expect(splitOf(store, 'canary')).toEqual({ big: 90, next: 10 });
    const applied = store.apply({
      kind: 'splits',
      splits: new Map([['canary', '{"big": 50, "next": 50}']]),
      origin: splitsOrigin,
    });
    expect(applied.kind).toBe('swapped');
    expect(splitOf(store, 'canary')).toEqual({ big: 50, next: 50 });
    expect(store.current()?.routes.get('canary')?.splitSource).toBe('consul');
    expect(store.status().splitOverrides).toEqual({ canary: { big: 50, next: 50 } });
    store.apply({ kind: 'splits', splits: new Map(), origin: splitsOrigin });
    expect(splitOf(store, 'canary')).toEqual({ big: 90, next: 10 });
    expect(store.current()?.routes.get('canary')?.splitSource).toBe('policy');
  });

  it('refuses an invalid override alone: other routes still get theirs', () => {
    const { store } = storeWithClock();
    const refusals: PolicyRefusal[] = [];
    store.onRefused((r) => refusals.push(r));
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    const splits = new Map([
      ['canary', '{"big": 0, "next": 0}'],
      ['chat', '{"small": 1}'],
    ]);
    expect(store.apply({ kind: 'splits', splits, origin: splitsOrigin }).kind).toBe('swapped');
    expect(splitOf(store, 'canary')).toEqual({ big: 90, next: 10 });
    expect(splitOf(store, 'chat')).toEqual({ small: 1 });
    expect(store.status().refusedSplits).toEqual([{ path: 'splits/canary', message: 'weights sum to 0' }]);
    expect(refusals.map((r) => [r.reason, r.message])).toEqual([
      ['invalid-split', 'splits/canary: weights sum to 0'],
    ]);
    // The same refused key delivered again is not reported again.
    store.apply({ kind: 'splits', splits: new Map(splits), origin: splitsOrigin });
    expect(refusals).toHaveLength(1);
  });

  it('keeps overrides that arrive before the first document and applies them with it', () => {
    const { store } = storeWithClock();
    const early = store.apply({
      kind: 'splits',
      splits: new Map([['canary', '{"next": 1}']]),
      origin: splitsOrigin,
    });
    expect(early).toEqual({ kind: 'kept', reason: 'no-document' });
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    expect(splitOf(store, 'canary')).toEqual({ next: 1 });
  });

  it('re-checks overrides against a new document; one that no longer fits is dropped, not blocking', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1}']]), origin: splitsOrigin });
    const doc = baseDocument();
    doc.routes.canary = { backends: ['big', 'small'], split: { big: 1 } };
    expect(store.apply({ kind: 'document', text: text(doc), origin: consul(2) }).kind).toBe('swapped');
    expect(splitOf(store, 'canary')).toEqual({ big: 1 });
    expect(store.status().refusedSplits).toEqual([
      { path: 'splits/canary', message: 'backend "next" is not in route "canary"' },
    ]);
  });

  it('a refused override leaves the last good one serving, and says so for its route', () => {
    const { store, advance } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({
      kind: 'splits',
      splits: new Map([['canary', '{"big": 50, "next": 50}']]),
      origin: splitsOrigin,
    });
    const running = store.current();
    const cases: Array<[string, string]> = [
      ['{"big": 50, "next": 50', 'not valid JSON: '],
      ['{"big": 50, "nxt": 50}', 'backend "nxt" is not in route "canary" (did you mean "next"?)'],
      ['{"big": 0, "next": 0}', 'weights sum to 0'],
      ['{"big": 50, "next": -5}', 'weight of "next" must be a number >= 0, got -5'],
    ];
    for (const [value, message] of cases) {
      advance(1000);
      const result = store.apply({
        kind: 'splits',
        splits: new Map([['canary', value]]),
        origin: splitsOrigin,
      });
      expect(result.kind, value).toBe('unchanged');
      expect(store.current(), value).toBe(running);
      expect(splitOf(store, 'canary')).toEqual({ big: 50, next: 50 });
      expect(store.current()?.routes.get('canary')?.splitSource).toBe('consul');
      const status = store.status();
      expect(status.splitOverrides).toEqual({ canary: { big: 50, next: 50 } });
      expect(status.splitErrors?.canary).toMatchObject({
        path: 'splits/canary',
        serving: 'last-good-override',
      });
      expect(status.splitErrors?.canary?.message).toContain(`splits/canary: ${message}`);
      expect(status.lastError).toMatchObject({ reason: 'invalid-split' });
    }
    // The same refused value delivered again keeps the time it was first refused.
    const firstAt = store.status().splitErrors?.canary?.at;
    advance(1000);
    store.apply({ kind: 'splits', splits: new Map([['canary', cases[3]![0]]]), origin: splitsOrigin });
    expect(store.status().splitErrors?.canary?.at).toBe(firstAt);
    // Only deleting the key falls back to the policy split.
    store.apply({ kind: 'splits', splits: new Map(), origin: splitsOrigin });
    expect(splitOf(store, 'canary')).toEqual({ big: 90, next: 10 });
    expect(store.status().splitErrors).toEqual({});
    expect(store.status().refusedSplits).toEqual([]);
  });

  it('an invalid override with no good one before it leaves the policy split serving', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({ kind: 'splits', splits: new Map([['canary', 'oops']]), origin: splitsOrigin });
    expect(splitOf(store, 'canary')).toEqual({ big: 90, next: 10 });
    expect(store.status().splitErrors?.canary).toMatchObject({
      path: 'splits/canary',
      serving: 'policy-split',
      at: '2025-01-02T03:04:05.000Z',
    });
  });

  it('persists the last good override, not the refused one, and restores it after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routecar-policy-'));
    try {
      const { store } = storeWithClock(dir);
      store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
      store.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1}']]), origin: splitsOrigin });
      store.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1,}']]), origin: splitsOrigin });
      await store.flush();
      const loaded = await loadLastGood(dir);
      if (loaded.kind !== 'loaded') throw new Error(`expected a record, got ${loaded.kind}`);
      expect(loaded.record.splits).toEqual({ canary: '{"next": 1}' });

      // After a restart, Consul still holds the typo: the restored override keeps serving.
      const second = storeWithClock().store;
      second.restore(loaded.record, loaded.file);
      second.apply({ kind: 'document', text: GOOD, origin: consul(1) });
      second.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1,}']]), origin: splitsOrigin });
      expect(splitOf(second, 'canary')).toEqual({ next: 1 });
      expect(second.status().splitErrors?.canary?.serving).toBe('last-good-override');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a new document that drops a backend of the override in force: refused, policy split, reported', () => {
    const { store } = storeWithClock();
    const refusals: PolicyRefusal[] = [];
    store.onRefused((r) => refusals.push(r));
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({
      kind: 'splits',
      splits: new Map([['canary', '{"big": 1, "next": 1}']]),
      origin: splitsOrigin,
    });
    const doc = baseDocument();
    doc.routes.canary = { backends: ['big', 'small'], split: { big: 1 } };
    expect(store.apply({ kind: 'document', text: text(doc), origin: consul(2) }).kind).toBe('swapped');
    expect(splitOf(store, 'canary')).toEqual({ big: 1 });
    expect(store.current()?.routes.get('canary')?.splitSource).toBe('policy');
    expect(store.status().splitOverrides).toEqual({});
    expect(store.status().splitErrors?.canary).toMatchObject({
      serving: 'policy-split',
      message: 'splits/canary: backend "next" is not in route "canary"',
    });
    expect(refusals.map((r) => [r.reason, r.message])).toEqual([
      ['invalid-split', 'splits/canary: backend "next" is not in route "canary"'],
    ]);
    // The key still holds the override: a document that brings the backend back applies it again.
    store.apply({ kind: 'document', text: GOOD, origin: consul(3) });
    expect(splitOf(store, 'canary')).toEqual({ big: 1, next: 1 });
    expect(store.status().splitErrors).toEqual({});
  });

  it('a new document that drops a backend of the last good override behind a typo: both refused, policy split', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({
      kind: 'splits',
      splits: new Map([['canary', '{"big": 1, "next": 1}']]),
      origin: splitsOrigin,
    });
    store.apply({
      kind: 'splits',
      splits: new Map([['canary', '{"big": 1, "nxt": 1}']]),
      origin: splitsOrigin,
    });
    expect(splitOf(store, 'canary')).toEqual({ big: 1, next: 1 });
    const doc = baseDocument();
    doc.routes.canary = { backends: ['big', 'small'], split: { big: 1 } };
    store.apply({ kind: 'document', text: text(doc), origin: consul(2) });
    expect(splitOf(store, 'canary')).toEqual({ big: 1 });
    const refusal = store.status().splitErrors?.canary;
    expect(refusal?.serving).toBe('policy-split');
    expect(refusal?.errors.map(formatPolicyError)).toEqual([
      'splits/canary: backend "nxt" is not in route "canary"',
      'splits/canary: the last good override {"big":1,"next":1} no longer fits the policy: backend "next" is not in route "canary"',
    ]);
    // Gone for good: a document bringing "next" back does not revive it; the key's value is still the typo.
    store.apply({ kind: 'document', text: GOOD, origin: consul(3) });
    expect(splitOf(store, 'canary')).toEqual({ big: 90, next: 10 });
  });

  it('changes the version when overrides change', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    const before = store.status().version;
    store.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1}']]), origin: splitsOrigin });
    expect(store.status().version).not.toBe(before);
  });
});

describe('PolicyStore: redacted view', () => {
  it('masks credentials in URLs and shows apiKeyEnv names only', () => {
    const doc = baseDocument();
    doc.backends.big = { ...doc.backends.big!, url: 'https://svc:s3cret@big.local/v1', apiKeyEnv: 'BIG_KEY' };
    const { store } = storeWithClock();
    expect(store.redacted()).toBeUndefined();
    store.apply({ kind: 'document', text: text(doc), origin: consul(1) });
    const view = store.redacted();
    expect(view?.backends.big?.url).toBe('https://***:***@big.local/v1');
    expect(view?.backends.big?.apiKeyEnv).toBe('BIG_KEY');
    expect(JSON.stringify(view)).not.toContain('s3cret');
    expect(store.currentDocument()?.backends.big?.url).toBe('https://svc:s3cret@big.local/v1');
  });
});

describe('PolicyStore: last good policy on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'routecar-policy-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('persists the accepted document with its origin and overrides, atomically', async () => {
    const stateDir = join(dir, 'state');
    const { store } = storeWithClock(stateDir);
    store.apply({ kind: 'document', text: GOOD, origin: consul(41) });
    store.apply({
      kind: 'splits',
      splits: new Map([
        ['canary', '{"next": 1}'],
        ['chat', 'nonsense'],
      ]),
      origin: splitsOrigin,
    });
    await store.flush();
    const loaded = await loadLastGood(stateDir);
    expect(loaded.kind).toBe('loaded');
    if (loaded.kind !== 'loaded') return;
    expect(loaded.record).toMatchObject({
      text: GOOD,
      origin: consul(41),
      splits: { canary: '{"next": 1}' },
      version: store.status().version,
      savedAt: '2025-01-02T03:04:05.000Z',
    });
    expect(await readdir(stateDir)).toEqual(['last-good-policy.json']);
  });

  it('does not persist a refused document', async () => {
    const { store } = storeWithClock(dir);
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({ kind: 'document', text: badDocument(), origin: consul(2) });
    await store.flush();
    const loaded = await loadLastGood(dir);
    expect(loaded.kind === 'loaded' && loaded.record.origin).toEqual(consul(1));
  });

  it('restores the same policy in a new store, without writing it back', async () => {
    const first = storeWithClock(dir).store;
    first.apply({ kind: 'document', text: GOOD, origin: consul(9) });
    first.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1}']]), origin: splitsOrigin });
    await first.flush();
    const loaded = await loadLastGood(dir);
    if (loaded.kind !== 'loaded') throw new Error(`expected a record, got ${loaded.kind}`);
    await rm(loaded.file);

    const second = storeWithClock(dir).store;
    expect(second.restore(loaded.record, loaded.file).kind).toBe('swapped');
    expect(second.status().version).toBe(first.status().version);
    expect(second.status().origin).toEqual({ source: 'state', location: loaded.file });
    expect(Object.fromEntries(second.current()?.routes.get('canary')?.split ?? [])).toEqual({ next: 1 });
    await second.flush();
    expect((await loadLastGood(dir)).kind).toBe('none');
  });

  it('reports none for a missing file and corrupt for garbage', async () => {
    expect((await loadLastGood(join(dir, 'absent'))).kind).toBe('none');
    await writeFile(join(dir, 'last-good-policy.json'), '{"format": 1, "text": 5}');
    const corrupt = await loadLastGood(dir);
    expect(corrupt.kind).toBe('corrupt');
    await writeFile(join(dir, 'last-good-policy.json'), 'not json');
    expect((await loadLastGood(dir)).kind).toBe('corrupt');
  });

  it('reports a failed write without affecting the serving policy', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'x');
    const { store } = storeWithClock(join(blocker, 'state'));
    const refusals: PolicyRefusal[] = [];
    store.onRefused((r) => refusals.push(r));
    expect(store.apply({ kind: 'document', text: GOOD, origin: consul(1) }).kind).toBe('swapped');
    await store.flush();
    expect(refusals.map((r) => r.reason)).toEqual(['persist-failed']);
    expect(store.current()).toBeDefined();
  });
});

describe('PolicyStore: lastError says what is wrong now', () => {
  it('a good document after a refused one clears lastError and keeps it as previousError', () => {
    const { store, advance } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    advance(1000);
    store.apply({ kind: 'document', text: badDocument(), origin: consul(2) });
    const refused = store.status().lastError;
    expect(refused?.reason).toBe('invalid-document');
    expect(store.status().previousError).toBeUndefined();
    advance(1000);
    const doc = baseDocument();
    doc.routes.chat = { backends: ['small'] };
    expect(store.apply({ kind: 'document', text: text(doc), origin: consul(3) }).kind).toBe('swapped');
    expect(store.status().lastError).toBeUndefined();
    expect(store.status().previousError).toEqual({ ...refused, resolvedAt: '2025-01-02T03:04:07.000Z' });
  });

  it('the same good document again (unchanged) also resolves the refusal', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({ kind: 'document', text: badDocument(), origin: consul(2) });
    expect(store.apply({ kind: 'document', text: GOOD, origin: consul(3) }).kind).toBe('unchanged');
    expect(store.status().lastError).toBeUndefined();
    expect(store.status().previousError?.reason).toBe('invalid-document');
  });

  it('a refused document from one source is not resolved by a document from another', () => {
    const { store } = storeWithClock();
    const file: PolicyOrigin = { source: 'file', location: '/etc/routecar/policy.yaml' };
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({ kind: 'document', text: badDocument(), origin: consul(2) });
    store.apply({ kind: 'document', text: GOOD, origin: file });
    expect(store.status().lastError?.reason).toBe('invalid-document');
  });

  it('a missing document is resolved when the document is back', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({ kind: 'document-missing', origin: consul(1) });
    store.apply({ kind: 'document', text: GOOD, origin: consul(2) });
    expect(store.status().lastError).toBeUndefined();
    expect(store.status().previousError?.reason).toBe('document-missing');
  });

  it('a refused override is resolved once no override is refused any more', () => {
    const { store } = storeWithClock();
    store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
    store.apply({ kind: 'splits', splits: new Map([['canary', 'oops']]), origin: splitsOrigin });
    expect(store.status().lastError?.reason).toBe('invalid-split');
    store.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1}']]), origin: splitsOrigin });
    expect(store.status().lastError).toBeUndefined();
    expect(store.status().previousError?.reason).toBe('invalid-split');
  });

  it('a failed write of the last good policy is resolved by the next successful write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routecar-policy-'));
    try {
      const blocker = join(dir, 'a-file');
      await writeFile(blocker, 'x');
      const { store } = storeWithClock(join(blocker, 'state'));
      store.apply({ kind: 'document', text: GOOD, origin: consul(1) });
      await store.flush();
      expect(store.status().lastError?.reason).toBe('persist-failed');
      await rm(blocker);
      store.apply({ kind: 'splits', splits: new Map([['canary', '{"next": 1}']]), origin: splitsOrigin });
      await store.flush();
      expect(store.status().lastError).toBeUndefined();
      expect(store.status().previousError?.reason).toBe('persist-failed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('PolicyStore: source outages', () => {
  it('clears an outage from lastError once that source delivers again, but keeps real refusals', () => {
    const store = new PolicyStore();
    const origin = { source: 'consul' as const, location: 'routecar/policy', modifyIndex: 3 };
    const text =
      'version: 1\nbackends:\n  a: { url: "http://127.0.0.1:9/v1", model: m, price: { input: 1, output: 1 } }\nroutes:\n  chat: { backends: [a] }\n';
    store.apply({ kind: 'document', text, origin });
    store.apply({ kind: 'unavailable', error: 'cannot connect to Consul', origin });
    expect(store.status().lastError?.reason).toBe('unavailable');
    store.apply({ kind: 'splits', splits: new Map(), origin });
    expect(store.status().lastError).toBeUndefined();
    store.apply({ kind: 'document', text: 'version: 2', origin });
    store.apply({ kind: 'splits', splits: new Map(), origin });
    expect(store.status().lastError?.reason).toBe('invalid-document');
  });
});
