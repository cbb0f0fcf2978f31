/**
 * The prompt's text, as prompt rules and classifiers read it: a bounded prefix of the request's
 * text parts, built only when a rule that reads the prompt is reached (most policies have none,
 * and most requests never pay for it).
 *
 * What is read, per endpoint:
 * - chat.completions: the messages' text (`content` as a string, or its `text` parts; images and
 *   audio are skipped), the latest user message first, then the other messages newest first;
 * - completions: `prompt` (a string, or the strings of a list; token arrays are skipped);
 * - responses: `input` (a string, or its items' text as for chat, latest user item first);
 * - embeddings: `input` strings.
 * Parts are joined with a newline, and the text stops at {@link PROMPT_SCAN_CHARS} characters.
 */
import type { Endpoint, PromptSource, PromptSummary } from './features.js';
import { shortHash } from './key-hash.js';

/** Most characters (UTF-16 code units) of prompt text a rule or classifier sees: 32 Ki. */
export const PROMPT_SCAN_CHARS = 32 * 1024;

/** The bounded prompt text of a request body, and whether it was cut. */
export function extractPromptText(
  endpoint: Endpoint,
  body: Readonly<Record<string, unknown>>,
  maxChars: number = PROMPT_SCAN_CHARS,
): { readonly text: string; readonly truncated: boolean } {
  const out = new TextBuilder(maxChars);
  switch (endpoint) {
    case 'chat.completions':
      addMessages(out, body.messages);
      break;
    case 'responses':
      if (typeof body.input === 'string') out.add(body.input);
      else addMessages(out, body.input);
      break;
    case 'completions':
      addStrings(out, body.prompt);
      break;
    case 'embeddings':
    case 'moderations':
      addStrings(out, body.input);
      break;
    case 'messages':
      addMessages(out, body.messages);
      addStrings(out, body.system);
      break;
    case 'rerank':
      addStrings(out, body.query);
      break;
    case 'score':
      addStrings(out, body.text_1);
      break;
    case 'audio.transcriptions':
      break;
  }
  return { text: out.text, truncated: out.truncated };
}

/**
 * A request's prompt, read on first use and kept: `text()` for regexes and classifiers,
 * `lower()` for case-insensitive `contains`.
 */
export function lazyPrompt(endpoint: Endpoint, body: Readonly<Record<string, unknown>>): PromptSource {
  return new LazyPrompt(endpoint, body);
}

/** One object per request, its methods on the prototype: most requests never read their prompt. */
class LazyPrompt implements PromptSource {
  private extracted: { readonly text: string; readonly truncated: boolean } | undefined;
  private lowered: string | undefined;
  private summarized: PromptSummary | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly body: Readonly<Record<string, unknown>>,
  ) {}

  private read(): { readonly text: string; readonly truncated: boolean } {
    return (this.extracted ??= extractPromptText(this.endpoint, this.body));
  }

  text(): string {
    return this.read().text;
  }

  lower(): string {
    return (this.lowered ??= this.read().text.toLowerCase());
  }

  summary(): PromptSummary | undefined {
    const e = this.extracted;
    if (e === undefined) return undefined;
    return (this.summarized ??= summarize(e.text, e.truncated));
  }

  hash(): string {
    const e = this.read();
    return (this.summarized ??= summarize(e.text, e.truncated)).sha256;
  }
}

/** A prompt's text as a fixed string, for tests and tools that already hold it. */
export function fixedPrompt(text: string): PromptSource {
  const truncated = text.length > PROMPT_SCAN_CHARS;
  const bounded = truncated ? text.slice(0, PROMPT_SCAN_CHARS) : text;
  let read = false;
  let lower: string | undefined;
  let summary: PromptSummary | undefined;
  return {
    text: () => ((read = true), bounded),
    lower: () => ((read = true), (lower ??= bounded.toLowerCase())),
    summary: () => (read ? (summary ??= summarize(bounded, truncated)) : undefined),
    hash: () => ((read = true), (summary ??= summarize(bounded, truncated)).sha256),
  };
}

function summarize(text: string, truncated: boolean): PromptSummary {
  return { sha256: shortHash(text), chars: text.length, truncated };
}

/** Appends parts with a newline between them until the limit is reached. */
class TextBuilder {
  text = '';
  truncated = false;
  constructor(private readonly maxChars: number) {}

  add(part: string): void {
    if (this.truncated || part === '') return;
    const separator = this.text === '' ? '' : '\n';
    const room = this.maxChars - this.text.length - separator.length;
    if (part.length <= room) {
      this.text += separator + part;
      return;
    }
    // Slice the part, not the joined text: a 10 MB message costs no more than a 32 KiB one.
    if (room > 0) this.text += separator + part.slice(0, room);
    this.truncated = true;
  }
}

/** Chat messages or Responses input items: the latest user message, then the rest newest first. */
function addMessages(out: TextBuilder, messages: unknown): void {
  if (!Array.isArray(messages)) return;
  let latestUser = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (roleOf(messages[i]) === 'user') {
      latestUser = i;
      break;
    }
  }
  if (latestUser >= 0) addContent(out, messages[latestUser]);
  for (let i = messages.length - 1; i >= 0 && !out.truncated; i--) {
    if (i !== latestUser) addContent(out, messages[i]);
  }
}

function roleOf(message: unknown): unknown {
  return message !== null && typeof message === 'object'
    ? (message as Record<string, unknown>).role
    : undefined;
}

/** A message's `content`: a string, or a list of parts of which the text ones count. */
function addContent(out: TextBuilder, message: unknown): void {
  if (message === null || typeof message !== 'object') return;
  const content = (message as Record<string, unknown>).content;
  if (typeof content === 'string') {
    out.add(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const part of content) {
    if (typeof part === 'string') out.add(part);
    else if (part !== null && typeof part === 'object') {
      // `text` (chat), `input_text` / `output_text` (Responses); images, audio and files carry no `text`.
      const text = (part as Record<string, unknown>).text;
      if (typeof text === 'string') out.add(text);
    }
  }
}

/** A string, or the strings of a list (token-id arrays are not text). */
function addStrings(out: TextBuilder, value: unknown): void {
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') out.add(v);
}
