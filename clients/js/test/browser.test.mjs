// The SDK bundled with esbuild, on a page of another origin, in headless Chromium (CDP).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import { Browser } from './browser/cdp.mjs';
import { fx } from './fixture.mjs';
import { PACKAGE_DIR } from './samples.mjs';

let site;
let server;
let browser;

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
/** The page and the bundle on 127.0.0.1:`port` (another origin than the API's). */
async function serveSite(port) {
  const s = http.createServer((req, res) => {
    const name = new URL(req.url, 'http://x').pathname.slice(1);
    if (!['page.html', 'sdk.js'].includes(name)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(name)] }).end(readFileSync(path.join(site, name)));
  });
  await new Promise((resolve) => s.listen(port, '127.0.0.1', resolve));
  return s;
}

/** Opens `page.html` of `origin` with `cfg` and returns what the page reports. */
async function runPage(origin, cfg) {
  const page = await browser.page();
  try {
    await page.send('Runtime.enable');
    await page.send('Log.enable');
    await page.send('Page.enable');
    // NOTE: one tab for every run: a result left by the previous page must not be read.
    await page.send('Runtime.evaluate', { expression: 'delete window.__result' });
    await page.send('Page.navigate', { url: `${origin}/page.html#${encodeURIComponent(JSON.stringify(cfg))}` });
    const result = await page.waitFor('window.__result && JSON.stringify(window.__result)', 60_000);
    return { result, log: page.log.join('\n') };
  } finally {
    page.close();
  }
}

before(async () => {
  site = mkdtempSync(path.join(tmpdir(), 'geopera-page-'));
  await build({
    entryPoints: [path.join(PACKAGE_DIR, 'dist', 'index.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    outfile: path.join(site, 'sdk.js'),
    logLevel: 'error',
  });
  writeFileSync(path.join(site, 'page.html'), readFileSync(path.join(PACKAGE_DIR, 'test', 'browser', 'page.html')));
  server = await serveSite(fx.page_port);
  browser = await Browser.launch();
});

after(async () => {
  await browser?.close();
  server?.close();
  rmSync(site, { recursive: true, force: true });
});

test('the browser bundle has no Node built-in imports', () => {
  const bundle = readFileSync(path.join(site, 'sdk.js'), 'utf8');
  assert.doesNotMatch(bundle, /from\s*["']node:/);
  assert.doesNotMatch(bundle, /require\(["']node:/);
});

test('a page on another origin lists the project\'s items through the bundled SDK', async () => {
  const pageOrigin = `http://127.0.0.1:${fx.page_port}`;
  const apiOrigin = new URL(fx.base_url).origin;
  assert.notEqual(pageOrigin, apiOrigin); // NOTE: the service allows it (GEOPERA_CORS_ORIGINS)
  const { result, log } = await runPage(pageOrigin, {
    key: fx.keys.org_owner,
    baseUrl: apiOrigin,
    projectId: fx.project_id,
    download: { item_id: fx.samples.item_id, asset_id: fx.samples.asset_id },
    limited: { item_id: fx.download.item_id, asset_id: fx.download.assets.browser },
  });
  assert.equal(result.error, undefined, `${result.error}\npage log:\n${log}`);
  assert.equal(result.origin, pageOrigin);
  assert.equal(result.isNode, false);
  assert.equal(result.total, fx.samples.count);
  assert.equal(result.names.length, fx.samples.count);
  assert.equal(result.names[0], fx.samples.newest);
  assert.equal(result.rendered, fx.samples.count);
  // Error responses reach the page too, with their problem document.
  assert.deepEqual({ ...result.notFound, requestId: typeof result.notFound.requestId },
    { isNotFound: true, status: 404, code: 'not_found', requestId: 'string' });
  // In a browser the download helper hands back the signed URL, it does not fetch it.
  assert.match(result.download.url, /^http:\/\/127\.0\.0\.1:\d+\/download\//);
  assert.equal(result.download.expires, 900);
  assert.equal(result.download.body, null);
  // 429 and its Retry-After reach the page; the SDK waited and the retry succeeded.
  assert.ok(result.retry.ms >= 900, `retried after ${result.retry.ms} ms`);
  assert.equal(result.retry.expires, 900);
});

test('a page on an origin the service does not allow gets a TransportError', async () => {
  const other = await serveSite(0);
  try {
    const origin = `http://127.0.0.1:${other.address().port}`;
    const { result } = await runPage(origin, {
      key: fx.keys.org_owner, baseUrl: fx.base_url, projectId: fx.project_id,
      download: { item_id: fx.samples.item_id, asset_id: fx.samples.asset_id },
      limited: { item_id: fx.download.item_id, asset_id: fx.download.assets.browser },
    });
    assert.match(result.error, /^TransportError: /);
    assert.equal(result.kind, 'network');
  } finally {
    other.close();
  }
});
