// The live server and seeded data the suite runs against (written by tests/js/test_sdk.py).
import { readFileSync } from 'node:fs';
import { Geopera } from '@geopera/sdk';

const file = process.env.GEOPERA_SDK_TEST;
if (!file) {
  throw new Error('GEOPERA_SDK_TEST is not set: run this suite through tests/js/test_sdk.py (make test)');
}
export const fx = JSON.parse(readFileSync(file, 'utf8'));

/** A client as one of the seeded actors (viewer, editor, admin, owner, org_owner, outsider, ...). */
export function as(role, options = {}) {
  return new Geopera({ apiKey: fx.keys[role], baseUrl: fx.base_url, ...options });
}

/** The platform fetch, counting the requests it makes (to see retries). */
export function countingFetch() {
  const calls = [];
  const f = (input, init) => {
    calls.push({ url: String(input), at: Date.now() });
    return fetch(input, init);
  };
  return { fetch: f, calls };
}
