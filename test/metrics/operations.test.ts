/**
 * Operations as a cluster operator relies on them: configuration reload (SIGHUP and the watched file), the
 * health endpoints, the metrics listener and its series, logging on reload, the emails file and the bearer
 * deny-list file, graceful shutdown on SIGTERM, and the Kubernetes manifests' lifecycle. `gatehouse serve`
 * runs as a child process (`dist/cli/bin.js`), driven by signals and its files, its JSON log read as it
 * arrives.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { DevProvider } from '../../src/devidp/index.js';
import { Browser, send, type RawResponse } from '../support/http-client.js';
import { API_HEADERS, APP_ORIGIN, baseEnv, login, startTestProvider } from '../support/gatehouse-fixture.js';
import { signJws } from '../jwt/support.js';
import { startObservedApp } from '../support/observed-app.js';
import { redisCli, startRedis, type StandaloneRedis } from '../support/redis.js';
import { Served, type LogRecord } from '../support/served.js';
import { within } from '../support/waits.js';

const BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COOKIE_SECRET = 'Vb3kP0q9ZxR2mT7wLc5nY1hJ8dF4gS6aQe0uIo2rKtM';
const NEXT_COOKIE_SECRET = 'Hn4rT8vW2yB6cD0fG3jK7mP1qS5uX9zA2eI6oL0tRwY';
const CLIENT_SECRET = 'ops-client-secret-5d81c2e9a4';
const HMAC_KEY = 'operations-device-token-hmac-key-0123456789abcdef';
const APP_HOST = 'app.homelab.example.com';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ops-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes the file and sends SIGHUP; resolves with the reload's log line (success or failure). */
async function reloadFile(served: Served, file: string, text: string): Promise<LogRecord> {
  const from = served.records.length;
  writeFileSync(file, text);
  served.signal('SIGHUP');
  const record = await served.waitFor((entry) => entry.msg === 'configuration reloaded' || entry.msg.startsWith('configuration reload failed'), 'reload', from);
  // The file watcher reloads the same file a moment later: let it finish too.
  await sleep(700);
  return record;
}

/** Starts `gatehouse serve --config file` with exactly `env` (plus PATH). */
function serve(file: string, env: Readonly<Record<string, string>> = {}): Served {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { env: { PATH: process.env.PATH ?? '', GATEHOUSE_LOGGING_FORMAT: 'json', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Served(child);
}

/** An OpenID provider whose discovery can be made to fail (503) and recover. */
interface FakeProvider {
  readonly issuer: string;
  up: boolean;
  close(): Promise<void>;
}

async function startFakeProvider(): Promise<FakeProvider> {
  let issuer = '';
  const state = { up: true };
  const server: Server = createServer((request, response) => {
    if (request.url === '/.well-known/openid-configuration' && state.up) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}authorize`,
          token_endpoint: `${issuer}token`,
          jwks_uri: `${issuer}jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
      return;
    }
    response.writeHead(request.url === '/.well-known/openid-configuration' ? 503 : 404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  issuer = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`;
  return {
    issuer,
    get up() {
      return state.up;
    },
    set up(value: boolean) {
      state.up = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A forward-auth check as Traefik sends it (from 127.0.0.1, a trusted proxy). */
function check(port: number, uri: string, headers: Readonly<Record<string, string>> = {}, host = APP_HOST): Promise<RawResponse> {
  return send({ port, path: '/', headers: { host: `127.0.0.1:${port}`, 'x-forwarded-proto': 'https', 'x-forwarded-host': host, 'x-forwarded-uri': uri, 'x-forwarded-method': 'GET', accept: 'application/json', ...headers } });
}

/** Polls `probe` until `accept` says yes or `timeoutMs` passes; returns the last answer. */
async function poll<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!accept(value) && Date.now() < deadline) {
    await sleep(100);
    value = await probe();
  }
  return value;
}

/** A request whose body has not finished arriving: gatehouse answers it only once it has. */
function inFlight(port: number): { socket: Socket; answer: Promise<string>; finish(): void } {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const answer = new Promise<string>((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1'))));
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ${APP_HOST}\r\nX-Forwarded-Uri: /public\r\nX-Forwarded-Method: GET\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: 4\r\n\r\nab`,
  );
  return { socket, answer, finish: () => socket.write('cd') };
}

/** True when a connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** listen, a provider nobody reaches (these tests need no sign-in) and the cookie. */
const UNREACHABLE_PROVIDER = ['listen: 127.0.0.1:0', 'provider:', '  issuer: http://127.0.0.1:9/', '  clientId: c', `  clientSecret: ${CLIENT_SECRET}`, 'cookie:', `  secrets: [${COOKIE_SECRET}]`, '  domains: [.homelab.example.com]'];

/** The configuration of the health, metrics and reload tests. */
function opsConfig(issuer: string, options: { status?: number; cookieName?: string; logging?: string; shutdownTimeout?: string; publishKeys?: string } = {}): string {
  return [
    'listen: 127.0.0.1:0',
    'metrics:',
    '  listen: 127.0.0.1:0',
    `shutdownTimeout: ${options.shutdownTimeout ?? '5s'}`,
    'provider:',
    `  issuer: ${issuer}`,
    '  clientId: gatehouse-ops',
    `  clientSecret: ${CLIENT_SECRET}`,
    'cookie:',
    `  name: ${options.cookieName ?? '_gatehouse'}`,
    `  secrets: [${COOKIE_SECRET}]`,
    '  domains: [.homelab.example.com]',
    'proxy:',
    '  reverseProxy: true',
    '  trusted: [127.0.0.1/32]',
    'authorization:',
    '  emailDomains: [homelab.example.com]',
    'forwardAuth:',
    `  status: ${options.status ?? 202}`,
    "  skipAuthRoutes: ['^/public$']",
    ...(options.publishKeys === undefined ? [] : ['bearer:', `  publishKeys: [${options.publishKeys}]`]),
    'logging:',
    '  format: json',
    options.logging ?? '  level: info',
    '',
  ].join('\n');
}

describe('gatehouse serve: health, metrics and reload', () => {
  const file = join(dir, 'ops.yaml');
  let provider: FakeProvider;
  let served: Served;
  let port: number;
  let metricsPort: number;

  const scrape = async () => (await send({ port: metricsPort, path: '/metrics', headers: { host: 'prometheus' } })).body;
  const reloadWith = (text: string): Promise<LogRecord> => reloadFile(served, file, text);

  before(async () => {
    provider = await startFakeProvider();
    provider.up = false;
    writeFileSync(file, opsConfig(provider.issuer));
    served = serve(file);
    port = await served.port();
    metricsPort = await served.metricsPort();
  });

  after(async () => {
    await served.stop();
    await provider.close();
  });

  test('/ready is 503 naming the identity provider while discovery fails at start, and 200 once it recovers, without a restart', async () => {
    const down = await send({ port, path: '/ready', headers: { host: 'kubelet' } });
    assert.equal(down.status, 503);
    assert.match(down.body, /^identity provider: /m);
    assert.ok(!down.body.includes(CLIENT_SECRET));
    assert.deepEqual([(await send({ port, path: '/ping', headers: { host: 'kubelet' } })).status], [200], '/ping (liveness) answers while the provider is down');
    provider.up = true;
    const up = await poll(() => send({ port, path: '/ready', headers: { host: 'kubelet' } }), (answer) => answer.status === 200, 10_000);
    assert.equal(up.status, 200, up.body);
    assert.equal(up.body, 'OK');
  });

  test('the reload counter is exported at 0 from the start, so the documented alert increase(...{result="failure"}[15m]) > 0 sees the first failure', async () => {
    // docs/metrics.md: GatehouseConfigReloadFailed. A series that first appears at 1 has no increase in
    // Prometheus, so the first (often only) failed reload after a start would never alert.
    const text = await scrape();
    assert.match(text, /^gatehouse_config_reloads_total\{result="failure"\} 0$/m);
    assert.match(text, /^gatehouse_config_reloads_total\{result="success"\} 0$/m);
  });

  test('metrics are served on metrics.listen only: /metrics on the main port is a forward-auth check, the metrics port answers nothing else, and no secret is exported', async () => {
    const main = await send({ port, path: '/metrics', headers: { host: `127.0.0.1:${port}`, accept: 'application/json' } });
    assert.notEqual(main.status, 200);
    assert.doesNotMatch(main.body, /gatehouse_checks_total|process_cpu/);
    const elsewhere = await send({ port: metricsPort, path: '/ping', headers: { host: 'prometheus' } });
    assert.equal(elsewhere.status, 404);
    await check(port, '/public');
    const text = await scrape();
    assert.match(text, /^gatehouse_checks_total\{outcome="allow",reason="[a-z-]+",route="[^"]+"\} \d+$/m);
    for (const secret of [CLIENT_SECRET, COOKIE_SECRET, provider.issuer]) assert.ok(!text.includes(secret), `the metrics contain ${secret}`);
  });

  test('a reload with a broken file keeps the running configuration and names every problem', async () => {
    const failed = await reloadWith(opsConfig(provider.issuer, { status: 999, cookieName: 'bad name' }));
    assert.match(failed.msg, /^configuration reload failed/);
    assert.equal(failed.level, 'error');
    assert.match(failed.problems ?? '', /forwardAuth\.status/);
    assert.match(failed.problems ?? '', /ERR_CONFIG_COOKIE_NAME_INVALID/);
    assert.equal((await check(port, '/public')).status, 202, 'the previous configuration stays in force');
    assert.match(await scrape(), /^gatehouse_config_reloads_total\{result="failure"\} [1-9]\d*$/m);
    const good = await reloadWith(opsConfig(provider.issuer, { status: 203 }));
    assert.equal(good.msg, 'configuration reloaded');
    assert.equal((await check(port, '/public')).status, 203);
  });

  test('a reload that keeps the provider settings keeps the provider already discovered: /ready stays 200 while the provider is failing', async () => {
    // A ConfigMap edit (or an emails-file edit) reloads every replica at once; with the provider briefly
    // unreachable, each would drop out of the Service although nothing about the provider changed.
    const ready = await send({ port, path: '/ready', headers: { host: 'kubelet' } });
    assert.equal(ready.status, 200, ready.body);
    provider.up = false;
    try {
      const reloaded = await reloadWith(opsConfig(provider.issuer, { status: 204 }));
      assert.equal(reloaded.msg, 'configuration reloaded');
      assert.equal((await check(port, '/public')).status, 204, 'the new configuration is in force');
      const after = await send({ port, path: '/ready', headers: { host: 'kubelet' } });
      assert.equal(after.status, 200, `after the reload /ready says: ${after.body}`);
    } finally {
      provider.up = true;
      await poll(() => send({ port, path: '/ready', headers: { host: 'kubelet' } }), (answer) => answer.status === 200, 10_000);
    }
  });

  test('a reload applies a new logging level without a restart: no info request line after logging.level: warn', async () => {
    const before = served.records.length;
    await check(port, '/public');
    await served.waitFor((record) => record.msg === 'request', 'a request line at info', before, 3000);
    const reloaded = await reloadWith(opsConfig(provider.issuer, { status: 204, logging: '  level: warn' }));
    assert.equal(reloaded.msg, 'configuration reloaded');
    const from = served.records.length;
    await check(port, '/public');
    await sleep(300);
    const lines = served.records.slice(from).filter((record) => record.msg === 'request');
    assert.deepEqual(lines, [], 'info request lines are still written after logging.level: warn was reloaded');
  });
});

describe('gatehouse serve: graceful stop', () => {
  let provider: FakeProvider;
  const started: Served[] = [];

  before(async () => {
    provider = await startFakeProvider();
  });

  after(async () => {
    for (const served of started) await served.stop();
    await provider.close();
  });

  const startWith = async (name: string, shutdownTimeout: string) => {
    const file = join(dir, name);
    writeFileSync(file, opsConfig(provider.issuer, { shutdownTimeout }));
    const served = serve(file);
    started.push(served);
    const port = await served.port();
    await poll(() => send({ port, path: '/ready', headers: { host: 'kubelet' } }), (answer) => answer.status === 200, 10_000);
    return { served, port };
  };

  test('SIGTERM: an in-flight check completes, new connections are refused, exit code 0', async () => {
    const { served, port } = await startWith('stop-1.yaml', '5s');
    const pending = inFlight(port);
    await sleep(200);
    const from = served.records.length;
    const signalled = Date.now();
    served.signal('SIGTERM');
    await served.waitFor((record) => record.msg === 'shutting down', 'shutting down', from);
    assert.equal(await refused(port), true, 'a new connection is accepted during the stop');
    pending.finish();
    const answer = await within(pending.answer, 8000, 'the answer to the check in flight');
    assert.match(answer, /^HTTP\/1\.1 202 /);
    const exit = await served.exit(6000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - signalled < 5000, 'stopped within shutdownTimeout');
  });

  test('SIGTERM: a check still running when shutdownTimeout ends is cut and gatehouse exits 0 right after', async () => {
    const { served, port } = await startWith('stop-2.yaml', '1s');
    const pending = inFlight(port);
    await sleep(200);
    const signalled = Date.now();
    served.signal('SIGTERM');
    const exit = await served.exit(5000);
    assert.deepEqual(exit, { code: 0, signal: null });
    const took = Date.now() - signalled;
    assert.ok(took >= 900 && took < 3000, `stopped after ${took} ms with shutdownTimeout 1s`);
    assert.equal(await within(pending.answer, 5000, 'the connection of the unfinished check to close'), '', 'the unfinished request was cut without an answer');
  });

  test('a SIGHUP that arrives during the graceful stop does not kill gatehouse: the in-flight check is answered and the exit code is 0', async () => {
    // A config reloader (or a closing terminal) sending SIGHUP while the pod drains must not cut the drain.
    const { served, port } = await startWith('stop-3.yaml', '5s');
    const pending = inFlight(port);
    await sleep(200);
    const from = served.records.length;
    served.signal('SIGTERM');
    await served.waitFor((record) => record.msg === 'shutting down', 'shutting down', from);
    served.signal('SIGHUP');
    await sleep(300);
    pending.finish();
    const answer = await within(pending.answer, 8000, 'the answer to the check in flight');
    const exit = await served.exit(6000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.match(answer, /^HTTP\/1\.1 202 /);
  });
});

describe('gatehouse serve: a SIGHUP while the first configuration is being built', () => {
  test('is remembered, not fatal: gatehouse starts, then reloads once it runs', async () => {
    // The development provider (no provider.issuer) makes building the first app take a while; the metrics
    // listener's line is the last before that build starts.
    const file = join(dir, 'hup-at-start.yaml');
    writeFileSync(file, ['listen: 127.0.0.1:0', 'metrics:', '  listen: 127.0.0.1:0', ''].join('\n'));
    const served = serve(file);
    try {
      await served.waitFor((record) => record.msg === 'metrics listening', 'metrics listening');
      served.signal('SIGHUP');
      await served.waitFor((record) => record.msg === 'SIGHUP while starting: the configuration is read again once gatehouse runs', 'the SIGHUP noted');
      await served.port();
      await served.waitFor((record) => record.msg === 'configuration reloaded', 'the reload after start-up');
      served.signal('SIGTERM');
      assert.deepEqual(await served.exit(8000), { code: 0, signal: null });
    } finally {
      await served.stop();
    }
  });
});

describe('gatehouse serve: start-up failure', () => {
  test('a configuration refused while building the app exits 78 with metrics.listen set: the metrics listener is closed too', async () => {
    const issuer = 'http://127.0.0.1:9/';
    const key = join(dir, 'broken.pub.pem');
    writeFileSync(key, 'not a key\n');
    const file = join(dir, 'startup.yaml');
    writeFileSync(file, opsConfig(issuer, { publishKeys: key }));
    const served = serve(file);
    try {
      const exit = await served.exit(10_000).catch((error: unknown) => error as Error);
      assert.ok(served.stderr.includes('ERR_CONFIG_PUBLISH_KEY'), served.stderr);
      assert.deepEqual(exit, { code: 78, signal: null });
    } finally {
      await served.stop();
    }
  });
});

describe('gatehouse serve: sessions across reloads, and the emails file', () => {
  const file = join(dir, 'sessions.yaml');
  const emails = join(dir, 'emails.txt');
  let idp: DevProvider;
  let served: Served;
  let port: number;
  let browser: Browser;

  const config = (secrets: readonly string[], status: number) =>
    ['listen: 127.0.0.1:0', 'cookie:', `  secrets: [${secrets.join(', ')}]`, 'authorization:', `  emailsFile: ${emails}`, 'forwardAuth:', `  status: ${status}`, ''].join('\n');
  const allowedStatus = async () => (await browser.request(`${APP_ORIGIN}/api/items`, { headers: API_HEADERS })).status;
  const reloadWith = (text: string): Promise<LogRecord> => reloadFile(served, file, text);

  before(async () => {
    idp = await startTestProvider();
    writeFileSync(emails, '# who may sign in\nalice@homelab.example.com\n');
    writeFileSync(file, config([COOKIE_SECRET], 202));
    const env: Record<string, string> = { ...baseEnv({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }) };
    delete env.GATEHOUSE_COOKIE_SECRETS;
    delete env.GATEHOUSE_AUTHORIZATION_EMAIL_DOMAINS;
    env.GATEHOUSE_LOGGING_LEVEL = 'info';
    served = serve(file, env);
    port = await served.port();
    await poll(() => send({ port, path: '/ready', headers: { host: 'kubelet' } }), (answer) => answer.status === 200, 10_000);
    const issuer = new URL(idp.issuer);
    browser = new Browser((url) => {
      if (url.origin === issuer.origin) return { port: Number(issuer.port), headers: { host: url.host } };
      if (url.hostname.endsWith('.homelab.example.com')) return { port, headers: { host: `127.0.0.1:${port}`, 'x-forwarded-proto': url.protocol.slice(0, -1), 'x-forwarded-host': url.host } };
      throw new Error(`no route to ${url.origin}`);
    });
    const { final } = await login(browser, { email: 'alice@homelab.example.com' });
    assert.equal(final.status, 202, final.body);
  });

  after(async () => {
    await served.stop();
    await idp.close();
  });

  test('a reload that keeps the cookie secret keeps sessions, and so does one that rotates it (new first, old kept)', async () => {
    assert.equal((await reloadWith(config([COOKIE_SECRET], 203))).msg, 'configuration reloaded');
    assert.equal(await allowedStatus(), 203);
    assert.equal((await reloadWith(config([NEXT_COOKIE_SECRET, COOKIE_SECRET], 204))).msg, 'configuration reloaded');
    assert.equal(await allowedStatus(), 204);
  });

  test('an address taken out of the emails file loses access without SIGHUP, and regains it when put back', async () => {
    writeFileSync(emails, 'bob@homelab.example.com\n');
    assert.equal(await poll(allowedStatus, (status) => status === 403, 5000), 403);
    writeFileSync(emails, 'bob@homelab.example.com\nalice@homelab.example.com\n');
    assert.equal(await poll(allowedStatus, (status) => status === 204, 5000), 204);
  });

  test('deleting the emails file is reported as a failed reload, not silently ignored', async () => {
    const from = served.records.length;
    unlinkSync(emails);
    const failed = await served.waitFor((record) => record.level === 'error' && /emailsFile|ERR_CONFIG_EMAILS_FILE/.test(`${record.msg} ${record.problems ?? ''}`), 'emails file missing', from, 4000).catch(() => undefined);
    writeFileSync(emails, 'bob@homelab.example.com\nalice@homelab.example.com\n');
    assert.ok(failed !== undefined, `nothing was logged when the emails file disappeared: ${JSON.stringify(served.records.slice(from).map((record) => record.msg))}`);
  });
});

describe('gatehouse serve: the bearer deny-list file', () => {
  test('is read on reload: a token listed in it is refused (401 bearer-revoked) after SIGHUP, not before (editing it alone is not watched)', async () => {
    const file = join(dir, 'bearer.yaml');
    const denyList = join(dir, 'revoked.txt');
    writeFileSync(denyList, '# revoked device tokens\n');
    const issuer = 'https://devices.homelab.example.com';
    writeFileSync(
      file,
      [
        ...UNREACHABLE_PROVIDER,
        'proxy:',
        '  reverseProxy: true',
        '  trusted: [127.0.0.1/32]',
        'authorization:',
        '  emailDomains: [homelab.example.com]',
        'bearer:',
        '  profiles:',
        '    devices:',
        `      issuers: [${issuer}]`,
        '      skipPrefetch: true',
        '      secrets:',
        `        k1: ${HMAC_KEY}`,
        `      denyList: ${denyList}`,
        'routes:',
        '  - name: ingest',
        '    hosts: [ingest.homelab.example.com]',
        '    auth: [bearer:devices]',
        '',
      ].join('\n'),
    );
    const now = Math.floor(Date.now() / 1000);
    const token = signJws({ alg: 'HS256', typ: 'JWT', kid: 'k1' }, { iss: issuer, sub: 'sensor-1', jti: 'jti-ops-1', iat: now, exp: now + 600 }, Buffer.from(HMAC_KEY), 'HS256');
    const served = serve(file);
    try {
      const port = await served.port();
      const ask = () => check(port, '/write', { authorization: `Bearer ${token}` }, 'ingest.homelab.example.com');
      const allowed = await ask();
      assert.equal(allowed.status, 202, `${allowed.status} ${String(allowed.headers['x-gatehouse-reason'])}`);
      writeFileSync(denyList, 'jti:jti-ops-1\n');
      await sleep(800);
      assert.equal((await ask()).status, 202, 'the deny-list file is documented as read on reload only');
      const from = served.records.length;
      served.signal('SIGHUP');
      await served.waitFor((record) => record.msg === 'configuration reloaded', 'configuration reloaded', from);
      const revoked = await ask();
      assert.equal(revoked.status, 401);
      assert.equal(revoked.headers['x-gatehouse-reason'], 'bearer-revoked');
    } finally {
      await served.stop();
    }
  });
});

describe('in process: metric series and health behind a proxy', () => {
  test('a check answered 503 because the session store is down is counted in gatehouse_checks_total (outcome error) and timed', async () => {
    // docs/metrics.md: gatehouse_checks_total counts every check, outcome allow, deny, redirect or error.
    const observed = await startObservedApp([
      { name: 'session.store', text: 'redis' },
      { name: 'session.redis.url', text: 'redis://127.0.0.1:9' },
    ]);
    try {
      const ticket = `r1.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
      const answer = await send({ port: observed.port, path: '/x', headers: { host: 'app.example.com', accept: 'application/json', cookie: `_gatehouse=${ticket}` } });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers['x-gatehouse-reason'], 'session-store-unavailable');
      const text = await observed.metrics.registry!.metrics();
      assert.match(text, /^gatehouse_session_store_errors_total\{store="redis",operation="load"\} 1$/m);
      assert.match(text, /^gatehouse_checks_total\{outcome="error",reason="session-store-unavailable",route="[^"]*"\} 1$/m);
      assert.match(text, /^gatehouse_check_duration_seconds_count\{outcome="error"\} 1$/m);
    } finally {
      await observed.close();
    }
  });

  test('clients cannot grow metric series through hosts, paths, methods, queries or forwarded headers', async () => {
    const observed = await startObservedApp([
      { name: 'proxy.reverse-proxy', text: 'true' },
      { name: 'proxy.trusted', text: '127.0.0.1/32' },
    ]);
    try {
      const marks: string[] = [];
      for (let index = 0; index < 40; index++) {
        const mark = `zq${randomBytes(5).toString('hex')}`;
        marks.push(mark);
        const method = ['GET', 'POST', 'DELETE', `X${mark.toUpperCase()}`][index % 4]!;
        const path = [`/${mark}`, `/oauth2/${mark}`, `/oauth2/auth?policy=${mark}`, `/?rd=${mark}`][index % 4]!;
        await send({
          port: observed.port,
          path,
          method,
          headers: { host: `${mark}.example.com`, 'x-forwarded-host': `${mark}.example.com`, 'x-forwarded-proto': 'https', 'x-forwarded-uri': `/${mark}`, 'x-forwarded-method': method, accept: index % 2 === 0 ? 'application/json' : 'text/html', 'x-request-id': mark },
        });
      }
      const text = await observed.metrics.registry!.metrics();
      for (const mark of marks) assert.ok(!text.includes(mark), `a client value became a label: ${mark}`);
      const series = text.split('\n').filter((line) => line.startsWith('gatehouse_checks_total{'));
      assert.ok(series.length <= 8, `gatehouse_checks_total has ${series.length} series:\n${series.join('\n')}`);
      assert.ok(!text.includes('q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf'), 'the cookie secret is in the metrics');
    } finally {
      await observed.close();
    }
  });

  test('/ping and /ready answer the same whatever X-Forwarded-* an untrusted peer sends', async () => {
    const observed = await startObservedApp();
    try {
      const forged = { 'x-forwarded-host': 'evil.example', 'x-forwarded-uri': '/admin', 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.0.0.1', 'x-original-url': '/admin', forwarded: 'for=10.0.0.1;host=evil.example' };
      const ping = await send({ port: observed.port, path: '/ping', headers: { host: 'gatehouse', ...forged } });
      assert.equal(ping.status, 200);
      assert.equal(ping.body, 'OK');
      const plain = await send({ port: observed.port, path: '/ready', headers: { host: 'gatehouse' } });
      const withHeaders = await send({ port: observed.port, path: '/ready', headers: { host: 'gatehouse', ...forged } });
      assert.equal(withHeaders.status, plain.status);
      assert.equal(plain.status, 503, 'the provider (127.0.0.1:9) is unreachable');
      assert.match(withHeaders.body, /^identity provider: /m);
      // An original request for /ping behind a trusted proxy is a check of that path, never the health answer.
      const viaProxy = await send({ port: observed.port, path: '/', headers: { host: 'gatehouse', 'x-forwarded-uri': '/ping', accept: 'application/json' } });
      assert.notEqual(viaProxy.body, 'OK');
    } finally {
      await observed.close();
    }
  });
});

describe('the Kubernetes manifests', () => {
  test('the Deployment keeps serving while the endpoint is withdrawn: a preStop delay before SIGTERM closes the listener', () => {
    // gatehouse closes its listener as soon as SIGTERM arrives; Traefik and kube-proxy keep sending new
    // connections to the pod until they see the endpoint removed, and those are refused (a 500 from the
    // forwardAuth middleware) during every rollout, despite maxUnavailable: 0.
    const deployment = parseYaml(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'deployment.yaml'), 'utf8')) as {
      spec: { template: { spec: { terminationGracePeriodSeconds: number; containers: { name: string; lifecycle?: { preStop?: unknown } }[] } } };
    };
    const pod = deployment.spec.template.spec;
    const container = pod.containers.find((candidate) => candidate.name === 'gatehouse');
    assert.ok(container !== undefined);
    assert.ok(pod.terminationGracePeriodSeconds > 10, 'longer than shutdownTimeout');
    assert.ok(container.lifecycle?.preStop !== undefined, 'no preStop hook: new connections are refused while the endpoint is still being withdrawn');
  });
});

describe('gatehouse serve: reloads with the Redis store', () => {
  let redis: StandaloneRedis;

  before(async () => {
    redis = await startRedis();
  });

  after(async () => {
    await redis.stop();
  });

  /** A configuration with the Redis store at `url` and a bearer profile (so the shared deny-list is read). */
  const redisConfig = (url: string, status: number, publishKeys?: string) =>
    [
      ...UNREACHABLE_PROVIDER,
      'session:',
      '  store: redis',
      '  redis:',
      `    url: ${url}`,
      'proxy:',
      '  reverseProxy: true',
      '  trusted: [127.0.0.1/32]',
      'authorization:',
      '  emailDomains: [homelab.example.com]',
      'forwardAuth:',
      `  status: ${status}`,
      "  skipAuthRoutes: ['^/public$']",
      'bearer:',
      ...(publishKeys === undefined ? [] : [`  publishKeys: [${publishKeys}]`]),
      '  profiles:',
      '    devices:',
      '      issuers: [https://devices.homelab.example.com]',
      '      skipPrefetch: true',
      '      secrets:',
      `        k1: ${HMAC_KEY}`,
      '',
    ].join('\n');

  const clients = async () => (await redisCli(redis.port, 'client', 'list')).split('\n').filter((line) => line.includes('cmd=') && !line.includes('cmd=client')).length;

  test('a reload that fails while building the new configuration leaves nothing of it running (no extra Redis connection)', async () => {
    const file = join(dir, 'redis-leak.yaml');
    const key = join(dir, 'leak.pub.pem');
    writeFileSync(file, redisConfig(redis.url, 202));
    const served = serve(file);
    try {
      const port = await served.port();
      assert.equal((await check(port, '/public')).status, 202);
      await sleep(1500);
      const baseline = await clients();
      for (let attempt = 0; attempt < 3; attempt++) {
        writeFileSync(key, `not a key ${attempt}\n`);
        const from = served.records.length;
        writeFileSync(file, redisConfig(redis.url, 203 + attempt, key));
        served.signal('SIGHUP');
        const failed = await served.waitFor((record) => record.msg.startsWith('configuration reload failed'), 'reload failed', from);
        assert.match(failed.problems ?? '', /publishKeys/);
        await sleep(500);
      }
      assert.equal((await check(port, '/public')).status, 202, 'the running configuration stays');
      await sleep(1500);
      assert.equal(await clients(), baseline, 'each failed reload left a Redis connection (and its deny-list reader) running');
    } finally {
      await served.stop();
    }
  });

  test('reloads are applied in order: a slow reload started first never replaces a later one', async () => {
    const file = join(dir, 'redis-order.yaml');
    writeFileSync(file, redisConfig(redis.url, 202));
    const served = serve(file);
    try {
      const port = await served.port();
      assert.equal((await check(port, '/public')).status, 202);
      // First an edit whose Redis does not answer (building it waits for the shared deny-list), then,
      // 300 ms later, its correction.
      writeFileSync(file, redisConfig('redis://127.0.0.1:9', 201));
      served.signal('SIGHUP');
      await sleep(300);
      writeFileSync(file, redisConfig(redis.url, 203));
      served.signal('SIGHUP');
      // The slow edit takes about 2 s (its deny-list read gives up then) and the correction is applied after
      // it: waited for, however long a busy machine takes. Then 3.5 s more, longer than the slow edit takes:
      // an edit applied out of its order would have replaced the correction by then.
      const corrected = await poll(() => check(port, '/public'), (answer) => answer.status === 203, 15_000);
      assert.equal(corrected.status, 203, 'the correction written last was never applied');
      await sleep(3500);
      assert.equal((await check(port, '/public')).status, 203, 'the file says 203, the running configuration is an older one');
    } finally {
      await served.stop();
    }
  });
});
