// Configuration: options, else GEOPERA_API_KEY / GEOPERA_BASE_URL (Node), else the defaults.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { ConfigurationError, DEFAULT_BASE_URL, Geopera } from '@geopera/sdk';
import { fx } from './fixture.mjs';

afterEach(() => {
  delete process.env.GEOPERA_API_KEY;
  delete process.env.GEOPERA_BASE_URL;
});

test('the key and base URL come from the environment when not given', async () => {
  process.env.GEOPERA_API_KEY = fx.keys.viewer;
  process.env.GEOPERA_BASE_URL = fx.base_url + '/';
  const client = new Geopera();
  assert.equal(client.baseUrl, fx.base_url);
  const page = await client.op('items.list', { project_id: fx.project_id, limit: 1 });
  assert.equal(page.items.length, 1);
});

test('given options win over the environment', () => {
  process.env.GEOPERA_BASE_URL = 'http://env.invalid';
  assert.equal(new Geopera({ apiKey: 'k', baseUrl: 'http://given.invalid' }).baseUrl, 'http://given.invalid');
});

test('the default base URL is the Python client\'s', () => {
  assert.equal(DEFAULT_BASE_URL, 'https://api.geopera.com');
  assert.equal(new Geopera({ apiKey: 'k' }).baseUrl, DEFAULT_BASE_URL);
});

test('no key anywhere is a ConfigurationError naming the variable', () => {
  assert.throws(() => new Geopera(), (e) => e instanceof ConfigurationError && /GEOPERA_API_KEY/.test(e.message));
});

test('negative timeouts and retry counts are refused', () => {
  assert.throws(() => new Geopera({ apiKey: 'k', timeoutMs: -1 }), ConfigurationError);
  assert.throws(() => new Geopera({ apiKey: 'k', maxRetries: -1 }), ConfigurationError);
});

test('the key is not exposed by the client object', () => {
  const client = new Geopera({ apiKey: 'gpra_secret_value' });
  assert.ok(!JSON.stringify(client).includes('gpra_secret_value'));
  assert.ok(!String(client).includes('gpra_secret_value'));
  assert.ok(!Object.values(client).includes('gpra_secret_value'));
});
