import { createServer } from 'node:net';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../../support/ports.js';
import { distPath, useProcesses, waitForHttp } from '../../support/processes.js';
import { readSse } from '../../support/sse.js';

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

describe('readSse', () => {
  it('parses events split across chunks, with CRLF, comments, event names and multi-line data', async () => {
    const read = await readSse(
      streamOf(': hi\r', '\nevent: up\r\ndata: a\r\nda', 'ta: b\r\n\r\n', 'data: [DONE]\n\n'),
    );
    expect(read.events.map((e) => [e.event, e.data])).toEqual([
      ['up', 'a\nb'],
      [undefined, '[DONE]'],
    ]);
    expect(read.done).toBe(true);
    expect(read.error).toBeUndefined();
  });

  it('returns the events read so far with the error of a broken stream', async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(new TextEncoder().encode('data: 1\n\ndata: cut'));
        else controller.error(new Error('reset'));
      },
    });
    const read = await readSse(body);
    expect(read.events.map((e) => e.data)).toEqual(['1']);
    expect(read.done).toBe(false);
    expect((read.error as Error).message).toBe('reset');
  });
});

describe('getFreePort', () => {
  it('returns a port that can be listened on', async () => {
    const port = await getFreePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) =>
      server.once('error', reject).listen(port, '127.0.0.1', resolve),
    );
    server.close();
    expect(port).toBeGreaterThan(0);
  });
});

describe('process helpers', () => {
  const procs = useProcesses(afterAll);

  it('spawns with env, waits for a line and for HTTP, and kills', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routecar-proc-'));
    const script = join(dir, 'server.mjs');
    await writeFile(
      script,
      `import http from 'node:http';
       const s = http.createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', () =>
         console.log('ready ' + process.env.GREETING + ' ' + s.address().port));`,
    );
    const child = procs.spawn(script, [], { env: { GREETING: 'hello' } });
    const match = await child.waitForLine(/ready hello (\d+)/);
    await waitForHttp(`http://127.0.0.1:${match[1]}/`, { child });
    const exit = await child.kill();
    expect(exit.signal).toBe('SIGTERM');
  });

  it('rejects waitForLine when the process exits first, with its output', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routecar-proc-'));
    const script = join(dir, 'fail.mjs');
    await writeFile(script, `console.error('boom'); process.exit(3);`);
    const child = procs.spawn(script);
    await expect(child.waitForLine(/never/)).rejects.toThrow(/exited[\s\S]*boom/);
    expect((await child.exited).code).toBe(3);
  });

  // dist is built by `npm test` (pretest) before any test runs.
  const main = distPath('src/demo/main.js');
  it('runs the built fake upstream as its own process; killing it refuses connections', async () => {
    const port = await getFreePort();
    const child = procs.spawn(main, ['--port', String(port), '--name', 'proc', '--latency-ms', '1']);
    await child.waitForLine(/fake upstream proc listening on/);
    await waitForHttp(`http://127.0.0.1:${port}/health`, { child });
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(
      ((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content,
    ).toBe('[proc] echo: hi');
    expect((await child.kill()).code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
