/**
 * The decision routecar would make for one request, without sending it anywhere
 * (`POST /admin/explain` and `routecar policy explain`).
 *
 * The input is either a request body as the app would send it (headers come from the explain
 * call itself), or an envelope `{"endpoint": "chat.completions", "headers": {...}, "body": {...}}`.
 * Explain calls no classifier: an envelope may give their labels as
 * `"classes": {"topic": {"label": "math", "score": 0.9}}` (null: asked, no label); rules reading a
 * classifier it does not give do not match, and `unclassified` names those the request would ask.
 */
import { NO_SIGNALS, type SignalLookup } from '../signals/types.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { HealthLookup } from '../health/types.js';
import type { ClassLabel, Endpoint, RequestFeatures } from '../ingress/features.js';
import { ENDPOINT_PATHS, extractRequest } from '../ingress/extract.js';
import type { CompiledPolicy } from '../policy/types.js';
import { decide } from '../routing/decide.js';
import { classifiersNeeded } from '../routing/rules.js';
import type { DecideResult } from '../routing/types.js';
import { RoutecarError } from './errors.js';

export interface Explanation {
  readonly policyVersion: string;
  /** The features rules and decide saw (request headers, prompt text and labels left out: the result has the labels and the prompt's hash). */
  readonly features: Record<string, unknown>;
  readonly result: DecideResult;
  /** Classifiers a rule reached would ask, had the envelope given their labels (explain calls none). */
  readonly unclassified?: readonly string[];
}

const ENDPOINTS = new Set<string>(Object.values(ENDPOINT_PATHS));

export function explainRequest(
  policy: CompiledPolicy | undefined,
  health: HealthLookup,
  raw: Buffer,
  headers: IncomingHttpHeaders,
  random: () => number = Math.random,
  signals: SignalLookup = NO_SIGNALS,
  zone: string | undefined = undefined,
  zoneLeft: ((route: string) => boolean) | undefined = undefined,
): Explanation {
  if (!policy) throw new RoutecarError('not_ready', 'no policy loaded yet');
  let endpoint: Endpoint = 'chat.completions';
  let bodyBytes = raw;
  let requestHeaders: IncomingHttpHeaders = headers;
  let classes: ReadonlyMap<string, ClassLabel | undefined> | undefined;
  const envelope = asEnvelope(raw);
  if (envelope) {
    if (envelope.endpoint !== undefined) {
      if (!ENDPOINTS.has(envelope.endpoint)) {
        throw new RoutecarError('invalid_endpoint', `endpoint must be one of ${[...ENDPOINTS].join(', ')}`);
      }
      endpoint = envelope.endpoint as Endpoint;
    }
    bodyBytes = Buffer.from(JSON.stringify(envelope.body));
    requestHeaders = lowerCaseKeys(envelope.headers ?? {});
    if (envelope.classes !== undefined) classes = parseClasses(envelope.classes);
  }
  const extracted = extractRequest(endpoint, requestHeaders, bodyBytes).features;
  const features: RequestFeatures = classes === undefined ? extracted : { ...extracted, classes };
  const unclassified = classifiersNeeded(policy.rules, features);
  const result = decide({ policy, health, signals, zone, zoneLeft, features, nowMs: Date.now(), random });
  const { headers: _headers, prompt: _prompt, classes: _classes, ...shown } = features;
  const explanation = { policyVersion: policy.version, features: shown, result };
  return unclassified.length === 0 ? explanation : { ...explanation, unclassified };
}

/** The envelope's `classes`: `{name: {label, score} | null}`. */
function parseClasses(value: unknown): ReadonlyMap<string, ClassLabel | undefined> {
  const invalid = () =>
    new RoutecarError(
      'invalid_classes',
      'classes must map classifier names to {"label": "...", "score": 0..1} or null',
    );
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid();
  const out = new Map<string, ClassLabel | undefined>();
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (entry === null) {
      out.set(name, undefined);
      continue;
    }
    const { label, score } = (entry ?? {}) as Record<string, unknown>;
    if (typeof label !== 'string' || typeof score !== 'number' || !(score >= 0 && score <= 1))
      throw invalid();
    out.set(name, { label, score });
  }
  return out;
}

interface Envelope {
  endpoint?: string;
  headers?: Record<string, string>;
  /** Classifier labels to decide with (explain calls no classifier). */
  classes?: unknown;
  body: Record<string, unknown>;
}

function asEnvelope(raw: Buffer): Envelope | undefined {
  try {
    const v = JSON.parse(raw.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (o.body && typeof o.body === 'object' && typeof o.model !== 'string')
        return o as unknown as Envelope;
    }
  } catch {
    // Not JSON at all: extractRequest reports it with the usual 400.
  }
  return undefined;
}

function lowerCaseKeys(h: Record<string, string>): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = String(v);
  return out;
}
