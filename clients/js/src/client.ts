/** The Geopera client: `op()` over `POST /v1/op/{operation_id}`, pagination and downloads. */

import { ConfigurationError, InvalidResponseError } from './errors.js';
import { Deadline, errorFromResponse, parseRetryAfter, sleep, throwIfAborted } from './http.js';
import type { DownloadParams, DownloadResult, Operations } from './operations.gen.js';
import { paginate, type PageOf, type PaginatedOperationId, type RecordOf } from './paginate.js';
import { download, type DownloadOptions, type DownloadOutcome } from './download.js';

export const VERSION = '0.1.0';
export const DEFAULT_BASE_URL = 'https://api.geopera.com';
const ACCEPT = 'application/json, application/geo+json, application/problem+json';

/** A `fetch` compatible with the platform's (Node ≥ 18, browsers, or a wrapper of either). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface GeoperaOptions {
  /** `gpra_…`; in Node, `GEOPERA_API_KEY` when not given. */
  apiKey?: string;
  /** In Node, `GEOPERA_BASE_URL` when not given; else https://api.geopera.com. */
  baseUrl?: string;
  /** Per attempt of an op (answer and body; for `download`, until the file's answer starts); default 30000. 0 = none. */
  timeoutMs?: number;
  /** 429 answers retried at most this many times (default 3), honouring Retry-After. */
  maxRetries?: number;
  /** Cap of one retry wait (default 60000 ms). */
  maxRetryWaitMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: FetchLike;
}

/** Per-call options (the last argument of `op`, `paginate`, `download`). */
export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
}

export type OperationId = keyof Operations;
export type ParamsOf<K extends OperationId> = Operations[K]['params'];
export type ResultOf<K extends OperationId> = Operations[K]['result'];

/** `params` may be left out only for ops without required params. */
export type OpArgs<K extends OperationId> = {} extends ParamsOf<K>
  ? [params?: ParamsOf<K>, options?: CallOptions]
  : [params: ParamsOf<K>, options?: CallOptions];

interface ProcessLike {
  env?: Record<string, string | undefined>;
}

/** Environment variables in Node (and Deno/Bun); `{}` in a browser. */
function environment(): Record<string, string | undefined> {
  const proc = (globalThis as { process?: ProcessLike }).process;
  return proc?.env ?? {};
}

export class Geopera {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  readonly maxRetryWaitMs: number;
  readonly #apiKey: string;
  readonly #fetch: FetchLike;

  constructor(options: GeoperaOptions = {}) {
    const env = environment();
    const apiKey = options.apiKey || env.GEOPERA_API_KEY;
    if (!apiKey) {
      throw new ConfigurationError(
        'No API key: pass new Geopera({ apiKey }) or set the GEOPERA_API_KEY environment variable.');
    }
    this.#apiKey = apiKey;
    this.baseUrl = (options.baseUrl || env.GEOPERA_BASE_URL || DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.timeoutMs = nonNegative('timeoutMs', options.timeoutMs ?? 30_000);
    this.maxRetries = nonNegative('maxRetries', options.maxRetries ?? 3);
    this.maxRetryWaitMs = nonNegative('maxRetryWaitMs', options.maxRetryWaitMs ?? 60_000);
    const f = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (typeof f !== 'function') {
      throw new ConfigurationError('No fetch: this runtime has no global fetch (Node >= 18 does); pass { fetch }.');
    }
    // NOTE: a bare global fetch must be called unbound-safe (browsers throw "Illegal invocation").
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Invoke an operation; resolves to its decoded JSON. `null` params are sent as JSON null. */
  op<K extends OperationId>(operationId: K, ...args: OpArgs<K>): Promise<ResultOf<K>>;
  op(operationId: string, params?: object, options?: CallOptions): Promise<unknown> {
    return this.call(operationId, params, options);
  }

  /**
   * `op` without compile-time types, for an operation this SDK version does not know yet
   * (a newer server). `op` itself refuses unknown ids and misspelt params at compile time.
   */
  async call(operationId: string, params?: object, options: CallOptions = {}): Promise<unknown> {
    const url = `${this.baseUrl}/v1/op/${encodeURIComponent(operationId)}`;
    const body = JSON.stringify(params ?? {});
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(options.signal, operationId);
      const deadline = new Deadline(timeoutMs, options.signal);
      try {
        let response: Response;
        try {
          response = await this.#fetch(url, {
            method: 'POST',
            headers: {
              Authorization: `Bearer ${this.#apiKey}`,
              Accept: ACCEPT,
              'Content-Type': 'application/json',
            },
            body,
            signal: deadline.signal,
          });
        } catch (e) {
          throw deadline.errorFor(e, `POST ${url}`);
        }
        if (response.status === 429 && attempt < this.maxRetries) {
          // NOTE: only 429 is retried: a 5xx op may already have had its side effect.
          await response.body?.cancel().catch(() => undefined);
          const hinted = parseRetryAfter(response.headers.get('Retry-After'));
          deadline.clear();
          await sleep(Math.min(hinted ?? 500 * 2 ** attempt, this.maxRetryWaitMs), options.signal);
          continue;
        }
        let text: string;
        try {
          if (!response.ok) throw await errorFromResponse(response);
          text = await response.text();
        } catch (e) {
          throw deadline.errorFor(e, `reading the answer of ${operationId}`);
        }
        if (text === '') return null;
        try {
          return JSON.parse(text);
        } catch (e) {
          throw new InvalidResponseError(`${response.status}: the answer of ${operationId} is not valid JSON`, {
            status: response.status, headers: response.headers, cause: e,
          });
        }
      } finally {
        deadline.clear();
      }
    }
  }

  /**
   * Pages of a list or search op, following `offset` until `total`/`numberMatched` is reached
   * (or a short page). `for await (const page of client.paginate('items.list', {...}))`.
   */
  paginate<K extends PaginatedOperationId>(operationId: K, params: ParamsOf<K>, options: CallOptions = {}): AsyncGenerator<PageOf<K>, void, undefined> {
    return paginate(this, operationId, params, options);
  }

  /** Every record of every page (items, or search features), one by one. */
  async *records<K extends PaginatedOperationId>(operationId: K, params: ParamsOf<K>, options: CallOptions = {}): AsyncGenerator<RecordOf<K>, void, undefined> {
    for await (const page of this.paginate(operationId, params, options)) {
      const list = ('items' in page ? page.items : page.features) as RecordOf<K>[];
      yield* list;
    }
  }

  /**
   * Calls items.asset.download for a signed URL. In Node it then streams the file: to
   * `options.to` (a path) or, without it, as `body`. In a browser it only returns the grant
   * (hand `url` to an `<a download>`, `<img>` or a map layer).
   */
  download(params: DownloadParams, options: DownloadOptions = {}): Promise<DownloadOutcome> {
    return download(this, params, options);
  }

  /** The signed URL grant only (items.asset.download), in every runtime. */
  downloadUrl(params: DownloadParams, options: CallOptions = {}): Promise<DownloadResult> {
    return this.op('items.asset.download', params, options);
  }

  /** The fetch this client uses (for helpers fetching signed URLs). */
  get fetch(): FetchLike {
    return this.#fetch;
  }

  toString(): string {
    return `Geopera(baseUrl=${this.baseUrl})`;
  }
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new ConfigurationError(`${name} must be a number >= 0, got ${String(value)}`);
  }
  return value;
}

