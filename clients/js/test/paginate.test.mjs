// client.paginate / client.records follow limit/offset pages to the op's total.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbortError } from '@geopera/sdk';
import { as, countingFetch, fx } from './fixture.mjs';

const { collection_id: cid, ids, project_id: pid } = fx.paging;

async function pages(iterable) {
  const out = [];
  for await (const page of iterable) out.push(page);
  return out;
}

test('items.list pages follow offset until total', async () => {
  const got = await pages(as('org_owner').paginate('items.list', { project_id: pid, collection_id: cid, limit: 3 }));
  assert.deepEqual(got.map((p) => p.items.length), [3, 3, 1]);
  assert.ok(got.every((p) => p.total === ids.length));
  assert.deepEqual(got.flatMap((p) => p.items.map((i) => i.id)).sort(), [...ids].sort());
});

test('items.list_by_collection pages, starting at a given offset', async () => {
  const got = await pages(as('org_owner').paginate('items.list_by_collection', { collection_id: cid, limit: 3, offset: 5 }));
  assert.deepEqual(got.map((p) => p.items.length), [2]);
});

test('items.search pages follow numberMatched', async () => {
  const got = await pages(as('org_owner').paginate('items.search', { project_id: pid, ids, limit: 2 }));
  assert.deepEqual(got.map((p) => p.features.length), [2, 2, 2, 1]);
  assert.ok(got.every((p) => p.numberMatched === ids.length && p.type === 'FeatureCollection'));
  assert.equal(new Set(got.flatMap((p) => p.features.map((f) => f.id))).size, ids.length);
});

test('records yields every item once, across pages', async () => {
  const seen = [];
  for await (const item of as('org_owner').records('items.list', { project_id: pid, collection_id: cid, limit: 4 })) {
    seen.push(item.name);
  }
  assert.equal(seen.length, ids.length);
  assert.equal(new Set(seen).size, ids.length);
  assert.ok(seen.every((n) => n.startsWith('Paged ')));
});

test('breaking out of the loop requests no further page', async () => {
  const { fetch, calls } = countingFetch();
  for await (const page of as('org_owner', { fetch }).paginate('items.list', { project_id: pid, collection_id: cid, limit: 2 })) {
    assert.equal(page.items.length, 2);
    break;
  }
  assert.equal(calls.length, 1);
});

test('an aborted signal stops pagination with AbortError', async () => {
  const controller = new AbortController();
  const seen = [];
  await assert.rejects(async () => {
    for await (const page of as('org_owner').paginate('items.list', { project_id: pid, collection_id: cid, limit: 2 }, { signal: controller.signal })) {
      seen.push(page);
      controller.abort();
    }
  }, AbortError);
  assert.equal(seen.length, 1);
});
