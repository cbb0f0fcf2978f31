/**
 * The canary controller end to end: the Consul emulator in its own process (or a real Consul at
 * CONSUL_HTTP_ADDR), two routecar sidecars taking their policy and splits from it, fake model
 * servers as processes, a real Prometheus scraping both sidecars, and two `routecar canary run`
 * replicas. A load loop keeps both routes busy and counts what the app would see.
 * Without `prometheus` on PATH the suite is skipped with the reason (external.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ConsulUnderTest,
  post,
  chatBody,
  sleep,
  startConsulRoutecar,
  type ConsulRoutecar,
} from '../support/consul-routecar.js';
import { describeWith } from '../support/external.js';
import { useProcesses, type ChildHandle } from '../support/processes.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { ROUTECAR_CLI, runCli } from '../support/routecar.js';
import { UpstreamProcess } from '../support/upstream-process.js';

const procs = useProcesses(afterAll);
const INTERVAL_S = 5;
const MIN_REQUESTS = 20;

let consul: ConsulUnderTest;
let sidecars: ConsulRoutecar[] = [];
let prom: PrometheusServer;
const controllers = new Map<string, ChildHandle>();
let ttlS = 2;
let loadRunning = true;
let load: Promise<void> = Promise.resolve();
const seen = new Map<string, { ok: number; failed: number }>();

function startController(id: string): ChildHandle {
  const child = procs.spawn(
    ROUTECAR_CLI,
    ['canary', 'run', '--id', id, '--session-ttl', String(ttlS), '--tick-ms', '500', '--min-range-s', '5'],
    { name: `canary ${id}`, env: { ...consul.env(), ROUTECAR_PROMETHEUS_URL: prom.url } },
  );
  controllers.set(id, child);
  return child;
}

async function loadLoop(routes: readonly string[]): Promise<void> {
  let i = 0;
  const worker = async (): Promise<void> => {
    while (loadRunning) {
      const route = routes[i % routes.length]!;
      const sidecar = sidecars[i++ % sidecars.length]!;
      const res = await post(`${sidecar.url}/v1/chat/completions`, chatBody(route)).catch(() => undefined);
      const c = seen.get(route) ?? { ok: 0, failed: 0 };
      if (res?.status === 200) c.ok++;
      else c.failed++;
      seen.set(route, c);
      await sleep(10);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

interface Status {
  state: string;
  weight: number;
  reason: string;
}
async function status(route: string): Promise<Status | undefined> {
  const e = await consul.get(`canary-status/${route}`);
  return e?.value ? (JSON.parse(e.value.toString()) as Status) : undefined;
}
async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describeWith(['prometheus'], 'canary controller: real sidecars, real Prometheus, two replicas', () => {
  beforeAll(async () => {
    consul = await ConsulUnderTest.startProcess(procs, 'canary', { sessionTtlMinMs: 1000 });
    if (consul.real) ttlS = 10;
    const [base, bad, good] = await Promise.all([
      UpstreamProcess.start(procs, 'base', []),
      UpstreamProcess.start(procs, 'bad', ['--failure-rate', '0.5']),
      UpstreamProcess.start(procs, 'good', []),
    ]);
    const backend = (u: UpstreamProcess) => ({
      url: u.baseURL,
      model: u.name,
      price: { input: 1, output: 1 },
    });
    await consul.write('policy', {
      version: 1,
      backends: { base: backend(base), bad: backend(bad), good: backend(good) },
      routes: {
        fail: { backends: ['base', 'bad'], split: { base: 100, bad: 0 }, failover: { maxAttempts: 2 } },
        ok: { backends: ['base', 'good'], split: { base: 100, good: 0 }, failover: { maxAttempts: 2 } },
        blind: { backends: ['base', 'good'], split: { base: 100, good: 0 }, failover: { maxAttempts: 2 } },
      },
      // The breaker stays closed: the canary's guard, not the breaker, is under test.
      breaker: {
        errorThresholdPercentage: 99,
        volumeThreshold: 100000,
        resetTimeoutMs: 1000,
        consecutiveFailures: 0,
      },
    });
    sidecars = await Promise.all([
      startConsulRoutecar({ consul, group: procs, name: 'sidecar 1' }),
      startConsulRoutecar({ consul, group: procs, name: 'sidecar 2' }),
    ]);
    prom = await startPrometheus({ targets: sidecars.map((s) => new URL(s.adminUrl).host) });
    load = loadLoop(['fail', 'ok']);
    startController('a');
    startController('b');
  }, 60_000);

  afterAll(async () => {
    loadRunning = false;
    await load;
    await prom?.stop();
  });

  it('rolls back a candidate failing 50% of attempts, naming the guard, with no error reaching the app', async () => {
    const spec = {
      baseline: 'base',
      candidate: 'bad',
      steps: [20, 50, 100],
      intervalS: INTERVAL_S,
      minRequests: MIN_REQUESTS,
      guards: { maxErrorRatioDelta: 0.2 },
    };
    await consul.write('canary/fail', spec);
    await until(
      'canary started',
      async () => ((await status('fail'))?.weight === 20 ? true : undefined),
      20_000,
    );
    // When Prometheus first holds minRequests attempts of the candidate, the clock starts.
    await prom.waitFor(
      // The candidate had weight 0 before: every attempt it counts is the canary's.
      `sum(gen_ai_client_operation_duration_seconds_count{routecar_route="fail",routecar_backend="bad"})`,
      (r) => (r[0]?.value ?? 0) >= MIN_REQUESTS,
      30_000,
    );
    const enough = performance.now();
    const final = await until(
      'rolled back',
      async () => {
        const s = await status('fail');
        return s?.state === 'rolled_back' ? s : undefined;
      },
      2 * INTERVAL_S * 1000 + 10_000,
    );
    const tookMs = performance.now() - enough;
    expect(tookMs).toBeLessThan(2 * INTERVAL_S * 1000);
    expect(final.weight).toBe(0);
    // From the fleet's figures, or from the sidecars' local guards that dropped it first.
    expect(final.reason).toMatch(
      /^guard maxErrorRatioDelta broken: (candidate error ratio|the local guard drops bad)/,
    );
    expect(JSON.parse((await consul.mustGet('splits/fail')).value!.toString())).toEqual({
      base: 100,
      bad: 0,
    });
    expect(seen.get('fail')?.failed).toBe(0);
    expect(seen.get('fail')?.ok).toBeGreaterThan(MIN_REQUESTS);
  }, 90_000);

  it('promotes a healthy candidate 20 → 50 → 100; only the lock holder acts, and killing it hands over', async () => {
    const spec = {
      baseline: 'base',
      candidate: 'good',
      steps: [20, 50, 100],
      intervalS: INTERVAL_S,
      minRequests: MIN_REQUESTS,
      guards: { maxErrorRatioDelta: 0.2, maxTtftP95Ratio: 100 },
    };
    await consul.write('canary/ok', spec);
    const weights: number[] = [];
    const record = async (): Promise<Status | undefined> => {
      const split = await consul.get('splits/ok');
      const w = split?.value
        ? (JSON.parse(split.value.toString()) as Record<string, number>).good
        : undefined;
      if (w !== undefined && weights[weights.length - 1] !== w) weights.push(w);
      return status('ok');
    };
    await until('first step', async () => ((await record())?.weight === 20 ? true : undefined), 20_000);
    const holder = (await consul.mustGet('canary-lock/ok')).value!.toString();
    const other = holder === 'a' ? 'b' : 'a';
    const holderChild = controllers.get(holder)!;
    const otherChild = controllers.get(other)!;
    expect(holderChild.tail(200)).toMatch(/"msg":"canary lock taken","route":"ok"/);
    expect(otherChild.tail(200)).not.toMatch(/"route":"ok"/);

    await holderChild.kill('SIGKILL');
    const killed = performance.now();
    await until(
      'hand-over',
      async () =>
        otherChild.tail(200).includes('"msg":"canary lock taken","route":"ok"') ? true : undefined,
      ttlS * 2000 + 10_000,
    );
    const handOverMs = performance.now() - killed;
    // Consul invalidates an unrenewed session after at most twice its TTL; then one tick.
    expect(handOverMs).toBeLessThan(ttlS * 2000 + 3000);

    const final = await until(
      'promoted',
      async () => {
        const s = await record();
        return s?.state === 'promoted' ? s : undefined;
      },
      6 * INTERVAL_S * 1000 + 20_000,
    );
    expect(final.weight).toBe(100);
    expect(weights).toEqual([20, 50, 100]);
    expect(seen.get('ok')?.failed).toBe(0);

    const cli = await runCli(['canary', 'status', '--json'], { env: consul.env() });
    expect(cli.code).toBe(0);
    const out = JSON.parse(cli.stdout) as Record<string, { status: Status; controller: string | null }>;
    expect(out.ok!.status.state).toBe('promoted');
    expect(out.fail!.status.state).toBe('rolled_back');
    expect(out.ok!.controller).toBe(other);
    const text = await runCli(['canary', 'status', 'ok'], { env: consul.env() });
    expect(text.stdout).toMatch(
      new RegExp(
        `^ok: promoted at 100% \\(.*\\) — promoted: guards held at every step \\[controller ${other}\\]$`,
      ),
    );
  }, 120_000);
  it('pauses while Prometheus does not answer: the weight is held and the reason says why', async () => {
    await prom.stop();
    await consul.write('canary/blind', {
      baseline: 'base',
      candidate: 'good',
      steps: [20, 50, 100],
      intervalS: 1,
      minRequests: 1,
      guards: { maxErrorRatioDelta: 0.2 },
    });
    const paused = await until(
      'paused',
      async () => {
        const s = await status('blind');
        return s?.reason.includes('Prometheus unavailable') ? s : undefined;
      },
      20_000,
    );
    expect(paused.weight).toBe(20);
    // Several intervals later it still has not moved.
    await sleep(4000);
    expect((await status('blind'))?.weight).toBe(20);
    expect(JSON.parse((await consul.mustGet('splits/blind')).value!.toString())).toEqual({
      base: 80,
      good: 20,
    });
  }, 60_000);
});
