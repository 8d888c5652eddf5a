// Drives STAC Browser in headless system Chromium (playwright-core, no browser download) the way
// a user would: enter the API key, open the catalog, a collection, an item (its thumbnail must
// render), run a search with an added filter, download an asset. Prints one JSON result line;
// screenshots go to cfg.artifacts. Usage: node drive.js '<json config>' (see test_stac_browser.py).
'use strict';
const { chromium } = require('playwright-core');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const cfg = JSON.parse(process.argv[2]);
const out = { steps: [], console: [], responses: [] };
const T = cfg.timeoutMs || 60000;

async function main() {
  const browser = await chromium.launch({
    executablePath: cfg.chromium || '/usr/bin/chromium',
    headless: true,
    // NOTE: --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('console', (m) => out.console.push(`${m.type()}: ${m.text()}`.slice(0, 500)));
  page.on('response', (r) => {
    if (r.url().startsWith(cfg.apiUrl)) out.responses.push(`${r.status()} ${r.request().method()} ${r.url().slice(cfg.apiUrl.length)}`);
  });
  let n = 0;
  const step = async (name, fn) => {
    if (cfg.only && !cfg.only.includes(name)) return;
    const started = Date.now();
    try {
      const value = await fn();
      out.steps.push({ name, ok: true, ms: Date.now() - started, value: value === undefined ? null : value });
    } finally {
      n += 1;
      await page.screenshot({ path: path.join(cfg.artifacts, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true }).catch(() => {});
    }
  };
  try {
    await step('key', async () => {
      await page.goto(cfg.browserUrl + '/');
      const input = page.locator('#stac-browser-auth-modal input[type=password]');
      await input.waitFor();
      await input.fill(cfg.key);
      await page.locator('#stac-browser-auth-modal button[type=submit]').click();
    });
    await step('catalog', async () => {
      await page.getByRole('link', { name: cfg.collectionTitle }).first().waitFor();
      return await page.title();
    });
    await step('collection', async () => {
      await page.getByRole('link', { name: cfg.collectionTitle }).first().click();
      await page.getByRole('link', { name: cfg.itemTitle }).first().waitFor();
      return page.url();
    });
    await step('item', async () => {
      await page.getByRole('link', { name: cfg.itemTitle }).first().click();
      await page.getByRole('heading', { name: cfg.itemTitle }).first().waitFor();
      return page.url();
    });
    await step('thumbnail', async () => {
      const tab = page.getByRole('tab', { name: 'Thumbnails' });
      if (await tab.count()) await tab.first().click();
      const img = page.locator('img.thumbnail').first();
      await img.waitFor();
      // NOTE: naturalWidth > 0 only once the browser fetched and decoded the image bytes.
      await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 10000 })
        .catch(() => {});
      return await img.evaluate((el) => ({ src: el.currentSrc, naturalWidth: el.naturalWidth, naturalHeight: el.naturalHeight }));
    });
    await step('download', async () => {
      const asset = page.locator('.asset, .card').filter({ hasText: cfg.downloadAssetTitle }).first();
      const header = asset.locator('.card-header, [role=tab], button').first();
      const button = asset.getByRole('button', { name: /Download/ }).or(asset.getByRole('link', { name: /Download/ })).first();
      // NOTE: the item page may open with the asset already expanded (`?.asset=…`): a click
      // on its header would fold it away again.
      if (!(await button.isVisible())) await header.click().catch(() => {});
      const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
      const file = path.join(cfg.artifacts, 'downloaded-' + download.suggestedFilename());
      await download.saveAs(file);
      const bytes = fs.readFileSync(file);
      return { file, size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
    });
    await step('search', async () => {
      await page.getByRole('link', { name: 'Search' }).or(page.getByRole('button', { name: 'Search' })).first().click();
      await page.getByRole('button', { name: 'Add filter' }).first().waitFor();
      return await searchWithFilter(page, cfg);
    });
  } catch (e) {
    out.error = String(e && e.stack || e).slice(0, 4000);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function searchWithFilter(page, cfg) {
  // "Additional filters" (from /queryables): add each, pick its operator, type the value, submit.
  for (const f of cfg.filters) {
    await page.getByRole('button', { name: 'Add filter' }).first().click();
    await page.getByRole('menuitem').filter({ hasText: f.property }).first().click();
    const row = page.locator('.queryable-row').last();
    await row.locator('.op .dropdown-toggle-split').click();
    await row.getByRole('menuitem').filter({ hasText: f.operator }).first().click();
    await row.locator('input').last().fill(String(f.value));
  }
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().startsWith(cfg.apiUrl + '/search') && r.request().method() !== 'OPTIONS'),
    page.getByRole('button', { name: 'Submit' }).first().click(),
  ]);
  const body = await response.text().catch(() => '');
  if (response.status() !== 200) {
    return { status: response.status(), request: response.request().postData() || response.url(), body: body.slice(0, 2000), titles: [] };
  }
  await page.getByRole('link', { name: cfg.itemTitle }).first().waitFor();
  const titles = await page.locator('.card-title').allInnerTexts();
  return { status: response.status(), request: response.request().postData() || response.url(), titles: titles.map((t) => t.trim()) };
}

main().catch((e) => { out.error = String(e && e.stack || e); process.stdout.write(JSON.stringify(out) + '\n'); });
