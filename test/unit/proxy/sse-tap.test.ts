import { describe, expect, it } from 'vitest';
import { MAX_HELD_BYTES, SseTap } from '../../../src/proxy/sse-tap.js';

const event = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
const content = (text: string): string => event({ choices: [{ index: 0, delta: { content: text } }] });
const USAGE_ONLY = event({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } });
const DONE = 'data: [DONE]\n\n';

/** Everything the app receives for `chunks`, and the events counted. */
function run(strip: boolean, chunks: readonly string[]): { out: string; events: number } {
  const tap = new SseTap(strip);
  let out = '';
  for (const c of chunks) out += tap.pass(Buffer.from(c)).toString('utf8');
  out += tap.flush()?.toString('utf8') ?? '';
  return { out, events: tap.events };
}

describe('SseTap', () => {
  it('drops the usage-only event from a chunk that carries the whole stream, and only it', () => {
    const stream = content('a') + content('b') + USAGE_ONLY + DONE;
    expect(run(true, [stream])).toEqual({ out: content('a') + content('b') + DONE, events: 4 });
  });

  it('keeps every byte when it does not strip (the app asked for usage itself)', () => {
    const stream = content('a') + USAGE_ONLY + DONE;
    const tap = new SseTap(false);
    const chunk = Buffer.from(stream);
    expect(tap.pass(chunk)).toBe(chunk);
    expect(tap.events).toBe(3);
  });

  it('holds an event split across chunks until its end arrives, then drops it if usage-only', () => {
    const whole = content('a') + USAGE_ONLY + DONE;
    const cut = content('a').length + 20;
    const first = new SseTap(true).pass(Buffer.from(whole.slice(0, cut))).toString('utf8');
    expect(first).toBe(content('a'));
    expect(run(true, [whole.slice(0, cut), whole.slice(cut)]).out).toBe(content('a') + DONE);
  });

  it('keeps events that mention usage but are not usage-only (a final chunk with choices and usage)', () => {
    const withChoices = event({ choices: [{ index: 0, delta: {} }], usage: { prompt_tokens: 1 } });
    const nullUsage = event({ choices: [{ index: 0, delta: { content: 'x' } }], usage: null });
    const text = content('the word "usage" in the text');
    const stream = nullUsage + text + withChoices + USAGE_ONLY + DONE;
    expect(run(true, [stream]).out).toBe(nullUsage + text + withChoices + DONE);
  });

  it('looks past keys that only end in usage (`"cache_usage"`) to the usage-only event after them', () => {
    const lookalike = event({ choices: [{ index: 0, delta: { content: 'a' } }], cache_usage: { hits: 1 } });
    const stream = lookalike + lookalike + USAGE_ONLY + DONE;
    expect(run(true, [stream]).out).toBe(lookalike + lookalike + DONE);
    expect(run(true, [lookalike + DONE]).out).toBe(lookalike + DONE);
  });

  it('drops every usage-only event of a chunk, also the first and the last', () => {
    const stream = USAGE_ONLY + content('a') + USAGE_ONLY;
    expect(run(true, [stream]).out).toBe(content('a'));
    expect(run(true, [USAGE_ONLY]).out).toBe('');
  });

  it('passes an event with a broken JSON body through untouched', () => {
    const broken = 'data: {"choices": [], "usage": {\n\n';
    expect(run(true, [content('a') + broken + DONE]).out).toBe(content('a') + broken + DONE);
  });

  it('counts each event once when it arrives split across chunks, in both modes', () => {
    const stream = content('a') + content('b') + USAGE_ONLY + DONE;
    const cuts = [3, content('a').length + 4, stream.length - 5];
    const chunks = [0, ...cuts].map((at, i) => stream.slice(at, [...cuts, stream.length][i]));
    expect(run(true, chunks)).toEqual({ out: content('a') + content('b') + DONE, events: 4 });
    expect(run(false, chunks)).toEqual({ out: stream, events: 4 });
  });

  it('keeps non-ASCII text byte for byte, and finds the usage-only event after it', () => {
    const text = content('naïve café — 東京 🚀');
    const chunk = Buffer.from(text + USAGE_ONLY + DONE);
    // Cut inside a multi-byte character: the held bytes must come out whole with the next chunk.
    const cut = Buffer.from(text).indexOf(Buffer.from('東')) + 1;
    const tap = new SseTap(true);
    const out = Buffer.concat([tap.pass(chunk.subarray(0, cut)), tap.pass(chunk.subarray(cut))]);
    expect(out.toString('utf8')).toBe(text + DONE);
    expect(tap.events).toBe(3);
  });

  it('reads the data line of an event that starts with other fields (`event:`, `id:`)', () => {
    const named = `event: usage\nid: 7\n${USAGE_ONLY}`;
    expect(run(true, [content('a') + named + DONE]).out).toBe(content('a') + DONE);
  });

  it('passes each event on as it completes with CRLF line endings (sse-starlette), and drops the usage-only one', () => {
    const eol = '\r\n';
    const ev = (data: unknown): string => `data: ${JSON.stringify(data)}${eol}${eol}`;
    const first = ev({ choices: [{ index: 0, delta: { content: 'a' } }] });
    const usage = ev({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 1 } });
    const done = `data: [DONE]${eol}${eol}`;
    const tap = new SseTap(true);
    // Not held until the stream ends: the app gets the first token when it arrives.
    expect(tap.pass(Buffer.from(first)).toString('utf8')).toBe(first);
    const cut = usage.length - 3;
    expect(tap.pass(Buffer.from(usage.slice(0, cut))).toString('utf8')).toBe('');
    expect(tap.pass(Buffer.from(usage.slice(cut) + done)).toString('utf8')).toBe(done);
    expect(tap.flush()).toBeUndefined();
    expect(tap.events).toBe(3);
  });

  it('finds the usage-only event among CRLF events that carry other fields', () => {
    const ev = (lines: string[]): string => lines.map((l) => `${l}\r\n`).join('') + '\r\n';
    const ping = ev([': ping - 2026-11-29 16:00:00']);
    const content = ev([
      'event: chunk',
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'a' } }] })}`,
    ]);
    const usage = ev(['id: 9', `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 2 } })}`]);
    expect(run(true, [ping + content + usage + ping]).out).toBe(ping + content + ping);
  });

  it('reads `data:` with no space before the value (TGI, through axum)', () => {
    const ev = (data: unknown): string => `data:${JSON.stringify(data)}\n\n`;
    const first = ev({ choices: [{ index: 0, delta: { content: 'a' } }] });
    const usage = ev({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 1 } });
    const done = 'data:[DONE]\n\n';
    expect(run(true, [first + usage + done])).toEqual({ out: first + done, events: 3 });
    expect(run(false, [first, usage, done]).events).toBe(3);
  });

  it('counts only `data:` fields, not the words in a token, also when chunks are a byte long', () => {
    const tricky = content('metadata: x\ndata: y') + content('data: z');
    const stream = tricky + USAGE_ONLY + DONE;
    expect(run(false, [stream]).events).toBe(4);
    expect(run(false, [...stream]).events).toBe(4);
    expect(run(true, [...stream])).toEqual({ out: tricky + DONE, events: 4 });
  });

  it('passes a stream whose events never end through as it comes once it holds too much, losing nothing', () => {
    // Bare-CR line endings, which this tap does not read: no event ever looks complete.
    const ev = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(1000) } }] })}\r\r`;
    const chunks = Array.from({ length: Math.ceil(MAX_HELD_BYTES / ev.length) + 5 }, () => ev);
    const tap = new SseTap(true);
    const outs = chunks.map((c) => tap.pass(Buffer.from(c)).toString('utf8'));
    const firstOut = outs.findIndex((o) => o !== '');
    // Held up to the bound, then everything held comes out with the chunk that passed it...
    expect(ev.length * firstOut).toBeLessThanOrEqual(MAX_HELD_BYTES);
    expect(ev.length * (firstOut + 1)).toBeGreaterThan(MAX_HELD_BYTES);
    expect(outs[firstOut]).toBe(chunks.slice(0, firstOut + 1).join(''));
    // ...and from there on each chunk passes as it comes.
    expect(outs.slice(firstOut + 1)).toEqual(chunks.slice(firstOut + 1));
    expect(outs.join('') + (tap.flush()?.toString('utf8') ?? '')).toBe(chunks.join(''));
  });

  it('gives back what it still holds when the stream ends without an event end', () => {
    expect(run(true, [content('a') + 'data: {"choi']).out).toBe(content('a') + 'data: {"choi');
  });
});
