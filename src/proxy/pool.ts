/**
 * The set of BackendProxy instances, kept in step with the policy: one per backend, rebuilt only
 * when the backend's address or key changes, so a reload keeps warm connections.
 */
import type { CompiledBackend, CompiledPolicy } from '../policy/types.js';
import { BackendProxy } from './backend-proxy.js';

export class ProxyPool {
  private readonly proxies = new Map<string, BackendProxy>();

  reconcile(policy: CompiledPolicy): void {
    for (const [name, proxy] of this.proxies) {
      const next = policy.backends.get(name);
      if (!next || !sameWire(proxy.backend, next)) {
        proxy.retire();
        this.proxies.delete(name);
      }
    }
    for (const [name, backend] of policy.backends) {
      if (!this.proxies.has(name)) this.proxies.set(name, new BackendProxy(backend));
    }
  }

  get(name: string): BackendProxy | undefined {
    return this.proxies.get(name);
  }

  close(): void {
    for (const proxy of this.proxies.values()) proxy.close();
    this.proxies.clear();
  }
}

/**
 * Only the address, the key and how it is sent, the static headers and the query are baked into a
 * BackendProxy; everything else is read per attempt.
 */
function sameWire(a: CompiledBackend, b: CompiledBackend): boolean {
  return (
    a.baseUrl === b.baseUrl &&
    a.apiKeyEnv === b.apiKeyEnv &&
    JSON.stringify([a.auth, a.headers, a.query]) === JSON.stringify([b.auth, b.headers, b.query])
  );
}
