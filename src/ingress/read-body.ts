/**
 * Reads a request body into one Buffer, refusing anything over the limit before it is buffered,
 * and anything that takes longer than the deadline to arrive.
 */
import type { IncomingMessage } from 'node:http';
import { RoutecarError } from '../errors/routecar-error.js';

/** Default bound on a request body: 10 MiB covers long multi-turn prompts with images by URL. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Default deadline for the whole body (`ROUTECAR_BODY_TIMEOUT_MS`), from the moment routecar
 * starts reading it: 30 s is 10 MiB at 350 KB/s, far below what an app on the same host sends,
 * and far shorter than Node's own 300 s `requestTimeout`, which a client trickling a byte at a
 * time would otherwise hold a connection and a buffer for.
 */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

/**
 * The body, whole. Rejects with 413 `request_too_large` past `maxBytes`, 408 `request_timeout`
 * when the body is not complete `timeoutMs` after the call (the deadline bounds the whole body,
 * not the gaps between chunks), 400 `request_aborted` when the client goes away. After a
 * rejection, `settleBody` says what the connection needs.
 */
export function readBody(
  req: IncomingMessage,
  maxBytes: number,
  timeoutMs: number = DEFAULT_BODY_TIMEOUT_MS,
): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new RoutecarError('request_aborted', `request body could not be read: ${err.message}`));
    };
    const onTimeout = (): void => {
      cleanup();
      reject(
        new RoutecarError(
          'request_timeout',
          `request body not received within ${timeoutMs} ms (${size} bytes arrived)`,
        ),
      );
    };
    const timer = setTimeout(onTimeout, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * What the connection needs after `readBody` failed with `err`, before the error is sent: after
 * a 413 the rest of the body is read and dropped (`discardBody`); after a 408 the connection is
 * closed once the answer is out, since what the client still sends is not worth waiting for.
 */
export function settleBody(
  req: IncomingMessage,
  res: { setHeader(name: string, value: string): unknown },
  err: RoutecarError,
): void {
  if (err.status === 413) discardBody(req, res);
  else if (err.status === 408) res.setHeader('connection', 'close');
}

function tooLarge(maxBytes: number): RoutecarError {
  return new RoutecarError('request_too_large', `request body exceeds the limit of ${maxBytes} bytes`);
}

/** Most of an oversized body routecar reads and drops before it gives up on the connection. */
export const DISCARD_CAP_BYTES = 64 * 1024 * 1024;

/**
 * After a 413: reads and drops the rest of the body, so a client still sending sees the answer
 * instead of a connection reset (EPIPE) halfway through its upload. A body declared or found to
 * be larger than the cap is not worth reading: the connection is closed instead.
 */
export function discardBody(
  req: IncomingMessage,
  res: { setHeader(name: string, value: string): unknown },
): void {
  const declared = Number(req.headers['content-length']);
  if (declared > DISCARD_CAP_BYTES) {
    res.setHeader('connection', 'close');
    return;
  }
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DISCARD_CAP_BYTES) req.socket.destroy();
  });
  req.resume();
}
