/** Download helper: items.asset.download for a signed URL, then (in Node) the bytes behind it. */

import type { CallOptions, Geopera } from './client.js';
import { InvalidResponseError } from './errors.js';
import { Deadline, errorFromResponse, throwIfAborted } from './http.js';
import type { DownloadParams, DownloadResult } from './operations.gen.js';

export interface DownloadOptions extends CallOptions {
  /** Node: write the file here (created or truncated); without it the stream is returned as `body`. */
  to?: string;
}

export interface DownloadOutcome {
  /** The op's answer: signed `url`, `expires_in_seconds`, `size_bytes`, `media_type`. */
  grant: DownloadResult;
  /** The signed URL (a secret until it expires: do not log it). */
  url: string;
  /** Node without `to`: the file's bytes, to be consumed (or cancelled) by the caller. */
  body?: ReadableStream<Uint8Array>;
  /** Node with `to`: where the file was written, and how many bytes. */
  path?: string;
  bytes?: number;
}

interface FileHandleLike {
  write(data: Uint8Array): Promise<unknown>;
  close(): Promise<void>;
}
interface FsPromisesLike {
  open(path: string, flags: string): Promise<FileHandleLike>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

/** True in Node (and runtimes that mimic it) unless a DOM window is present. */
export function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; window?: unknown };
  return typeof g.process?.versions?.node === 'string' && g.window === undefined;
}

async function nodeFs(): Promise<FsPromisesLike> {
  // NOTE: a computed specifier, so browser bundlers neither resolve nor inline node:fs.
  const specifier = ['node:fs', 'promises'].join('/');
  return (await import(specifier)) as FsPromisesLike;
}

export async function download(client: Geopera, params: DownloadParams, options: DownloadOptions): Promise<DownloadOutcome> {
  const grant = await client.op('items.asset.download', params, options);
  const outcome: DownloadOutcome = { grant, url: grant.url };
  if (!isNode()) return outcome;
  throwIfAborted(options.signal, 'download');
  const deadline = new Deadline(options.timeoutMs ?? client.timeoutMs, options.signal);
  let response: Response;
  try {
    // NOTE: no Authorization header: the signature is the credential, and the URL may point
    // at another host (object storage) that must not see the API key.
    response = await client.fetch(grant.url, { method: 'GET', signal: deadline.signal });
    if (!response.ok) throw await errorFromResponse(response);
  } catch (e) {
    deadline.clear();
    throw deadline.errorFor(e, 'GET of the signed URL');
  }
  // NOTE: timeoutMs bounds the wait for the answer, not the transfer (files may be large);
  // the caller's signal still aborts the body.
  deadline.stopTimer();
  if (!response.body) {
    deadline.clear();
    throw new InvalidResponseError('the signed URL answered without a body', { status: response.status });
  }
  if (options.to === undefined) {
    outcome.body = response.body;
    return outcome;
  }
  const fs = await nodeFs();
  const file = await fs.open(options.to, 'w');
  let bytes = 0;
  try {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await file.write(value);
      bytes += value.byteLength;
    }
  } catch (e) {
    await file.close().catch(() => undefined);
    await fs.rm(options.to, { force: true });
    throw deadline.errorFor(e, 'reading the signed URL');
  } finally {
    deadline.clear();
  }
  await file.close();
  outcome.path = options.to;
  outcome.bytes = bytes;
  return outcome;
}
