/**
 * deploy/consul/seed.sh, run with a stand-in `consul` on PATH that records its arguments: it puts
 * the policy file at <prefix>policy, adds the example split only when absent, and refuses a
 * missing file. The example split names a real route of policies/default.yaml.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONSUL_PREFIX } from '../../../src/cli/config.js';
import { parsePolicy } from '../../../src/policy/parse.js';
import { REPO_ROOT } from '../../support/processes.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** Runs seed.sh from the repository root with a fake consul; `existing` keys answer `kv get`. */
async function seed(args: string[], env: Record<string, string> = {}, existing: string[] = []) {
  const bin = await mkdtemp(join(tmpdir(), 'routecar-seed-'));
  dirs.push(bin);
  const log = join(bin, 'calls.log');
  await writeFile(
    join(bin, 'consul'),
    `#!/bin/sh
printf '%s\\n' "$*" >> '${log}'
if [ "$1 $2" = "kv get" ]; then
  for k in ${existing.join(' ')}; do [ "$3" = "$k" ] && exit 0; done
  exit 1
fi
exit 0
`,
  );
  await chmod(join(bin, 'consul'), 0o755);
  try {
    // Only the fake consul on PATH (the script needs nothing else but shell builtins): a node there
    // (the machine's, maybe older than routecar supports) would run the optional validation step.
    const { stdout } = await promisify(execFile)('/bin/sh', ['deploy/consul/seed.sh', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: bin, CONSUL_HTTP_ADDR: 'http://127.0.0.1:8500', ...env },
    });
    return {
      code: 0,
      stdout,
      calls: (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean),
    };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return {
      code: e.code,
      stdout: e.stderr,
      calls: (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean),
    };
  }
}

describe('deploy/consul/seed.sh', () => {
  it('puts policies/default.yaml at routecar/policy and the example split only if absent', async () => {
    const r = await seed([]);
    expect(r.code).toBe(0);
    expect(r.calls[0]).toBe(`kv put ${DEFAULT_CONSUL_PREFIX}policy @policies/default.yaml`);
    expect(r.calls).toContain(`kv get ${DEFAULT_CONSUL_PREFIX}splits/chat-canary`);
    const put = r.calls.find((c) => c.startsWith('kv put -cas -modify-index=0 '));
    expect(put).toBeDefined();
  });

  it('leaves an existing split alone (re-running never undoes a canary)', async () => {
    const r = await seed([], {}, ['routecar/splits/chat-canary']);
    expect(r.code).toBe(0);
    expect(r.calls.filter((c) => c.startsWith('kv put'))).toEqual([
      'kv put routecar/policy @policies/default.yaml',
    ]);
  });

  it('honours ROUTECAR_CONSUL_PREFIX and a policy file argument', async () => {
    const r = await seed(['policies/canary.yaml'], { ROUTECAR_CONSUL_PREFIX: 'team-a/routecar' });
    expect(r.code).toBe(0);
    expect(r.calls[0]).toBe('kv put team-a/routecar/policy @policies/canary.yaml');
  });

  it('refuses a missing file and writes nothing', async () => {
    const r = await seed(['policies/nope.yaml']);
    expect(r.code).not.toBe(0);
    expect(r.calls).toEqual([]);
  });

  it("seeds a split that policies/default.yaml accepts for the route's own backends", async () => {
    const r = await seed([]);
    const put = r.calls.find((c) => c.startsWith('kv put -cas'))!;
    const [, key, json] = /^kv put -cas -modify-index=0 (\S+) (.+)$/.exec(put)!;
    const route = key!.slice(`${DEFAULT_CONSUL_PREFIX}splits/`.length);
    const weights = JSON.parse(json!) as Record<string, number>;
    const parsed = parsePolicy(await readFile(join(REPO_ROOT, 'policies/default.yaml'), 'utf8'));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const compiled = parsed.policy.routes.get(route);
    expect(compiled, `route ${route}`).toBeDefined();
    for (const backend of Object.keys(weights)) expect(compiled!.backends).toContain(backend);
  });
});
