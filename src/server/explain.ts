/**
 * The decision routecar would make for one request, without sending it anywhere
 * (`POST /admin/explain` and `routecar policy explain`).
 *
 * The input is either a request body as the app would send it (headers come from the explain
 * call itself), or an envelope `{"endpoint": "chat.completions", "headers": {...}, "body": {...}}`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HealthLookup } from '../health/types.js';
import type { Endpoint } from '../ingress/features.js';
import { ENDPOINT_PATHS, extractRequest } from '../ingress/extract.js';
import type { CompiledPolicy } from '../policy/types.js';
import { decide } from '../routing/decide.js';
import type { DecideResult } from '../routing/types.js';
import { RoutecarError } from './errors.js';

export interface Explanation {
  readonly policyVersion: string;
  /** The features rules and decide saw (request headers left out). */
  readonly features: Record<string, unknown>;
  readonly result: DecideResult;
}

const ENDPOINTS = new Set<string>(Object.values(ENDPOINT_PATHS));

export function explainRequest(
  policy: CompiledPolicy | undefined,
  health: HealthLookup,
  raw: Buffer,
  headers: IncomingHttpHeaders,
  random: () => number = Math.random,
): Explanation {
  if (!policy) throw new RoutecarError(503, 'not_ready', 'no policy loaded yet');
  let endpoint: Endpoint = 'chat.completions';
  let bodyBytes = raw;
  let requestHeaders: IncomingHttpHeaders = headers;
  const envelope = asEnvelope(raw);
  if (envelope) {
    if (envelope.endpoint !== undefined) {
      if (!ENDPOINTS.has(envelope.endpoint)) {
        throw new RoutecarError(
          400,
          'invalid_endpoint',
          `endpoint must be one of ${[...ENDPOINTS].join(', ')}`,
        );
      }
      endpoint = envelope.endpoint as Endpoint;
    }
    bodyBytes = Buffer.from(JSON.stringify(envelope.body));
    requestHeaders = lowerCaseKeys(envelope.headers ?? {});
  }
  const { features } = extractRequest(endpoint, requestHeaders, bodyBytes);
  const result = decide({ policy, health, features, nowMs: Date.now(), random });
  const { headers: _omitted, ...shown } = features;
  return { policyVersion: policy.version, features: shown, result };
}

interface Envelope {
  endpoint?: string;
  headers?: Record<string, string>;
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
