// The checked-in op types equal what the generator makes of the live GET /v1/op catalogue.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { OPERATION_IDS } from '@geopera/sdk';
import { generate, TARGET } from '../scripts/generate-types.mjs';
import { fx } from './fixture.mjs';
import { PACKAGE_DIR } from './samples.mjs';

const GENERATOR = path.join(PACKAGE_DIR, 'scripts', 'generate-types.mjs');
const run = (...args) => spawnSync(process.execPath, [GENERATOR, ...args], { encoding: 'utf8', cwd: PACKAGE_DIR });

async function catalogue() {
  const res = await fetch(`${fx.base_url}/v1/op`);
  assert.equal(res.status, 200);
  return res.json();
}

test('src/operations.gen.ts matches the live catalogue (drift check)', () => {
  const r = run('--url', fx.base_url, '--check');
  assert.equal(r.status, 0, `the checked-in types drifted from GET /v1/op:\n${r.stdout}${r.stderr}`);
});

test('the SDK knows exactly the catalogue\'s operations', async () => {
  const ids = (await catalogue()).operations.map((o) => o.id).sort();
  assert.deepEqual([...OPERATION_IDS], ids);
});

test('a changed catalogue is reported as drift with the first differing line', async () => {
  const cat = await catalogue();
  const list = cat.operations.find((o) => o.id === 'items.list');
  list.params_schema.properties.sort_by = { type: 'string', title: 'Sort By' };
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'geopera-cat-')), 'catalogue.json');
  writeFileSync(file, JSON.stringify(cat));
  const r = run('--file', file, '--check');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /differs from the catalogue/);
  assert.match(r.stderr, /sort_by\?: string;/);
});

test('generation is deterministic and closes params to unknown fields', async () => {
  const text = generate(await catalogue());
  assert.equal(text, readFileSync(TARGET, 'utf8'));
  const params = /export interface ItemsListParams \{([^}]*)\}/.exec(text)[1];
  assert.match(params, /\n {2}project_id: string;/);
  assert.match(params, /\n {2}limit\?: number;/);
  assert.doesNotMatch(params, /\[key: string\]/);
  assert.match(text, /"items\.list": \{ params: ItemsListParams; result: ItemPage \}/);
});
