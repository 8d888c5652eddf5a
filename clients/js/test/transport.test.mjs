// Network errors, timeouts and aborts are told apart (class and `kind`), and 5xx is not retried.
// NOTE: a server that never answers, a closed port and a proxy's HTML 502 cannot be had from
// the service itself; these are real sockets on loopback standing in for them.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import {
  AbortError, Geopera, GeoperaError, ServerError, TimeoutError, TransportError,
} from '@geopera/sdk';
import { countingFetch } from './fixture.mjs';

let server;
let base;
const held = [];

before(async () => {
  server = http.createServer((req, res) => {
    held.push(res);
    if (req.url.endsWith('/slow.body')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"items": [');
    } else if (req.url.endsWith('/proxy.down')) {
      res.writeHead(502, { 'Content-Type': 'text/html', 'Retry-After': '1' });
      res.end('<html><body>502 Bad Gateway</body></html>');
    }
    // anything else: never answered
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  for (const res of held) res.destroy();
  server.closeAllConnections?.();
  server.close();
});

const client = (options = {}) => new Geopera({ apiKey: 'gpra_test', baseUrl: base, ...options });

test('no answer within timeoutMs is a TimeoutError (a TransportError)', async () => {
  const t0 = Date.now();
  await assert.rejects(client({ timeoutMs: 200 }).op('items.list', { project_id: 'p' }), (e) => {
    assert.ok(e instanceof TimeoutError && e instanceof TransportError && e instanceof GeoperaError);
    assert.equal(e.kind, 'timeout');
    assert.equal(e.timeoutMs, 200);
    assert.equal(e.status, undefined);
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took >= 190 && took < 5000, `took ${took} ms`);
});

test('a per-call timeoutMs overrides the client\'s, and the deadline covers the body', async () => {
  await assert.rejects(client().call('slow.body', {}, { timeoutMs: 200 }), TimeoutError);
});

test('a refused connection is a TransportError of kind network, not a timeout', async () => {
  const closed = http.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(new Geopera({ apiKey: 'k', baseUrl: `http://127.0.0.1:${port}` }).op('items.list', { project_id: 'p' }), (e) => {
    assert.ok(e instanceof TransportError && !(e instanceof TimeoutError));
    assert.equal(e.kind, 'network');
    assert.match(e.message, /ECONNREFUSED|fetch failed/);
    return true;
  });
});

test('aborting an in-flight request rejects with AbortError carrying the reason', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort('navigated away'), 100);
  await assert.rejects(client().op('items.list', { project_id: 'p' }, { signal: controller.signal }), (e) => {
    assert.ok(e instanceof AbortError && !(e instanceof TransportError));
    assert.equal(e.kind, 'aborted');
    assert.equal(e.cause, 'navigated away');
    return true;
  });
});

test('an already-aborted signal sends no request', async () => {
  const { fetch, calls } = countingFetch();
  await assert.rejects(client({ fetch }).op('items.list', { project_id: 'p' }, { signal: AbortSignal.abort() }), AbortError);
  assert.equal(calls.length, 0);
});

test('a 5xx is a ServerError, not retried, with a readable detail from an HTML body', async () => {
  const { fetch, calls } = countingFetch();
  await assert.rejects(client({ fetch }).call('proxy.down', {}), (e) => {
    assert.ok(e instanceof ServerError);
    assert.equal(e.status, 502);
    assert.equal(e.kind, 'server');
    assert.match(e.detail, /502 Bad Gateway/);
    return true;
  });
  assert.equal(calls.length, 1);
});
