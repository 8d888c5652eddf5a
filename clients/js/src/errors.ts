/** Error hierarchy of the SDK: every failure is a GeoperaError; HTTP errors carry the RFC 9457 problem. */

/** One entry of a 400 problem's `errors` list: the offending field and why. */
export interface FieldError {
  field: string;
  message: string;
  [key: string]: unknown;
}

/** The `application/problem+json` body the service answers every error with. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  code?: string;
  request_id?: string;
  errors?: FieldError[];
  [key: string]: unknown;
}

/** Which failure this is: a stable discriminant for `switch` (mirrors the subclasses). */
export type ErrorKind =
  | 'configuration'
  | 'network'
  | 'timeout'
  | 'aborted'
  | 'invalid_response'
  | 'invalid_request'
  | 'authentication'
  | 'payment_required'
  | 'permission_denied'
  | 'not_found'
  | 'conflict'
  | 'gone'
  | 'payload_too_large'
  | 'rate_limited'
  | 'server'
  | 'api';

export interface ErrorFields {
  status?: number;
  code?: string;
  title?: string;
  detail?: string;
  errors?: FieldError[];
  requestId?: string;
  problem?: Problem;
  headers?: Headers;
  cause?: unknown;
}

/** Base class of every error the SDK throws. */
export class GeoperaError extends Error {
  readonly kind: ErrorKind = 'api';
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The problem's machine-readable `code` (e.g. `not_found`). */
  readonly code: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  /** Field errors of a 400 (`[{field, message}]`); empty otherwise. */
  readonly errors: FieldError[];
  /** The server's request id (problem `request_id`, else the `X-Request-ID` header). */
  readonly requestId: string | undefined;
  /** The whole problem document as received (`{}` when there was none). */
  readonly problem: Problem;
  readonly headers: Headers | undefined;

  constructor(message: string | undefined, fields: ErrorFields = {}) {
    super(message ?? formatMessage(fields), fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.status = fields.status;
    this.code = fields.code;
    this.title = fields.title;
    this.detail = fields.detail;
    this.errors = fields.errors ?? [];
    this.requestId = fields.requestId;
    this.problem = fields.problem ?? {};
    this.headers = fields.headers;
  }
}

function formatMessage(f: ErrorFields): string {
  const head = [f.status, f.code ?? f.title].filter((p) => p !== undefined && p !== '').join(' ');
  let text = head && f.detail ? `${head}: ${f.detail}` : head || f.detail || 'Geopera error';
  if (f.requestId) text += ` (request_id=${f.requestId})`;
  return text;
}

/** The client was constructed with missing or invalid settings (e.g. no API key). */
export class ConfigurationError extends GeoperaError {
  override readonly kind = 'configuration';
}

/** The request never produced an HTTP response (DNS, refused connection, TLS, reset...). */
export class TransportError extends GeoperaError {
  override readonly kind: ErrorKind = 'network';
}

/** No (complete) response within `timeoutMs`. A TransportError, told apart by class or kind. */
export class TimeoutError extends TransportError {
  override readonly kind = 'timeout';
  readonly timeoutMs: number;

  constructor(timeoutMs: number, fields: ErrorFields = {}) {
    super(`no response within ${timeoutMs} ms`, fields);
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's AbortSignal fired; `cause` is the signal's reason. Named `AbortError` like the platform's. */
export class AbortError extends GeoperaError {
  override readonly kind = 'aborted';
}

/** A 2xx response whose body is not the JSON the op promises. */
export class InvalidResponseError extends GeoperaError {
  override readonly kind = 'invalid_response';
}

/** The server answered with a non-2xx status. */
export class APIError extends GeoperaError {
  override readonly kind: ErrorKind = 'api';
  declare readonly status: number;
}

/** 400: malformed body or a field failed validation; `errors` names each field. */
export class InvalidRequest extends APIError {
  override readonly kind = 'invalid_request';
}

/** 401: the API key is missing, malformed, unknown or revoked. */
export class AuthenticationError extends APIError {
  override readonly kind = 'authentication';
}

/** 402: the organization's subscription is past due (downloads). */
export class PaymentRequired extends APIError {
  override readonly kind = 'payment_required';
}

/** 403: the key is valid but lacks the scope, membership or role. */
export class PermissionDenied extends APIError {
  override readonly kind = 'permission_denied';
}

/** 404: unknown op, or the target does not exist / is soft-deleted. */
export class NotFound extends APIError {
  override readonly kind = 'not_found';
}

/** 409: the request conflicts with the current state. */
export class Conflict extends APIError {
  override readonly kind = 'conflict';
}

/** 410: the imagery is no longer served (retention: expired or deleted item). */
export class Gone extends APIError {
  override readonly kind = 'gone';
}

/** 413: the request body exceeds the server's limit. */
export class PayloadTooLarge extends APIError {
  override readonly kind = 'payload_too_large';
}

/** 429: a limit was hit; `retryAfterMs` is the server's `Retry-After` hint, if any. */
export class RateLimited extends APIError {
  override readonly kind = 'rate_limited';
  readonly retryAfterMs: number | undefined;

  constructor(message: string | undefined, fields: ErrorFields & { retryAfterMs?: number }) {
    super(message, fields);
    this.retryAfterMs = fields.retryAfterMs;
  }
}

/** 5xx: the server failed (never retried: an op may have had its side effect). */
export class ServerError extends APIError {
  override readonly kind = 'server';
}

const BY_STATUS: Record<number, typeof APIError> = {
  400: InvalidRequest,
  401: AuthenticationError,
  402: PaymentRequired,
  403: PermissionDenied,
  404: NotFound,
  409: Conflict,
  410: Gone,
  413: PayloadTooLarge,
  429: RateLimited,
};

/** The error class that represents an HTTP error status. */
export function errorClassForStatus(status: number): typeof APIError {
  if (status >= 500) return ServerError;
  return BY_STATUS[status] ?? APIError;
}
