/**
 * Ingress for multipart/form-data endpoints (audio transcriptions): routing needs only the
 * `model` part, so the body is read just far enough to find it, and the rest streams through.
 *
 * The bytes read up to and including the `model` part (the prefix) are held; the app's request
 * is then left paused. Each attempt sends the prefix with the `model` value replaced by the
 * backend's model name, followed by the rest of the app's body as it arrives (MultipartBody).
 * Clients put `model` before or after the file: after it, the prefix holds the file, so the
 * prefix is bounded like any body (413 past the limit).
 *
 * busboy (lazily imported: about 5 ms and 0.6 MiB on first use, never paid by JSON traffic)
 * parses the stream and says when the `model` part is complete; the value's byte offsets are then
 * found by splitting the prefix on the boundary, which by definition occurs in no part's content.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { RoutecarError } from '../errors/routecar-error.js';

/** The `model` part found at the head of a multipart body. */
export interface MultipartHead {
  /** The `model` field's value: the route name. */
  readonly model: string;
  /** Every byte read from the app so far (the model part included). */
  readonly prefix: Buffer;
  /** Offsets of the model value within `prefix`. */
  readonly valueStart: number;
  readonly valueEnd: number;
  /** The app's body ended within the prefix. */
  readonly complete: boolean;
}

/** Longest `model` value accepted. */
const MAX_MODEL_BYTES = 1024;

/**
 * Reads `req` until its `model` part is complete, then pauses it. Rejects with 400
 * `missing_model` when the form has none, `invalid_multipart` when it is not a form, 413 past
 * `maxBytes` without a `model` part, 408 past `timeoutMs`.
 */
export async function readMultipartModel(
  req: IncomingMessage,
  maxBytes: number,
  timeoutMs: number,
): Promise<MultipartHead> {
  const { default: busboy } = await import('busboy');
  let parser: Writable & NodeJS.EventEmitter;
  try {
    parser = busboy({ headers: req.headers, limits: { fieldSize: MAX_MODEL_BYTES } });
  } catch (err) {
    throw new RoutecarError(
      'invalid_multipart',
      `request body is not multipart/form-data: ${(err as Error).message}`,
    );
  }
  const boundary = boundaryOf(req.headers['content-type'] ?? '');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let model: string | undefined;
    let settled = false;
    const settle = (result: MultipartHead | RoutecarError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.pause();
      parser.removeAllListeners();
      parser.on('error', noop);
      if (result instanceof RoutecarError) reject(result);
      else resolve(result);
    };
    const found = (complete: boolean): void => {
      const prefix = Buffer.concat(chunks, size);
      const at = locateValue(prefix, boundary, model!);
      if (at === undefined) {
        settle(new RoutecarError('invalid_multipart', 'the "model" part could not be located in the form'));
        return;
      }
      settle({ model: model!, prefix, valueStart: at[0], valueEnd: at[1], complete });
    };
    parser.on('field', (name: string, value: string, info: { valueTruncated: boolean }) => {
      if (name !== 'model' || model !== undefined) return;
      if (info.valueTruncated) {
        settle(new RoutecarError('invalid_value', `"model" is longer than ${MAX_MODEL_BYTES} bytes`));
        return;
      }
      model = value;
    });
    // File parts before `model` are held in the prefix; busboy's copies are dropped.
    parser.on('file', (_name: string, stream: Readable) => stream.resume());
    parser.on('error', (err: Error) =>
      settle(new RoutecarError('invalid_multipart', `malformed multipart body: ${err.message}`)),
    );
    parser.on('close', () => {
      if (model === undefined) settle(missingModel());
      else if (!settled) found(true);
    });
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        settle(
          new RoutecarError(
            'request_too_large',
            `no "model" part within the first ${maxBytes} bytes of the form`,
          ),
        );
        return;
      }
      chunks.push(chunk);
      parser.write(chunk);
      if (model !== undefined && !settled) found(false);
    };
    const onEnd = (): void => {
      parser.end();
      // busboy's 'close' settles; a form cut short errors there.
    };
    const onError = (err: Error): void =>
      settle(new RoutecarError('request_aborted', `request body could not be read: ${err.message}`));
    const timer = setTimeout(
      () => settle(new RoutecarError('request_timeout', `no "model" part received within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function missingModel(): RoutecarError {
  return new RoutecarError('missing_model', 'the form must name a route in its "model" field');
}

/** The boundary parameter of a multipart content type (busboy has already checked it is there). */
function boundaryOf(contentType: string): string {
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2] ?? '';
}

/**
 * Byte offsets of the `model` part's value: the prefix is split on `--boundary`, each part's
 * headers end at the first blank line, and its value ends where the next delimiter's CRLF begins.
 */
export function locateValue(prefix: Buffer, boundary: string, value: string): [number, number] | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  let at = prefix.indexOf(delimiter);
  while (at >= 0) {
    const headersStart = at + delimiter.length + 2; // past the CRLF after the delimiter
    const headersEnd = prefix.indexOf('\r\n\r\n', headersStart);
    if (headersEnd < 0) return undefined;
    const next = prefix.indexOf(delimiter, headersEnd);
    if (next < 0) return undefined;
    const headers = prefix.subarray(headersStart, headersEnd).toString('latin1');
    if (/^content-disposition:.*;\s*name="?model"?\s*(;|$)/im.test(headers)) {
      const start = headersEnd + 4;
      const end = next - 2; // the CRLF before the delimiter belongs to it
      if (prefix.subarray(start, end).toString('utf8') === value) return [start, end];
    }
    at = next;
  }
  return undefined;
}

/**
 * One multipart request's body as each attempt sends it. The rest of the app's body (after the
 * prefix) is read only once an attempt's connection is up, so an attempt that could not connect
 * leaves it untouched and the next backend can still be tried; once it has started flowing, the
 * body cannot be sent again (`replayable` turns false).
 */
export class MultipartBody {
  private tailTaken = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly head: MultipartHead,
  ) {}

  /** Whether another attempt can still send the whole body. */
  get replayable(): boolean {
    return !this.tailTaken;
  }

  /**
   * The body for a backend whose model name is `model`, and its length headers: `content-length`
   * recomputed from the app's when it sent one (the value's length changes, nothing else does),
   * else none, so Node sends it chunked.
   */
  forBackend(model: string): { body: Readable; headers: Record<string, string> } {
    const { prefix, valueStart, valueEnd, complete } = this.head;
    const replaced = Buffer.from(model, 'utf8');
    const head = Buffer.concat([prefix.subarray(0, valueStart), replaced, prefix.subarray(valueEnd)]);
    const declared = Number(this.req.headers['content-length']);
    const headers: Record<string, string> = {
      'content-type': String(this.req.headers['content-type']),
    };
    if (Number.isSafeInteger(declared) && declared >= 0) {
      headers['content-length'] = String(declared - (valueEnd - valueStart) + replaced.length);
    }
    const body = new PassThrough();
    body.write(head);
    if (complete) {
      body.end();
      return { body, headers };
    }
    // The tail flows only once the upstream connection is up (see the class comment).
    const release = (): void => {
      if (this.tailTaken) return;
      this.tailTaken = true;
      this.req.pipe(body);
      this.req.resume();
    };
    const original = body.pipe.bind(body);
    // The proxy pipes the body into its ClientRequest once that has a socket (httpxy does so
    // from the request's 'socket' event): the tail waits for that socket to connect.
    body.pipe = <T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }): T => {
      const request = dest as unknown as { socket?: Socket | null } & NodeJS.EventEmitter;
      const whenConnected = (socket: Socket): void => {
        if (socket.connecting) socket.once('connect', release);
        else release();
      };
      if (request.socket) whenConnected(request.socket);
      else request.once('socket', whenConnected);
      return original(dest, options);
    };
    return { body, headers };
  }
}

function noop(): void {}
