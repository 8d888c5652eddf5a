/** Transport plumbing: deadlines combined with the caller's AbortSignal, Retry-After, problem decoding. */

import {
  AbortError,
  GeoperaError,
  RateLimited,
  TimeoutError,
  TransportError,
  errorClassForStatus,
  type FieldError,
  type Problem,
} from './errors.js';

// NOTE: non-JSON error bodies are usually proxy HTML pages; keep messages readable.
const MAX_TEXT_DETAIL = 500;

/**
 * One attempt's cancellation: fires on the caller's signal or after `timeoutMs`, and tells
 * which of the two happened (so the error can be an AbortError or a TimeoutError).
 */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort: () => void;
  timedOut = false;

  constructor(readonly timeoutMs: number, readonly callerSignal?: AbortSignal) {
    this.signal = this.controller.signal;
    this.onAbort = () => this.controller.abort(callerSignal?.reason);
    if (callerSignal?.aborted) this.onAbort();
    else callerSignal?.addEventListener('abort', this.onAbort, { once: true });
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort(new TimeoutError(timeoutMs));
      }, timeoutMs);
    }
  }

  /** The SDK error for a rejection caused while this deadline was running. */
  errorFor(cause: unknown, what: string): GeoperaError {
    if (cause instanceof GeoperaError) return cause;
    if (this.callerSignal?.aborted) {
      return new AbortError(`${what} aborted by the caller's signal`, { cause: this.callerSignal.reason });
    }
    if (this.timedOut) return new TimeoutError(this.timeoutMs, { cause });
    const reason = cause instanceof Error
      ? `${cause.message}${cause.cause instanceof Error ? `: ${cause.cause.message}` : ''}`
      : String(cause);
    return new TransportError(`${what} failed: ${reason}`, { cause });
  }

  /** Disarms the timeout only: the caller's signal still aborts (e.g. a long body stream). */
  stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  clear(): void {
    this.stopTimer();
    this.callerSignal?.removeEventListener('abort', this.onAbort);
  }
}

/** Throws the AbortError if the caller's signal already fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(`${what} aborted by the caller's signal`, { cause: signal.reason });
}

/** Waits `ms`, or rejects with an AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError('retry wait aborted by the caller\'s signal', { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError('retry wait aborted by the caller\'s signal', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A Retry-After header (delta-seconds or HTTP-date) as milliseconds from now. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  let ms: number;
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    const when = Date.parse(text);
    if (Number.isNaN(when)) return undefined;
    ms = when - now;
  }
  if (!Number.isFinite(ms)) return undefined;
  return Math.max(ms, 0);
}

function str(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

function fieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value.filter((e): e is FieldError => typeof e === 'object' && e !== null);
}

/** The typed error for a non-2xx response (reads its body). */
export async function errorFromResponse(response: Response): Promise<GeoperaError> {
  const status = response.status;
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const problem: Problem = typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Problem)
    : {
        type: 'about:blank',
        title: response.statusText || `HTTP ${status}`,
        status,
        detail: text.slice(0, MAX_TEXT_DETAIL) || undefined,
      };
  const fields = {
    status,
    code: str(problem.code),
    title: str(problem.title),
    detail: str(problem.detail),
    errors: fieldErrors(problem.errors),
    requestId: str(problem.request_id) ?? response.headers.get('X-Request-ID') ?? undefined,
    problem,
    headers: response.headers,
  };
  const Cls = errorClassForStatus(status);
  if (Cls === RateLimited) {
    return new RateLimited(undefined, { ...fields, retryAfterMs: parseRetryAfter(response.headers.get('Retry-After')) });
  }
  return new Cls(undefined, fields);
}
