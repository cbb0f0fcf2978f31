/**
 * The Dockerfile, read and checked against the code it packages (no Docker engine needed): base
 * image, non-root user, ports and listen addresses from src/cli/config.ts, the entrypoint from
 * package.json's bin, a HEALTHCHECK that really passes against the admin app, and a final stage
 * with production dependencies only. .dockerignore keeps the build context to what is copied.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_LISTEN,
  DEFAULT_STATE_DIR,
  parseListen,
} from '../../../src/cli/config.js';
import { createAdminApp, HEALTHZ_PATH } from '../../../src/server/admin-app.js';
import { all, envOf, last, parseDockerfile, type Stage } from '../../support/dockerfile.js';
import { REPO_ROOT } from '../../support/processes.js';

const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerfile = parseDockerfile(text);
const final = dockerfile.final;
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};
/**
 * The V8 flags the routecar bin runs with, from its shebang (`#!/usr/bin/env -S node FLAGS`):
 * the image and `npm start` must run node with the same ones.
 */
const NODE_FLAGS = (() => {
  const shebang = readFileSync(join(REPO_ROOT, 'src/cli/main.ts'), 'utf8').split('\n')[0]!;
  const m = /^#!\/usr\/bin\/env -S node((?: --\S+)*)$/.exec(shebang);
  if (!m) throw new Error(`unexpected shebang in src/cli/main.ts: ${shebang}`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
})();
const proxyDefault = parseListen(DEFAULT_LISTEN, 'DEFAULT_LISTEN');
const adminDefault = parseListen(DEFAULT_ADMIN_LISTEN, 'DEFAULT_ADMIN_LISTEN');
const env = envOf(final);

function stageNamed(name: string): Stage {
  const stage = dockerfile.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage "${name}"`);
  return stage;
}

describe('base image', () => {
  it('is a multi-stage build, every stage on the same pinned Node 24 slim image', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) {
      expect(stage.from).toMatch(/^node:24\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/);
      expect(stage.from).toBe(final.from);
    }
  });

  it("satisfies package.json's engines", () => {
    const [major, minor] = /^node:(\d+)\.(\d+)/.exec(final.from)!.slice(1).map(Number) as [number, number];
    const min = /^>=(\d+)\.(\d+)/.exec(pkg.engines.node)!.slice(1).map(Number) as [number, number];
    expect(major > min[0] || (major === min[0] && minor >= min[1])).toBe(true);
  });
});

describe('final stage', () => {
  it('runs as a non-root user that it creates', () => {
    const user = last(final, 'USER')?.args;
    expect(user).toBeDefined();
    const uid = user!.split(':')[0]!;
    expect(uid).toMatch(/^\d+$/); // numeric, so Kubernetes' runAsNonRoot can verify it
    expect(Number(uid)).toBeGreaterThan(0);
    expect(all(final, 'RUN').some((r) => new RegExp(`useradd\\b.*--uid ${uid}\\b`).test(r.args))).toBe(true);
    // USER comes before ENTRYPOINT/CMD take effect, i.e. it is not followed by another USER root.
    expect(all(final, 'USER').every((u) => !/^(root|0)(:|$)/.test(u.args))).toBe(true);
  });

  it('exposes the proxy and admin ports of the code defaults', () => {
    const exposed = all(final, 'EXPOSE')
      .flatMap((e) => e.args.split(/\s+/))
      .map((p) => Number(p.split('/')[0]));
    expect(exposed.sort()).toEqual([proxyDefault.port, adminDefault.port].sort());
  });

  it('keeps the proxy on loopback and puts the admin listener on all interfaces, on the default ports', () => {
    expect(env.ROUTECAR_LISTEN).toBe(DEFAULT_LISTEN);
    const admin = parseListen(env.ROUTECAR_ADMIN_LISTEN!, 'ROUTECAR_ADMIN_LISTEN');
    expect(admin).toEqual({ host: '0.0.0.0', port: adminDefault.port });
    // The admin listener off loopback is only safe because the code then demands the token.
    expect(readFileSync(join(REPO_ROOT, 'src/server/admin-app.ts'), 'utf8')).toMatch(/!deps\.loopbackOnly/);
  });

  it('keeps the state dir outside the app directory, created for the user', () => {
    const stateDir = env.ROUTECAR_STATE_DIR!;
    expect(stateDir).toMatch(/^\//);
    expect(stateDir).not.toBe(DEFAULT_STATE_DIR); // ./.routecar would be inside the read-only app dir
    const uid = last(final, 'USER')!.args.split(':')[0]!;
    expect(
      all(final, 'RUN').some((r) => r.args.includes(`install -d -o ${uid}`) && r.args.includes(stateDir)),
    ).toBe(true);
  });

  it('starts the routecar bin with `start` under tini', () => {
    const entrypoint = last(final, 'ENTRYPOINT')?.exec;
    const cmd = last(final, 'CMD')?.exec;
    expect(entrypoint, 'ENTRYPOINT in exec form').toBeDefined();
    expect(cmd, 'CMD in exec form').toBeDefined();
    const argv = [...entrypoint!, ...cmd!];
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(argv.slice(2)).toEqual(['node', ...NODE_FLAGS, pkg.bin.routecar!, 'start']);
    expect(all(final, 'RUN').some((r) => /apt-get install\b.*\btini\b/.test(r.args))).toBe(true);
    // The bin is what the final stage copies.
    const workdir = last(final, 'WORKDIR')!.args;
    expect(workdir).toBe('/app');
    expect(all(final, 'COPY').some((c) => /--from=build\s+\S*dist\/src\s+\.\/dist\/src$/.test(c.args))).toBe(
      true,
    );
    expect(pkg.bin.routecar!.startsWith('dist/src/')).toBe(true);
    // And so is the bundle the bin loads its commands from (rolldown.config.js).
    const main = readFileSync(join(REPO_ROOT, 'src/cli/main.ts'), 'utf8');
    expect(main).toContain("new URL('../../bundle/run.js', import.meta.url)"); // dist/src/cli/ -> dist/bundle
    expect(
      all(final, 'COPY').some((c) => /--from=build\s+\S*dist\/bundle\s+\.\/dist\/bundle$/.test(c.args)),
    ).toBe(true);
  });

  it('`npm start` runs node with the same flags as the bin and the image (young generation capped for RSS, no pretenuring)', () => {
    const scripts = pkg.scripts;
    expect(NODE_FLAGS).toContain('--max-semi-space-size=4');
    expect(NODE_FLAGS).toContain('--heap-growing-percent=60');
    expect(NODE_FLAGS).toContain('--no-allocation-site-pretenuring');
    expect(scripts.start!.startsWith(`node ${NODE_FLAGS.join(' ')} ${pkg.bin.routecar!} start`)).toBe(true);
  });

  it('`npm start` names its policy and asks for the demo backends explicitly (`npm ci && npm start` in the README)', () => {
    const start = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts.start!;
    const args = start.split(/\s+/);
    const policy = args[args.indexOf('--policy') + 1];
    expect(policy).toBe('policies/default.yaml');
    expect(existsSync(join(REPO_ROOT, policy!))).toBe(true);
    expect(args).toContain('--demo-if-unreachable');
  });

  it('starts without any demo flag: the image needs a policy source from its environment, or it exits', () => {
    const argv = [...(last(final, 'ENTRYPOINT')?.exec ?? []), ...(last(final, 'CMD')?.exec ?? [])];
    expect(argv.filter((a) => a.startsWith('--demo'))).toEqual([]);
    // No source baked in either: an image run without ROUTECAR_POLICY_FILE or CONSUL_HTTP_ADDR must stop.
    expect(env.ROUTECAR_POLICY_FILE).toBeUndefined();
    expect(env.CONSUL_HTTP_ADDR).toBeUndefined();
    // The documented `docker run` example gives one.
    expect(text).toMatch(/docker run .*-e ROUTECAR_POLICY_FILE=\/app\/policies\/default\.yaml/);
  });

  it('ships the example policies beside package.json (the bundled default is found from it)', () => {
    expect(all(final, 'COPY').some((c) => /^policies\s+\.\/policies$/.test(c.args))).toBe(true);
    const run = readFileSync(join(REPO_ROOT, 'src/cli/run.ts'), 'utf8');
    expect(run).toContain("join(routecarPackageDir(), 'policies', 'default.yaml')"); // -> /app/policies
    // package.json: "type": "module", and the directory routecarPackageDir() finds.
    expect(all(final, 'COPY').some((c) => /package\.json/.test(c.args))).toBe(true);
  });

  it('installs no devDependencies: node_modules come from an `npm ci --omit=dev` stage', () => {
    for (const run of all(final, 'RUN')) expect(run.args).not.toMatch(/\bnpm (ci|install|i)\b/);
    const copy = all(final, 'COPY').find((c) => /node_modules/.test(c.args));
    expect(copy).toBeDefined();
    const from = /--from=(\S+)/.exec(copy!.args)![1]!;
    const installs = all(stageNamed(from), 'RUN').filter((r) => /\bnpm (ci|install|i)\b/.test(r.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const run of installs) expect(run.args).toMatch(/--omit=dev|--production/);
    // And nothing else brings sources, tests or tooling along.
    for (const c of all(final, 'COPY')) expect(c.args).not.toMatch(/(^|\s)(src|test|bench|\.)(\s|$)/);
  });

  it('builds with the compiler and the bundler in a separate stage, as `npm run build` does', () => {
    const build = stageNamed('build');
    const runs = all(build, 'RUN').map((r) => r.args);
    expect(runs.some((r) => /^npm ci\b/.test(r) && !/--omit=dev/.test(r))).toBe(true);
    expect(runs).toContain('npm run build');
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig\.build\.json && rolldown -c rolldown\.config\.js\b/);
  });
});

describe('HEALTHCHECK', () => {
  const healthcheck = last(final, 'HEALTHCHECK');
  const argv = healthcheck?.exec;

  it("probes the admin listener's liveness path with node (slim has no curl)", () => {
    expect(argv?.[0]).toBe('node');
    expect(argv!.join(' ')).toContain(HEALTHZ_PATH);
    expect(argv!.join(' ')).toContain(String(adminDefault.port));
    expect(healthcheck!.args).toMatch(/--interval=\d+s/);
  });

  /** Runs the HEALTHCHECK's command as Docker would, against an admin app on an ephemeral port. */
  async function runHealthcheck(ready: boolean, stop = false): Promise<number> {
    const app = createAdminApp({
      ready: () => ready,
      notReadyReason: () => 'test',
      state: () => ({}),
      policy: () => ({}),
      explain: () => ({}),
      adminToken: undefined,
      loopbackOnly: true,
      maxBodyBytes: 1024,
      hosts: { listenHost: '0.0.0.0', allowedHosts: [] },
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    if (stop) await new Promise((resolve) => server.close(resolve));
    try {
      const [cmd, ...args] = argv!;
      expect(cmd).toBe('node');
      await promisify(execFile)(process.execPath, args, {
        env: { ...process.env, ROUTECAR_ADMIN_LISTEN: `0.0.0.0:${port}` },
        timeout: 10_000,
      });
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    } finally {
      server.closeAllConnections();
      if (!stop) await new Promise((resolve) => server.close(resolve));
    }
  }

  it('passes against a live admin listener, on the port ROUTECAR_ADMIN_LISTEN names', async () => {
    expect(await runHealthcheck(true)).toBe(0);
    // Liveness, not readiness: a draining or policy-less routecar is still alive.
    expect(await runHealthcheck(false)).toBe(0);
  });

  it('fails when nothing listens', async () => {
    expect(await runHealthcheck(true, true)).toBe(1);
  });
});

describe('.dockerignore', () => {
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('starts from "ignore everything" and lets in exactly what the Dockerfile copies from the context', () => {
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const copied = dockerfile.stages
      .flatMap((s) => all(s, 'COPY'))
      .filter((c) => !c.args.includes('--from='))
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    expect(new Set(copied)).toEqual(new Set(allowed));
  });

  it('never lets node_modules or local state in', () => {
    expect(ignore).toContain('**/node_modules');
    expect(ignore).toContain('**/.routecar');
  });
});
