/**
 * A tiny server-sent-events reader for raw `fetch` streams. Each event carries the time it
 * arrived, for time-to-first-token measurements; a stream that breaks returns the events read so
 * far together with the error, so tests can assert on both.
 */

/** One dispatched event. */
export interface SseEvent {
  /** The `event:` field, when sent. */
  readonly event: string | undefined;
  /** The `data:` lines, joined with `\n`. */
  readonly data: string;
  /** The `id:` field, when sent. */
  readonly id: string | undefined;
  /** `performance.now()` when the blank line ending the event arrived. */
  readonly at: number;
}

/** Everything read from one stream. */
export interface SseRead {
  readonly events: readonly SseEvent[];
  /** True when a `data: [DONE]` event arrived. */
  readonly done: boolean;
  /** The error that ended the stream early (a reset connection, ...), if any. */
  readonly error: unknown;
  /** `performance.now()` when the stream ended or failed. */
  readonly endedAt: number;
}

/** Yields events as they arrive; throws whatever the underlying stream throws. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A trailing \r may be the first half of \r\n split across chunks: wait for more.
      if (buffer[newline] === '\r' && newline === buffer.length - 1) break;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n'), id, at: performance.now() };
        data = [];
        event = undefined;
        continue;
      }
      if (line.startsWith(':')) continue; // comment
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id') id = value;
    }
  }
}

/** Reads a whole stream (a fetch `Response` or its body), never throwing on a broken stream. */
export async function readSse(source: Response | ReadableStream<Uint8Array>): Promise<SseRead> {
  const body = source instanceof Response ? source.body : source;
  if (body === null) throw new Error('readSse: the response has no body');
  const events: SseEvent[] = [];
  let error: unknown;
  try {
    for await (const e of sseEvents(body)) events.push(e);
  } catch (err) {
    error = err;
  }
  return { events, done: events.some((e) => e.data === '[DONE]'), error, endedAt: performance.now() };
}

/** The JSON payloads of the events, `[DONE]` left out. */
export function sseJson(read: SseRead): unknown[] {
  return read.events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as unknown);
}
