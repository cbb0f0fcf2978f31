/**
 * `routecar policy push`: writes an already validated policy document to `<prefix>policy` with
 * check-and-set, so a push never silently overwrites a change someone made since it was read.
 */
import {
  createConsulClient,
  DEFAULT_CONSUL_PREFIX,
  describeConsulError,
  normalizeConsulPrefix,
} from './sources/consul-client.js';

export interface PushPolicyOptions {
  /** CONSUL_HTTP_ADDR. */
  readonly addr: string;
  /** CONSUL_HTTP_TOKEN; needs key write on the policy key. */
  readonly token?: string;
  /** ROUTECAR_CONSUL_PREFIX. Default `routecar/`. */
  readonly prefix?: string;
  /** CONSUL_HTTP_SSL=true: use https even when `addr` has no scheme or says `http://`. */
  readonly ssl?: boolean;
  /** The document, exactly as it will be stored. */
  readonly text: string;
  /** ModifyIndex to check against (0: only if absent); by default the one read just before writing. */
  readonly cas?: number;
}

export interface PushPolicyResult {
  /** The Consul key written. */
  readonly key: string;
  /** The ModifyIndex the write was checked against (0: the key was absent). */
  readonly previousModifyIndex: number;
  /** The key's ModifyIndex right after the write, when it could be read back. */
  readonly modifyIndex: number | undefined;
}

/** The policy key changed between the read and the write: nothing was written. */
export class PolicyPushConflictError extends Error {
  readonly code = 'POLICY_PUSH_CONFLICT';

  constructor(
    readonly key: string,
    /** The ModifyIndex the write was checked against. */
    readonly modifyIndex: number,
  ) {
    super(
      `policy changed in Consul since ModifyIndex ${modifyIndex} (the index read before writing, or given with --cas); ` +
        'review the current policy, then push again',
    );
    this.name = 'PolicyPushConflictError';
  }
}

/** Consul could not be read or written (unreachable, ACL denied, ...): nothing was written. */
export class PolicyPushError extends Error {
  readonly code = 'POLICY_PUSH_FAILED';

  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'PolicyPushError';
  }
}

/**
 * Writes `text` to `<prefix>policy` with `?cas=<ModifyIndex>`. Throws PolicyPushConflictError
 * when Consul answers `false`, PolicyPushError when Consul fails. The caller validates first.
 */
export async function pushPolicy(options: PushPolicyOptions): Promise<PushPolicyResult> {
  const key = `${normalizeConsulPrefix(options.prefix ?? DEFAULT_CONSUL_PREFIX)}policy`;
  const client = createConsulClient(options.addr, options.token, options.ssl);
  try {
    const cas = options.cas ?? (await client.kv.get({ key }))?.ModifyIndex ?? 0;
    const written = await client.kv.set({ key, value: options.text, cas });
    if (!written) throw new PolicyPushConflictError(key, cas);
    const after = await client.kv.get({ key }).catch(() => undefined);
    return { key, previousModifyIndex: cas, modifyIndex: after?.ModifyIndex };
  } catch (err) {
    if (err instanceof PolicyPushConflictError) throw err;
    throw new PolicyPushError(`cannot push the policy to ${key}: ${describeConsulError(err, options.addr)}`, {
      cause: err,
    });
  } finally {
    client.destroy();
  }
}
