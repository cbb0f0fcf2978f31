/**
 * Multipart ingress: the `model` part is found however the form is cut into chunks and wherever
 * it sits, the rest of the body is never read before an attempt connects, and each backend gets
 * the same bytes with only the model value (and the length) changed.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { locateValue, MultipartBody, readMultipartModel } from '../../../src/ingress/multipart-model.js';

const BOUNDARY = '----routecar-test-7e1f';

function form(parts: Array<{ name: string; value: string | Buffer; filename?: string }>): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    const type = p.filename ? 'Content-Type: audio/wav\r\n' : '';
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`));
    chunks.push(Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

/** A request stand-in that delivers `body` in chunks of `size` bytes, each on its own tick. */
function request(body: Buffer, size: number, length = true): IncomingMessage {
  const req = new PassThrough() as unknown as IncomingMessage & PassThrough;
  req.headers = {
    'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
    ...(length ? { 'content-length': String(body.length) } : {}),
  };
  let at = 0;
  const pump = (): void => {
    if (at >= body.length) {
      req.end();
      return;
    }
    req.write(body.subarray(at, at + size));
    at += size;
    setImmediate(pump);
  };
  setImmediate(pump);
  return req;
}

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

const AUDIO = Buffer.alloc(50_000, 7);

describe('readMultipartModel', () => {
  it.each([
    ['model first, one big chunk', true, 1 << 20],
    ['model first, 7-byte chunks', true, 7],
    ['model after the file, 1 KiB chunks', false, 1024],
  ])('%s: finds the route name', async (_name, modelFirst, size) => {
    const parts = [
      { name: 'model', value: 'whisper' },
      { name: 'file', value: AUDIO, filename: 'a.wav' },
    ];
    const body = form(modelFirst ? parts : parts.reverse());
    const head = await readMultipartModel(request(body, size), 1 << 20, 5_000);
    expect(head.model).toBe('whisper');
    expect(head.prefix.subarray(head.valueStart, head.valueEnd).toString()).toBe('whisper');
    // With the model first, the audio stays unread until an attempt asks for it.
    if (modelFirst && size < AUDIO.length) expect(head.prefix.length).toBeLessThan(AUDIO.length);
  });

  it('refuses a form without a model part (400), and one whose model comes too late (413)', async () => {
    const none = form([{ name: 'file', value: AUDIO, filename: 'a.wav' }]);
    await expect(readMultipartModel(request(none, 4096), 1 << 20, 5_000)).rejects.toMatchObject({
      status: 400,
      code: 'missing_model',
    });
    const late = form([
      { name: 'file', value: AUDIO, filename: 'a.wav' },
      { name: 'model', value: 'whisper' },
    ]);
    await expect(readMultipartModel(request(late, 4096), 10_000, 5_000)).rejects.toMatchObject({
      status: 413,
    });
  });
});

describe('MultipartBody.forBackend', () => {
  it('sends the same form with the model replaced and the length recomputed', async () => {
    const original = form([
      { name: 'model', value: 'whisper' },
      { name: 'file', value: AUDIO, filename: 'a.wav' },
      { name: 'language', value: 'en' },
    ]);
    const req = request(original, 4096);
    const upload = new MultipartBody(req, await readMultipartModel(req, 1 << 20, 5_000));
    const { body, headers } = upload.forBackend('openai/whisper-large-v3');
    // The proxy pipes into a request that has a connected socket: the rest flows from then on.
    const sink = new PassThrough() as PassThrough & { socket: { connecting: boolean } };
    sink.socket = { connecting: false };
    expect(upload.replayable).toBe(true);
    body.pipe(sink);
    const sent = await drain(sink);
    expect(upload.replayable).toBe(false);
    const expected = Buffer.from(
      original.toString('latin1').replace('\r\n\r\nwhisper\r\n', '\r\n\r\nopenai/whisper-large-v3\r\n'),
      'latin1',
    );
    expect(sent.equals(expected)).toBe(true);
    expect(headers['content-length']).toBe(String(expected.length));
  });
});

describe('locateValue', () => {
  it('ignores a part that merely mentions the name, and a value that differs', () => {
    const body = form([
      { name: 'prompt', value: 'name="model"' },
      { name: 'model', value: 'whisper' },
    ]);
    const at = locateValue(body, BOUNDARY, 'whisper');
    expect(at).toBeDefined();
    expect(body.subarray(at![0], at![1]).toString()).toBe('whisper');
    expect(locateValue(body, BOUNDARY, 'other')).toBeUndefined();
  });
});
