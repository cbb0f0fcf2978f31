/**
 * Asks the policy's external classifiers for a prompt's label: POST `{"text": "..."}`, answer
 * `{"label": "...", "score": 0..1}` (the RouteLLM pattern).
 *
 * A classifier never fails a request: a timeout, a connection error, a non-2xx status or an answer
 * of any other shape resolves to "no label" (undefined), is reported (events.ts), and is not
 * cached, so the next request asks again. Labels are cached per classifier by the hash of the
 * text, and concurrent requests with the same text share one call. One keep-alive connection pool
 * (one agent per scheme) serves every classifier.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { ClassLabel } from '../ingress/features.js';
import type { CompiledClassifier } from '../policy/types.js';
import { reportClassification, type ClassifierOutcome } from './events.js';
import { LruCache } from './lru.js';

/** Largest answer read; a label is a few bytes, anything bigger is not one. */
const MAX_ANSWER_BYTES = 16 * 1024;
/** Longest label accepted (labels go into logs and explain output). */
const MAX_LABEL_CHARS = 256;

export interface ClassifierClientOptions {
  /** Sockets open at once per classifier host; default 64. */
  readonly maxSockets?: number;
}

/** One classifier's cache and in-flight calls, for the settings it was created with. */
interface ClassifierState {
  readonly spec: CompiledClassifier;
  readonly cache: LruCache<string, ClassLabel>;
  readonly pending: Map<string, Promise<ClassLabel | undefined>>;
}

export class ClassifierClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly states = new Map<string, ClassifierState>();

  constructor(options: ClassifierClientOptions = {}) {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64, maxFreeSockets: 16 };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
  }

  /**
   * The label `spec` gives `text`, or undefined when it gives none in time. `key` identifies the
   * text in the cache (its hash). Never rejects.
   */
  classify(spec: CompiledClassifier, text: string, key: string): Promise<ClassLabel | undefined> {
    const state = this.stateFor(spec);
    const cached = state.cache.get(key);
    if (cached !== undefined) {
      reportClassification(spec.name, 'cached', 0);
      return Promise.resolve(cached);
    }
    const pending = state.pending.get(key);
    if (pending !== undefined) return pending;
    const call = this.call(spec, text).then(
      ({ outcome, label, durationMs }) => {
        state.pending.delete(key);
        if (label !== undefined) state.cache.set(key, label);
        reportClassification(spec.name, outcome, durationMs);
        return label;
      },
      () => {
        // call() settles every failure itself; this only guards the promise against a bug.
        state.pending.delete(key);
        return undefined;
      },
    );
    state.pending.set(key, call);
    return call;
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The state for these settings; a classifier whose url, timeout or cache size changed starts afresh. */
  private stateFor(spec: CompiledClassifier): ClassifierState {
    const state = this.states.get(spec.name);
    if (
      state !== undefined &&
      state.spec.url === spec.url &&
      state.spec.timeoutMs === spec.timeoutMs &&
      state.spec.cacheSize === spec.cacheSize
    ) {
      return state;
    }
    const fresh: ClassifierState = { spec, cache: new LruCache(spec.cacheSize), pending: new Map() };
    this.states.set(spec.name, fresh);
    return fresh;
  }

  private call(
    spec: CompiledClassifier,
    text: string,
  ): Promise<{ outcome: ClassifierOutcome; label: ClassLabel | undefined; durationMs: number }> {
    const started = performance.now();
    const body = JSON.stringify({ text });
    return new Promise((resolve) => {
      let settled = false;
      let req: http.ClientRequest | undefined;
      const finish = (outcome: ClassifierOutcome, label?: ClassLabel): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ outcome, label, durationMs: performance.now() - started });
      };
      // The whole exchange, connecting included, fits in timeoutMs; past it the socket is dropped.
      const timer = setTimeout(() => {
        finish('timeout');
        req?.destroy();
      }, spec.timeoutMs);
      timer.unref();
      try {
        const url = new URL(spec.url);
        const secure = url.protocol === 'https:';
        req = (secure ? https : http).request(url, {
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            accept: 'application/json',
          },
        });
      } catch {
        finish('error');
        return;
      }
      req.on('error', () => finish('error'));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          res.resume();
          finish('error');
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            finish('malformed');
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const label = parseAnswer(Buffer.concat(chunks));
          finish(label === undefined ? 'malformed' : 'labelled', label);
        });
        res.on('error', () => finish('error'));
      });
      req.end(body);
    });
  }
}

/** `{"label": "<1..256 chars>", "score": <number in [0, 1]>}`, other keys ignored; else undefined. */
export function parseAnswer(raw: Buffer): ClassLabel | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { label, score } = value as Record<string, unknown>;
  if (typeof label !== 'string' || label === '' || label.length > MAX_LABEL_CHARS) return undefined;
  if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return undefined;
  return { label, score };
}
