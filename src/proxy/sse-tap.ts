/**
 * Watches a committed SSE stream on its way to the app:
 * - counts its `data:` lines, which is how a stream's output is bounded when a backend ignores
 *   the output limit routecar sent (each content event carries at least one token), and how its
 *   output is estimated when the backend reports no usage;
 * - when routecar asked the backend for usage the app did not ask for
 *   (`stream_options.include_usage`), drops the usage-only chunk (`"choices": []` with `usage`)
 *   so the app receives exactly the stream it asked for.
 *
 * Without stripping, a chunk passes through as the same Buffer. With it, only chunks that mention
 * `"usage"` are parsed, and an event split across chunks is held until its end arrives (up to
 * MAX_HELD_BYTES: past that, the stream passes on as it comes).
 *
 * Servers write events in more than one way, and all of them are read: lines ending in LF (vLLM,
 * SGLang, llama.cpp's server) or in CRLF (servers built on sse-starlette, such as
 * llama-cpp-python's; the first event's end says which), and `data:` with or without a space
 * before the value (TGI, through axum, writes none).
 */

const DATA = 'data:';
/** A `data:` field: at the start of a line (the stream's first byte starts one too). */
const DATA_LINE = `\n${DATA}`;
/** The proper prefixes of DATA_LINE, longest first: what a chunk cut inside one ends with. */
const DATA_LINE_PREFIXES = [5, 4, 3, 2, 1].map((length) => DATA_LINE.slice(0, length));
/** The blank line that ends an event, with LF and with CRLF line endings. */
const EVENT_ENDS = ['\n\n', '\r\n\r\n'] as const;
type EventEnd = (typeof EVENT_ENDS)[number];
/**
 * `"usage"` is found by its tail: a search for a needle that starts with `"` stops at every quote
 * of the JSON (1.46 µs against 0.33 µs through a 3 KB chunk without it).
 */
const USAGE_TAIL = 'usage"';
const QUOTE = 0x22;

export class SseTap {
  /** `data:` lines seen so far (the final `[DONE]` included). */
  events = 0;
  /** An incomplete event held back (strip mode only). */
  private pending: Buffer | undefined;
  /**
   * How much of a DATA_LINE the last chunk ended with: the rest may start the next one. The
   * stream's start counts as a line's start.
   */
  private carried = 1;
  /** The blank line this stream ends its events with, once one was seen (a server keeps to one). */
  private eventEnd: EventEnd | undefined;

  /** Whether usage-only chunks are still dropped: a stream that cannot be read stops it. */
  private strip: boolean;

  constructor(stripUsage: boolean) {
    this.strip = stripUsage;
  }

  /**
   * The bytes to send the app for `chunk` (empty when everything in it is held or dropped).
   *
   * The bytes are searched as a latin1 string: one character per byte, so string positions are
   * byte positions, and a string search costs a fraction of a Buffer search's call (a chunk often
   * carries a whole fast stream: one search per event).
   */
  pass(chunk: Buffer): Buffer {
    if (!this.strip) {
      this.countEvents(chunk.toString('latin1'), 0);
      return chunk;
    }
    const held = this.pending;
    const data = held === undefined ? chunk : Buffer.concat([held, chunk]);
    const text = data.toString('latin1');
    // What was held was counted when it arrived.
    this.countEvents(text, held === undefined ? 0 : held.length);
    const end = this.lastEventEnd(text);
    if (end < 0) {
      if (data.length <= MAX_HELD_BYTES) {
        this.pending = data;
        return EMPTY;
      }
      // No event ends where one should have: a format this tap cannot read. Everything held goes
      // on, and so does the rest of the stream, as it comes (its usage-only chunk included).
      this.strip = false;
      this.pending = undefined;
      return data;
    }
    const complete = end === data.length ? data : data.subarray(0, end);
    this.pending = complete === data ? undefined : data.subarray(end);
    return dropUsageOnlyEvents(complete, text, this.eventEnd!);
  }

  /** Just past the last blank line in `text`, or -1 when no event is complete. */
  private lastEventEnd(text: string): number {
    const known = this.eventEnd;
    if (known !== undefined) {
      // Most chunks end on an event's end: no search through the chunk.
      if (text.endsWith(known)) return text.length;
      const at = text.lastIndexOf(known);
      return at < 0 ? -1 : at + known.length;
    }
    for (const end of EVENT_ENDS) {
      const at = text.lastIndexOf(end);
      if (at < 0) continue;
      this.eventEnd = end;
      return at + end.length;
    }
    return -1;
  }

  /** Counts the `data:` lines in `text` from `from` on, one cut across chunks included. */
  private countEvents(text: string, from: number): void {
    let n = 0;
    if (this.carried > 0) {
      const rest = DATA_LINE.slice(this.carried);
      if (text.startsWith(rest, from)) {
        n++;
      } else if (text.length - from < rest.length && rest.startsWith(text.slice(from))) {
        // The whole chunk continues the cut field, which is still cut.
        this.carried += text.length - from;
        return;
      }
    }
    for (let at = text.indexOf(DATA_LINE, from); at >= 0; at = text.indexOf(DATA_LINE, at + DATA_LINE.length))
      n++;
    this.events += n;
    this.carried = 0;
    for (const prefix of DATA_LINE_PREFIXES) {
      if (prefix.length <= text.length - from && text.endsWith(prefix)) {
        this.carried = prefix.length;
        break;
      }
    }
  }

  /** What is still held when the stream ends (an event the backend never finished). */
  flush(): Buffer | undefined {
    const rest = this.pending;
    this.pending = undefined;
    return rest;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The most an incomplete event may hold back. Model servers' events are a few KB at most; past
 * this, holding more would only delay the app and grow without bound.
 */
export const MAX_HELD_BYTES = 64 * 1024;

/**
 * Complete events, with every `{"choices": [], "usage": {...}}` event removed. Only the events
 * that mention `"usage"` are looked at: a chunk often carries a whole fast stream, and its other
 * events pass through as bytes. `text` is `events` (or more) as latin1.
 */
function dropUsageOnlyEvents(events: Buffer, text: string, eventEnd: EventEnd): Buffer {
  let kept: Buffer[] | undefined;
  let from = 0;
  for (let at = nextUsage(text, 0, events.length); at >= 0;) {
    const before = text.lastIndexOf(eventEnd, at);
    const start = before < 0 ? 0 : before + eventEnd.length;
    const after = text.indexOf(eventEnd, at);
    const end = after < 0 || after >= events.length ? events.length : after + eventEnd.length;
    if (isUsageOnly(text.slice(start, end))) {
      (kept ??= []).push(events.subarray(from, start));
      from = end;
    }
    at = nextUsage(text, end, events.length);
  }
  if (kept === undefined) return events;
  kept.push(events.subarray(from));
  return Buffer.concat(kept);
}

/** Where the next `"usage"` before `limit` starts at or after `from`, or -1. */
function nextUsage(text: string, from: number, limit: number): number {
  for (
    let at = text.indexOf(USAGE_TAIL, from + 1);
    at >= 0 && at < limit;
    at = text.indexOf(USAGE_TAIL, at + 1)
  ) {
    if (text.charCodeAt(at - 1) === QUOTE) return at - 1;
  }
  return -1;
}

/**
 * Whether the event is a usage-only chunk. The event is latin1 text of UTF-8 bytes: any
 * non-ASCII character comes out as other characters, inside the same JSON strings, so the
 * structure read here is the one the app would parse.
 */
function isUsageOnly(event: string): boolean {
  let at = 0;
  if (!event.startsWith(DATA)) {
    const newline = event.indexOf(DATA_LINE);
    if (newline < 0) return false;
    at = newline + 1;
  }
  const lineEnd = event.indexOf('\n', at);
  // The value, with the space after the colon if there is one: JSON.parse skips it.
  const line = event.slice(at + DATA.length, lineEnd < 0 ? event.length : lineEnd);
  if (!line.includes('"usage"')) return false;
  try {
    const chunk = JSON.parse(line) as { choices?: unknown; usage?: unknown };
    return Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage != null;
  } catch {
    return false;
  }
}
