/**
 * HttpDrainer on a real listener: how it counts requests in flight as slots are freed and reused,
 * which in-flight responses it marks `Connection: close` when the drain starts, and what it
 * reports at the deadline. The handler holds each response until the test releases it, so nothing
 * here waits on time except the deadline case.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpDrainer } from '../../../src/server/drain.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

interface Held {
  readonly res: http.ServerResponse;
  readonly path: string;
}

/**
 * A listener that holds every response; `next()` resolves with each request in arrival order.
 * `agent` keeps one connection per request in flight; both are closed after the test.
 */
async function heldServer(): Promise<{
  drainer: HttpDrainer;
  port: number;
  agent: http.Agent;
  next: () => Promise<Held>;
}> {
  const waiting: ((h: Held) => void)[] = [];
  const queued: Held[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    const held = { res, path: req.url ?? '' };
    const waiter = waiting.shift();
    if (waiter) waiter(held);
    else queued.push(held);
  });
  const drainer = new HttpDrainer(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const next = (): Promise<Held> => {
    const h = queued.shift();
    return h ? Promise.resolve(h) : new Promise((resolve) => waiting.push(resolve));
  };
  const agent = new http.Agent({ keepAlive: true });
  cleanup = () => {
    agent.destroy();
    server.closeAllConnections();
    server.close();
  };
  return { drainer, port: (server.address() as AddressInfo).port, agent, next };
}

/** One request on its own keep-alive connection; resolves with the response head and body. */
function get(
  port: number,
  path: string,
  agent: http.Agent,
): Promise<{ connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ connection: res.headers.connection, body }));
      })
      .on('error', reject);
  });
}

describe('HttpDrainer', () => {
  it('counts requests in flight as slots are freed and reused', async () => {
    const { drainer, port, agent, next } = await heldServer();
    // Three at once, then the middle one finishes and two more come: five requests, four slots' worth.
    const first = [get(port, '/a', agent), get(port, '/b', agent), get(port, '/c', agent)];
    const held = [await next(), await next(), await next()];
    expect(drainer.inflight).toBe(3);
    const b = held.find((h) => h.path === '/b')!;
    b.res.end('b');
    await first[1];
    await expect.poll(() => drainer.inflight).toBe(2);
    const later = [get(port, '/d', agent), get(port, '/e', agent)];
    held.push(await next(), await next());
    expect(drainer.inflight).toBe(4);
    for (const h of held) if (h !== b) h.res.end(h.path);
    const bodies = (await Promise.all([...first, ...later])).map((r) => r.body);
    expect(bodies).toEqual(['/a', 'b', '/c', '/d', '/e']);
    await expect.poll(() => drainer.inflight).toBe(0);
  });

  it('marks responses whose head is not written Connection: close when the drain starts, and only those', async () => {
    const { drainer, port, agent, next } = await heldServer();
    // Arriving one after the other, they take slots 0, 1 and 2; the first finishes before the
    // drain, so the drain must find the other two around the slot it left empty.
    const done = get(port, '/done', agent);
    const doneHeld = await next();
    const started = get(port, '/started', agent);
    const startedHeld = await next();
    const waiting = get(port, '/waiting', agent);
    const waitingHeld = await next();
    doneHeld.res.end('done');
    expect((await done).connection).toBe('keep-alive');
    await expect.poll(() => drainer.inflight).toBe(2);
    startedHeld.res.writeHead(200, { 'content-type': 'text/plain' });
    startedHeld.res.write('started');

    const drained = drainer.drain(10_000);
    expect(drainer.draining).toBe(true);
    waitingHeld.res.end('waiting');
    startedHeld.res.end();
    expect((await waiting).connection).toBe('close');
    expect((await started).connection).toBe('keep-alive');
    await expect(drained).resolves.toEqual({ result: 'drained' });
    expect(drainer.inflight).toBe(0);
  });

  it('at the deadline reports how many responses are still open', async () => {
    const { drainer, port, agent, next } = await heldServer();
    const open = [get(port, '/x', agent), get(port, '/y', agent)];
    for (const p of open) p.catch(() => undefined); // cut by the cleanup
    const done = get(port, '/z', agent);
    const held = [await next(), await next(), await next()];
    held.find((h) => h.path === '/z')!.res.end('z');
    await done;
    await expect.poll(() => drainer.inflight).toBe(2);
    await expect(drainer.drain(20)).resolves.toEqual({ result: 'deadline', cut: 2 });
  });
});
