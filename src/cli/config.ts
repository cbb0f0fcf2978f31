/**
 * routecar's settings from flags and environment (flags win), with the defaults DESIGN.md fixes.
 */
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES } from '../ingress/read-body.js';

import type { ConsulSettings, ListenAddress, RuntimeConfig } from '../server/settings.js';

export {
  isLoopback,
  type ConsulSettings,
  type ListenAddress,
  type RuntimeConfig,
} from '../server/settings.js';

export const DEFAULT_LISTEN = '127.0.0.1:4100';
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:4101';
export const DEFAULT_STATE_DIR = './.routecar';
export const DEFAULT_CONSUL_PREFIX = 'routecar/';
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
export const DEFAULT_FLEET_INTERVAL_MS = 10_000;

export interface StartFlags {
  readonly policy?: string;
  readonly listen?: string;
  readonly adminListen?: string;
  readonly demo?: boolean;
}

export function resolveConfig(flags: StartFlags, env: NodeJS.ProcessEnv): RuntimeConfig {
  return {
    listen: parseListen(flags.listen ?? env.ROUTECAR_LISTEN ?? DEFAULT_LISTEN, '--listen / ROUTECAR_LISTEN'),
    adminListen: parseListen(
      flags.adminListen ?? env.ROUTECAR_ADMIN_LISTEN ?? DEFAULT_ADMIN_LISTEN,
      '--admin-listen / ROUTECAR_ADMIN_LISTEN',
    ),
    policyFile: flags.policy ?? (env.ROUTECAR_POLICY_FILE || undefined),
    consul: resolveConsulSettings(env),
    stateDir: env.ROUTECAR_STATE_DIR || DEFAULT_STATE_DIR,
    adminToken: env.ROUTECAR_ADMIN_TOKEN || undefined,
    maxBodyBytes: positiveInt(env.ROUTECAR_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, 'ROUTECAR_MAX_BODY_BYTES'),
    bodyTimeoutMs: positiveInt(
      env.ROUTECAR_BODY_TIMEOUT_MS,
      DEFAULT_BODY_TIMEOUT_MS,
      'ROUTECAR_BODY_TIMEOUT_MS',
    ),
    prometheusUrl: httpUrl(env.ROUTECAR_PROMETHEUS_URL, 'ROUTECAR_PROMETHEUS_URL'),
    zone: env.ROUTECAR_ZONE?.trim() || undefined,
    fleetIntervalMs: positiveInt(
      env.ROUTECAR_FLEET_INTERVAL_MS,
      DEFAULT_FLEET_INTERVAL_MS,
      'ROUTECAR_FLEET_INTERVAL_MS',
    ),
    drainTimeoutMs: positiveInt(
      env.ROUTECAR_DRAIN_TIMEOUT_MS,
      DEFAULT_DRAIN_TIMEOUT_MS,
      'ROUTECAR_DRAIN_TIMEOUT_MS',
    ),
    demo: flags.demo ?? false,
    allowedHosts: hostList(env.ROUTECAR_ALLOWED_HOSTS),
    adminAllowedHosts: hostList(env.ROUTECAR_ADMIN_ALLOWED_HOSTS),
  };
}

/**
 * The Consul settings from CONSUL_HTTP_ADDR, CONSUL_HTTP_SSL, CONSUL_HTTP_TOKEN and
 * ROUTECAR_CONSUL_PREFIX, or undefined when CONSUL_HTTP_ADDR is unset. The one place these are
 * read, for `routecar start` and `routecar policy push` alike. As Consul's own client does:
 *
 * - CONSUL_HTTP_ADDR is `host:port`, `http://host:port` or `https://host:port`; without a port,
 *   the scheme's default (80, 443);
 * - CONSUL_HTTP_SSL=true makes it https, even for an `http://` address (TLS asked for is never
 *   dropped); CONSUL_HTTP_SSL=false only means "do not force TLS", so an `https://` address stays
 *   https. Accepted values: true/false, 1/0, t/f (any case); anything else is an error.
 *
 * Throws, naming the variable, on anything else (another scheme, a path, credentials, an IPv6
 * literal node-consul cannot reach); credentials are never repeated in the message.
 */
export function resolveConsulSettings(env: NodeJS.ProcessEnv): ConsulSettings | undefined {
  const addr = env.CONSUL_HTTP_ADDR;
  if (!addr) return undefined;
  const ssl = parseBool(env.CONSUL_HTTP_SSL, 'CONSUL_HTTP_SSL');
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(addr);
  const scheme = hasScheme ? addr.slice(0, addr.indexOf(':')).toLowerCase() : undefined;
  const shown = addr.replace(/\/\/[^/@]*@/, '//[redacted]@').replace(/^[^/@]*@/, '[redacted]@');
  const what = `CONSUL_HTTP_ADDR "${shown}"`;
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw new Error(`${what}: only http:// and https:// addresses are supported`);
  }
  let url: URL;
  try {
    url = new URL(hasScheme ? addr : `http://${addr}`);
  } catch {
    throw new Error(
      `${what}: not a valid address (expected host:port, http://host:port or https://host:port)`,
    );
  }
  if (url.hostname === '') {
    throw new Error(
      `${what}: not a valid address (expected host:port, http://host:port or https://host:port)`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(`${what}: credentials in CONSUL_HTTP_ADDR are not supported; use CONSUL_HTTP_TOKEN`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new Error(`${what}: a path, query or fragment is not supported (routecar adds /v1/kv/... itself)`);
  }
  if (url.hostname.startsWith('[')) {
    throw new Error(`${what}: IPv6 literals are not supported by node-consul; use a host name`);
  }
  const secure = scheme === 'https' || ssl === true;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return {
    baseUrl: `${secure ? 'https' : 'http'}://${url.hostname}:${port}`,
    token: env.CONSUL_HTTP_TOKEN || undefined,
    prefix: withSlash(env.ROUTECAR_CONSUL_PREFIX || DEFAULT_CONSUL_PREFIX),
  };
}

/** `a, .b.example` -> `['a', '.b.example']`, lowercased. */
function hostList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
}

/** Go's strconv.ParseBool spellings (what Consul's client accepts), any case; unset or empty: undefined. */
function parseBool(value: string | undefined, what: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.toLowerCase();
  if (v === 'true' || v === 't' || v === '1') return true;
  if (v === 'false' || v === 'f' || v === '0') return false;
  throw new Error(`${what}: expected true or false, got "${value}"`);
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

function withSlash(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** An http(s) base URL, or undefined when unset or empty. */
function httpUrl(value: string | undefined, what: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${what}: expected an http:// or https:// URL, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${what}: expected an http:// or https:// URL, got "${value}"`);
  }
  return value.replace(/\/+$/, '');
}

function positiveInt(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${what}: expected a positive integer, got "${value}"`);
  return n;
}
