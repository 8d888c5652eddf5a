/** @geopera/sdk: typed client for the Geopera imagery catalog op API (POST /v1/op/{operation_id}). */

export {
  DEFAULT_BASE_URL,
  Geopera,
  VERSION,
  type CallOptions,
  type FetchLike,
  type GeoperaOptions,
  type OpArgs,
  type OperationId,
  type ParamsOf,
  type ResultOf,
} from './client.js';
export { isNode, type DownloadOptions, type DownloadOutcome } from './download.js';
export {
  APIError,
  AbortError,
  AuthenticationError,
  ConfigurationError,
  Conflict,
  GeoperaError,
  Gone,
  InvalidRequest,
  InvalidResponseError,
  NotFound,
  PayloadTooLarge,
  PaymentRequired,
  PermissionDenied,
  RateLimited,
  ServerError,
  TimeoutError,
  TransportError,
  errorClassForStatus,
  type ErrorFields,
  type ErrorKind,
  type FieldError,
  type Problem,
} from './errors.js';
export { parseRetryAfter } from './http.js';
export type { PageOf, PaginatedOperationId, RecordOf } from './paginate.js';
export * from './operations.gen.js';
