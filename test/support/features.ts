import type { RequestFeatures } from '../../src/ingress/features.js';

/** A plain non-streamed chat request to route `chat`; tests override what they are about. */
export function features(over: Partial<RequestFeatures> = {}): RequestFeatures {
  const promptTokens = over.promptTokens ?? 100;
  return {
    endpoint: 'chat.completions',
    route: 'chat',
    stream: false,
    tenant: undefined,
    user: undefined,
    priority: undefined,
    apiKeyId: undefined,
    promptTokens,
    // Consistent with promptTokens at the default four characters per token.
    promptChars: promptTokens * 4,
    promptMessages: 0,
    maxTokens: undefined,
    choices: 1,
    payloadBytes: 400,
    maxCostUsd: undefined,
    pin: undefined,
    headers: {},
    ...over,
  };
}
