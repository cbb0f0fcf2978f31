/**
 * Connecting to Consul the way its own CLI does (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
 * CONSUL_HTTP_SSL), shared by the Consul policy source and `routecar policy push`.
 */
import Consul from 'consul';

/** The watched prefix when ROUTECAR_CONSUL_PREFIX is unset. */
export const DEFAULT_CONSUL_PREFIX = 'routecar/';

/** Where a Consul agent listens. */
export interface ConsulAddress {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
}

/**
 * Parses CONSUL_HTTP_ADDR the way Consul's own Go client does: no port means the scheme's default,
 * and `ssl` (CONSUL_HTTP_SSL=true) is never downgraded by an `http://` address.
 */
export function parseConsulAddr(addr: string, ssl = false): ConsulAddress {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `${ssl ? 'https' : 'http'}://${addr}`;
  const url = new URL(withScheme);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`CONSUL_HTTP_ADDR ${addr}: only http:// and https:// addresses are supported`);
  }
  if (url.hostname.startsWith('[')) {
    throw new Error(
      `CONSUL_HTTP_ADDR ${addr}: IPv6 literals are not supported by node-consul; use a host name`,
    );
  }
  const secure = url.protocol === 'https:' || ssl;
  return { host: url.hostname, port: url.port ? Number(url.port) : secure ? 443 : 80, secure };
}

/** A node-consul client for CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN; `destroy()` it when done. */
export function createConsulClient(addr: string, token?: string, ssl = false): Consul {
  return new Consul({ ...parseConsulAddr(addr, ssl), ...(token ? { defaults: { token } } : {}) });
}

/** `routecar` -> `routecar/`; leading slashes dropped (Consul keys never start with one); `` stays the root. */
export function normalizeConsulPrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** One sentence an operator can act on, for a node-consul (papi) error. */
export function describeConsulError(err: unknown, rawAddr: string): string {
  // An address may carry `user:password@`; messages end up in logs and /admin/policy.
  const addr = rawAddr.replace(/\/\/[^/@]*@/, '//[redacted]@').replace(/^[^/@]*@/, '[redacted]@');
  const message = typeof field(err, 'message') === 'string' ? String(field(err, 'message')) : String(err);
  const response = field(err, 'response');
  const status = field(response, 'statusCode');
  if (typeof status === 'number') {
    const body = field(response, 'body');
    const detail = typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 200) : message;
    if (status === 403) {
      return `Consul at ${addr} denied access (HTTP 403: ${detail}); check CONSUL_HTTP_TOKEN and its key_prefix rules`;
    }
    return `Consul at ${addr} answered HTTP ${status}: ${detail}`;
  }
  const code = field(err, 'code');
  if (field(err, 'isTimeout') === true) return `Consul at ${addr} did not answer in time (${message})`;
  if (code === 'ECONNREFUSED') return `cannot connect to Consul at ${addr}: connection refused`;
  if (code === 'ECONNRESET') return `connection to Consul at ${addr} was reset`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the Consul host in ${addr}`;
  return `Consul at ${addr}: ${message}`;
}
