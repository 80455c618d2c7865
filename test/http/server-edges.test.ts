/**
 * The HTTP layer at its edges: metric labels a client cannot grow, a declared body read whole before any
 * answer (DOS-07), a shutdown that does not wait on keep-alive connections that are done, and headers
 * trickled in that are cut close to `headersTimeout` (DOS-06), and a stop that ends even when nothing but a
 * connection the server has stopped reading is left.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { startServer } from '../../src/http/index.js';
import { send } from '../support/http-client.js';
import { APP_HOST, cookieHeader, login, startGatehouse } from '../support/gatehouse-fixture.js';
import { startObservedApp, type ObservedApp } from '../support/observed-app.js';

let observed: ObservedApp;

before(async () => {
  observed = await startObservedApp([
    { name: 'proxy.reverse-proxy', text: 'true' },
    { name: 'proxy.trusted', text: '127.0.0.1/32' },
  ]);
});

after(() => observed.close());

/** Writes `first`, then `later` after 200 ms, and returns everything answered before `waitMs`. */
function rawExchange(port: number, first: string, later: string | undefined, waitMs: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('connect', () => {
      socket.write(first);
      if (later !== undefined) setTimeout(() => socket.write(later), 200);
      setTimeout(() => socket.destroy(), waitMs);
    });
  });
}

test('metrics: a client-chosen ?policy= name never becomes a route label', async () => {
  for (let index = 0; index < 20; index++) {
    const response = await send({
      port: observed.port,
      path: `/oauth2/auth?policy=attacker-${index}`,
      headers: { host: 'gatehouse', 'x-forwarded-host': 'app.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-uri': '/' },
    });
    assert.equal(response.status, 403);
    assert.equal(response.headers['x-gatehouse-reason'], 'policy-unknown');
  }
  const text = await observed.metrics.registry!.metrics();
  const series = text.split('\n').filter((line) => line.startsWith('gatehouse_checks_total{') && line.includes('attacker-'));
  assert.deepEqual(series, [], 'one gatehouse_checks_total series per client-chosen policy name');
  assert.match(text, /gatehouse_checks_total\{[^}]*route="policy:unknown"[^}]*\} 20/);
});

test('DOS-07: a chunked GET whose body arrives in a later packet is not answered 202 before its framing is refused', async () => {
  const gatehouse = await startGatehouse();
  try {
    const browser = gatehouse.browser();
    await login(browser, { email: 'framing@homelab.example.com' });
    const head = `GET /a HTTP/1.1\r\nHost: gatehouse\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ${APP_HOST}\r\nAccept: application/json\r\nCookie: ${cookieHeader(browser)}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const raw = await rawExchange(gatehouse.port, head, 'zz-not-a-chunk\r\n\r\n', 800);
    assert.deepEqual(raw.match(/^HTTP\/1\.1 \d{3}/gm), ['HTTP/1.1 400'], 'answered as allowed before the body framing was read');
  } finally {
    await gatehouse.close();
  }
});

test('shutdown: a keep-alive connection whose request finishes after close() does not hold the stop for the whole timeout', async () => {
  const running = await startServer({ host: '127.0.0.1', port: 0 }, (_request, response) => {
    setTimeout(() => response.end('x'), 300);
  });
  const socket = connect({ host: '127.0.0.1', port: running.address.port });
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = Date.now();
  await running.close(5000);
  socket.destroy();
  assert.ok(Date.now() - started < 2000, `close() took ${Date.now() - started} ms for a 300 ms request`);
});

test('shutdown: close() ends on its timeout when all that is left is a connection the server stopped reading, whose client has gone', async () => {
  // A request still being answered with more pipelined behind it than a head may hold: the server stops
  // reading that socket, so it holds nothing open in the event loop and never sees the client leave. The
  // stop's own timer must then end it; were that timer unref'd, the process would exit with close() never
  // resolved and the steps after it (flushing logs, closing the session store) never run. In a process of
  // its own, where nothing else keeps the event loop alive.
  const script = `
    import { connect } from 'node:net';
    import { startServer } from ${JSON.stringify(new URL('../../src/http/index.ts', import.meta.url).href)};
    const running = await startServer({ host: '127.0.0.1', port: 0 }, () => undefined);
    const socket = connect({ host: '127.0.0.1', port: running.address.port });
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    const head = 'GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n';
    socket.write(head + 'GET / HTTP/1.1\\r\\nHost: a\\r\\nX-Pad: ' + 'p'.repeat(40000) + '\\r\\n\\r\\n' + head.repeat(1000));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    const started = Date.now();
    await running.close(300);
    console.log('closed after ' + (Date.now() - started) + ' ms');
  `;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 }, (error, out, err) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout: out, stderr: err }));
  });
  assert.equal(code, 0, `the process ended with ${code}; stderr: ${stderr}`);
  const took = Number(/closed after (\d+) ms/.exec(stdout)?.[1]);
  assert.ok(took >= 250 && took < 5000, `close(300) ended after ${took} ms (stdout: ${JSON.stringify(stdout)})`);
});

test('DOS-06: a client trickling headers is cut soon after headersTimeout (10 s), not at Node\'s 30 s check', { timeout: 60_000 }, async () => {
  const running = await startServer({ host: '127.0.0.1', port: 0 }, (_request, response) => response.end());
  const socket = connect({ host: '127.0.0.1', port: running.address.port });
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  const started = Date.now();
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
  const trickle = setInterval(() => {
    if (!socket.destroyed) socket.write('X-A: b\r\n');
  }, 2000);
  const closedAfter = await Promise.race([
    new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started))),
    new Promise<number>((resolve) => setTimeout(() => resolve(Date.now() - started), 25_000)),
  ]);
  clearInterval(trickle);
  socket.destroy();
  await running.close(100);
  assert.ok(closedAfter >= 9_000 && closedAfter < 20_000, `cut after ${closedAfter} ms`);
});
