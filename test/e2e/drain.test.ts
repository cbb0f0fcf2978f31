/**
 * Graceful shutdown of the real process: SIGTERM during 20 streaming responses of about 2 s each.
 * /readyz fails at once, new connections are refused, every stream completes with its full
 * content, and the process exits 0 well before the drain deadline. A second signal exits at once;
 * the deadline cuts what is left; a keep-alive connection still open gets `Connection: close`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { planGeneration } from '../../src/demo/generation.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { rawRequest, tryConnect } from '../support/raw-http.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';
import { sseEvents, sseJson, type SseEvent } from '../support/sse.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterEach);

const TOKENS = 20;
const TOKEN_DELAY_MS = 100; // 20 tokens x 100 ms: each stream lasts about 2 s

async function start(upstream: FakeUpstream, drainTimeoutMs: number): Promise<Routecar> {
  return startRoutecar({
    group: procs,
    name: 'routecar-drain',
    policy: {
      version: 1,
      backends: {
        model: {
          url: upstream.baseURL,
          model: 'real-model',
          price: { input: 0.1, output: 0.1 },
          maxInflight: 100,
          timeouts: { connectMs: 1000, firstByteMs: 10_000, idleMs: 10_000 },
        },
      },
      routes: { chat: { backends: ['model'] } },
    },
    env: { ROUTECAR_DRAIN_TIMEOUT_MS: String(drainTimeoutMs) },
  });
}

function chatBody(i: number): Record<string, unknown> {
  return { model: 'chat', stream: true, messages: [{ role: 'user', content: `stream number ${i}` }] };
}

/** Opens a stream and resolves once its first event arrived, with a promise of the rest. */
async function openStream(
  rc: Routecar,
  i: number,
): Promise<{ first: SseEvent; rest: Promise<{ events: SseEvent[]; error: unknown }> }> {
  const res = await fetch(`${rc.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(chatBody(i)),
  });
  expect(res.status).toBe(200);
  const iterator = sseEvents(res.body!)[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new Error(`stream ${i} ended before its first event`);
  const rest = (async () => {
    const events: SseEvent[] = [];
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next())
        events.push(next.value);
      return { events, error: undefined };
    } catch (error) {
      return { events, error };
    }
  })();
  return { first: first.value, rest };
}

/**
 * Polls /readyz until it fails and returns its body. A signal reaches the process's JavaScript on
 * its next event-loop turn, so a request sent right after `kill()` may still be answered first.
 */
async function untilNotReady(rc: Routecar, timeoutMs = 2_000): Promise<unknown> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${rc.adminUrl}/readyz`);
    if (res.status === 503) return res.json();
    await res.body?.cancel();
    if (performance.now() > deadline)
      throw new Error(`/readyz still ${res.status} ${timeoutMs} ms after the signal`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function contentOf(events: readonly SseEvent[]): string {
  const payloads = sseJson({ events, done: false, error: undefined, endedAt: 0 }) as Array<{
    choices?: Array<{ delta?: { content?: string } }>;
  }>;
  return payloads.map((p) => p.choices?.[0]?.delta?.content ?? '').join('');
}

describe('SIGTERM during 20 streaming responses', () => {
  it('lets every stream finish, fails /readyz at once, refuses new connections, exits 0 before the deadline', async () => {
    const upstream = await fakeUpstream({ name: 'model', tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS });
    const deadlineMs = 15_000;
    const rc = await start(upstream, deadlineMs);
    const port = Number(new URL(rc.url).port);
    expect((await fetch(`${rc.adminUrl}/readyz`)).status).toBe(200);

    const streams = await Promise.all(Array.from({ length: 20 }, (_, i) => openStream(rc, i)));
    const signalledAt = performance.now();
    rc.child.child.kill('SIGTERM');

    // /readyz fails at once (as soon as the signal handler has run): the admin listener stays up
    // during the drain to say so, while the streams are still running.
    const notReady = await untilNotReady(rc);
    expect(notReady).toMatchObject({ reason: 'draining' });
    expect(upstream.stats.completed).toBeLessThan(20);
    expect(performance.now() - signalledAt).toBeLessThan(1_000);

    // New connections are refused while the streams are still running.
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    expect(upstream.stats.completed).toBeLessThan(20);

    const results = await Promise.all(streams.map((s) => s.rest));
    results.forEach(({ events, error }, i) => {
      expect(error, `stream ${i} broke`).toBeUndefined();
      const all = [streams[i]!.first, ...events];
      expect(all.at(-1)?.data, `stream ${i} did not end with [DONE]`).toBe('[DONE]');
      const expected = planGeneration('chat.completions', chatBody(i), 'model', TOKENS).pieces.join('');
      expect(contentOf(all), `stream ${i} content`).toBe(expected);
    });

    const exit = await rc.child.exited;
    const exitedAfterMs = performance.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    // It waited for the streams (~2 s in total, part of it already gone), and not for the deadline.
    expect(exitedAfterMs).toBeGreaterThan(1_000);
    expect(exitedAfterMs).toBeLessThan(deadlineMs / 2);
    expect(rc.child.lines.join('\n')).toMatch(/drained: every in-flight request finished/);
  });
});

describe('keep-alive connections during the drain', () => {
  it('serves a request sent on an open connection after the signal with Connection: close, then closes it; idle ones are closed', async () => {
    const upstream = await fakeUpstream({ name: 'model', tokens: 10, tokenDelayMs: 100 });
    const rc = await start(upstream, 15_000);
    const port = Number(new URL(rc.url).port);
    const streamBody = JSON.stringify(chatBody(1));
    const plainBody = JSON.stringify({
      model: 'chat',
      messages: [{ role: 'user', content: 'after the signal' }],
    });
    const req = (body: string): string =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

    // An idle keep-alive connection: one finished request, then nothing.
    const idle = rawRequest(port, req(plainBody), { timeoutMs: 10_000 });
    await upstream.waitForRequests(1);
    await new Promise((resolve) => setTimeout(resolve, 200));

    // A busy one: a 1 s stream; once it is under way and the drain has begun (/readyz fails), the
    // app sends its next request on the same connection.
    let readyDuringDrain: unknown;
    const busy = rawRequest(port, req(streamBody), {
      timeoutMs: 10_000,
      onFirstData: async (write) => {
        rc.child.child.kill('SIGTERM');
        readyDuringDrain = await untilNotReady(rc);
        write(req(plainBody));
      },
    });
    const [idleResult, busyResult] = await Promise.all([idle, busy]);

    expect(readyDuringDrain).toMatchObject({ reason: 'draining' });
    expect(idleResult.status).toBe(200);
    expect(idleResult.end).toBe('closed');
    expect(busyResult.statuses).toEqual([200, 200]);
    expect(busyResult.text).toContain('data: [DONE]');
    const second = busyResult.text.slice(busyResult.text.lastIndexOf('HTTP/1.1 200'));
    expect(second.toLowerCase()).toMatch(/\r\nconnection: close\r\n/);
    expect(second).toContain('after the signal');
    expect(busyResult.end).toBe('closed');
    expect(await rc.child.exited).toEqual({ code: 0, signal: null });
  });
});

describe('limits', () => {
  it('a second signal exits at once, cutting the streams', async () => {
    const upstream = await fakeUpstream({ name: 'model', tokens: 200, tokenDelayMs: 100 }); // 20 s
    const rc = await start(upstream, 30_000);
    const stream = await openStream(rc, 0);
    rc.child.child.kill('SIGTERM');
    await rc.child.waitForLine(/"msg":"draining"/);
    const secondAt = performance.now();
    rc.child.child.kill('SIGINT');
    const exit = await rc.child.exited;
    expect(performance.now() - secondAt).toBeLessThan(1_000);
    expect(exit.code).not.toBe(0);
    const rest = await stream.rest;
    expect(rest.events.some((e) => e.data === '[DONE]')).toBe(false);
  });

  it('the deadline cuts what is still running, then the process exits 0', async () => {
    const upstream = await fakeUpstream({ name: 'model', tokens: 200, tokenDelayMs: 100 }); // 20 s
    const deadlineMs = 1_000;
    const rc = await start(upstream, deadlineMs);
    const stream = await openStream(rc, 0);
    const signalledAt = performance.now();
    rc.child.child.kill('SIGTERM');
    const exit = await rc.child.exited;
    const after = performance.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(after).toBeGreaterThanOrEqual(deadlineMs - 50);
    expect(after).toBeLessThan(deadlineMs + 3_000);
    const rest = await stream.rest;
    expect(rest.events.some((e) => e.data === '[DONE]')).toBe(false);
    expect(rc.child.lines.join('\n')).toMatch(
      /drain deadline reached.*"cut":1|"cut":1.*drain deadline reached/,
    );
  });
});
