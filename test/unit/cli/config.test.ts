/**
 * routecar's settings resolver: the Consul table (CONSUL_HTTP_ADDR × CONSUL_HTTP_SSL, the token,
 * the prefix) that both `start` and `policy push` use, the admin listener's allowed Host names,
 * and what counts as a policy source.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, resolveConsulSettings } from '../../../src/cli/config.js';
import { parseConsulAddr } from '../../../src/policy/sources/consul-client.js';

describe('resolveConsulSettings', () => {
  it('is off without CONSUL_HTTP_ADDR', () => {
    expect(resolveConsulSettings({})).toBeUndefined();
    expect(resolveConsulSettings({ CONSUL_HTTP_ADDR: '', CONSUL_HTTP_SSL: 'true' })).toBeUndefined();
  });

  it.each([
    // CONSUL_HTTP_ADDR, CONSUL_HTTP_SSL, resolved base URL
    ['consul:8500', undefined, 'http://consul:8500'],
    ['http://consul:8500', undefined, 'http://consul:8500'],
    ['https://consul:8501', undefined, 'https://consul:8501'],
    ['consul:8501', 'true', 'https://consul:8501'],
    ['CONSUL:8501', 'TRUE', 'https://consul:8501'],
    ['consul:8501', '1', 'https://consul:8501'],
    // CONSUL_HTTP_SSL=true is never downgraded by an http:// address (as Consul's own client)...
    ['http://consul:8501', 'true', 'https://consul:8501'],
    // ...and =false only means "do not force TLS": an https:// address keeps it.
    ['https://consul:8501', 'false', 'https://consul:8501'],
    ['consul:8500', 'false', 'http://consul:8500'],
    ['consul:8500', '0', 'http://consul:8500'],
    ['consul:8500', '', 'http://consul:8500'],
    // No port: the scheme's default, as Consul's client does.
    ['consul', undefined, 'http://consul:80'],
    ['https://consul.example.com', undefined, 'https://consul.example.com:443'],
    ['consul', 'true', 'https://consul:443'],
    ['http://127.0.0.1:8500/', undefined, 'http://127.0.0.1:8500'],
  ])('CONSUL_HTTP_ADDR=%s CONSUL_HTTP_SSL=%s → %s', (addr, ssl, baseUrl) => {
    const settings = resolveConsulSettings({ CONSUL_HTTP_ADDR: addr, CONSUL_HTTP_SSL: ssl });
    expect(settings?.baseUrl).toBe(baseUrl);
    // The client reads the resolved URL back to the same place, with TLS exactly when it says https.
    const url = new URL(baseUrl);
    expect(parseConsulAddr(settings!.baseUrl)).toEqual({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      secure: url.protocol === 'https:',
    });
  });

  it.each([
    [{ CONSUL_HTTP_SSL: 'yes' }, /CONSUL_HTTP_SSL: expected true or false, got "yes"/],
    [{ CONSUL_HTTP_SSL: 'on' }, /CONSUL_HTTP_SSL: expected true or false/],
    [{ CONSUL_HTTP_ADDR: 'unix:///var/run/consul.sock' }, /CONSUL_HTTP_ADDR .*only http:\/\/ and https:\/\//],
    [{ CONSUL_HTTP_ADDR: 'ftp://consul:8500' }, /only http:\/\/ and https:\/\//],
    [{ CONSUL_HTTP_ADDR: 'consul:85000' }, /CONSUL_HTTP_ADDR "consul:85000": not a valid address/],
    [{ CONSUL_HTTP_ADDR: 'consul:port' }, /not a valid address/],
    [{ CONSUL_HTTP_ADDR: 'http://:8500' }, /not a valid address/],
    [{ CONSUL_HTTP_ADDR: 'http://consul:8500/v1/kv' }, /a path, query or fragment is not supported/],
    [{ CONSUL_HTTP_ADDR: '[::1]:8500' }, /IPv6 literals are not supported/],
  ])('refuses %j with a clear error', (env, message) => {
    expect(() => resolveConsulSettings({ CONSUL_HTTP_ADDR: 'consul:8500', ...env })).toThrow(message);
  });

  it('refuses credentials in the address without repeating them', () => {
    const resolve = (): unknown =>
      resolveConsulSettings({ CONSUL_HTTP_ADDR: 'http://ops:hunter2@consul:8500' });
    expect(resolve).toThrow(/credentials in CONSUL_HTTP_ADDR are not supported; use CONSUL_HTTP_TOKEN/);
    expect(resolve).not.toThrow(/hunter2/);
  });

  it('reads the token and the prefix', () => {
    expect(
      resolveConsulSettings({
        CONSUL_HTTP_ADDR: 'consul:8500',
        CONSUL_HTTP_TOKEN: 'secret',
        ROUTECAR_CONSUL_PREFIX: 'team/routecar',
      }),
    ).toEqual({ baseUrl: 'http://consul:8500', token: 'secret', prefix: 'team/routecar/' });
    expect(resolveConsulSettings({ CONSUL_HTTP_ADDR: 'consul:8500', CONSUL_HTTP_TOKEN: '' })).toEqual({
      baseUrl: 'http://consul:8500',
      token: undefined,
      prefix: 'routecar/',
    });
  });

  it('is what resolveConfig uses for `start`', () => {
    const env = { CONSUL_HTTP_ADDR: 'consul:8501', CONSUL_HTTP_SSL: 'true', CONSUL_HTTP_TOKEN: 't' };
    expect(resolveConfig({}, env).consul).toEqual(resolveConsulSettings(env));
    expect(resolveConfig({}, env).consul?.baseUrl).toBe('https://consul:8501');
  });
});

describe('resolveConfig: the admin listener', () => {
  it('reads ROUTECAR_ADMIN_ALLOWED_HOSTS like ROUTECAR_ALLOWED_HOSTS, separately from it', () => {
    const config = resolveConfig(
      {},
      {
        ROUTECAR_ALLOWED_HOSTS: 'app.internal',
        ROUTECAR_ADMIN_ALLOWED_HOSTS: ' Routecar , .monitoring.svc.cluster.local,,',
      },
    );
    expect(config.allowedHosts).toEqual(['app.internal']);
    expect(config.adminAllowedHosts).toEqual(['routecar', '.monitoring.svc.cluster.local']);
    expect(resolveConfig({}, {}).adminAllowedHosts).toEqual([]);
  });
});

describe('resolveConfig: the request body deadline', () => {
  it('defaults to 30 s and reads ROUTECAR_BODY_TIMEOUT_MS', () => {
    expect(resolveConfig({}, {}).bodyTimeoutMs).toBe(30_000);
    expect(resolveConfig({}, { ROUTECAR_BODY_TIMEOUT_MS: '1500' }).bodyTimeoutMs).toBe(1_500);
  });

  it.each(['0', '-1', 'soon', '1.5'])('refuses ROUTECAR_BODY_TIMEOUT_MS=%s, naming the variable', (value) => {
    expect(() => resolveConfig({}, { ROUTECAR_BODY_TIMEOUT_MS: value })).toThrow(/ROUTECAR_BODY_TIMEOUT_MS/);
  });
});
