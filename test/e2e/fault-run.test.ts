/**
 * The fault run: 60 s of ~100 requests/s (half of them streams) through the real routecar
 * process while one of its three upstream processes is SIGKILLed and restarted twice and the
 * policy file is rewritten 20 times. Every request must end; the only failures allowed are
 * streams that had already started and ended with an explicit SSE `error` event; and routecar's
 * file descriptors come back to their baseline afterwards (nothing hung, nothing leaked).
 */
import { readdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';
import { UpstreamProcess } from '../support/upstream-process.js';

const procs = useProcesses(afterAll);

const RUN_MS = 60_000;
const RATE_PER_S = 100;
/** A request still unanswered after this long is a hang (the slowest healthy one takes ~0.2 s). */
const HANG_MS = 20_000;
const KILLS_AT_MS = [8_000, 28_000];
const RESTART_AFTER_MS = 10_000;
const POLICY_SWAPS = 20;

type Result =
  | { readonly kind: 'ok'; readonly version: string | null }
  /** A stream that had started (status 200, events flowing) and ended with `event: error`. */
  | { readonly kind: 'stream_error' }
  | { readonly kind: 'hung' }
  | { readonly kind: 'bad'; readonly detail: string };

function policy(upstreams: readonly UpstreamProcess[], swap: number): object {
  return {
    version: 1,
    backends: Object.fromEntries(
      upstreams.map((u) => [
        u.name,
        {
          url: u.baseURL,
          model: `${u.name}-model`,
          price: { input: 0.1, output: 0.1 },
          timeouts: { connectMs: 500, firstByteMs: 3_000, idleMs: 3_000 },
        },
      ]),
    ),
    routes: {
      // Each swap changes the objective, so each is a new policy version.
      chat: { backends: upstreams.map((u) => u.name), objective: { latency: 1 + swap, errors: 4, cost: 1 } },
    },
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 1_000 },
    window: { sizeMs: 5_000, buckets: 10 },
  };
}

async function send(routecar: Routecar, stream: boolean): Promise<Result> {
  const signal = AbortSignal.timeout(HANG_MS);
  try {
    const res = await fetch(`${routecar.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat',
        stream,
        messages: [{ role: 'user', content: 'one two three four' }],
      }),
      signal,
    });
    const text = await res.text();
    const version = res.headers.get('x-routecar-policy-version');
    if (res.status !== 200) return { kind: 'bad', detail: `HTTP ${res.status}: ${text.slice(0, 200)}` };
    if (!stream) {
      const body = JSON.parse(text) as { choices?: unknown[] };
      return body.choices?.length
        ? { kind: 'ok', version }
        : { kind: 'bad', detail: `no choices: ${text.slice(0, 200)}` };
    }
    if (text.includes('data: [DONE]') && !text.includes('event: error')) return { kind: 'ok', version };
    if (
      /data: \{.*\n\n/.test(text) &&
      /event: error\ndata: .*"code":"upstream_stream_broken".*\n\n$/.test(text)
    ) {
      return { kind: 'stream_error' };
    }
    return {
      kind: 'bad',
      detail: `stream neither completed nor ended with an error event: ${text.slice(-200)}`,
    };
  } catch (err) {
    if (signal.aborted) return { kind: 'hung' };
    return {
      kind: 'bad',
      detail: `client error: ${(err as Error).message} ${String((err as Error).cause ?? '')}`,
    };
  }
}

async function openFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

describe('fault run: 60 s of traffic through upstream crashes and policy swaps', () => {
  let upstreams: UpstreamProcess[];
  let routecar: Routecar;

  beforeAll(async () => {
    upstreams = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        UpstreamProcess.start(procs, name, ['--token-delay-ms', '8', '--tokens', '16']),
      ),
    );
    routecar = await startRoutecar({
      group: procs,
      name: 'routecar-fault-run',
      policy: policy(upstreams, 0),
    });
  });
  afterAll(() => routecar?.stop());

  it('ends every request, fails only started streams (with an error event), and leaks no descriptor', async () => {
    const pid = routecar.child.child.pid!;
    // Warm every pool, then let idle keep-alive sockets settle, for the baseline.
    await Promise.all(Array.from({ length: 30 }, (_, i) => send(routecar, i % 2 === 0)));
    await sleep(6_000);
    const baselineFds = await openFds(pid);

    const started = Date.now();
    const pending: Promise<Result>[] = [];
    const victim = upstreams[0]!;
    const chaos = (async (): Promise<void> => {
      for (const at of KILLS_AT_MS) {
        await sleep(at - (Date.now() - started));
        await victim.crash();
        await sleep(RESTART_AFTER_MS);
        await victim.spawn();
      }
    })();
    const swaps = (async (): Promise<void> => {
      for (let i = 1; i <= POLICY_SWAPS; i++) {
        await sleep((RUN_MS / (POLICY_SWAPS + 1)) * i - (Date.now() - started));
        await writeFile(routecar.policyFile, JSON.stringify(policy(upstreams, i), null, 2));
      }
    })();
    // Open loop: one request every 10 ms whatever the answers do, half of them streams.
    let sent = 0;
    while (Date.now() - started < RUN_MS) {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE_PER_S);
      while (sent < due) pending.push(send(routecar, sent++ % 2 === 0));
      await sleep(10);
    }
    const results = await Promise.all(pending);
    await Promise.all([chaos, swaps]);

    const count = (kind: Result['kind']): number => results.filter((r) => r.kind === kind).length;
    const bad = results.filter((r): r is Extract<Result, { kind: 'bad' }> => r.kind === 'bad');
    const versions = new Set(
      results.map((r) => (r.kind === 'ok' ? r.version : null)).filter((v) => v !== null),
    );
    console.log(
      `fault run: ${results.length} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; ok ${count('ok')}, ` +
        `started streams ended with an error event ${count('stream_error')}, hung ${count('hung')}, other failures ${bad.length}; ` +
        `${versions.size} policy versions answered; fds ${baselineFds} before`,
    );
    expect(results.length).toBeGreaterThan((RUN_MS / 1000) * RATE_PER_S * 0.8);
    expect(count('hung')).toBe(0);
    expect(bad.map((b) => b.detail).slice(0, 5)).toEqual([]);
    // The crashes really cut streams mid-way, and the swaps really reached the answers.
    expect(count('stream_error')).toBeGreaterThan(0);
    expect(versions.size).toBeGreaterThanOrEqual(POLICY_SWAPS / 2);

    // Every app and upstream socket of the run closes: idle keep-alive sockets time out on both
    // sides within seconds (Node's server default is 5 s; undici's client 4 s).
    await expect
      .poll(() => openFds(pid), { timeout: 20_000, interval: 500 })
      .toBeLessThanOrEqual(baselineFds + 2);
  }, 150_000);
});
