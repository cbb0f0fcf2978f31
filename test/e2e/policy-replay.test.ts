/**
 * `routecar policy replay` over a real access log: a routecar with ROUTECAR_ACCESS_LOG=true
 * serves 50 requests split 50/50 between two fake upstreams (a tenant rule sends acme to b);
 * its stdout becomes the log; a new policy that sends everything to b is replayed over it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { runCli, startRoutecar, writePolicy, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);
const REQUESTS = 50;

let routecar: Routecar;
let logFile = '';
let newPolicy = '';
const recorded: string[] = [];

describe('routecar policy replay', () => {
  beforeAll(async () => {
    const [a, b] = await Promise.all([startUpstream({ name: 'a' }), startUpstream({ name: 'b' })]);
    const backends = {
      a: { url: a.baseURL, model: 'a', price: { input: 1, output: 1 } },
      b: { url: b.baseURL, model: 'b', price: { input: 1, output: 1 } },
    };
    routecar = await startRoutecar({
      group: procs,
      env: { ROUTECAR_ACCESS_LOG: 'true' },
      policy: {
        version: 1,
        backends,
        routes: { chat: { backends: ['a', 'b'], split: { a: 50, b: 50 }, sticky: 'header:x-user-id' } },
        rules: [{ name: 'acme-to-b', match: { header: { 'x-tenant-id': ['acme'] } }, prefer: ['b'] }],
      },
    });
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`${routecar.baseURL}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-user-id': `user-${i}`,
          ...(i % 5 === 0 ? { 'x-tenant-id': 'acme' } : {}),
        },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: `hello ${i}` }] }),
      });
      expect(res.status).toBe(200);
      recorded.push(res.headers.get('x-routecar-backend') ?? '');
    }
    // The access log is flushed at least every second.
    const deadline = performance.now() + 10_000;
    while (routecar.child.stdout.filter((l) => l.includes('"msg":"request"')).length < REQUESTS) {
      if (performance.now() > deadline) throw new Error(`access lines missing:\n${routecar.child.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    logFile = join(routecar.dir, 'access.jsonl');
    await writeFile(logFile, [...routecar.child.stdout, 'not json at all', ''].join('\n'));
    newPolicy = (
      await writePolicy({
        version: 1,
        backends,
        routes: { chat: { backends: ['a', 'b'], split: { b: 100 } } },
      })
    ).file;
  }, 60_000);

  afterAll(async () => {
    await routecar?.stop();
  });

  it('--json: 50 requests, all after on b, changed = those that went to a', async () => {
    const run = await runCli(['policy', 'replay', newPolicy, '--log', logFile, '--json']);
    expect(run.code, run.output).toBe(0);
    const out = JSON.parse(run.stdout) as {
      requests: number;
      changed: number;
      skipped: number;
      health: string;
      backends: Record<string, { before: number; after: number }>;
      rules: Record<string, { before: number; after: number }>;
    };
    const toA = recorded.filter((b) => b === 'a').length;
    expect(toA).toBeGreaterThan(0);
    expect(out.requests).toBe(REQUESTS);
    expect(out.changed).toBe(toA);
    expect(out.backends.b).toEqual({ before: REQUESTS - toA, after: REQUESTS });
    expect(out.backends.a).toEqual({ before: toA, after: 0 });
    expect(out.rules['acme-to-b']).toEqual({ before: REQUESTS / 5, after: 0 });
    expect(out.health).toBe('assumed healthy');
    expect(out.skipped).toBeGreaterThanOrEqual(2);
  });

  it('replaying the policy in force changes nothing it can reproduce, and the text report says how health was taken', async () => {
    const run = await runCli(['policy', 'replay', routecar.policyFile, '--log', logFile]);
    expect(run.code, run.output).toBe(0);
    expect(run.stdout).toMatch(/assumed healthy/);
    expect(run.stdout).toMatch(
      new RegExp(`^${REQUESTS} requests from .* re-decided under .*; \\d+ would go elsewhere\\.`),
    );
    expect(run.stdout).toMatch(/^acme-to-b\s+10\s+10\s+0$/m);
  });

  it('says what is missing', async () => {
    const run = await runCli(['policy', 'replay', newPolicy]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/--log LOG.jsonl is required/);
  });
});
