/**
 * The local canary guard in the real sidecar: routecar on Consul (the emulator, or a real Consul
 * at CONSUL_HTTP_ADDR), route `chat` split 50/50 between `stable` and `canary`, the canary failing
 * every call. With a canary spec whose guard is maxErrorRatioDelta 0.2 on 10 attempts, the sidecar
 * stops giving the canary first attempts on its own, before any controller acts, with 0 errors
 * reaching the app (failover), and /admin/state shows the guard.
 * Skips with a reason while the runtime does not expose `canaryGuards` (wiring pending).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chatBody,
  ConsulUnderTest,
  post,
  removeStateDirs,
  startConsulRoutecar,
  type ConsulRoutecar,
} from '../support/consul-routecar.js';
import { useProcesses } from '../support/processes.js';
import { UpstreamProcess } from '../support/upstream-process.js';

const procs = useProcesses(afterAll);
let consul: ConsulUnderTest;
let routecar: ConsulRoutecar;

describe('local canary guard in every sidecar', () => {
  beforeAll(async () => {
    consul = await ConsulUnderTest.start('local-guard');
    const [stable, canary] = await Promise.all([
      UpstreamProcess.start(procs, 'stable', []),
      UpstreamProcess.start(procs, 'canary', ['--failure-rate', '1']),
    ]);
    const backend = (u: UpstreamProcess) => ({
      url: u.baseURL,
      model: u.name,
      price: { input: 1, output: 1 },
    });
    await consul.write('policy', {
      version: 1,
      backends: { stable: backend(stable), canary: backend(canary) },
      routes: {
        chat: {
          backends: ['stable', 'canary'],
          split: { stable: 50, canary: 50 },
          failover: { maxAttempts: 2 },
        },
      },
      // The breaker stays closed: the guard, not the breaker, is under test.
      breaker: {
        errorThresholdPercentage: 99,
        volumeThreshold: 100000,
        resetTimeoutMs: 1000,
        consecutiveFailures: 0,
      },
    });
    await consul.write('canary/chat', {
      baseline: 'stable',
      candidate: 'canary',
      steps: [50, 100],
      intervalS: 600,
      minRequests: 10,
      guards: { maxErrorRatioDelta: 0.2 },
    });
    routecar = await startConsulRoutecar({ consul, group: procs, name: 'sidecar' });
  }, 30_000);

  afterAll(async () => {
    await routecar?.stop();
    await consul?.close();
    await removeStateDirs();
  });

  it('drops the failing canary from first attempts once both arms have minRequests, with no app error', async () => {
    const state = (await (await fetch(`${routecar.adminUrl}/admin/state`)).json()) as {
      canaryGuards?: unknown;
    };
    expect(state.canaryGuards).toEqual({
      chat: {
        baseline: 'stable',
        candidate: 'canary',
        minRequests: 10,
        maxErrorRatioDelta: 0.2,
        breached: null,
      },
    });
    const variants: string[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) {
      const res = await post(`${routecar.url}/v1/chat/completions`, chatBody('chat'));
      statuses.push(res.status);
      variants.push(String(res.headers['x-routecar-variant']));
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // At 50/50 the canary has its 10 attempts within the first few dozen requests.
    expect(variants.slice(0, 60).filter((v) => v === 'canary').length).toBeGreaterThanOrEqual(10);
    expect(variants.slice(100).filter((v) => v === 'canary')).toEqual([]);
    // The breach is in /admin/state and in the metric.
    const after = (await (await fetch(`${routecar.adminUrl}/admin/state`)).json()) as {
      canaryGuards: Record<string, { breached: string | null }>;
    };
    expect(after.canaryGuards.chat!.breached).toMatch(
      /^canary guard: canary error ratio 1\.00 vs stable 0\.00/,
    );
    const metrics = await (await fetch(`${routecar.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^routecar_canary_guard_breached\{[^}]*routecar_backend="canary"[^}]*\} 1$/m);
  }, 60_000);
});
