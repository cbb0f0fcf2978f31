/**
 * The first few KB of an upstream response body, read before routecar decides what to do with
 * the response: only for 400s, whose body says whether the request merely does not fit this
 * backend's context window (another backend may take it) or is the app's own mistake.
 */
import type { IncomingMessage } from 'node:http';
import { saysContextExceeded } from '../outcome/classify.js';

/** Bytes of a 400's body read before deciding: error bodies are small, and the code comes early. */
export const PEEK_BYTES = 4096;

/** What was read: the chunks (to replay to the app), whether the body ended, and what it said. */
export interface PeekedBody {
  readonly chunks: readonly Buffer[];
  /** The body ended within the peek: no more data will come. */
  readonly ended: boolean;
  readonly contextExceeded: boolean;
}

/**
 * Reads until `maxBytes` (or the end, or the stream closing), then leaves the stream paused with
 * no `data` listener of its own, so the caller takes over where the peek stopped.
 */
export function peekBody(res: IncomingMessage, maxBytes: number = PEEK_BYTES): Promise<PeekedBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (ended: boolean): void => {
      res.off('data', onData);
      res.off('end', onEnd);
      res.off('close', onClose);
      res.pause();
      const joined = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      const text = joined.subarray(0, maxBytes).toString('utf8');
      resolve({ chunks, ended, contextExceeded: saysContextExceeded(text) });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= maxBytes) done(false);
    };
    const onEnd = (): void => done(true);
    const onClose = (): void => done(false);
    // A reset while peeking reaches routecar through the attempt port, like any other.
    res.on('error', noop);
    res.on('data', onData);
    res.once('end', onEnd);
    res.once('close', onClose);
  });
}

function noop(): void {}
