/**
 * What a running routecar is configured with. The server owns these shapes; src/cli fills them
 * from flags and the environment (cli/config.ts), and tests build them directly.
 */

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Where and how to reach Consul: what `start` watches and `policy push` writes to. */
export interface ConsulSettings {
  /**
   * `http://host:port` or `https://host:port`, scheme and port always explicit: CONSUL_HTTP_ADDR
   * with CONSUL_HTTP_SSL already applied (see `resolveConsulSettings`).
   */
  readonly baseUrl: string;
  /** CONSUL_HTTP_TOKEN, sent as X-Consul-Token. */
  readonly token: string | undefined;
  /** ROUTECAR_CONSUL_PREFIX, always ending in `/`. */
  readonly prefix: string;
}

export interface RuntimeConfig {
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  readonly policyFile: string | undefined;
  readonly consul: ConsulSettings | undefined;
  readonly stateDir: string;
  readonly adminToken: string | undefined;
  readonly maxBodyBytes: number;
  /** ROUTECAR_BODY_TIMEOUT_MS: deadline for a whole request body (408 request_timeout). */
  readonly bodyTimeoutMs: number;
  /** ROUTECAR_PROMETHEUS_URL: a Prometheus-compatible query API for the fleet's view; unset: local only. */
  readonly prometheusUrl: string | undefined;
  /** ROUTECAR_ZONE: this sidecar's zone, for zone locality; undefined when unset. */
  readonly zone: string | undefined;
  /** ROUTECAR_FLEET_INTERVAL_MS: how often the fleet's figures are read from it (default 10 s). */
  readonly fleetIntervalMs: number;
  /** Graceful drain deadline on SIGTERM. */
  readonly drainTimeoutMs: number;
  /** Start demo backends for the policy's loopback backends that do not answer. */
  readonly demo: boolean;
  /**
   * ROUTECAR_ALLOWED_HOSTS: Host header names the app-facing listener accepts besides loopback
   * and its own address (`name` exactly, `.suffix` for any subdomain). See src/server/hardening.ts.
   */
  readonly allowedHosts: readonly string[];
  /**
   * ROUTECAR_ADMIN_ALLOWED_HOSTS: the same for the admin listener, which also accepts its own
   * address, loopback, and (bound to a wildcard) this machine's own addresses, e.g. the pod IP.
   */
  readonly adminAllowedHosts: readonly string[];
}

/** Whether `host` is a loopback address (the admin API is open there without a token). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
