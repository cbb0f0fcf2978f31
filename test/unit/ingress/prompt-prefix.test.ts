import { describe, expect, it } from 'vitest';
import { lazyPrefix, leadingText } from '../../../src/ingress/prompt-prefix.js';

describe('leadingText', () => {
  const chat = {
    messages: [
      { role: 'system', content: 'You are terse.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hi' },
          { type: 'image_url', image_url: { url: 'x' } },
        ],
      },
      { role: 'assistant', content: 'Hello.' },
    ],
  };

  it('reads chat messages in order, with their roles, text parts only, all but the new turn', () => {
    expect(leadingText('chat.completions', chat, 1000)).toBe('system\nYou are terse.\nuser\nHi\n');
    const one = { messages: [{ role: 'user', content: 'Only this' }] };
    expect(leadingText('chat.completions', one, 1000)).toBe('user\nOnly this\n');
  });

  it('stops at maxChars', () => {
    expect(leadingText('chat.completions', chat, 10)).toBe('system\nYou');
  });

  it('reads responses instructions then input, and completions prompts', () => {
    expect(leadingText('responses', { instructions: 'Be nice.', input: 'Tell me' }, 100)).toBe(
      'Be nice.Tell me',
    );
    expect(leadingText('completions', { prompt: ['first', 'second'] }, 100)).toBe('first');
    expect(leadingText('embeddings', { input: 'x' }, 100)).toBe('');
  });

  it('lazyPrefix computes once per length', () => {
    const body = { messages: [{ role: 'user', content: 'abc' }] };
    const prefix = lazyPrefix('chat.completions', body);
    expect(prefix(6)).toBe('user\na');
    body.messages[0]!.content = 'xyz';
    expect(prefix(6)).toBe('user\na');
    expect(prefix(7)).toBe('user\nxy');
  });
});
