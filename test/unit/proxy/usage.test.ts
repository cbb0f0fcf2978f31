import { describe, expect, it } from 'vitest';
import { UsageTap } from '../../../src/proxy/usage.js';

const sse = (data: unknown): Buffer => Buffer.from(`data: ${JSON.stringify(data)}\n\n`);

describe('UsageTap', () => {
  it('reads usage from the tail of a JSON body split across chunks', () => {
    const body = JSON.stringify({
      choices: [{ message: { content: 'x'.repeat(10_000) } }],
      usage: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 },
    });
    const tap = new UsageTap();
    for (let i = 0; i < body.length; i += 700) tap.push(Buffer.from(body.slice(i, i + 700)));
    expect(tap.result()).toEqual({ inputTokens: 12, outputTokens: 34 });
  });

  it('reads the final usage chunk of a stream after many small chunks', () => {
    const tap = new UsageTap();
    for (let i = 0; i < 500; i++) tap.push(sse({ choices: [{ delta: { content: 'tok ' } }] }));
    tap.push(sse({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 500, total_tokens: 507 } }));
    tap.push(Buffer.from('data: [DONE]\n\n'));
    expect(tap.result()).toEqual({ inputTokens: 7, outputTokens: 500 });
  });

  it('reads Responses API names (input_tokens / output_tokens)', () => {
    const tap = new UsageTap();
    tap.push(Buffer.from('{"output":[],"usage":{"input_tokens":3,'));
    tap.push(Buffer.from('"output_tokens":9}}'));
    expect(tap.result()).toEqual({ inputTokens: 3, outputTokens: 9 });
  });

  it('finds nothing in a stream without usage (the app did not ask for it)', () => {
    const tap = new UsageTap();
    for (let i = 0; i < 50; i++) tap.push(sse({ choices: [{ delta: { content: 'tok ' } }] }));
    expect(tap.result()).toBeUndefined();
    expect(new UsageTap().result()).toBeUndefined();
  });

  it('holds only about the tail, however long the stream', () => {
    const tap = new UsageTap();
    for (let i = 0; i < 10_000; i++) tap.push(Buffer.alloc(100, 0x20));
    const held = (tap as unknown as { held: number }).held;
    expect(held).toBeLessThan(4096 + 100);
    expect(held).toBeGreaterThanOrEqual(4096);
  });
});

describe('UsageTap: Anthropic streams', () => {
  it('takes the prompt tokens from message_start and the output tokens from the final message_delta', () => {
    const tap = new UsageTap();
    tap.push(
      Buffer.from(
        'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"output_tokens":1}}}\n\n',
      ),
    );
    for (let i = 0; i < 200; i++) {
      tap.push(
        Buffer.from(
          `event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"word ${i} "}}\n\n`,
        ),
      );
    }
    tap.push(
      Buffer.from('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":200}}\n\n'),
    );
    expect(tap.result()).toEqual({ inputTokens: 25, outputTokens: 200 });
  });
});

describe('UsageTap: cached prompt tokens', () => {
  it('reads prompt_tokens_details.cached_tokens, never above the prompt tokens', () => {
    const tap = new UsageTap();
    tap.push(
      Buffer.from(
        '{"id":"x","usage":{"prompt_tokens":120,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":96}}}',
      ),
    );
    expect(tap.result()).toEqual({ inputTokens: 120, outputTokens: 7, cachedInputTokens: 96 });
  });
});

describe('UsageTap: the start of the body is read only when asked', () => {
  it('without readsStart, a message_start is passed by and only the final usage counts', () => {
    const start = Buffer.from(
      'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":25}}}\n\n',
    );
    const end = Buffer.from(
      'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\n',
    );
    const reading = new UsageTap(true);
    const passing = new UsageTap(false);
    for (const tap of [reading, passing]) {
      tap.push(start);
      for (let i = 0; i < 100; i++) tap.push(Buffer.from(`data: {"delta":{"text":"word ${i}"}}\n\n`));
      tap.push(end);
    }
    expect(reading.result()).toEqual({ inputTokens: 25, outputTokens: 9 });
    expect(passing.result()).toEqual({ inputTokens: 0, outputTokens: 9 });
  });
});
