/**
 * The fast lane's limits against node:http's, where a slow or hostile client would otherwise gain: a
 * connection that sends nothing, a head trickled in and handed over late (it keeps its deadline), memory a
 * client could pin for the life of the process (the header-name cache), answers a keep-alive client must
 * find the end of, and heads node:http refuses as soon as a framing header arrives. Each test compares the
 * lane with plain node:http (same options) where node:http is the reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startServer } from '../../src/http/index.js';
import type { HttpRequest, HttpResponse } from '../../src/http/app.js';
import { attachFastLane } from '../../src/http/fast-lane.js';
import { listenOnLoopback, type Listening } from '../support/listen.js';

type Handler = (request: HttpRequest, response: HttpResponse) => void;

/**
 * A listener with startServer's options but short timeouts (headers, request at 1.5 times headers,
 * keep-alive), the lane in front unless `fastLane` is false. node:http checks its timeouts every 100 ms.
 */
function listener(handler: Handler, fastLane: boolean, headersTimeout: number, keepAliveTimeout: number): Promise<Listening> {
  const maxHeaderSize = 48 * 1024;
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: Math.round(headersTimeout * 1.5),
      keepAliveTimeout,
      maxHeaderSize,
      insecureHTTPParser: false,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      connectionsCheckingInterval: 100,
    },
    handler,
  );
  if (fastLane) attachFastLane(server, handler, { maxHeaderSize, headersTimeout, keepAliveTimeout });
  return listenOnLoopback(server);
}

function ok(_request: HttpRequest, response: HttpResponse): void {
  response.writeHead(200, ['content-type', 'text/plain', 'content-length', '2']);
  response.end('ok');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connected socket whose received bytes and close time (ms after `started`) are recorded. */
async function open(port: number): Promise<{ socket: Socket; started: number; received: () => string; closedAfter: () => number | undefined }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  let closedAt: number | undefined;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.on('close', () => (closedAt = Date.now()));
  await new Promise((resolve) => socket.once('connect', resolve));
  const started = Date.now();
  return { socket, started, received: () => Buffer.concat(chunks).toString('latin1'), closedAfter: () => (closedAt === undefined ? undefined : closedAt - started) };
}

/** Writes `chunks` on a fresh connection, waits `waitMs`, and returns what came back and whether the server closed. */
async function exchange(port: number, chunks: readonly string[], waitMs = 300): Promise<{ raw: string; closed: boolean }> {
  const connection = await open(port);
  for (const chunk of chunks) connection.socket.write(Buffer.from(chunk, 'latin1'));
  await sleep(waitMs);
  const result = { raw: connection.received(), closed: connection.closedAfter() !== undefined };
  connection.socket.destroy();
  return result;
}

/** A response with its Date value replaced. */
function normalize(raw: string): string {
  return raw.replace(/^date: [^\r\n]*/gim, 'Date: <date>');
}

test('a connection that sends nothing is cut after headersTimeout, as node:http cuts it, not kept until keepAliveTimeout', async () => {
  // node:http answers such a connection 408 after headersTimeout (10 s in production). Kept until the idle
  // keep-alive limit (65 s) instead, one client could hold six times as many sockets with no bytes at all.
  const headersTimeout = 1000;
  const keepAliveTimeout = 8000;
  const [lane, plain] = await Promise.all([listener(ok, true, headersTimeout, keepAliveTimeout), listener(ok, false, headersTimeout, keepAliveTimeout)]);
  try {
    const [viaLane, viaNode] = await Promise.all([open(lane.port), open(plain.port)]);
    await sleep(headersTimeout + 2000);
    viaLane.socket.destroy();
    viaNode.socket.destroy();
    assert.ok(viaNode.closedAfter() !== undefined, 'context: node:http did not cut the silent connection');
    assert.ok(
      viaLane.closedAfter() !== undefined,
      `the lane kept a connection that sent nothing open for ${headersTimeout + 2000} ms (headersTimeout ${headersTimeout} ms; node:http cut it after ${viaNode.closedAfter()} ms with ${JSON.stringify(viaNode.received().split('\r\n')[0])}): it waits for keepAliveTimeout (${keepAliveTimeout} ms) instead`,
    );
  } finally {
    await Promise.all([lane.close(), plain.close()]);
  }
});

test('a head trickled in more than eight reads is cut headersTimeout after its first byte, not headersTimeout after the hand-over', async () => {
  // The lane hands a head that took more than eight reads to node:http, whose headers timer starts then.
  // Unless the head keeps its deadline, a ninth piece sent just before the lane's own limit buys a whole
  // second headersTimeout (18 s instead of 10 s in production).
  const headersTimeout = 4000;
  const [lane, plain] = await Promise.all([listener(ok, true, headersTimeout, 60_000), listener(ok, false, headersTimeout, 60_000)]);
  const trickle = async (port: number) => {
    const connection = await open(port);
    const lines = ['GET / HTTP/1.1\r\n', 'Host: a\r\n', ...Array.from({ length: 6 }, (_, index) => `X-${index}: a\r\n`)];
    for (const line of lines) {
      if (!connection.socket.destroyed) connection.socket.write(line);
      await sleep(40);
    }
    // The lane's sweep (once a second, on a clock up to a second stale) cannot cut before headersTimeout - 1 s.
    await sleep(headersTimeout - 1500 - (Date.now() - connection.started));
    if (!connection.socket.destroyed) connection.socket.write('X-ninth: a\r\n');
    return connection;
  };
  try {
    const [viaLane, viaNode] = await Promise.all([trickle(lane.port), trickle(plain.port)]);
    const deadline = headersTimeout + 1400;
    await sleep(deadline - (Date.now() - viaLane.started));
    viaLane.socket.destroy();
    viaNode.socket.destroy();
    assert.ok(viaNode.closedAfter() !== undefined, 'context: node:http did not cut the trickled head');
    assert.ok(
      viaLane.closedAfter() !== undefined,
      `a head begun ${deadline} ms ago and still unfinished was not cut (headersTimeout ${headersTimeout} ms; node:http cut it after ${viaNode.closedAfter()} ms): the hand-over to node:http restarted the headers timer`,
    );
  } finally {
    await Promise.all([lane.close(), plain.close()]);
  }
});

test('memory: header names a client makes up do not stay in memory after their requests', async () => {
  // The lane caches up to 1000 header names for the life of the process. Were their length unbounded, 1000
  // requests with a fresh 40 KB name each would pin about 80 MB (plain node:http: under 1 MB).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const running = await listener(
    (_request, response) => {
      response.writeHead(204, []);
      response.end();
    },
    true,
    10_000,
    60_000,
  );
  const connection = await open(running.port);
  try {
    let answers = 0;
    connection.socket.on('data', (chunk: Buffer) => (answers += chunk.toString('latin1').split('HTTP/1.1 204').length - 1));
    gc();
    const before = process.memoryUsage().heapUsed;
    const count = 1000;
    const padding = 'n'.repeat(40_000);
    for (let index = 0; index < count; index++) {
      connection.socket.write(`GET / HTTP/1.1\r\nHost: a\r\nX-${index.toString(36)}-${padding}: v\r\n\r\n`);
      if (index % 20 === 19) for (let waited = 0; answers <= index && waited < 5000; waited += 5) await sleep(5);
    }
    for (let waited = 0; answers < count && waited < 5000; waited += 5) await sleep(5);
    assert.equal(answers, count, 'context: not every request was answered');
    gc();
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 10_000_000, `the heap kept ${Math.round(grown / 1e6)} MB after ${count} answered requests, each with a header name of ${padding.length} bytes never seen again`);
  } finally {
    connection.socket.destroy();
    await running.close();
  }
});

test('an answer whose headers name no Content-Length is framed, so a keep-alive client finds its end', async () => {
  // `writeHead(503).end()` is what test/support/gatehouse-fixture.ts answers before its app is built.
  // Written with neither Content-Length nor Transfer-Encoding on a connection kept open, an HTTP/1.1 client
  // would read the body until the connection closes (65 s), or read the next answer as body.
  const handler: Handler = (request, response) => {
    if (request.url === '/status-only') {
      response.writeHead(503).end();
      return;
    }
    response.writeHead(200, ['content-type', 'text/plain']);
    response.end('hello');
  };
  const [lane, plain] = await Promise.all([startServer({ host: '127.0.0.1', port: 0 }, handler), startServer({ host: '127.0.0.1', port: 0 }, handler, { fastLane: false })]);
  try {
    // Framed: the head names the body's length or chunking, or the connection closes after it.
    const framed = (raw: string) => /\r\n(content-length|transfer-encoding|connection: close)\b/i.test(raw.slice(0, raw.indexOf('\r\n\r\n') + 2));
    const unframed: string[] = [];
    for (const path of ['/status-only', '/body']) {
      const request = `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;
      const [viaLane, viaNode] = await Promise.all([exchange(lane.address.port, [request]), exchange(plain.address.port, [request])]);
      assert.ok(framed(viaNode.raw), `context: node:http's answer to ${path} is not framed`);
      if (!framed(viaLane.raw)) unframed.push(`${path}: lane ${JSON.stringify(normalize(viaLane.raw))}\n  node:http ${JSON.stringify(normalize(viaNode.raw))}`);
    }
    assert.deepEqual(unframed, [], `the lane's answers have no Content-Length, no Transfer-Encoding and keep the connection open, so their end cannot be found:\n${unframed.join('\n')}`);
  } finally {
    await Promise.all([lane.close(100), plain.close(100)]);
  }
});

test('a head whose framing node:http refuses is answered 400 as soon as that header arrives, not held until headersTimeout', async () => {
  // docs/security.md: "A head that cannot become one of the lane's form is handed over as soon as its bad
  // byte arrives". That includes a framing header the lane leaves to node:http (a Content-Length other than
  // 0, Transfer-Encoding): held until the head ends or times out, node:http's 400 would come late.
  const [lane, plain] = await Promise.all([startServer({ host: '127.0.0.1', port: 0 }, ok), startServer({ host: '127.0.0.1', port: 0 }, ok, { fastLane: false })]);
  const cases = ['Content-Length: x', 'Content-Length: -1', 'Content-Length: 1\r\nContent-Length: 2\r\n', 'Transfer-Encoding: chunked\r\nContent-Length: 1\r\n', 'Transfer-Encoding: chunked, gzip\r\n'];
  try {
    const differences: string[] = [];
    await Promise.all(
      cases.map(async (field) => {
        const partial = `GET / HTTP/1.1\r\nHost: a\r\n${field}`;
        const [viaLane, viaNode] = await Promise.all([exchange(lane.address.port, [partial]), exchange(plain.address.port, [partial])]);
        assert.match(viaNode.raw, /^HTTP\/1\.1 400 /, `context: node:http did not refuse ${JSON.stringify(field)} at once`);
        if (normalize(viaLane.raw) !== normalize(viaNode.raw) || viaLane.closed !== viaNode.closed) differences.push(`${JSON.stringify(field)}: lane ${JSON.stringify(viaLane.raw)} (closed ${viaLane.closed}), node:http 400 (closed ${viaNode.closed})`);
      }),
    );
    assert.deepEqual(differences, [], `heads node:http refuses at once that the lane held:\n${differences.join('\n')}`);
  } finally {
    await Promise.all([lane.close(100), plain.close(100)]);
  }
});
