/**
 * What the policy store reports: the outcome of each update, the events its listeners receive,
 * and the status shown by `/admin/policy`.
 */
import type { PolicyError } from './errors.js';
import type { PolicyOrigin } from './sources/source.js';
import type { SplitRefusal } from './split-overrides.js';
import type { CompiledPolicy } from './types.js';

/** Outcome of one SourceUpdate. */
export type ApplyResult =
  /** A new snapshot is serving. */
  | { readonly kind: 'swapped'; readonly version: string }
  /** Valid, but it compiles to the snapshot already serving (same content); nothing swapped. */
  | { readonly kind: 'unchanged'; readonly version: string }
  /** The document was invalid; the previous snapshot (if any) keeps serving. */
  | { readonly kind: 'refused'; readonly errors: readonly PolicyError[] }
  /** Nothing to compile: the source is unavailable, the key is missing, or splits arrived before any document. */
  | { readonly kind: 'kept'; readonly reason: 'unavailable' | 'document-missing' | 'no-document' };

/** Sent to `onChange` listeners after a new snapshot is swapped in. */
export interface PolicyChange {
  readonly policy: CompiledPolicy;
  /** The snapshot it replaced; undefined for the first one. */
  readonly previous: CompiledPolicy | undefined;
  /** Origin of the update that caused the change. */
  readonly origin: PolicyOrigin;
  /** A new document, or new split overrides for the current document. */
  readonly cause: 'document' | 'splits';
}

/** Sent to `onRefused` listeners: something could not be used, and what keeps serving instead. */
export interface PolicyRefusal {
  /**
   * invalid-document: refused, the last good policy keeps serving.
   * invalid-split: one or more overrides refused; each of those routes keeps its last good
   *   override, or the policy's split when it has none that fits (see `PolicyStatus.splitErrors`).
   * unavailable / document-missing: the source failed or the key is gone; nothing changed.
   * persist-failed: serving fine, but the last good policy could not be written to the state dir.
   */
  readonly reason:
    'invalid-document' | 'invalid-split' | 'unavailable' | 'document-missing' | 'persist-failed';
  /** One line: the first error, and how many more. */
  readonly message: string;
  /** Every error with its path (`routes.chat.split: weights sum to 0`). */
  readonly errors: readonly PolicyError[];
  readonly origin: PolicyOrigin;
  /** When it happened (ISO 8601). */
  readonly at: string;
}

/** A problem that is over: the refusal as it was, and when it stopped holding. */
export type ResolvedRefusal = PolicyRefusal & {
  /** When it was resolved (ISO 8601). */
  readonly resolvedAt: string;
};

/** Everything `/admin/policy` shows about the policy besides the document itself. */
export interface PolicyStatus {
  /** Version of the serving snapshot (short hash of document + overrides); undefined before the first load. */
  readonly version: string | undefined;
  /** SHA-256 (hex) of the document text as delivered, comparable with `sha256sum policy.yaml`. */
  readonly contentHash: string | undefined;
  /** Where the serving document came from, with the Consul ModifyIndex when from Consul. */
  readonly origin: PolicyOrigin | undefined;
  /** When the serving snapshot was swapped in (ISO 8601). */
  readonly loadedAt: string | undefined;
  /** Split overrides in force, by route. */
  readonly splitOverrides: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Where the last set of split overrides came from. */
  readonly splitsOrigin: PolicyOrigin | undefined;
  /** Every error of the overrides currently refused, routes in name order (details: `splitErrors`). */
  readonly refusedSplits: readonly PolicyError[];
  /**
   * The overrides currently refused, by route: why, since when, and what serves the route
   * instead (its last good override, or the policy split). Always set by `PolicyStore.status()`.
   */
  readonly splitErrors?: Readonly<Record<string, SplitRefusal>>;
  /**
   * The most recent problem that still holds. It moves to `previousError` once it is over: a
   * refused document when a later document from the same source (file, Consul) is accepted; a
   * missing document or an unreachable source when that source delivers again; refused
   * overrides when none is refused any more; a failed write when a later write succeeds.
   * A newer problem replaces it.
   */
  readonly lastError: PolicyRefusal | undefined;
  /** The last problem that was resolved, with the time it was; undefined until one has been. */
  readonly previousError?: ResolvedRefusal;
  /** Updates that produced a valid policy (swapped or unchanged), and documents refused. */
  readonly reloads: { readonly accepted: number; readonly refused: number };
}
