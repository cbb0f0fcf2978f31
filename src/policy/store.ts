/**
 * The policy store: the one place where policy material from any source becomes the snapshot the
 * router reads. Each update goes validate -> compile -> swap; the swap is a single reference
 * assignment, so a request that already read the snapshot keeps using it. An invalid document is
 * refused and the last good policy keeps serving; an invalid split override is refused and the
 * route's last good override keeps serving (see `SplitOverrideState`).
 *
 * `status().lastError` is the most recent problem that still holds: it is moved to
 * `previousError` once resolved (see `PolicyStatus`), so /admin/policy never shows a fixed
 * problem as the current one.
 */
import { compilePolicy } from './compile.js';
import { formatPolicyError, type PolicyError } from './errors.js';
import { sha256Hex } from './hash.js';
import { lastGoodPath, saveLastGood, type LastGoodPolicy } from './last-good.js';
import { parsePolicy } from './parse.js';
import type { PolicyDocument } from './schema.js';
import type { PolicyOrigin, SourceUpdate } from './sources/source.js';
import { SplitOverrideState, type CheckedSplits } from './split-overrides.js';
import type {
  ApplyResult,
  PolicyChange,
  PolicyRefusal,
  PolicyStatus,
  ResolvedRefusal,
} from './store-types.js';
import type { CompiledPolicy } from './types.js';

export type { SplitRefusal } from './split-overrides.js';
export type {
  ApplyResult,
  PolicyChange,
  PolicyRefusal,
  PolicyStatus,
  ResolvedRefusal,
} from './store-types.js';

/** Options of `PolicyStore`. */
export interface PolicyStoreOptions {
  /** Clock in milliseconds since the epoch, for loadedAt and error times. Default: Date.now. */
  readonly now?: () => number;
  /** Directory where the last good policy is persisted; unset: nothing is written. */
  readonly stateDir?: string;
}

/** The document currently serving, with what is needed to persist and describe it. */
interface Loaded {
  readonly text: string;
  readonly document: PolicyDocument;
  readonly origin: PolicyOrigin;
  readonly contentHash: string;
}

/** Holds the serving snapshot; see the file comment. */
export class PolicyStore {
  readonly #now: () => number;
  readonly #stateDir: string | undefined;
  #snapshot: CompiledPolicy | undefined;
  #loaded: Loaded | undefined;
  #loadedAt: string | undefined;
  readonly #splits = new SplitOverrideState();
  #splitsOrigin: PolicyOrigin | undefined;
  #lastError: PolicyRefusal | undefined;
  #previousError: ResolvedRefusal | undefined;
  #accepted = 0;
  #refused = 0;
  #persisting: Promise<void> = Promise.resolve();
  readonly #changeListeners = new Set<(change: PolicyChange) => void>();
  readonly #refusalListeners = new Set<(refusal: PolicyRefusal) => void>();

  constructor(options: PolicyStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#stateDir = options.stateDir;
  }

  /** The serving snapshot; read it once per request and keep the reference. Undefined before the first load. */
  current(): CompiledPolicy | undefined {
    return this.#snapshot;
  }

  /** The serving document (validated, defaults filled in). */
  currentDocument(): PolicyDocument | undefined {
    return this.#loaded?.document;
  }

  /** Applies one update from a source. Never throws for bad input. */
  apply(update: SourceUpdate): ApplyResult {
    const source = update.origin.source;
    // A source that delivers again has recovered; a document that is back is no longer missing.
    if (update.kind !== 'unavailable') {
      this.#resolve((e) => e.reason === 'unavailable' && e.origin.source === source);
    }
    if (update.kind === 'document') {
      this.#resolve((e) => e.reason === 'document-missing' && e.origin.source === source);
    }
    switch (update.kind) {
      case 'document':
        return this.#applyDocument(update.text, update.origin);
      case 'splits':
        return this.#applySplits(update.splits, update.origin);
      case 'document-missing':
        this.#report(
          'document-missing',
          [{ path: '', message: 'the policy is missing at its source; keeping the last good policy' }],
          update.origin,
        );
        return { kind: 'kept', reason: 'document-missing' };
      case 'unavailable':
        this.#report('unavailable', [{ path: '', message: update.error }], update.origin);
        return { kind: 'kept', reason: 'unavailable' };
    }
  }

  /**
   * Serves a persisted last good policy (at start-up, before any source is started, so a sidecar
   * whose Consul is unreachable still has a policy). Not written back to the state dir.
   */
  restore(record: LastGoodPolicy, file: string): ApplyResult {
    const origin: PolicyOrigin = { source: 'state', location: file };
    this.#applySplits(new Map(Object.entries(record.splits)), origin);
    return this.#applyDocument(record.text, origin);
  }

  /** Calls `listener` after every swap; returns a function that unsubscribes. */
  onChange(listener: (change: PolicyChange) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Calls `listener` for every refused document or override, unavailable source, or failed persist. */
  onRefused(listener: (refusal: PolicyRefusal) => void): () => void {
    this.#refusalListeners.add(listener);
    return () => this.#refusalListeners.delete(listener);
  }

  status(): PolicyStatus {
    const splitOverrides = Object.fromEntries(
      [...this.#splits.overrides()].map(([r, w]) => [r, Object.fromEntries(w)]),
    );
    return {
      version: this.#snapshot?.version,
      contentHash: this.#loaded?.contentHash,
      origin: this.#loaded?.origin,
      loadedAt: this.#loadedAt,
      splitOverrides,
      splitsOrigin: this.#splitsOrigin,
      refusedSplits: this.#splits.errors(),
      splitErrors: this.#splits.refusals(),
      lastError: this.#lastError,
      previousError: this.#previousError,
      reloads: { accepted: this.#accepted, refused: this.#refused },
    };
  }

  /**
   * The serving document for admin output. A policy holds no secrets (apiKeyEnv names an
   * environment variable, whose value is never read here), except credentials someone may have
   * put in a backend URL: those are masked.
   */
  redacted(): PolicyDocument | undefined {
    const document = this.#loaded?.document;
    if (document === undefined) return undefined;
    const copy = structuredClone(document);
    for (const backend of Object.values(copy.backends)) backend.url = maskCredentials(backend.url);
    return copy;
  }

  /** Resolves when every pending write of the last good policy has finished. */
  flush(): Promise<void> {
    return this.#persisting;
  }

  #applyDocument(text: string, origin: PolicyOrigin): ApplyResult {
    const checking: { splits?: CheckedSplits } = {};
    const parsed = parsePolicy(text, {
      splitOverrides: (document) => {
        checking.splits = this.#splits.check(document, this.#at());
        return checking.splits.overrides;
      },
    });
    if (!parsed.ok) {
      this.#refused += 1;
      this.#report('invalid-document', parsed.errors, origin);
      return { kind: 'refused', errors: parsed.errors };
    }
    this.#loaded = { text, document: parsed.document, origin, contentHash: sha256Hex(text) };
    this.#resolve((e) => e.reason === 'invalid-document' && e.origin.source === origin.source);
    const splits = checking.splits ?? this.#splits.check(parsed.document, this.#at());
    this.#adoptSplits(splits, this.#splitsOrigin ?? origin);
    return this.#swap(parsed.policy, origin, 'document');
  }

  #applySplits(raw: ReadonlyMap<string, string>, origin: PolicyOrigin): ApplyResult {
    this.#splits.setRaw(raw);
    this.#splitsOrigin = origin;
    const loaded = this.#loaded;
    if (loaded === undefined) return { kind: 'kept', reason: 'no-document' };
    const splits = this.#splits.check(loaded.document, this.#at());
    const compiled = compilePolicy(loaded.document, splits.overrides);
    // The document compiled before and every override was checked against it, so this cannot fail.
    if (!compiled.ok) return { kind: 'refused', errors: compiled.errors };
    this.#adoptSplits(splits, origin);
    return this.#swap(compiled.policy, origin, 'splits');
  }

  /** Puts checked overrides in force; reports only new refusals (every delivery re-checks every key). */
  #adoptSplits(splits: CheckedSplits, origin: PolicyOrigin): void {
    this.#splits.adopt(splits);
    if (splits.fresh.length > 0) this.#report('invalid-split', splits.fresh, origin);
    else if (splits.refused.size === 0) this.#resolve((e) => e.reason === 'invalid-split');
  }

  #swap(policy: CompiledPolicy, origin: PolicyOrigin, cause: PolicyChange['cause']): ApplyResult {
    this.#accepted += 1;
    const previous = this.#snapshot;
    if (previous?.version === policy.version) return { kind: 'unchanged', version: policy.version };
    this.#snapshot = policy;
    this.#loadedAt = new Date(this.#now()).toISOString();
    this.#persist(policy.version);
    for (const listener of this.#changeListeners) safely(() => listener({ policy, previous, origin, cause }));
    return { kind: 'swapped', version: policy.version };
  }

  /** Queued so two writes never race; a restored or embedded policy is not written back. */
  #persist(version: string): void {
    const loaded = this.#loaded;
    const stateDir = this.#stateDir;
    if (stateDir === undefined || loaded === undefined) return;
    if (loaded.origin.source === 'state' || loaded.origin.source === 'embedded') return;
    const record: LastGoodPolicy = {
      text: loaded.text,
      origin: loaded.origin,
      splits: this.#splits.texts(),
      version,
      savedAt: new Date(this.#now()).toISOString(),
    };
    this.#persisting = this.#persisting.then(() =>
      saveLastGood(stateDir, record).then(
        () => this.#resolve((e) => e.reason === 'persist-failed'),
        (err: unknown) => {
          const message = `cannot write ${lastGoodPath(stateDir)}: ${err instanceof Error ? err.message : String(err)}`;
          this.#report('persist-failed', [{ path: '', message }], loaded.origin);
        },
      ),
    );
  }

  #report(reason: PolicyRefusal['reason'], errors: readonly PolicyError[], origin: PolicyOrigin): void {
    const first = errors[0];
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    const message = first === undefined ? reason : `${formatPolicyError(first)}${more}`;
    const refusal: PolicyRefusal = {
      reason,
      message,
      errors,
      origin,
      at: this.#at(),
    };
    this.#lastError = refusal;
    for (const listener of this.#refusalListeners) safely(() => listener(refusal));
  }

  /** Moves `lastError` to `previousError` when it `matches` (the problem it describes is over). */
  #resolve(matches: (error: PolicyRefusal) => boolean): void {
    const last = this.#lastError;
    if (last === undefined || !matches(last)) return;
    this.#previousError = { ...last, resolvedAt: this.#at() };
    this.#lastError = undefined;
  }

  #at(): string {
    return new Date(this.#now()).toISOString();
  }
}

/** A listener that throws must not undo or block a swap that already happened. */
function safely(call: () => void): void {
  try {
    call();
  } catch {
    // Listeners are telemetry and logging; their failures are theirs.
  }
}

function maskCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = parsed.username === '' ? '' : '***';
    parsed.password = parsed.password === '' ? '' : '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
