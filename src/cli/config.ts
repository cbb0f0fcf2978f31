/**
 * routecar's settings from flags and environment (flags win), with the defaults DESIGN.md fixes.
 */
import { DEFAULT_MAX_BODY_BYTES } from '../ingress/read-body.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface ConsulSettings {
  /** Base URL, e.g. `http://127.0.0.1:8500`. */
  readonly baseUrl: string;
  readonly token: string | undefined;
  /** KV prefix, always ending in `/`. */
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
  /** Graceful drain deadline on SIGTERM. */
  readonly drainTimeoutMs: number;
  /** Start demo backends for the policy's loopback backends that do not answer. */
  readonly demo: boolean;
  /**
   * ROUTECAR_ALLOWED_HOSTS: Host header names the app-facing listener accepts besides loopback
   * and its own address (`name` exactly, `.suffix` for any subdomain). See src/server/hardening.ts.
   */
  readonly allowedHosts: readonly string[];
}

export const DEFAULT_LISTEN = '127.0.0.1:4100';
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:4101';
export const DEFAULT_STATE_DIR = './.routecar';
export const DEFAULT_CONSUL_PREFIX = 'routecar/';
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

export interface StartFlags {
  readonly policy?: string;
  readonly listen?: string;
  readonly adminListen?: string;
  readonly demo?: boolean;
}

export function resolveConfig(flags: StartFlags, env: NodeJS.ProcessEnv): RuntimeConfig {
  const consulAddr = env.CONSUL_HTTP_ADDR;
  return {
    listen: parseListen(flags.listen ?? env.ROUTECAR_LISTEN ?? DEFAULT_LISTEN, '--listen / ROUTECAR_LISTEN'),
    adminListen: parseListen(
      flags.adminListen ?? env.ROUTECAR_ADMIN_LISTEN ?? DEFAULT_ADMIN_LISTEN,
      '--admin-listen / ROUTECAR_ADMIN_LISTEN',
    ),
    policyFile: flags.policy ?? (env.ROUTECAR_POLICY_FILE || undefined),
    consul: consulAddr
      ? {
          baseUrl: consulBaseUrl(consulAddr),
          token: env.CONSUL_HTTP_TOKEN || undefined,
          prefix: withSlash(env.ROUTECAR_CONSUL_PREFIX || DEFAULT_CONSUL_PREFIX),
        }
      : undefined,
    stateDir: env.ROUTECAR_STATE_DIR || DEFAULT_STATE_DIR,
    adminToken: env.ROUTECAR_ADMIN_TOKEN || undefined,
    maxBodyBytes: positiveInt(env.ROUTECAR_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, 'ROUTECAR_MAX_BODY_BYTES'),
    drainTimeoutMs: positiveInt(
      env.ROUTECAR_DRAIN_TIMEOUT_MS,
      DEFAULT_DRAIN_TIMEOUT_MS,
      'ROUTECAR_DRAIN_TIMEOUT_MS',
    ),
    demo: flags.demo ?? false,
    allowedHosts: (env.ROUTECAR_ALLOWED_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ''),
  };
}

/** `HOST:PORT`, `:PORT` or `PORT`; IPv6 hosts in brackets. */
export function parseListen(value: string, what: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${what}: expected HOST:PORT, got "${value}"`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/** Accepts what the consul CLI accepts: `http://host:8500`, `https://...` or bare `host:8500`. */
export function consulBaseUrl(addr: string): string {
  const url = /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
  return url.replace(/\/+$/, '');
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function withSlash(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function positiveInt(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${what}: expected a positive integer, got "${value}"`);
  return n;
}
