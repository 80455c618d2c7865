/**
 * OpenTelemetry traces: the real OTLP/HTTP exporter sends to a collector endpoint on loopback, which keeps
 * what arrives. A check continues the proxy's `traceparent`; the token request of a sign-in is a child of
 * the callback's check; nothing secret or unbounded is exported.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DevProvider } from '../../src/devidp/index.js';
import { loadConfig } from '../../src/config/index.js';
import { loadTracing } from '../../src/metrics/index.js';
import { BIN, ensureBuilt } from '../e2e/support/build.js';
import { send } from '../support/http-client.js';
import { API_HEADERS, login, startGatehouse, startTestProvider, type Gatehouse } from '../support/gatehouse-fixture.js';
import { waitUntil } from '../support/redis.js';
import { freePort } from '../support/ports.js';
import { stopChild, type ChildExit } from '../support/waits.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number };
}

/** Every span received, and the raw bodies (to search for what must never be exported). */
const received: { spans: OtlpSpan[]; bodies: string[]; services: string[] } = { spans: [], bodies: [], services: [] };
let collector: Server;
let idp: DevProvider;
let gatehouse: Gatehouse;

interface OtlpBody {
  resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((entry) => entry.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
}

before(async () => {
  await ensureBuilt();
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      received.bodies.push(`${request.url ?? ''} ${request.headers['content-type'] ?? ''} ${text}`);
      const body = JSON.parse(text) as OtlpBody;
      for (const resourceSpans of body.resourceSpans) {
        received.services.push(String(resourceSpans.resource.attributes.find((entry) => entry.key === 'service.name')?.value.stringValue));
        for (const scope of resourceSpans.scopeSpans) received.spans.push(...scope.spans);
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
  idp = await startTestProvider();
  gatehouse = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_TRACING_ENDPOINT: endpoint, GATEHOUSE_TRACING_SERVICE_NAME: 'gatehouse-under-test' } });
});

after(async () => {
  await gatehouse.close();
  await idp.close();
  collector.close();
});

describe('tracing', () => {
  test("a check continues the proxy's traceparent and records the decision", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const answer = await gatehouse.request('/oauth2/auth', { headers: { ...API_HEADERS, 'x-forwarded-uri': '/dashboard', traceparent: `00-${traceId}-${parentId}-01` } });
    assert.equal(answer.status, 401);
    await waitUntil('the check span was not exported', () => received.spans.some((span) => span.traceId === traceId));
    const span = received.spans.find((candidate) => candidate.traceId === traceId)!;
    assert.equal(span.parentSpanId, parentId);
    assert.equal(span.name, 'gatehouse check');
    assert.equal(span.kind, 2, 'a server span');
    assert.equal(attribute(span, 'gatehouse.outcome'), 'deny');
    assert.equal(attribute(span, 'gatehouse.reason'), 'user-unauthenticated');
    assert.equal(Number(attribute(span, 'http.response.status_code')), 401);
    assert.ok(received.services.includes('gatehouse-under-test'));
    assert.ok(received.bodies.every((body) => body.startsWith('/v1/traces application/json')), 'OTLP/HTTP JSON to the configured path');
  });

  test('a traceparent whose sampled flag is off is not traced', async () => {
    const traceId = 'aaaabbbbccccddddeeeeffff00001111';
    await gatehouse.request('/oauth2/auth', { headers: { ...API_HEADERS, 'x-forwarded-uri': '/dashboard', traceparent: `00-${traceId}-00f067aa0ba902b7-00` } });
    // A sampled check sent after it is exported; the unsampled one never is.
    const marker = 'aaaabbbbccccddddeeeeffff00002222';
    await gatehouse.request('/oauth2/auth', { headers: { ...API_HEADERS, 'x-forwarded-uri': '/dashboard', traceparent: `00-${marker}-00f067aa0ba902b7-01` } });
    await waitUntil('the sampled check was not exported', () => received.spans.some((span) => span.traceId === marker));
    assert.equal(received.spans.filter((span) => span.traceId === traceId).length, 0);
  });

  test("a sign-in's token request is a child span of the callback check, and no secret is exported", async () => {
    const browser = gatehouse.browser();
    const { final } = await login(browser, { email: 'alice@homelab.example.com' });
    assert.equal(final.status, 202);
    await waitUntil('the token request span was not exported', () => received.spans.some((span) => span.name === 'idp token'));
    const token = received.spans.find((span) => span.name === 'idp token')!;
    const callback = received.spans.find((span) => span.spanId === token.parentSpanId);
    assert.ok(callback !== undefined, 'the token span has the callback check as parent');
    assert.equal(callback.traceId, token.traceId);
    assert.equal(callback.name, 'gatehouse check');
    assert.equal(token.kind, 3, 'a client span');
    // Discovery ran at start, outside any check: a root span.
    const discovery = received.spans.find((span) => span.name === 'idp discovery');
    assert.ok(discovery !== undefined && discovery.parentSpanId === undefined);
    const everything = received.bodies.join('\n');
    for (const secret of [gatehouse.loaded.config.cookie.secrets[0]!, gatehouse.loaded.config.provider.clientSecret, 'alice@homelab.example.com', '_gatehouse=', 'code=']) {
      assert.ok(!everything.includes(secret), `exported spans contain ${secret.slice(0, 6)}…`);
    }
  });
});

describe('tracing configuration', () => {
  const base = { GATEHOUSE_PROVIDER_ISSUER: 'https://idp.example.com', GATEHOUSE_PROVIDER_CLIENT_ID: 'c', GATEHOUSE_PROVIDER_CLIENT_SECRET: 's', GATEHOUSE_COOKIE_SECRETS: 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf', GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS: 'example.com' };

  test('is off by default: no tracer exists', async () => {
    const { config } = loadConfig({ env: base });
    assert.equal(config.tracing.endpoint, '');
    assert.equal(await loadTracing(config.tracing), undefined);
  });

  test('an endpoint that is not an http(s) URL and an out-of-range percentage are named with their fix', () => {
    assert.throws(
      () => loadConfig({ env: { ...base, GATEHOUSE_TRACING_ENDPOINT: 'otel-collector:4318', GATEHOUSE_TRACING_SAMPLE_PERCENT: '150' } }),
      (error: Error & { problems?: { path: string; message: string; fix: string }[] }) => {
        const text = JSON.stringify(error.problems);
        assert.match(text, /tracing\.endpoint/);
        assert.match(text, /http\(s\) URL/);
        assert.match(text, /otel-collector:4318\/v1\/traces/);
        assert.match(text, /tracing\.samplePercent/);
        return true;
      },
    );
  });
});

test('gatehouse serve exports the spans it still holds when it stops', async () => {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
  const child = spawn(process.execPath, [BIN, 'serve', `--listen=127.0.0.1:${port}`, `--tracing.endpoint=${endpoint}`, '--tracing.service-name=gatehouse-serve'], { env: { PATH: process.env.PATH ?? '', GATEHOUSE_LOGGING_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'ignore'] });
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  let exit: ChildExit;
  try {
    await waitUntil('gatehouse serve did not come up', () => send({ port, path: '/ping', method: 'GET', headers: { host: 'x' } }).then((ping) => ping.status === 200, () => false));
    const answer = await send({ port, path: '/', method: 'GET', headers: { host: 'localhost', accept: 'application/json', traceparent: `00-${traceId}-b7ad6b7169203331-01` } });
    assert.equal(answer.status, 401);
  } finally {
    // Stopped at once, before the batch is due: the span leaves with the shutdown. (Also when it has
    // exited already; SIGKILL if it ignores SIGTERM.)
    exit = await stopChild(child);
  }
  assert.deepEqual(exit, { code: 0, signal: null });
  const span = received.spans.find((candidate) => candidate.traceId === traceId);
  assert.ok(span !== undefined, 'the check span was not exported at shutdown');
  assert.equal(span.parentSpanId, 'b7ad6b7169203331');
  assert.ok(received.services.includes('gatehouse-serve'));
});
