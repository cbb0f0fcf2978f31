/**
 * Reads token usage off a response as it streams past, without buffering it: only the tail is
 * kept, because `usage` comes last both in JSON bodies and in the final chunk of a stream
 * (when the app asked for `stream_options.include_usage`).
 */

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Prompt tokens the backend served from its prefix cache (part of `inputTokens`), when reported. */
  readonly cachedInputTokens?: number;
  /** The backend reported no usage: routecar estimated it (prompt size, stream events). */
  readonly estimated?: boolean;
}

/** Enough to hold the final SSE chunk or the tail of a JSON body. */
const TAIL_BYTES = 4096;

const INPUT = /"(?:prompt_tokens|input_tokens)"\s*:\s*(\d+)/;
const OUTPUT = /"(?:completion_tokens|output_tokens)"\s*:\s*(\d+)/;
/** OpenAI's `prompt_tokens_details.cached_tokens` (vLLM reports it too), or Responses' `input_tokens_details`. */
const CACHED = /"cached_tokens"\s*:\s*(\d+)/;
/** Where an Anthropic stream reports its prompt tokens, in its first event. */
const MESSAGE_START = Buffer.from('"message_start"');
/** How far into a body the first event is looked for. */
const HEAD_BYTES = 4096;

export class UsageTap {
  /** The last chunks seen, newest last, holding at least TAIL_BYTES when that much has passed. */
  private readonly chunks: Buffer[] = [];
  private held = 0;
  /** Bytes seen so far, while the head of the body is still being read for early usage. */
  private seen = 0;
  /**
   * Prompt tokens reported at the start of the body: an Anthropic stream's `message_start`
   * carries them, and its final `message_delta` only the output tokens.
   */
  private earlyInput: number | undefined;

  /**
   * @param readsStart look for prompt tokens in the body's first event (Anthropic's
   *   `message_start`); off, no chunk is searched on its way past.
   */
  constructor(private readonly readsStart = true) {}

  /**
   * Called with every body chunk on its way to the app. Keeps references only (no copy per
   * chunk: a stream is many small chunks, and copying each would churn the allocator).
   */
  push(chunk: Buffer): void {
    if (this.readsStart && this.seen < HEAD_BYTES) {
      this.seen += chunk.length;
      if (this.earlyInput === undefined && chunk.includes(MESSAGE_START)) {
        const m = INPUT.exec(chunk.toString('utf8'));
        if (m) this.earlyInput = Number(m[1]);
      }
    }
    this.chunks.push(chunk);
    this.held += chunk.length;
    while (this.chunks.length > 1 && this.held - this.chunks[0]!.length >= TAIL_BYTES) {
      this.held -= this.chunks.shift()!.length;
    }
  }

  /** The usage found after the last `"usage"` key, if any. */
  result(): TokenUsage | undefined {
    if (this.held === 0) return undefined;
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.held);
    const text = joined.subarray(Math.max(0, joined.length - TAIL_BYTES)).toString('utf8');
    const at = text.lastIndexOf('"usage"');
    if (at < 0) return undefined;
    const rest = text.slice(at);
    const input = INPUT.exec(rest);
    const output = OUTPUT.exec(rest);
    if (!input && !output) return undefined;
    const inputTokens = input ? Number(input[1]) : (this.earlyInput ?? 0);
    const usage = { inputTokens, outputTokens: output ? Number(output[1]) : 0 };
    const cached = CACHED.exec(rest);
    return cached ? { ...usage, cachedInputTokens: Math.min(Number(cached[1]), usage.inputTokens) } : usage;
  }
}
