// 429 answers are retried after the server's Retry-After, a bounded number of times.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbortError, RateLimited, parseRetryAfter } from '@geopera/sdk';
import { as, countingFetch, fx } from './fixture.mjs';

const grant = (key) => ({ item_id: fx.download.item_id, asset_id: fx.download.assets[key] });

test('a 429 is retried after Retry-After and the retry succeeds', async () => {
  const { fetch, calls } = countingFetch();
  const client = as('org_owner', { fetch });
  await client.op('items.asset.download', grant('retry')); // the asset's one grant per window
  const t0 = Date.now();
  const second = await client.op('items.asset.download', grant('retry'));
  const waited = Date.now() - t0;
  assert.equal(calls.length, 3, 'one grant, one 429, one retry');
  const hinted = calls[2].at - calls[1].at;
  assert.ok(hinted >= 900 && waited < 10_000, `waited ${hinted} ms between the 429 and the retry`);
  assert.equal(second.expires_in_seconds, 900);
});

test('retries are bounded: maxRetries attempts, each wait capped by maxRetryWaitMs', async () => {
  const { fetch, calls } = countingFetch();
  const client = as('org_owner', { fetch, maxRetries: 2, maxRetryWaitMs: 50 });
  await client.op('items.asset.download', grant('bounded'));
  const t0 = Date.now();
  await assert.rejects(client.op('items.asset.download', grant('bounded')), (e) => {
    assert.ok(e instanceof RateLimited);
    assert.ok(e.retryAfterMs >= 1000, `server hint ${e.retryAfterMs}`);
    return true;
  });
  assert.equal(calls.length, 1 + 3, 'the first try and two retries');
  // NOTE: two waits of the server's hint would take >= 2 s; capped at 50 ms they leave only
  // the (loaded machine's) request times.
  const took = Date.now() - t0;
  assert.ok(took < 1500, `the capped waits are short, not the server hint: took ${took} ms`);
});

test('aborting during a Retry-After wait rejects at once with AbortError', async () => {
  const { fetch, calls } = countingFetch();
  const client = as('org_owner', { fetch });
  await client.op('items.asset.download', grant('abort'));
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('user left the page')), 150);
  const t0 = Date.now();
  await assert.rejects(client.op('items.asset.download', grant('abort'), { signal: controller.signal }), (e) => {
    assert.ok(e instanceof AbortError);
    assert.equal(e.name, 'AbortError');
    assert.equal(e.kind, 'aborted');
    assert.equal(e.cause.message, 'user left the page');
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took < 1500, `did not sit out the Retry-After wait (>= 2 s): took ${took} ms`);
  assert.equal(calls.length, 2);
});

test('Retry-After is read as delta-seconds or as an HTTP-date', () => {
  const now = Date.parse('2026-11-29T18:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7000);
  assert.equal(parseRetryAfter('Sun, 29 Nov 2026 18:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Sun, 29 Nov 2026 17:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});
