/**
 * The leading text of a request, in the order the model reads it: what prompt-prefix affinity
 * hashes so that requests sharing a system prompt and leading messages reach the backend whose
 * KV cache already holds them. (prompt-text.ts reads the latest message first, for rules; this
 * reads from the start.)
 *
 * - chat.completions and messages: each message as `role\n` + its text (string content, or its
 *   `text` parts), in order, except the last one (the new turn, which differs from request to
 *   request while what precedes it is shared), unless it is the only one; for messages, the
 *   top-level `system` first;
 * - responses: `instructions`, then `input` (a string, or its items as for chat);
 * - completions: `prompt` (a string, or the first string of a list);
 * - anything else: no text.
 * Reading stops at `maxChars` characters.
 */
import type { Endpoint } from './features.js';

/** The first `maxChars` characters of the request's leading text ('' when it has none). */
export function leadingText(
  endpoint: Endpoint,
  body: Readonly<Record<string, unknown>>,
  maxChars: number,
): string {
  const out = { text: '', max: maxChars };
  switch (endpoint as string) {
    case 'chat.completions':
      addMessages(out, body.messages);
      break;
    case 'messages':
      addContent(out, body.system);
      addMessages(out, body.messages);
      break;
    case 'responses':
      addContent(out, body.instructions);
      if (typeof body.input === 'string') add(out, body.input);
      else addMessages(out, body.input);
      break;
    case 'completions':
      if (typeof body.prompt === 'string') add(out, body.prompt);
      else if (Array.isArray(body.prompt) && typeof body.prompt[0] === 'string') add(out, body.prompt[0]);
      break;
    default:
      break;
  }
  return out.text;
}

/** A lazily computed, remembered prefix reader for one request body. */
export function lazyPrefix(
  endpoint: Endpoint,
  body: Readonly<Record<string, unknown>>,
): (maxChars: number) => string {
  let chars = -1;
  let text = '';
  return (maxChars) => {
    if (maxChars !== chars) {
      text = leadingText(endpoint, body, maxChars);
      chars = maxChars;
    }
    return text;
  };
}

interface Out {
  text: string;
  readonly max: number;
}

function add(out: Out, s: string): void {
  const room = out.max - out.text.length;
  if (room <= 0) return;
  out.text += s.length > room ? s.slice(0, room) : s;
}

function addMessages(out: Out, messages: unknown): void {
  if (!Array.isArray(messages)) return;
  const leading = messages.length > 1 ? messages.slice(0, -1) : messages;
  for (const m of leading) {
    if (out.text.length >= out.max) return;
    if (m === null || typeof m !== 'object') continue;
    const message = m as Record<string, unknown>;
    if (typeof message.role === 'string') add(out, `${message.role}\n`);
    addContent(out, message.content);
    add(out, '\n');
  }
}

function addContent(out: Out, content: unknown): void {
  if (typeof content === 'string') {
    add(out, content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const part of content) {
    if (part !== null && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      add(out, (part as { text: string }).text);
    }
  }
}
