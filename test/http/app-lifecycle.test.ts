/**
 * The app of one configuration across reloads: the relying party (discovery) handed over to the app that
 * replaces it while the provider settings stay the same, discovered again when they change, and a build
 * that fails part-way leaving nothing of it running, without closing what the running app still uses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.js';
import { createApp, type App } from '../../src/http/index.js';
import { createLoggers, type Loggers } from '../../src/log/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LISTEN = { host: '127.0.0.1', port: 4180 };

/** An OpenID provider whose discovery can be made to fail (503), counting the discovery requests. */
interface FakeProvider {
  readonly issuer: string;
  up: boolean;
  discoveries: number;
  close(): Promise<void>;
}

async function startFakeProvider(): Promise<FakeProvider> {
  const state = { issuer: '', up: true, discoveries: 0 };
  const server: Server = createServer((request, response) => {
    if (request.url !== '/.well-known/openid-configuration') {
      response.writeHead(404).end();
      return;
    }
    state.discoveries += 1;
    if (!state.up) {
      response.writeHead(503).end();
      return;
    }
    const issuer = state.issuer;
    response.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ issuer, authorization_endpoint: `${issuer}authorize`, token_endpoint: `${issuer}token`, jwks_uri: `${issuer}jwks`, response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  state.issuer = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`;
  return Object.assign(state, {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** Polls the app's readiness until it is `ok` or `timeoutMs` passes. */
async function readyWithin(app: App, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await app.ready()).ok) return true;
    await sleep(50);
  }
  return (await app.ready()).ok;
}

describe('the app across reloads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-app-lifecycle-'));
  const brokenKey = join(dir, 'broken.pub.pem');
  let provider: FakeProvider;
  let loggers: Loggers;
  const built: App[] = [];

  const loaded = (options: { clientId?: string; status?: number; publishKeys?: string } = {}) =>
    loadConfig({
      env: {},
      flags: [
        { name: 'provider.issuer', text: provider.issuer },
        { name: 'provider.client-id', text: options.clientId ?? 'gatehouse' },
        { name: 'provider.client-secret', text: 'app-lifecycle-secret' },
        { name: 'provider.timeout', text: '2s' },
        { name: 'cookie.secrets', text: 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf' },
        { name: 'authorization.email-domains', text: 'example.com' },
        { name: 'forward-auth.status', text: String(options.status ?? 202) },
        ...(options.publishKeys === undefined ? [] : [{ name: 'bearer.publish-keys', text: options.publishKeys }]),
      ],
    });
  const build = async (options: Parameters<typeof loaded>[0], previous?: App) => {
    const app = await createApp(loaded(options), loggers, { listen: LISTEN, ...(previous === undefined ? {} : { previous }) });
    built.push(app);
    return app;
  };

  before(async () => {
    writeFileSync(brokenKey, 'not a key\n');
    provider = await startFakeProvider();
    loggers = createLoggers({ format: 'json', level: 'fatal', auth: false, requests: false, standard: false, destination: new Writable({ write: (_chunk, _encoding, callback) => callback() }) });
  });

  after(async () => {
    for (const app of built) await app.close();
    await provider.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the same provider settings keep the discovered provider: no new discovery, and ready while the provider is down', async () => {
    provider.up = true;
    const first = await build({ status: 202 });
    assert.equal(await readyWithin(first, 3000), true);
    provider.up = false;
    const discoveries = provider.discoveries;
    const second = await build({ status: 203 }, first);
    await first.close();
    const readiness = await second.ready();
    assert.equal(readiness.ok, true, JSON.stringify(readiness.checks));
    assert.equal(provider.discoveries, discoveries, 'the rebuilt app discovered the provider again');
    provider.up = true;
  });

  test('changed provider settings are discovered again, and the new app is built once discovery answered', async () => {
    provider.up = true;
    const first = await build({ clientId: 'gatehouse' });
    assert.equal(await readyWithin(first, 3000), true);
    const discoveries = provider.discoveries;
    const second = await build({ clientId: 'gatehouse-next' }, first);
    assert.ok(provider.discoveries > discoveries, 'no discovery for the new client id');
    assert.equal((await second.ready()).ok, true, 'built before its discovery answered');
  });

  test('a build that fails part-way stops the discovery it started', async () => {
    provider.up = false;
    await assert.rejects(build({ clientId: 'failed-build', publishKeys: brokenKey }), /ERR_CONFIG_PUBLISH_KEY|not a readable public key/);
    // A relying party left running would retry discovery after 0.5 s, 1 s, 2 s...
    await sleep(300);
    const discoveries = provider.discoveries;
    await sleep(1800);
    assert.equal(provider.discoveries, discoveries, 'the failed build left its relying party retrying discovery');
    provider.up = true;
  });

  test('a failed rebuild does not close the provider the running app shares with it', async () => {
    provider.up = false;
    const running = await build({ clientId: 'shared' });
    await assert.rejects(build({ clientId: 'shared', publishKeys: brokenKey }, running), /ERR_CONFIG_PUBLISH_KEY|not a readable public key/);
    provider.up = true;
    assert.equal(await readyWithin(running, 5000), true, 'the running app stopped retrying discovery');
  });
});
