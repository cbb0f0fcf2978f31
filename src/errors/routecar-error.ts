/**
 * The error routecar answers with itself, as a value: a status, a stable code and an OpenAI
 * error type. A leaf module, so every layer can raise one; only the server edge turns it into
 * HTTP (src/server/errors.ts).
 */

/** OpenAI's `error.type` values that routecar uses. */
export type ErrorType =
  'invalid_request_error' | 'not_found_error' | 'permission_error' | 'server_error' | 'rate_limit_error';

/**
 * Every code routecar answers with, and its HTTP status: the one table (docs/concepts.md lists
 * them). `denied` is the one whose status a policy rule may choose (`deny.status`); 403 otherwise.
 */
export const ERROR_STATUS = {
  // The request itself is wrong: retrying it unchanged cannot help.
  invalid_json: 400,
  invalid_value: 400,
  invalid_max_cost: 400,
  missing_model: 400,
  json_too_deep: 400,
  invalid_multipart: 400,
  request_aborted: 400,
  invalid_feedback: 400,
  invalid_classes: 400,
  invalid_endpoint: 400,
  invalid_host: 400,
  invalid_request_target: 400,
  malformed_request: 400,
  pin_not_allowed: 400,
  over_budget: 400,
  context_length_exceeded: 400,
  unauthorized: 401,
  admin_disabled: 403,
  origin_not_allowed: 403,
  denied: 403,
  model_not_found: 404,
  unknown_endpoint: 404,
  request_not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  request_too_large: 413,
  host_not_allowed: 421,
  request_header_fields_too_large: 431,
  budget_exhausted: 429,
  // routecar or the fleet behind it: worth retrying later.
  internal_error: 500,
  admin_error: 500,
  upstream_unavailable: 502,
  no_healthy_backend: 503,
  not_ready: 503,
  upstream_timeout: 504,
} as const satisfies Record<string, number>;

/** The closed set of codes routecar answers with. */
export type ErrorCode = keyof typeof ERROR_STATUS;

export interface RoutecarErrorOptions {
  /** OpenAI error type; from the status when not given. */
  readonly type?: ErrorType;
  /** Extra fields of the error object (`param`, `candidates`). */
  readonly details?: Record<string, unknown>;
  /** Only for `denied`: the status the policy's rule chose. */
  readonly status?: number;
}

export class RoutecarError extends Error {
  /** HTTP status sent to the app: the table's, for every code but a rule's `denied`. */
  readonly status: number;
  readonly type: ErrorType;
  readonly details: Record<string, unknown> | undefined;

  /**
   * @param code stable machine-readable code (`model_not_found`, `no_healthy_backend`, ...)
   * @param message for people; may quote the request, never a credential
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: RoutecarErrorOptions = {},
  ) {
    super(message);
    this.name = 'RoutecarError';
    this.status = code === 'denied' && options.status !== undefined ? options.status : ERROR_STATUS[code];
    this.type = options.type ?? typeForStatus(this.status);
    this.details = options.details;
  }
}

function typeForStatus(status: number): ErrorType {
  if (status === 404) return 'not_found_error';
  if (status === 403 || status === 401) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The OpenAI error envelope. */
export function errorBody(err: RoutecarError): string {
  return JSON.stringify({
    error: { message: err.message, type: err.type, code: err.code, param: null, ...(err.details ?? {}) },
  });
}
