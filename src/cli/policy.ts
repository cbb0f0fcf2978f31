/**
 * The `policy` tools: `validate`, `explain` and `push`. They load the policy pipeline and the
 * router, never the server stack, so they start in a fraction of `start`'s time.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { UNKNOWN_HEALTH } from '../health/types.js';
import { formatPolicyError } from '../policy/errors.js';
import { HEADER_NAME_PATTERN } from '../policy/names.js';
import { parsePolicy, type ParsePolicyResult } from '../policy/parse.js';
import { RoutecarError } from '../server/errors.js';
import { explainRequest } from '../server/explain.js';
import { NO_SIGNALS } from '../signals/types.js';
import { UsageError } from './args.js';
import { POLICY_EXPLAIN, POLICY_PUSH } from './commands.js';
import { resolveConsulSettings } from './config.js';
import { errorPositions } from './positions.js';

/** `routecar policy validate FILE`. */
export async function validate(file: string): Promise<number> {
  const read = await readPolicy(file);
  if (read === undefined) return 1;
  const p = read.policy;
  console.log(
    `${file}: valid (version ${p.version}; ${p.backends.size} backends, ${p.routes.size} routes, ${p.rules.length} rules)`,
  );
  return 0;
}

/** `routecar policy explain FILE --request REQ.json [--header NAME:VALUE]...`. */
export async function explain(
  file: string,
  requestFile: string,
  headerFlags: readonly string[],
): Promise<number> {
  const headers = parseHeaders(headerFlags);
  const read = await readPolicy(file);
  if (read === undefined) return 1;
  let raw: Buffer;
  try {
    raw = await readFile(requestFile);
  } catch (err) {
    console.error(`${requestFile}: ${(err as Error).message}`);
    return 1;
  }
  try {
    const request = withHeaders(raw, headers);
    // ROUTECAR_ZONE, as for `routecar start`: the zone terms are shown from that zone.
    const zone = process.env.ROUTECAR_ZONE?.trim() || undefined;
    const explanation = explainRequest(
      read.policy,
      () => UNKNOWN_HEALTH,
      request.body,
      request.headers,
      Math.random,
      NO_SIGNALS,
      zone,
    );
    console.log(JSON.stringify(explanation, null, 2));
    return explanation.result.ok ? 0 : 2;
  } catch (err) {
    console.error(err instanceof RoutecarError ? `${requestFile}: ${err.message}` : (err as Error).message);
    return 1;
  }
}

/** `routecar policy push FILE [--cas N]`. */
export async function push(file: string, casFlag: string | undefined): Promise<number> {
  const cas = casFlag === undefined ? undefined : Number(casFlag);
  if (cas !== undefined && (!/^\d+$/.test(casFlag ?? '') || !Number.isSafeInteger(cas))) {
    throw new UsageError(
      POLICY_PUSH.name,
      `--cas: expected a ModifyIndex (a non-negative integer), got "${casFlag}"`,
    );
  }
  const consul = resolveConsulSettings(process.env);
  if (consul === undefined) {
    console.error('routecar policy push needs CONSUL_HTTP_ADDR (and CONSUL_HTTP_TOKEN with write access)');
    return 1;
  }
  const text = await readText(file);
  if (text === undefined) return 1;
  const parsed = parsePolicy(text);
  if (!parsed.ok) {
    reportErrors(file, text, parsed);
    return 1;
  }
  try {
    const { pushPolicy } = await import('../policy/consul-push.js');
    const result = await pushPolicy({
      addr: consul.baseUrl,
      token: consul.token,
      prefix: consul.prefix,
      text,
      cas,
    });
    console.log(
      `pushed ${file} to ${result.key} (version ${parsed.policy.version}; ModifyIndex ${result.previousModifyIndex} -> ${result.modifyIndex ?? '?'})`,
    );
    return 0;
  } catch (err) {
    console.error(`push refused: ${(err as Error).message}`);
    return 1;
  }
}

/** The compiled policy in `file`, or undefined after printing why there is none. */
/** Reads and compiles a policy file; prints its errors and answers undefined when it is invalid. */
export async function readPolicy(
  file: string,
): Promise<Extract<ParsePolicyResult, { ok: true }> | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  const parsed = parsePolicy(text);
  if (parsed.ok) return parsed;
  reportErrors(file, text, parsed);
  return undefined;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    console.error(`${file}: ${(err as Error).message}`);
    return undefined;
  }
}

/** One line per error, `FILE:LINE:COLUMN: path: message` (as compilers write them, so editors jump there). */
function reportErrors(file: string, text: string, parsed: Extract<ParsePolicyResult, { ok: false }>): void {
  const positionOf = errorPositions(text);
  for (const error of parsed.errors) {
    const at = positionOf(error);
    console.error(`${file}${at ? `:${at.line}:${at.column}` : ''}: ${formatPolicyError(error)}`);
  }
  console.error(`${file}: ${parsed.errors.length} error(s); policy refused`);
}

/** `--header NAME:VALUE` flags as request headers: names lowercased, repeated names joined with `, ` (as Node does). */
function parseHeaders(flags: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string> = {};
  for (const flag of flags) {
    const colon = flag.indexOf(':');
    const name = flag.slice(0, colon).trim().toLowerCase();
    if (colon < 0 || !HEADER_NAME_PATTERN.test(name)) {
      throw new UsageError(
        POLICY_EXPLAIN.name,
        `--header: expected NAME:VALUE (e.g. x-tenant-id:acme), got "${flag}"`,
      );
    }
    const value = flag.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

/**
 * The request with the `--header` flags applied. A plain body gets them as its headers; an
 * envelope (`{"headers", "body"}`, see server/explain.ts) carries its own, which the flags extend
 * and override.
 */
function withHeaders(
  raw: Buffer,
  headers: IncomingHttpHeaders,
): { body: Buffer; headers: IncomingHttpHeaders } {
  if (Object.keys(headers).length === 0) return { body: raw, headers };
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return { body: raw, headers }; // explainRequest reports malformed JSON in its usual words
  }
  const envelope = value as { model?: unknown; body?: unknown; headers?: unknown };
  const isEnvelope =
    typeof value === 'object' &&
    value !== null &&
    typeof envelope.body === 'object' &&
    envelope.body !== null &&
    typeof envelope.model !== 'string';
  if (!isEnvelope) return { body: raw, headers };
  const own = typeof envelope.headers === 'object' && envelope.headers !== null ? envelope.headers : {};
  const lowered = Object.fromEntries(Object.entries(own).map(([k, v]) => [k.toLowerCase(), v as unknown]));
  return {
    body: Buffer.from(JSON.stringify({ ...envelope, headers: { ...lowered, ...headers } })),
    headers: {},
  };
}
