// The download helper: a signed URL from items.asset.download, then its bytes (Node).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isNode } from '@geopera/sdk';
import { as, countingFetch, fx } from './fixture.mjs';

const grant = (key) => ({ item_id: fx.download.item_id, asset_id: fx.download.assets[key] });
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

test('download writes the signed URL\'s bytes to a file in Node', async () => {
  assert.equal(isNode(), true);
  const dir = mkdtempSync(path.join(tmpdir(), 'geopera-sdk-'));
  try {
    const to = path.join(dir, 'scene.tif');
    const { fetch, calls } = countingFetch();
    const out = await as('org_owner', { fetch }).download(grant('file'), { to });
    assert.equal(out.path, to);
    assert.equal(out.bytes, fx.download.size);
    assert.equal(out.grant.size_bytes, fx.download.size);
    assert.equal(out.grant.expires_in_seconds, 900);
    assert.equal(out.url, out.grant.url);
    assert.equal(sha256(readFileSync(to)), fx.download.sha256);
    assert.equal(calls.length, 2, 'the op, then the signed URL');
    assert.equal(calls[1].url, out.url);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('download without a path returns the stream of the file', async () => {
  const out = await as('org_owner').download(grant('stream'));
  assert.ok(out.body instanceof ReadableStream);
  const bytes = Buffer.from(await new Response(out.body).arrayBuffer());
  assert.equal(bytes.length, fx.download.size);
  assert.equal(sha256(bytes), fx.download.sha256);
  assert.equal(out.path, undefined);
});

test('downloadUrl only issues the grant (one request)', async () => {
  const { fetch, calls } = countingFetch();
  const g = await as('org_owner', { fetch }).downloadUrl({ item_id: fx.download.item_id, asset_id: fx.download.assets.browser });
  assert.equal(calls.length, 1);
  assert.match(g.url, /^http:\/\/127\.0\.0\.1:\d+\/download\//);
  assert.equal(g.media_type, 'image/tiff; application=geotiff; profile=cloud-optimized');
});
