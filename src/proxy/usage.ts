/**
 * Reads token usage off a response as it streams past, without buffering it: only the tail is
 * kept, because `usage` comes last both in JSON bodies and in the final chunk of a stream
 * (when the app asked for `stream_options.include_usage`).
 */

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** Enough to hold the final SSE chunk or the tail of a JSON body. */
const TAIL_BYTES = 4096;

const INPUT = /"(?:prompt_tokens|input_tokens)"\s*:\s*(\d+)/;
const OUTPUT = /"(?:completion_tokens|output_tokens)"\s*:\s*(\d+)/;

export class UsageTap {
  private tail: Buffer = Buffer.alloc(0);

  /** Called with every body chunk on its way to the app. */
  push(chunk: Buffer): void {
    if (chunk.length >= TAIL_BYTES) {
      this.tail = chunk.subarray(chunk.length - TAIL_BYTES);
    } else if (this.tail.length + chunk.length <= TAIL_BYTES) {
      this.tail = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    } else {
      const joined = Buffer.concat([this.tail, chunk]);
      this.tail = joined.subarray(joined.length - TAIL_BYTES);
    }
  }

  /** The usage found after the last `"usage"` key, if any. */
  result(): TokenUsage | undefined {
    const text = this.tail.toString('utf8');
    const at = text.lastIndexOf('"usage"');
    if (at < 0) return undefined;
    const rest = text.slice(at);
    const input = INPUT.exec(rest);
    const output = OUTPUT.exec(rest);
    if (!input && !output) return undefined;
    return { inputTokens: input ? Number(input[1]) : 0, outputTokens: output ? Number(output[1]) : 0 };
  }
}
