import { describe, expect, it } from 'vitest';
import { extractRequest } from '../../../src/ingress/extract.js';
import type { Endpoint } from '../../../src/ingress/features.js';
import { extractPromptText, PROMPT_SCAN_CHARS } from '../../../src/ingress/prompt-text.js';

type Row = [name: string, endpoint: Endpoint, body: Record<string, unknown>, text: string];

const image = { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } };

const rows: Row[] = [
  ['chat, one string message', 'chat.completions', { messages: [{ role: 'user', content: 'hi' }] }, 'hi'],
  [
    'chat: latest user message first, then the others newest first',
    'chat.completions',
    {
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'u1' },
        { role: 'assistant', content: 'a1' },
        { role: 'user', content: 'u2' },
        { role: 'tool', content: 't1' },
      ],
    },
    'u2\nt1\na1\nu1\nsys',
  ],
  [
    'chat, multimodal: text parts kept, images skipped',
    'chat.completions',
    {
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'what is' }, image, { type: 'text', text: 'this?' }],
        },
      ],
    },
    'what is\nthis?',
  ],
  ['chat, no messages', 'chat.completions', { messages: 'nope' }, ''],
  ['chat, null content', 'chat.completions', { messages: [{ role: 'assistant', content: null }] }, ''],
  ['completions, string', 'completions', { prompt: 'def f():' }, 'def f():'],
  ['completions, list of strings', 'completions', { prompt: ['a', 'b'] }, 'a\nb'],
  ['completions, token ids', 'completions', { prompt: [1, 2, 3] }, ''],
  ['responses, string input', 'responses', { input: 'hello', instructions: 'not read' }, 'hello'],
  [
    'responses, items with input_text and images',
    'responses',
    {
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'first' }] },
        { role: 'assistant', content: [{ type: 'output_text', text: 'reply' }] },
        {
          role: 'user',
          content: [
            { type: 'input_image', image_url: 'x' },
            { type: 'input_text', text: 'second' },
          ],
        },
      ],
    },
    'second\nreply\nfirst',
  ],
  ['embeddings, input', 'embeddings', { input: ['x', 'y'] }, 'x\ny'],
];

describe('prompt text', () => {
  it.each(rows)('%s', (_name, endpoint, body, text) => {
    expect(extractPromptText(endpoint, body)).toEqual({ text, truncated: false });
  });

  it('stops at 32 Ki characters and says it did', () => {
    const long = 'x'.repeat(PROMPT_SCAN_CHARS + 10);
    const got = extractPromptText('chat.completions', {
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: long },
      ],
    });
    expect(got.text).toHaveLength(PROMPT_SCAN_CHARS);
    expect(got.truncated).toBe(true);
    expect(got.text).not.toContain('sys');
  });

  it('is read only when asked: no summary until a rule reads it, then its hash and length', () => {
    const body = Buffer.from(
      JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'secret words' }] }),
    );
    const { features } = extractRequest('chat.completions', {}, body);
    expect(features.prompt?.summary()).toBeUndefined();
    expect(features.prompt?.lower()).toBe('secret words');
    const summary = features.prompt?.summary();
    expect(summary).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{16}$/), chars: 12, truncated: false });
    expect(JSON.stringify(summary)).not.toContain('secret');
  });
});
