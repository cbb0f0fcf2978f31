/**
 * The control API of a fake upstream, so a demo operator can `curl` it and a test can drive a
 * fake running in another process. Served under `/__control` on the upstream's own port, on its
 * optional control port, and per upstream by the demo fleet's control server.
 *
 *   GET  /__control              → state: name, URLs, listening, behaviour, stats
 *   POST /__control              {"mode": "rateLimit", "latencyMs": 50, ...} → merged; new state
 *                                {"mode": "down"} stops listening, {"mode": "up"} listens again
 *   POST /__control/reset        → starting behaviour, counters cleared, listening
 *   POST /__control/stats/reset  → counters cleared
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseBehaviourPatch, type BehaviourPatch, type FakeBehaviour } from './behaviour.js';
import { isRecord, readBody, sendJson } from './http-util.js';
import { openAiError } from './openai-bodies.js';
import type { FakeStatsSnapshot } from './stats.js';

/** Path prefix of the control API. */
export const CONTROL_PREFIX = '/__control';

/** What `GET /__control` returns. */
export interface FakeUpstreamState {
  readonly name: string;
  readonly url: string;
  readonly baseURL: string;
  readonly listening: boolean;
  readonly behaviour: FakeBehaviour;
  readonly stats: FakeStatsSnapshot;
}

/** The part of a fake upstream the control API drives. */
export interface ControlTarget {
  state(): FakeUpstreamState;
  configure(patch: BehaviourPatch): FakeBehaviour;
  reset(): Promise<void>;
  resetStats(): void;
  /**
   * Stops listening before its first await; `spare` is the control request's own connection,
   * left open so the answer can still be written.
   */
  down(spare?: Socket): Promise<void>;
  up(): Promise<void>;
}

/** What follows `/__control` in `path` (`''` for the root), or undefined for other paths. */
export function controlSubPath(path: string): string | undefined {
  if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`))
    return path.slice(CONTROL_PREFIX.length);
  return undefined;
}

/** A server answering only the control API of `target` (everything else is 404). */
export function createControlServer(target: ControlTarget): Server {
  return createServer((req, res) => {
    const subPath = controlSubPath(new URL(req.url ?? '/', 'http://control').pathname);
    if (subPath !== undefined) return void handleControl(target, req, res, subPath);
    sendJson(
      res,
      404,
      openAiError(`no route ${req.url ?? ''} on the control port`, 'invalid_request_error', 'not_found'),
    );
  });
}

/** Serves one control request; `subPath` is what follows `/__control`. */
export async function handleControl(
  target: ControlTarget,
  req: IncomingMessage,
  res: ServerResponse,
  subPath: string,
): Promise<void> {
  const route = `${req.method ?? 'GET'} ${subPath.replace(/\/$/, '')}`;
  if (route === 'GET ') return sendJson(res, 200, target.state());
  if (route === 'POST /reset') {
    await target.reset();
    return sendJson(res, 200, target.state());
  }
  if (route === 'POST /stats/reset') {
    target.resetStats();
    return sendJson(res, 200, target.state());
  }
  if (route !== 'POST ' && route !== 'PATCH ' && route !== 'PUT ') {
    return sendJson(res, 404, openAiError(`no control route ${route}`, 'invalid_request_error', 'not_found'));
  }

  const body = await readBody(req, 64 * 1024);
  if (!body.ok || !isRecord(body.json)) {
    return sendJson(res, 400, openAiError('expected a JSON object', 'invalid_request_error', null));
  }
  const { mode, ...rest } = body.json;
  const lifecycle = mode === 'down' || mode === 'up' ? mode : undefined;
  const parsed = parseBehaviourPatch(lifecycle === undefined ? body.json : rest);
  if (!parsed.ok) return sendJson(res, 400, openAiError(parsed.error, 'invalid_request_error', null));
  target.configure(parsed.patch);

  if (lifecycle === 'up') await target.up();
  if (lifecycle !== 'down') return sendJson(res, 200, target.state());
  // The listener is closed synchronously inside down(); answer on the spared connection, then finish.
  const stopped = target.down(req.socket);
  sendJson(res, 200, target.state(), { connection: 'close' });
  await stopped;
}
