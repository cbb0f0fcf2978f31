/**
 * The admin listener's front door: the same Host (421) and Origin (403) rules as the app-facing
 * listener, on every admin path, so a DNS-rebinding page cannot read /admin/policy (backend URLs),
 * /admin/state or /metrics, or POST /admin/explain. Its own address, loopback, the machine's own
 * addresses when it binds a wildcard, and ROUTECAR_ADMIN_ALLOWED_HOSTS pass.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp, type AdminDeps } from '../../../src/server/admin-app.js';
import type { HostPolicyOptions } from '../../../src/server/hardening.js';
import { rawRequest, type RawExchange } from '../../support/raw-http.js';

const SECRET_URL = 'http://llama-70b.models.internal:8000/v1';

function deps(hosts: HostPolicyOptions): AdminDeps {
  return {
    ready: () => true,
    notReadyReason: () => '',
    state: () => ({ backends: [{ backend: 'llama-70b' }] }),
    policy: () => ({ document: { backends: { 'llama-70b': { url: SECRET_URL } } } }),
    explain: () => ({ result: { ok: true } }),
    metrics: (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end('routecar_requests_total 1\n');
    },
    adminToken: undefined,
    loopbackOnly: true,
    maxBodyBytes: 1024,
    hosts,
  };
}

async function serve(hosts: HostPolicyOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(createAdminApp(deps(hosts)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function get(path: string, headers: readonly string[]): string {
  return [`GET ${path} HTTP/1.1`, ...headers, 'Connection: close', '', ''].join('\r\n');
}

function explain(headers: readonly string[]): string {
  const body = JSON.stringify({ model: 'chat', messages: [] });
  return [
    'POST /admin/explain HTTP/1.1',
    ...headers,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

function codeOf(ex: RawExchange): string | undefined {
  return (JSON.parse(ex.body) as { error?: { code?: string } }).error?.code;
}

const REQUESTS: readonly [string, (headers: readonly string[]) => string][] = [
  ['GET /admin/policy', (h) => get('/admin/policy', h)],
  ['GET /admin/state', (h) => get('/admin/state', h)],
  ['GET /metrics', (h) => get('/metrics', h)],
  ['GET /healthz', (h) => get('/healthz', h)],
  ['GET /readyz', (h) => get('/readyz', h)],
  ['POST /admin/explain', (h) => explain(h)],
];

describe('admin listener on loopback (reads need no token there)', () => {
  let admin: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    admin = await serve({ listenHost: '127.0.0.1', allowedHosts: [], interfaceAddresses: [] });
  });
  afterAll(() => admin.close());

  it.each(REQUESTS)('%s from a rebinding name → 421, nothing disclosed', async (_name, request) => {
    for (const host of ['evil.example', 'evil.example:4101', '127.0.0.1.rebind.example', '10.9.8.7']) {
      const ex = await rawRequest(admin.port, request([`Host: ${host}`]));
      expect(ex.status, ex.text).toBe(421);
      expect(codeOf(ex)).toBe('host_not_allowed');
      expect(ex.body).toContain('ROUTECAR_ADMIN_ALLOWED_HOSTS');
      expect(ex.text).not.toContain(SECRET_URL);
      expect(ex.text).not.toContain('routecar_requests_total');
    }
  });

  it.each(REQUESTS)('%s from a foreign browser Origin → 403', async (_name, request) => {
    const ex = await rawRequest(admin.port, request(['Host: localhost:4101', 'Origin: http://evil.example']));
    expect(ex.status, ex.text).toBe(403);
    expect(codeOf(ex)).toBe('origin_not_allowed');
    expect(ex.text).not.toContain(SECRET_URL);
  });

  it.each(REQUESTS)('%s on localhost, 127.0.0.1 and [::1] → 200', async (_name, request) => {
    for (const host of ['localhost:4101', '127.0.0.1:4101', '[::1]:4101', '127.0.0.1']) {
      const ex = await rawRequest(admin.port, request([`Host: ${host}`]));
      expect(ex.status, `${host}: ${ex.text}`).toBe(200);
    }
  });

  it('refuses an absolute-form request line with 400', async () => {
    const ex = await rawRequest(admin.port, get('http://evil.example/admin/policy', ['Host: localhost']));
    expect(ex.status, ex.text).toBe(400);
    expect(codeOf(ex)).toBe('invalid_request_target');
  });
});

describe('admin listener on a wildcard address (Kubernetes: kubelet and Prometheus use the pod IP)', () => {
  let admin: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    admin = await serve({
      listenHost: '0.0.0.0',
      allowedHosts: ['routecar', '.monitoring.svc.cluster.local'],
      interfaceAddresses: ['10.244.1.17', 'fd00::17', '127.0.0.1', '::1'],
    });
  });
  afterAll(() => admin.close());

  it.each([
    ['the pod IP', '10.244.1.17:4101'],
    ['the pod IPv6 address', '[fd00::17]:4101'],
    ['loopback', '127.0.0.1:4101'],
    ['a name from ROUTECAR_ADMIN_ALLOWED_HOSTS (compose service name)', 'routecar:4101'],
    ['a subdomain of a .suffix entry', 'prometheus.monitoring.svc.cluster.local'],
  ])('serves /metrics to %s', async (_name, host) => {
    const ex = await rawRequest(admin.port, get('/metrics', [`Host: ${host}`]));
    expect(ex.status, ex.text).toBe(200);
    expect(ex.body).toContain('routecar_requests_total');
  });

  it.each([
    ['another address', '10.244.1.18:4101'],
    ['the wildcard itself', '0.0.0.0:4101'],
    ['a foreign name', 'evil.example'],
  ])('refuses %s with 421', async (_name, host) => {
    const ex = await rawRequest(admin.port, get('/admin/policy', [`Host: ${host}`]));
    expect(ex.status, ex.text).toBe(421);
    expect(ex.text).not.toContain(SECRET_URL);
  });
});
