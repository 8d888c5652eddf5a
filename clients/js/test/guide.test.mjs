// The guide's JavaScript samples, run as written (key, ids and GEOPERA_BASE_URL filled in).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { as, fx } from './fixture.mjs';
import { PACKAGE_DIR, runnableSamples } from './samples.mjs';

test('the guide samples run unchanged against the live server', async () => {
  const source = runnableSamples({
    key: fx.keys.editor,
    projectId: fx.project_id,
    itemId: fx.samples.item_id,
    collectionId: fx.samples.collection_id,
  });
  // NOTE: inside the package, so `import ... from '@geopera/sdk'` resolves to this package.
  mkdirSync(path.join(PACKAGE_DIR, 'test', '.run'), { recursive: true });
  const dir = mkdtempSync(path.join(PACKAGE_DIR, 'test', '.run', 'guide-'));
  const file = path.join(dir, 'samples.mjs');
  writeFileSync(file, source);
  const env = { ...process.env, GEOPERA_BASE_URL: fx.base_url };
  delete env.GEOPERA_API_KEY;
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(r.status, 0, `samples exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  assert.deepEqual(r.stdout.trimEnd().split('\n'), [
    `${fx.samples.count} items`,
    `${fx.samples.newest} active`, // newest first: the last created item is page.items[0]
  ]);

  // What the samples did is what the guide says they do.
  const client = as('viewer');
  const { item } = await client.op('items.get', { item_id: fx.samples.item_id });
  assert.equal(item.name, 'Field 12 — corrected');
  assert.equal(item.collection_id, fx.samples.collection_id);
  const collections = await client.op('collections.list', { project_id: fx.project_id });
  const survey = collections.find((c) => c.name === 'May 2026 survey');
  assert.ok(survey, JSON.stringify(collections));
  assert.equal(survey.color, '#2e7d32');
  assert.equal(survey.item_count, 0);
  assert.equal(collections.find((c) => c.id === fx.samples.collection_id).item_count, 1);
});
