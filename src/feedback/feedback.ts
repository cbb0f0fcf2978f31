/**
 * `POST /v1/feedback` `{"request_id": "<x-request-id of an earlier response>", "score": 0..1}`:
 * 204 when the request is remembered; 404 `request_not_found` when the id is unknown or expired;
 * 400 for a malformed body or a score outside 0..1. The feedback is attributed to the request's
 * route, backend and variant and handed to `onFeedback` (the metric, the bandit).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RoutecarError } from '../errors/routecar-error.js';
import { readBody, settleBody } from '../ingress/read-body.js';
import { sendError } from '../server/errors.js';
import type { RequestMemory } from './memory.js';

/** One accepted feedback post. */
export interface FeedbackEvent {
  readonly requestId: string;
  readonly route: string;
  readonly backend: string;
  readonly variant: string;
  /** 0 (bad) .. 1 (good). */
  readonly score: number;
}

/** Feedback bodies are tiny; anything bigger is not feedback. */
export const MAX_FEEDBACK_BYTES = 4096;

/** Parses a feedback body; throws RoutecarError 400 naming what is wrong. */
export function parseFeedback(raw: Buffer): { requestId: string; score: number } {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new RoutecarError('invalid_json', 'the body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RoutecarError('invalid_feedback', 'expected {"request_id": "...", "score": 0..1}');
  }
  const { request_id: requestId, score } = body as { request_id?: unknown; score?: unknown };
  if (typeof requestId !== 'string' || requestId === '') {
    throw new RoutecarError('invalid_feedback', 'request_id must be a non-empty string (an x-request-id)');
  }
  if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) {
    throw new RoutecarError('invalid_feedback', 'score must be a number from 0 to 1');
  }
  return { requestId, score };
}

/** Attributes a parsed feedback to its request; throws RoutecarError 404 when it is not remembered. */
export function acceptFeedback(
  memory: RequestMemory,
  feedback: { requestId: string; score: number },
  nowMs: number,
): FeedbackEvent {
  const request = memory.lookup(feedback.requestId, nowMs);
  if (request === undefined) {
    throw new RoutecarError(
      'request_not_found',
      `no request "${feedback.requestId}" in the last ${Math.round(memory.ttlMs / 60_000)} minutes`,
    );
  }
  const { route, backend, variant } = request;
  return { requestId: feedback.requestId, route, backend, variant, score: feedback.score };
}

export interface FeedbackHandlerDeps {
  readonly memory: RequestMemory;
  /** Called once per accepted feedback; errors are the listener's own (caught and ignored here). */
  readonly onFeedback: (event: FeedbackEvent) => void;
  /** Epoch ms. */
  readonly now?: () => number;
}

/** The request listener for `POST /v1/feedback` (a plain node:http handler; express accepts it). */
export function feedbackHandler(
  deps: FeedbackHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const now = deps.now ?? Date.now;
  return (req, res) => {
    void (async () => {
      let event: FeedbackEvent;
      try {
        const feedback = parseFeedback(await readBody(req, MAX_FEEDBACK_BYTES, 5_000));
        event = acceptFeedback(deps.memory, feedback, now());
      } catch (err) {
        const e = err instanceof RoutecarError ? err : new RoutecarError('invalid_feedback', String(err));
        settleBody(req, res, e);
        sendError(res, e);
        return;
      }
      try {
        deps.onFeedback(event);
      } catch {
        // A failing consumer must not turn accepted feedback into an error for the app.
      }
      res.statusCode = 204;
      res.end();
    })();
  };
}
