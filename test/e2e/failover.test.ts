/**
 * Failover and health end to end: three fake upstreams, each its own process (so one can be
 * SIGKILLed like a crashed model server), behind one routecar route without a split, under a
 * steady series of non-streaming requests, four at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countByBackend, failuresOf, runLoad, type LoadOutcome } from '../support/load.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type BackendState, type Routecar } from '../support/routecar.js';
import { UpstreamProcess } from '../support/upstream-process.js';

const procs = useProcesses(afterAll);
const routecars: Routecar[] = [];
afterAll(async () => {
  await Promise.all(routecars.map((r) => r.stop()));
});

const CHAT = { model: 'chat', messages: [{ role: 'user', content: 'hello' }] };
const CONCURRENCY = 4;
const RESET_TIMEOUT_MS = 1_000;

/** Three upstreams and a routecar whose route `chat` spreads over them by score. */
async function startFleet(
  specs: Record<string, readonly string[]>,
): Promise<{ routecar: Routecar; upstreams: Record<string, UpstreamProcess> }> {
  const entries = await Promise.all(
    Object.entries(specs).map(
      async ([name, flags]) => [name, await UpstreamProcess.start(procs, name, flags)] as const,
    ),
  );
  const upstreams = Object.fromEntries(entries);
  const names = Object.keys(upstreams);
  const backend = (u: UpstreamProcess): object => ({
    url: u.baseURL,
    model: `${u.name}-model`,
    price: { input: 0.1, output: 0.1 },
    timeouts: { connectMs: 500, firstByteMs: 3_000, idleMs: 3_000 },
  });
  const routecar = await startRoutecar({
    group: procs,
    policy: {
      version: 1,
      backends: Object.fromEntries(entries.map(([name, u]) => [name, backend(u)])),
      routes: {
        chat: { backends: names, failover: { maxAttempts: 3 } },
        // One route per backend, with nothing to fail over to (see ensureBreakerOpen).
        ...Object.fromEntries(
          names.map((n) => [`only-${n}`, { backends: [n], failover: { maxAttempts: 1 } }]),
        ),
      },
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: RESET_TIMEOUT_MS },
      window: { sizeMs: 2_000, buckets: 10 },
    },
  });
  routecars.push(routecar);
  return { routecar, upstreams };
}

/** What the background poller of /admin/state saw of one backend. */
interface Watched {
  /** Every breaker state seen. */
  readonly states: Set<BackendState['breaker']>;
  /** The window with the most failures seen: failures and attempts (for failure messages). */
  worst: { failures: number; requests: number };
}

/** Polls /admin/state in the background and records what it saw per backend. */
function watchBreakers(routecar: Routecar): {
  seen: Map<string, Set<BackendState['breaker']>>;
  describe(backend: string): string;
  stop(): Promise<void>;
} {
  const watched = new Map<string, Watched>();
  const seen = new Map<string, Set<BackendState['breaker']>>();
  let running = true;
  const loop = (async (): Promise<void> => {
    while (running) {
      const state = await routecar.state().catch(() => undefined);
      for (const b of state?.backends ?? []) {
        let w = watched.get(b.backend);
        if (!w) {
          w = { states: new Set(), worst: { failures: 0, requests: 0 } };
          watched.set(b.backend, w);
          seen.set(b.backend, w.states);
        }
        w.states.add(b.breaker);
        if (b.failures > w.worst.failures) w.worst = { failures: b.failures, requests: b.requests };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    seen,
    describe(backend) {
      const w = watched.get(backend);
      if (!w) return `${backend}: never seen in /admin/state`;
      return (
        `${backend}: breaker states seen: ${[...w.states].join(', ')}; most failures in the window at once: ` +
        `${w.worst.failures} of ${w.worst.requests} attempts`
      );
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

function load(
  routecar: Routecar,
  total: number,
  extra: Partial<Parameters<typeof runLoad>[0]> = {},
): Promise<LoadOutcome[]> {
  return runLoad({
    url: `${routecar.baseURL}/chat/completions`,
    body: CHAT,
    total,
    concurrency: CONCURRENCY,
    ...extra,
  });
}

describe('an upstream crashes (SIGKILL) midway through a series of 500 requests', () => {
  let routecar: Routecar;
  let up: Record<string, UpstreamProcess>;
  const KILL_AT = 150;

  beforeAll(async () => {
    const fleet = await startFleet({
      a: ['--latency-ms', '10'],
      b: ['--latency-ms', '10'],
      c: ['--latency-ms', '10'],
    });
    routecar = fleet.routecar;
    up = fleet.upstreams;
  });

  it('no error reaches the client, and the dead upstream is cut off (its breaker opens, or scoring shuts it out first)', async () => {
    const watch = watchBreakers(routecar);
    let killedAt = Infinity;
    const outcomes = await load(routecar, 500, {
      before: async (i) => {
        if (i !== KILL_AT) return;
        await up.b!.crash();
        killedAt = Date.now();
      },
    });
    // The breaker may open a little after the last request of the series.
    const opened = await routecar
      .waitForBackend('b', (s) => s.breaker === 'open', 3_000)
      .then(
        () => true,
        () => watch.seen.get('b')?.has('open') ?? false,
      );
    await watch.stop();

    expect(failuresOf(outcomes)).toEqual([]);
    expect(outcomes).toHaveLength(500);
    // The crash mattered: b was serving its share before it.
    expect(countByBackend(outcomes.slice(0, KILL_AT)).b ?? 0).toBeGreaterThan(KILL_AT / 10);
    // Whatever b answered, it answered before it died (100 ms of slack for the relay).
    expect(countByBackend(outcomes.filter((o) => o.at > killedAt + 100)).b ?? 0).toBe(0);
    const afterCrash = outcomes.filter((o) => o.at > killedAt + 100);
    expect(afterCrash.length).toBeGreaterThan(250);
    // Either the breaker opened (five failures in a row), or the error term shut b out first and
    // only its exploration floor (1% / 3) still pays a failover: either way few requests do.
    const failovers = afterCrash.filter((o) => (o.attempts ?? 1) > 1).length;
    expect(
      opened || failovers <= afterCrash.length * 0.05,
      `the breaker never opened (${watch.describe('b')}) and ${failovers} of ${afterCrash.length} requests after the crash paid a failover`,
    ).toBe(true);
  });

  it('restarted on the same port, the half-open trial closes its breaker and it gets traffic again', async () => {
    const watch = watchBreakers(routecar);
    await ensureBreakerOpen(routecar, 'b');
    await up.b!.spawn();
    let closedAt: number | undefined;
    const poller = routecar
      .waitForBackend('b', (s) => s.breaker === 'closed', 10_000)
      .then(() => (closedAt = Date.now()));
    // Keep traffic flowing until the breaker closed and two hundred requests more went by.
    let afterClose = 0;
    const outcomes = await load(routecar, 3_000, {
      stop: () => closedAt !== undefined && ++afterClose > 200,
    });
    await poller;
    await watch.stop();

    expect(failuresOf(outcomes)).toEqual([]);
    expect(watch.seen.get('b')).toContain('open');
    expect(closedAt).toBeDefined();
    const later = outcomes.filter((o) => o.at > closedAt!);
    expect(later.length).toBeGreaterThan(150);
    // Back in the pool: a fair share of the requests after the breaker closed.
    expect(countByBackend(later).b ?? 0).toBeGreaterThan(later.length / 10);
    expect((await up.b!.stats()).completed).toBeGreaterThan(0);
  });
});

/**
 * Makes sure the backend's breaker is open before the recovery test: when the `chat` series left
 * it closed, failing requests on the backend's own route (which has nothing to fail over to) open
 * it. Those requests are expected to fail; they are not part of any zero-error series.
 */
async function ensureBreakerOpen(routecar: Routecar, name: string): Promise<void> {
  for (let i = 0; i < 20 && (await routecar.backend(name)).breaker !== 'open'; i++) {
    const res = await fetch(`${routecar.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...CHAT, model: `only-${name}` }),
    });
    await res.text();
  }
  expect((await routecar.backend(name)).breaker).toBe('open');
}

describe('an upstream 10x slower than the others', () => {
  let routecar: Routecar;
  const FAST_MS = 30;
  const SLOW_MS = 300;

  beforeAll(async () => {
    // 30 ms against 300 ms: a few ms of scheduling noise on a busy machine barely moves the ratio.
    const fleet = await startFleet({
      a: ['--latency-ms', String(FAST_MS)],
      slow: ['--latency-ms', String(SLOW_MS)],
      c: ['--latency-ms', String(FAST_MS)],
    });
    routecar = fleet.routecar;
  });

  it('gets under 10% of the traffic once the window is warm', async () => {
    // Warm: every backend has a latency sample, and the averages have settled from the first
    // requests of cold processes (JIT, new connections) to show the slow one as several times
    // slower. On a machine too busy for that, the share assertion below fails and says why.
    const ewmas = async (): Promise<Record<string, number | undefined>> =>
      Object.fromEntries((await routecar.state()).backends.map((b) => [b.backend, b.latencyEwmaMs]));
    const warm = async (): Promise<boolean> => {
      const { a, slow, c } = await ewmas();
      return a !== undefined && c !== undefined && slow !== undefined && slow > 5 * Math.max(a, c);
    };
    for (let round = 0; round < 8 && !(await warm()); round++) {
      expect(failuresOf(await load(routecar, 50))).toEqual([]);
    }
    const settled = JSON.stringify(await ewmas());

    const measured = await load(routecar, 300);
    expect(failuresOf(measured)).toEqual([]);
    const counts = countByBackend(measured);
    const share = (counts.slow ?? 0) / measured.length;
    expect(share, `responses ${JSON.stringify(counts)}; latency EWMAs after warm-up ${settled}`).toBeLessThan(
      0.1,
    );
    // The fast ones share the rest.
    expect(counts.a ?? 0).toBeGreaterThan(measured.length / 4);
    expect(counts.c ?? 0).toBeGreaterThan(measured.length / 4);
  });
});

describe('an upstream failing half of its requests (--failure-rate 0.5)', () => {
  let routecar: Routecar;
  let up: Record<string, UpstreamProcess>;

  beforeAll(async () => {
    const fleet = await startFleet({
      a: ['--latency-ms', '10'],
      flaky: ['--latency-ms', '10', '--failure-rate', '0.5', '--seed', '7'],
      c: ['--latency-ms', '10'],
    });
    routecar = fleet.routecar;
    up = fleet.upstreams;
  });

  it('is shut out (scored down to the exploration floor, or its breaker opened), and clients see no error thanks to failover', async () => {
    const watch = watchBreakers(routecar);
    const outcomes = await load(routecar, 300);
    const opened = await routecar
      .waitForBackend('flaky', (s) => s.breaker === 'open', 2_000)
      .then(
        () => true,
        () => watch.seen.get('flaky')?.has('open') ?? false,
      );
    await watch.stop();

    expect(failuresOf(outcomes)).toEqual([]);
    // The upstream really did fail: the 500s were absorbed by failover.
    const stats = await up.flaky!.stats();
    expect(stats.byOutcome.randomFailure ?? 0).toBeGreaterThan(0);
    expect(outcomes.some((o) => (o.attempts ?? 1) > 1)).toBe(true);
    // Either way it stops getting traffic: the error term leaves it the exploration floor (1% / 3),
    // which keeps it under its breaker's volume threshold; when enough did reach it, the breaker opened.
    const share = stats.requests / outcomes.length;
    expect(
      opened || share <= 0.1,
      `flaky got ${stats.requests} of ${outcomes.length} requests and its breaker never opened: ${watch.describe('flaky')}; upstream outcomes ${JSON.stringify(stats.byOutcome)}`,
    ).toBe(true);
  });
});

describe('a 429 with Retry-After: 2', () => {
  let routecar: Routecar;
  let up: Record<string, UpstreamProcess>;

  beforeAll(async () => {
    const fleet = await startFleet({
      a: ['--latency-ms', '10'],
      limited: ['--latency-ms', '10'],
      c: ['--latency-ms', '10'],
    });
    routecar = fleet.routecar;
    up = fleet.upstreams;
  });

  it('keeps that upstream out for about two seconds, then it gets traffic again', async () => {
    const limited = up.limited!;
    let stop = false;
    const series = load(routecar, 100_000, { stop: () => stop });
    try {
      // Warm: the limited upstream is in the rotation before it starts refusing.
      expect(await waitFor(async () => (await limited.stats()).requests >= 20, 5_000)).toBe(true);
      await limited.configure({ mode: 'rateLimit', retryAfterSec: 2 });
      const cooling = await routecar.waitForBackend('limited', (s) => s.coolingUntil !== null, 5_000);
      const observedAt = Date.now();
      await limited.configure({ mode: 'ok' });
      // Requests already on their way when the mode flipped may still have been answered 429 and
      // moved the end of the cool-down: read it once they have landed.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const until = Date.parse((await routecar.backend('limited')).coolingUntil ?? cooling.coolingUntil!);
      expect(until - observedAt).toBeGreaterThan(1_500);
      expect(until - observedAt).toBeLessThanOrEqual(2_200);

      const baseline = (await limited.stats()).requests;
      // During the cool-down: not a single request, while the others keep serving.
      while (Date.now() < until - 100) {
        expect((await limited.stats()).requests).toBe(baseline);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // After it: traffic again.
      const resumed = await waitFor(async () => (await limited.stats()).requests > baseline, 3_000);
      expect(resumed, 'limited got no request within 3 s after its cool-down ended').toBe(true);
    } finally {
      stop = true;
    }
    const outcomes = await series;
    expect(failuresOf(outcomes)).toEqual([]);
    expect(countByBackend(outcomes).limited ?? 0).toBeGreaterThan(0);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}
