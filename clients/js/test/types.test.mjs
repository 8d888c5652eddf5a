// tsc --strict accepts the guide's samples as written, and rejects a wrong param name or type.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { PACKAGE_DIR, typecheckedSamples } from './samples.mjs';

const TSC = path.join(PACKAGE_DIR, 'node_modules', 'typescript', 'bin', 'tsc');

/** The samples with exactly one substring replaced (which must occur once). */
function mutated(from, to) {
  const text = typecheckedSamples();
  assert.equal(text.split(from).length, 2, `${from} should occur once in the samples`);
  return text.replace(from, to);
}

const VARIANTS = {
  samples: () => typecheckedSamples(),
  misspelt: () => mutated("item_id: 'c71d...'", "itemId: 'c71d...'"),
  wrongtype: () => mutated('limit: 50', "limit: '50'"),
  missing: () => mutated('{ project_id: PROJECT_ID });', '{});'),
  unknownop: () => mutated("'collections.list'", "'collections.lst'"),
  result: () => mutated('console.log(page.total,', 'const n: string = page.total; console.log(n,'),
  optional: () => `${typecheckedSamples()}const org = await client.op('items.search_org');\nconsole.log(org.numberMatched);\n`,
};

/**
 * tsc's diagnostics per variant, each a strict ESM module importing '@geopera/sdk' (one tsc
 * run: separate modules of one program). NOTE: the files live inside the package, so the
 * import resolves (self-reference) to the built dist/index.d.ts through package.json
 * "exports": the declarations users get.
 */
const diagnostics = Object.fromEntries(Object.keys(VARIANTS).map((n) => [n, '']));

before(() => {
  mkdirSync(path.join(PACKAGE_DIR, 'test', '.run'), { recursive: true });
  const dir = mkdtempSync(path.join(PACKAGE_DIR, 'test', '.run', 'tsc-'));
  for (const [name, make] of Object.entries(VARIANTS)) writeFileSync(path.join(dir, `${name}.ts`), make());
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext',
      noEmit: true, lib: ['ES2022', 'DOM'], types: [],
    },
    files: Object.keys(VARIANTS).map((n) => `${n}.ts`),
  }));
  const r = spawnSync(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
  let current = 'samples';
  for (const line of (r.stdout + r.stderr).split('\n')) {
    const m = /^(?:.*[\\/])?(\w+)\.ts\(/.exec(line);
    if (m && m[1] in diagnostics) current = m[1];
    else if (!/^\s/.test(line)) current = 'samples'; // NOTE: not a file's diagnostic: count it as a failure
    // NOTE: indented lines continue the diagnostic above (tsc's elaboration).
    if (line.trim()) diagnostics[current] += line + '\n';
  }
});

test('the guide samples type-check unchanged with strict', () => {
  assert.equal(diagnostics.samples, '');
});

test('params may be left out for an op without required params', () => {
  assert.equal(diagnostics.optional, '');
});

test('a misspelt param name in a sample is a compile error', () => {
  assert.match(diagnostics.misspelt, /error TS2561: Object literal may only specify known properties, but 'itemId' does not exist in type 'ItemsUpdateParams'/);
});

test('a param of the wrong type in a sample is a compile error', () => {
  assert.match(diagnostics.wrongtype, /wrongtype\.ts\(4,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
});

test('a missing required param and an unknown op are compile errors', () => {
  assert.match(diagnostics.missing, /Property 'project_id' is missing/);
  assert.match(diagnostics.unknownop, /'"collections\.lst"' is not assignable to parameter of type/);
});

test('results are typed: using a field as another type fails', () => {
  assert.match(diagnostics.result, /Type 'number' is not assignable to type 'string'/);
});
