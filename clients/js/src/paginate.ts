/** Offset pagination over the list and search ops (`limit`/`offset` with `total` or `numberMatched`). */

import type { CallOptions, Geopera, ParamsOf, ResultOf } from './client.js';

/** The ops whose answers are pages: `{ items, total }` or a FeatureCollection with `numberMatched`. */
export type PaginatedOperationId = 'items.list' | 'items.list_by_collection' | 'items.search' | 'items.search_org';
export type PageOf<K extends PaginatedOperationId> = ResultOf<K>;
export type RecordOf<K extends PaginatedOperationId> = ResultOf<K> extends { items: Array<infer R> }
  ? R
  : ResultOf<K> extends { features: Array<infer F> } ? F : never;

interface AnyPage {
  items?: unknown[];
  features?: unknown[];
  total?: unknown;
  numberMatched?: unknown;
}

export async function* paginate<K extends PaginatedOperationId>(
  client: Geopera, operationId: K, params: ParamsOf<K>, options: CallOptions,
): AsyncGenerator<PageOf<K>, void, undefined> {
  const base = { ...(params as Record<string, unknown>) };
  const limit = typeof base.limit === 'number' ? base.limit : undefined;
  let offset = typeof base.offset === 'number' ? base.offset : 0;
  for (;;) {
    const page = (await client.call(operationId, { ...base, offset }, options)) as AnyPage;
    const records = page.items ?? page.features ?? [];
    yield page as PageOf<K>;
    const total = typeof page.total === 'number' ? page.total
      : typeof page.numberMatched === 'number' ? page.numberMatched : undefined;
    offset += records.length;
    // NOTE: a short page ends it even without a total (and an empty one always does, so a
    // total that grows while paging cannot loop forever).
    if (records.length === 0 || (total !== undefined && offset >= total)
        || (limit !== undefined && records.length < limit)) {
      return;
    }
  }
}
