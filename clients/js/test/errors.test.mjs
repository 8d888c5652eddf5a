// Each HTTP error status of the service becomes its GeoperaError subclass with the problem.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  APIError, AuthenticationError, GeoperaError, Gone, InvalidRequest, NotFound, PayloadTooLarge,
  PaymentRequired, PermissionDenied, RateLimited, TransportError,
} from '@geopera/sdk';
import { as, fx } from './fixture.mjs';

/** The rejection of `promise`, which must be an instance of `Cls`. */
async function rejection(promise, Cls) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof Cls, `expected ${Cls.name}, got ${e?.constructor?.name}: ${e?.message}`);
    assert.ok(e instanceof GeoperaError && e instanceof APIError && !(e instanceof TransportError));
    assert.equal(e.name, Cls.name);
    // The problem document is carried whole, and its fields are surfaced.
    assert.equal(e.problem.status, e.status);
    assert.equal(e.code, e.problem.code);
    assert.equal(e.title, e.problem.title);
    assert.equal(e.detail, e.problem.detail);
    assert.match(e.requestId, /.+/);
    assert.equal(e.requestId, e.problem.request_id);
    assert.equal(e.requestId, e.headers.get('x-request-id'));
    assert.ok(e.message.includes(String(e.status)) && e.message.includes(e.requestId));
    return e;
  }
  assert.fail(`expected ${Cls.name}, the call succeeded`);
}

test('400 is InvalidRequest naming the field in errors', async () => {
  const e = await rejection(as('viewer').op('items.list', { project_id: fx.project_id, limit: 0 }), InvalidRequest);
  assert.equal(e.status, 400);
  assert.equal(e.kind, 'invalid_request');
  assert.equal(e.errors[0].field, 'limit');
  assert.match(e.detail, /limit/);
});

test('400 for an unknown param sent through the untyped call', async () => {
  const e = await rejection(as('viewer').call('items.list', { project_id: fx.project_id, projectId: 'x' }), InvalidRequest);
  assert.ok(e.errors.some((f) => f.field === 'projectId'), JSON.stringify(e.errors));
});

test('401 is AuthenticationError for an unknown key', async () => {
  const stranger = as('viewer', { apiKey: 'gpra_' + 'x'.repeat(43) });
  const e = await rejection(stranger.op('items.list', { project_id: fx.project_id }), AuthenticationError);
  assert.equal(e.status, 401);
  assert.equal(e.kind, 'authentication');
});

test('402 is PaymentRequired when the organization is past due', async () => {
  const e = await rejection(as('outsider').op('items.asset.download', fx.past_due), PaymentRequired);
  assert.equal(e.status, 402);
  assert.match(e.detail, /past due/);
});

test('403 is PermissionDenied for a viewer creating a collection', async () => {
  const e = await rejection(as('viewer').op('collections.create', { project_id: fx.project_id, name: 'x' }), PermissionDenied);
  assert.equal(e.status, 403);
  assert.equal(e.kind, 'permission_denied');
  assert.match(e.detail, /editor/);
});

test('404 is NotFound for a missing item and for an unknown op', async () => {
  const e = await rejection(as('viewer').op('items.get', { item_id: randomUUID() }), NotFound);
  assert.equal(e.code, 'not_found');
  const op = await rejection(as('viewer').call('items.teleport', {}), NotFound);
  assert.match(op.detail, /items\.teleport/);
});

test('410 is Gone for an item the retention policy expired', async () => {
  const e = await rejection(as('org_owner').op('items.asset.download', fx.gone), Gone);
  assert.equal(e.status, 410);
  assert.equal(e.problem.lifecycle_state, 'expired');
});

test('413 is PayloadTooLarge for a body over the limit', async () => {
  const e = await rejection(as('editor').call('items.update', { item_id: randomUUID(), description: 'x'.repeat(1_100_000) }), PayloadTooLarge);
  assert.equal(e.status, 413);
});

test('429 is RateLimited with Retry-After once retries are spent', async () => {
  const client = as('org_owner', { maxRetries: 0 });
  const params = { item_id: fx.download.item_id, asset_id: fx.download.assets.ratelimit };
  await client.op('items.asset.download', params);
  const e = await rejection(client.op('items.asset.download', params), RateLimited);
  assert.equal(e.status, 429);
  assert.equal(e.kind, 'rate_limited');
  const hinted = Number(e.headers.get('retry-after'));
  assert.ok(hinted >= 1 && hinted <= fx.download_window_seconds, `Retry-After ${hinted}`);
  assert.equal(e.retryAfterMs, hinted * 1000);
});
