/**
 * The backend facts telemetry attributes need (server address and port, provider, model, zone), looked
 * up in the policy serving now and computed once per compiled backend.
 */
import type { CompiledBackend, CompiledPolicy } from '../policy/types.js';
import { DEFAULT_PROVIDER } from './names.js';
import type { BackendInfo, BackendLookup } from './request-metrics.js';

const infos = new WeakMap<CompiledBackend, BackendInfo>();

export function backendInfo(backend: CompiledBackend): BackendInfo {
  let info = infos.get(backend);
  if (info === undefined) {
    const url = new URL(backend.baseUrl);
    info = {
      address: url.hostname,
      port: url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
      provider: backend.labels['provider'] ?? DEFAULT_PROVIDER,
      model: backend.model,
      zone: backend.zone,
    };
    infos.set(backend, info);
  }
  return info;
}

/** A lookup into whatever policy `current` returns at the time of the call. */
export function policyBackends(current: () => CompiledPolicy | undefined): BackendLookup {
  return (name) => {
    const backend = current()?.backends.get(name);
    return backend ? backendInfo(backend) : undefined;
  };
}
