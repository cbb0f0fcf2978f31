/**
 * A policy source delivers raw policy material; the policy store validates, compiles and swaps.
 * Sources never compile anything themselves, so the file and Consul paths cannot diverge.
 */

/** Where a document came from, shown in /admin/policy and persisted with the last good policy. */
export interface PolicyOrigin {
  readonly source: 'file' | 'consul' | 'state' | 'embedded';
  /** File path, or Consul key. */
  readonly location: string;
  /** Consul ModifyIndex of the key, when the source is Consul. */
  readonly modifyIndex?: number;
}

export type SourceUpdate =
  /** A whole policy document (YAML or JSON text, as stored). */
  | { readonly kind: 'document'; readonly text: string; readonly origin: PolicyOrigin }
  /** The document key disappeared (Consul 404): keep serving the last good policy. */
  | { readonly kind: 'document-missing'; readonly origin: PolicyOrigin }
  /**
   * The complete set of split overrides currently stored (route name -> raw text of the value).
   * Sent whole each time, so a deleted key simply disappears from the map.
   */
  | { readonly kind: 'splits'; readonly splits: ReadonlyMap<string, string>; readonly origin: PolicyOrigin }
  /** The source could not be read; the store keeps serving and reports the error. */
  | { readonly kind: 'unavailable'; readonly error: string; readonly origin: PolicyOrigin };

export interface PolicySource {
  /** Starts delivering updates; the first one arrives as soon as the source has been read once. */
  start(onUpdate: (update: SourceUpdate) => void): void;
  /** Stops watching; no update is delivered after it resolves. */
  stop(): Promise<void>;
}
