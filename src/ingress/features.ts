/**
 * What routecar knows about one request before deciding where it goes.
 * Built once by ingress from the headers and the parsed body; read by rules and by decide.
 */

/**
 * The endpoints routecar serves: OpenAI's, the rerank/score pair of vLLM and TEI fleets, and
 * Anthropic's Messages API (`messages`) for routes whose backends speak it.
 */
export type Endpoint =
  | 'chat.completions'
  | 'completions'
  | 'embeddings'
  | 'responses'
  | 'moderations'
  | 'rerank'
  | 'score'
  | 'audio.transcriptions'
  | 'messages';

export interface RequestFeatures {
  /** Which OpenAI endpoint was called. */
  readonly endpoint: Endpoint;
  /** `body.model` as the app sent it: the name of a route. */
  readonly route: string;
  /** `body.stream === true`. */
  readonly stream: boolean;
  /** `x-tenant-id`, when sent. */
  readonly tenant: string | undefined;
  /** `x-user-id`, else `body.user`, when sent. */
  readonly user: string | undefined;
  /** `x-priority`, when sent (free-form: rules compare it as a string). */
  readonly priority: string | undefined;
  /** First 16 hex chars of the SHA-256 of the bearer token; the token itself is never kept. */
  readonly apiKeyId: string | undefined;
  /** Prompt size estimate (about four characters per token); what `promptTokens` rules match. */
  readonly promptTokens: number;
  /** Characters of prompt text, for estimates with a backend's own `tokenizerFactor`. */
  readonly promptChars: number;
  /** Chat messages in the prompt (each costs a few tokens of framing). */
  readonly promptMessages: number;
  /**
   * Output-token limit per completion: the largest of the limit fields the endpoint honours
   * (chat: `max_tokens`, `max_completion_tokens`; completions: `max_tokens`; responses:
   * `max_output_tokens`); undefined when none is sent. What `maxTokens` rules match.
   */
  readonly maxTokens: number | undefined;
  /**
   * Completions the backend generates: `n` (completions: the larger of `n` and `best_of`), 1 when
   * not sent. The cost estimate multiplies the output side by it.
   */
  readonly choices: number;
  /** Size of the request body in bytes. */
  readonly payloadBytes: number;
  /** USD ceiling from `x-routecar-max-cost`, when sent and valid. */
  readonly maxCostUsd: number | undefined;
  /** Backend named by `x-routecar-backend`; honoured only where a rule allows pins. */
  readonly pin: string | undefined;
  /** Request headers, lower-case names, multi-valued headers joined with ", ". */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * The prompt's text, read only when a rule that needs it is reached (prompt-text.ts says which
   * parts, in which order, up to 32 Ki characters). Absent: the request has no text to read.
   */
  readonly prompt?: PromptSource;
  /**
   * The first `chars` characters of the prompt in reading order (system prompt and leading
   * messages first), computed on first use; what prefix affinity hashes. Absent: no text.
   */
  readonly prefix?: (chars: number) => string;
  /**
   * Labels from the policy's classifiers, by classifier name, added by the edge before deciding
   * (classify/). A classifier that was asked and gave no label (timeout, error, garbage) maps to
   * undefined; one that was never asked is absent. Rules reading an absent classifier do not match.
   */
  readonly classes?: ReadonlyMap<string, ClassLabel | undefined>;
}

/** What a classifier said about a prompt. */
export interface ClassLabel {
  readonly label: string;
  /** Confidence in [0, 1]. */
  readonly score: number;
}

/** A request's prompt text, read on first use. */
export interface PromptSource {
  /** The bounded prompt text. */
  text(): string;
  /** The same text, lower-cased (what case-insensitive `contains` compares with). */
  lower(): string;
  /** SHA-256 (hex) prefix of the text; reads it if nothing has yet. */
  hash(): string;
  /** Hash and length of the text, or undefined when nothing read it for this request. */
  summary(): PromptSummary | undefined;
}

/** What logs and decisions say about a prompt: never the text. */
export interface PromptSummary {
  /** First 16 hex characters of the SHA-256 of the scanned text. */
  readonly sha256: string;
  /** Characters scanned (at most 32 Ki). */
  readonly chars: number;
  /** Whether the request held more text than was scanned. */
  readonly truncated: boolean;
}
