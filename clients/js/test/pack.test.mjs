// `npm pack` makes a tarball that installs into a fresh project and works from there.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { VERSION } from '@geopera/sdk';
import { fx } from './fixture.mjs';
import { PACKAGE_DIR, typecheckedSamples } from './samples.mjs';

const NPM = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];

function npm(args, cwd) {
  const [cmd, ...pre] = NPM;
  return execFileSync(cmd, [...pre, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('the packed tarball installs offline, imports, type-checks and calls the live server', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'geopera-pack-'));
  try {
    // NOTE: --ignore-scripts: dist/ is already built (prepack builds it for a real publish).
    const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], PACKAGE_DIR));
    const files = packed[0].files.map((f) => f.path).sort();
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), files.join(' '));
    assert.ok(files.includes('package.json') && files.includes('README.md'));
    assert.ok(files.every((f) => !f.startsWith('src/') && !f.startsWith('test/') && !f.startsWith('node_modules/')), files.join(' '));
    const tarball = path.join(work, readdirSync(work).find((f) => f.endsWith('.tgz')));
    assert.match(path.basename(tarball), /^geopera-sdk-\d+\.\d+\.\d+\.tgz$/);

    const app = path.join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    npm(['install', '--offline', '--no-audit', '--no-fund', tarball], app);

    writeFileSync(path.join(app, 'main.mjs'), `
      import { Geopera, NotFound, OPERATION_IDS } from '@geopera/sdk';
      const client = new Geopera({ apiKey: process.argv[2], baseUrl: process.argv[3] });
      const page = await client.op('items.list', { project_id: process.argv[4], limit: 1 });
      console.log(JSON.stringify({ total: page.total, ops: OPERATION_IDS.length, nf: typeof NotFound }));
    `);
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs', fx.keys.viewer, fx.base_url, fx.project_id], { cwd: app, encoding: 'utf8' }));
    assert.equal(out.total, fx.samples.count);
    assert.ok(out.ops > 10);
    assert.equal(out.nf, 'function');

    // The installed declarations type-check the guide samples in the user's project.
    writeFileSync(path.join(app, 'sample.ts'), typecheckedSamples());
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true, lib: ['ES2022', 'DOM'], types: [] },
      files: ['sample.ts'],
    }));
    const tsc = spawnSync(process.execPath, [path.join(PACKAGE_DIR, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { encoding: 'utf8' });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('VERSION is the package.json version', () => {
  assert.equal(VERSION, JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')).version);
});
