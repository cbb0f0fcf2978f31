/**
 * The admin listener bound off loopback (0.0.0.0, as in the container image): /admin/* needs
 * ROUTECAR_ADMIN_TOKEN, the probes and /metrics stay open, and no secret (a backend's API key,
 * the Consul token, the admin token) ever appears in admin output or in routecar's own output.
 */
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../support/consul-emulator.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { spawnNode, useProcesses, type ChildHandle } from '../support/processes.js';
import { rawRequest } from '../support/raw-http.js';
import { ROUTECAR_CLI, writePolicy } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

const API_KEY = 'sk-e2e-backend-key-6f1d0c2a9b';
const CONSUL_TOKEN = 'consul-e2e-token-0b7e4c55d1';
const ADMIN_TOKEN = 'admin-e2e-token-93aa01f7e2';
const SECRETS = [API_KEY, CONSUL_TOKEN, ADMIN_TOKEN];

interface Started {
  readonly child: ChildHandle;
  readonly url: string;
  /** `http://127.0.0.1:<admin port>` (the listener itself is bound to 0.0.0.0). */
  readonly adminUrl: string;
  readonly adminPort: number;
}

/** `routecar start` with the admin listener on 0.0.0.0 and whatever environment the test gives. */
async function startOffLoopback(
  args: readonly string[],
  env: Record<string, string | undefined>,
): Promise<Started> {
  const child = procs.spawn(
    ROUTECAR_CLI,
    ['start', '--listen', '127.0.0.1:0', '--admin-listen', '0.0.0.0:0', ...args],
    {
      env: { ROUTECAR_LOG_LEVEL: 'debug', ...env },
      name: 'routecar-admin',
    },
  );
  const m = await child.waitForLine(/"msg":"routecar ready"/, 15_000);
  const ready = JSON.parse(m.input ?? '{}') as { listen: string; admin: string };
  const adminPort = Number(new URL(ready.admin).port);
  expect(new URL(ready.admin).hostname).toBe('0.0.0.0');
  return { child, url: ready.listen, adminUrl: `http://127.0.0.1:${adminPort}`, adminPort };
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

function expectNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) expect(text.includes(secret), `${where} contains a secret`).toBe(false);
}

/** A non-loopback address of this machine, to reach the admin listener the way a kubelet does. */
/** This machine's first non-loopback IPv4 address: what a pod IP is to the kubelet and Prometheus. */
function externalAddress(): string {
  const address = Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .find((i) => i.family === 'IPv4' && !i.internal)?.address;
  if (address === undefined) throw new Error('this test needs a non-loopback IPv4 address on the machine');
  return address;
}

describe('admin bound to 0.0.0.0 with ROUTECAR_ADMIN_TOKEN, policy from Consul with a token', () => {
  let upstream: FakeUpstream;
  let consul: ConsulEmulator;
  let rc: Started;

  beforeAll(async () => {
    upstream = await fakeUpstream({ name: 'model' });
    consul = await new ConsulEmulator({
      acl: { tokens: { [CONSUL_TOKEN]: { read: ['routecar/'] } } },
    }).start();
    consul.put(
      'routecar/policy',
      JSON.stringify({
        version: 1,
        backends: {
          model: {
            url: upstream.baseURL,
            model: 'real-model',
            price: { input: 0.1, output: 0.1 },
            apiKeyEnv: 'E2E_MODEL_KEY',
          },
        },
        routes: { chat: { backends: ['model'] } },
      }),
    );
    const { dir } = await writePolicy('version: 1', 'routecar-admin-');
    rc = await startOffLoopback([], {
      CONSUL_HTTP_ADDR: consul.address,
      CONSUL_HTTP_TOKEN: CONSUL_TOKEN,
      ROUTECAR_ADMIN_TOKEN: ADMIN_TOKEN,
      ROUTECAR_STATE_DIR: `${dir}/state`,
      E2E_MODEL_KEY: API_KEY,
    });
  });
  afterAll(async () => {
    await consul?.close();
  });

  it.each([
    ['GET', '/admin/state'],
    ['GET', '/admin/policy'],
    ['POST', '/admin/explain'],
  ])('%s %s without the token → 401, with a wrong one → 401, with it → 200', async (method, path) => {
    const body =
      method === 'POST'
        ? JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] })
        : undefined;
    const without = await fetch(`${rc.adminUrl}${path}`, { method, body });
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toBe('Bearer');
    expect(await without.json()).toMatchObject({ error: { code: 'unauthorized', type: 'permission_error' } });
    const wrong = await fetch(`${rc.adminUrl}${path}`, { method, body, headers: bearer(`${ADMIN_TOKEN}x`) });
    expect(wrong.status).toBe(401);
    await wrong.body?.cancel();
    const right = await fetch(`${rc.adminUrl}${path}`, { method, body, headers: bearer(ADMIN_TOKEN) });
    expect(right.status).toBe(200);
    expectNoSecret(await right.text(), `${method} ${path}`);
  });

  it('is reached on a non-loopback address the same way (kubelet, Prometheus)', async () => {
    const address = externalAddress();
    const base = `http://${address}:${rc.adminPort}`;
    expect((await fetch(`${base}/admin/state`)).status).toBe(401);
    expect((await fetch(`${base}/admin/state`, { headers: bearer(ADMIN_TOKEN) })).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('answers its own addresses as Host, and refuses a rebinding name even with the token', async () => {
    const address = externalAddress();
    // What a scrape by pod IP sends: the address literal in Host.
    const scrape = await rawRequest(
      rc.adminPort,
      `GET /metrics HTTP/1.1\r\nHost: ${address}:${rc.adminPort}\r\nConnection: close\r\n\r\n`,
      {},
      address,
    );
    expect([401, 403, 421]).not.toContain(scrape.status);
    for (const path of ['/admin/policy', '/metrics', '/readyz']) {
      const rebound = await rawRequest(
        rc.adminPort,
        `GET ${path} HTTP/1.1\r\nHost: evil.example:${rc.adminPort}\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`,
        {},
        address,
      );
      expect(rebound.status, `${path}: ${rebound.text}`).toBe(421);
      expectNoSecret(rebound.text, path);
    }
  });

  it('keeps /healthz, /readyz and /metrics open', async () => {
    expect((await fetch(`${rc.adminUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${rc.adminUrl}/readyz`)).status).toBe(200);
    const metrics = await fetch(`${rc.adminUrl}/metrics`);
    // Open means never asking for the token; whether metrics are served depends on telemetry settings.
    expect([401, 403]).not.toContain(metrics.status);
    expectNoSecret(await metrics.text(), '/metrics');
  });

  it('uses the secrets, yet shows neither them in admin output nor in its logs', async () => {
    const res = await fetch(`${rc.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer app-side-key' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
    // The key was read and sent where it belongs; the token was what routecar read Consul with.
    expect(upstream.stats.lastRequest?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(consul.requests.some((r) => r.token === CONSUL_TOKEN)).toBe(true);

    const policy = await (
      await fetch(`${rc.adminUrl}/admin/policy`, { headers: bearer(ADMIN_TOKEN) })
    ).text();
    expect(policy).toContain('E2E_MODEL_KEY'); // the variable's name is shown; its value never is
    for (const path of ['/admin/policy', '/admin/state']) {
      expectNoSecret(
        await (await fetch(`${rc.adminUrl}${path}`, { headers: bearer(ADMIN_TOKEN) })).text(),
        path,
      );
    }

    // Consul refusing the token makes routecar log the refusal: still without the token. (The
    // restart cuts the blocking query the watcher has open, so its next one meets the 403.)
    consul.failWith(403, 'ACL not found');
    await consul.stop();
    await consul.start();
    await rc.child.waitForLine(/HTTP 403/, 10_000);
    consul.failWith(undefined);

    expect(rc.child.lines.length).toBeGreaterThan(0);
    expectNoSecret(rc.child.lines.join('\n'), "routecar's stdout/stderr");
  });
});

describe('admin bound to 0.0.0.0 without ROUTECAR_ADMIN_TOKEN', () => {
  it('refuses /admin/* with 403 and keeps the probes open', async () => {
    const upstream = await fakeUpstream({ name: 'model' });
    const { file, dir } = await writePolicy({
      version: 1,
      backends: { model: { url: upstream.baseURL, model: 'real-model', price: { input: 0.1, output: 0.1 } } },
      routes: { chat: { backends: ['model'] } },
    });
    const rc = await startOffLoopback(['--policy', file], {
      ROUTECAR_ADMIN_TOKEN: undefined,
      ROUTECAR_STATE_DIR: `${dir}/state`,
    });
    const res = await fetch(`${rc.adminUrl}/admin/state`);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'admin_disabled' } });
    // Even a guessed bearer does not help when no token is configured.
    expect((await fetch(`${rc.adminUrl}/admin/policy`, { headers: bearer('anything') })).status).toBe(403);
    expect((await fetch(`${rc.adminUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${rc.adminUrl}/readyz`)).status).toBe(200);
  });
});

describe('admin on loopback (the default)', () => {
  it('serves reads without a token, and requires it for mutations when one is set', async () => {
    const upstream = await fakeUpstream({ name: 'model' });
    const { file, dir } = await writePolicy({
      version: 1,
      backends: { model: { url: upstream.baseURL, model: 'real-model', price: { input: 0.1, output: 0.1 } } },
      routes: { chat: { backends: ['model'] } },
    });
    const child = spawnNode(ROUTECAR_CLI, ['start', '--policy', file, '--listen', '127.0.0.1:0'], {
      // The default admin address with an ephemeral port, so parallel suites do not collide on 4101.
      env: {
        ROUTECAR_ADMIN_LISTEN: '127.0.0.1:0',
        ROUTECAR_ADMIN_TOKEN: ADMIN_TOKEN,
        ROUTECAR_STATE_DIR: `${dir}/state`,
      },
      name: 'routecar-admin-loopback',
    });
    try {
      const m = await child.waitForLine(/"msg":"routecar ready"/, 15_000);
      const admin = (JSON.parse(m.input ?? '{}') as { admin: string }).admin;
      expect(new URL(admin).hostname).toBe('127.0.0.1');
      expect((await fetch(`${admin}/admin/state`)).status).toBe(200);
      const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] });
      expect((await fetch(`${admin}/admin/explain`, { method: 'POST', body })).status).toBe(200);
      // A mutation that does not exist still meets the guard first: 401, not 404.
      expect((await fetch(`${admin}/admin/state`, { method: 'DELETE' })).status).toBe(401);
      expectNoSecret(child.lines.join('\n'), "routecar's output");
    } finally {
      await child.kill('SIGTERM');
    }
  });
});

describe('admin Host and Origin checks (DNS rebinding)', () => {
  let child: ChildHandle;
  let port: number;
  let upstreamUrl: string;

  beforeAll(async () => {
    const upstream = await fakeUpstream({ name: 'model' });
    upstreamUrl = upstream.baseURL;
    const { file, dir } = await writePolicy({
      version: 1,
      backends: { model: { url: upstream.baseURL, model: 'real-model', price: { input: 0.1, output: 0.1 } } },
      routes: { chat: { backends: ['model'] } },
    });
    // On loopback, reads under /admin need no token: only the Host check keeps a rebinding page out.
    child = procs.spawn(
      ROUTECAR_CLI,
      ['start', '--policy', file, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
      {
        env: {
          ROUTECAR_ALLOWED_HOSTS: 'app.internal',
          ROUTECAR_ADMIN_ALLOWED_HOSTS: 'routecar-admin.internal',
          ROUTECAR_STATE_DIR: `${dir}/state`,
        },
        name: 'routecar-admin-hosts',
      },
    );
    const m = await child.waitForLine(/"msg":"routecar ready"/, 15_000);
    port = Number(new URL((JSON.parse(m.input ?? '{}') as { admin: string }).admin).port);
  });

  const get = (path: string, headers: string): string =>
    `GET ${path} HTTP/1.1\r\n${headers}\r\nConnection: close\r\n\r\n`;
  const explain = (headers: string): string => {
    const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] });
    return `POST /admin/explain HTTP/1.1\r\n${headers}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
  };

  it.each([
    ['GET /admin/policy', (h: string) => get('/admin/policy', h)],
    ['GET /admin/state', (h: string) => get('/admin/state', h)],
    ['GET /metrics', (h: string) => get('/metrics', h)],
    ['POST /admin/explain', (h: string) => explain(h)],
  ])('%s: a foreign Host → 421, a foreign Origin → 403, its own names → 200', async (_name, request) => {
    for (const host of ['evil.example', `evil.example:${port}`, 'app.internal']) {
      const ex = await rawRequest(port, request(`Host: ${host}`));
      expect(ex.status, `${host}: ${ex.text}`).toBe(421);
      expect(ex.text).not.toContain(upstreamUrl);
    }
    const cross = await rawRequest(port, request(`Host: localhost:${port}\r\nOrigin: http://evil.example`));
    expect(cross.status, cross.text).toBe(403);
    expect(cross.text).not.toContain(upstreamUrl);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'routecar-admin.internal']) {
      const ex = await rawRequest(port, request(`Host: ${host}`));
      expect(ex.status, `${host}: ${ex.text}`).toBe(200);
    }
  });
});
