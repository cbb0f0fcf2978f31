/**
 * The Host check of the app-facing listener as tables: which Host values name this routecar for a
 * given listen address and ROUTECAR_ALLOWED_HOSTS, and how Host values are parsed.
 */
import { describe, expect, it } from 'vitest';
import { createHostCheck, hostnameOf } from '../../../src/server/hardening.js';

describe('hostnameOf', () => {
  it.each([
    ['localhost', 'localhost'],
    ['LocalHost:4100', 'localhost'],
    ['127.0.0.1:4100', '127.0.0.1'],
    ['[::1]:4100', '::1'],
    ['[::1]', '::1'],
    ['routecar.internal.', 'routecar.internal'],
    ['a.b.example:80', 'a.b.example'],
  ])('%s → %s', (value, hostname) => {
    expect(hostnameOf(value)).toBe(hostname);
  });

  it.each([[''], ['evil.example/path'], ['user@evil.example'], ['[::1'], ['a b'], ['host:port'], ['::1']])(
    'refuses %j',
    (value) => {
      expect(hostnameOf(value)).toBeUndefined();
    },
  );
});

describe('createHostCheck', () => {
  const table: [string, { listenHost: string; allowedHosts?: string[] }, string, boolean][] = [
    ['localhost always', { listenHost: '127.0.0.1' }, 'localhost', true],
    ['any 127/8 address', { listenHost: '127.0.0.1' }, '127.0.0.2', true],
    ['IPv6 loopback', { listenHost: '127.0.0.1' }, '::1', true],
    ['IPv4-mapped loopback', { listenHost: '127.0.0.1' }, '::ffff:127.0.0.1', true],
    ['a name that starts like loopback', { listenHost: '127.0.0.1' }, '127.0.0.1.rebind.example', false],
    ['a subdomain of localhost', { listenHost: '127.0.0.1' }, 'evil.localhost.example', false],
    ['a foreign name', { listenHost: '127.0.0.1' }, 'evil.example', false],
    ['a foreign address', { listenHost: '127.0.0.1' }, '10.0.0.9', false],
    ['the listen address', { listenHost: '10.0.0.7' }, '10.0.0.7', true],
    ['the listen name', { listenHost: 'routecar.local' }, 'routecar.local', true],
    ['a bracketed IPv6 listen address', { listenHost: '[fd00::7]' }, 'fd00::7', true],
    [
      'an exact allowed name',
      { listenHost: '127.0.0.1', allowedHosts: ['routecar.internal'] },
      'routecar.internal',
      true,
    ],
    [
      'not a subdomain of an exact name',
      { listenHost: '127.0.0.1', allowedHosts: ['routecar.internal'] },
      'x.routecar.internal',
      false,
    ],
    [
      'a .suffix entry: subdomain',
      { listenHost: '127.0.0.1', allowedHosts: ['.svc.cluster.local'] },
      'rc.ns.svc.cluster.local',
      true,
    ],
    [
      'a .suffix entry: the name itself',
      { listenHost: '127.0.0.1', allowedHosts: ['.svc.cluster.local'] },
      'svc.cluster.local',
      true,
    ],
    [
      'a .suffix entry: a look-alike',
      { listenHost: '127.0.0.1', allowedHosts: ['.svc.cluster.local'] },
      'evilsvc.cluster.local',
      false,
    ],
  ];
  it.each(table)('%s', (_name, options, hostname, allowed) => {
    const check = createHostCheck({ allowedHosts: [], ...options, interfaceAddresses: [] });
    expect(check(hostname)).toBe(allowed);
  });

  it("accepts the machine's own addresses when the listener binds a wildcard, and only then", () => {
    for (const listenHost of ['0.0.0.0', '::']) {
      const check = createHostCheck({
        listenHost,
        allowedHosts: [],
        interfaceAddresses: ['10.1.2.3', 'fd00::3'],
      });
      expect(check('10.1.2.3')).toBe(true);
      expect(check('fd00::3')).toBe(true);
      expect(check('10.1.2.4')).toBe(false);
      expect(check('0.0.0.0')).toBe(false);
    }
    expect(
      createHostCheck({ listenHost: '127.0.0.1', allowedHosts: [], interfaceAddresses: ['10.1.2.3'] })(
        '10.1.2.3',
      ),
    ).toBe(false);
  });
});
