/**
 * The bearer deny-list shared through Redis, end to end: two `gatehouse serve` replicas on one real
 * redis-server, device tokens signed like the seed's, and `gatehouse token revoke` run as an operator would.
 * A revoked token (by jti, or every token of a subject) is refused by both replicas within seconds, cached
 * or not, in its profile only; unrevoking lets it pass again; a Redis outage keeps the last copy in force,
 * and a replica that starts during the outage answers 503 for tokens until it has read the list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { send, type RawResponse } from '../support/http-client.js';
import { redisConfig, startRedis, waitUntil, type StandaloneRedis } from '../support/redis.js';
import { createRedisClient, quitClient } from '../../src/session/index.js';
import { BIN, ensureBuilt, ROOT } from '../e2e/support/build.js';
import { freePort, spawnLogged, waitForPort, type Spawned } from '../e2e/support/processes.js';

const ISSUER = 'https://jwts.farcaller.net';
const INGEST = 'vminsert.homelab.example.com';
const QUERY = 'vmselect.homelab.example.com';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-denylist-'));
let redis: StandaloneRedis;
let privateKey: CryptoKey;
let configFile: string;
let cookieConfigFile: string;
const replicas: Spawned[] = [];
let metricsPort: number;
let a: { port: number };
let b: { port: number };

function yaml(store: string, publicPem: string): string {
  const pem = publicPem
    .trim()
    .split('\n')
    .map((line) => `          ${line}`)
    .join('\n');
  const profile = (audience: string) => [`      issuers: [${ISSUER}]`, '      skipPrefetch: true', '      secrets:', '        vicmet: |', pem, `      require: { aud: ${audience} }`].join('\n');
  return [
    'provider: { issuer: "http://127.0.0.1:9/", clientId: gatehouse, clientSecret: not-used-here }',
    `cookie: { secrets: ["${randomUUID().replaceAll('-', '')}"], domains: [.homelab.example.com] }`,
    'authorization: { emailDomains: [homelab.example.com] }',
    `session: ${store}`,
    'proxy: { reverseProxy: true, trusted: [127.0.0.1/32] }',
    'logging: { format: json, level: info }',
    'bearer:',
    '  profiles:',
    '    homekit:',
    profile(INGEST),
    '    metrics:',
    profile(QUERY),
    'routes:',
    `  - { name: ingest, hosts: [${INGEST}], auth: ["bearer:homekit"] }`,
    `  - { name: query, hosts: [${QUERY}], auth: ["bearer:metrics"] }`,
    '',
  ].join('\n');
}

const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: dir });

/** `/ready`'s answer: the identity provider is never reachable here, so the body lists what else is not ready. */
function readiness(replica: { port: number }): Promise<RawResponse> {
  return send({ port: replica.port, path: '/ready', method: 'GET', headers: { host: `127.0.0.1:${replica.port}` } });
}

/** Starts a replica; unless told not to, waits until it has read the deny-list (as a readiness probe would). */
async function startReplica(waitForList = true, metricsPort?: number): Promise<{ port: number }> {
  const port = await freePort();
  const metrics = metricsPort === undefined ? [] : [`--metrics.listen=127.0.0.1:${metricsPort}`];
  const child = spawnLogged('gatehouse', process.execPath, [BIN, 'serve', '--config', configFile, `--listen=127.0.0.1:${port}`, '--shutdown-timeout=1s', ...metrics], { cwd: ROOT, env: env() });
  replicas.push(child);
  await child.waitForOutput(/listening on http:\/\//);
  await waitForPort(port, 5000, child);
  if (waitForList) await waitUntil('the replica to read the deny-list', async () => !(await readiness({ port })).body.includes('bearer deny-list'), 5000);
  return { port };
}

/** Runs the gatehouse command line; resolves with its exit code and output. */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: env(), timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

async function mint(sub: string, audience: string): Promise<{ token: string; jti: string }> {
  const jti = randomUUID();
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'vicmet' }).setIssuer(ISSUER).setSubject(sub).setAudience(audience).setJti(jti).setIssuedAt().setExpirationTime('1h').sign(privateKey);
  return { token, jti };
}

/** A forward-auth check of a device's request, as the proxy sends it. */
function check(replica: { port: number }, token: string, host = INGEST): Promise<RawResponse> {
  return send({ port: replica.port, path: '/', method: 'GET', headers: { host: `127.0.0.1:${replica.port}`, 'x-forwarded-proto': 'https', 'x-forwarded-host': host, 'x-forwarded-uri': '/api/v1/import', 'x-forwarded-method': 'POST', authorization: `Bearer ${token}` } });
}

async function statusOn(replica: { port: number }, token: string, host = INGEST): Promise<number> {
  return (await check(replica, token, host)).status;
}

before(async () => {
  await ensureBuilt();
  redis = await startRedis();
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  const publicPem = await exportSPKI(pair.publicKey);
  configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, yaml(`{ store: redis, redis: { url: "${redis.url}" } }`, publicPem));
  cookieConfigFile = join(dir, 'cookie-store.yaml');
  writeFileSync(cookieConfigFile, yaml('{ store: cookie }', publicPem));
  metricsPort = await freePort();
  [a, b] = await Promise.all([startReplica(true, metricsPort), startReplica()]);
});

after(async () => {
  for (const replica of replicas) await replica.stop().catch(() => undefined);
  await redis.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('bearer deny-list shared through Redis, two replicas', () => {
  test('token revoke --jti: both replicas refuse that token (cached or not) within seconds; other tokens pass', async () => {
    const lost = await mint('homekit', INGEST);
    const kept = await mint('homekit', INGEST);
    for (const replica of [a, b]) {
      assert.equal(await statusOn(replica, lost.token), 202, 'the token passes before it is revoked (and is now cached)');
      assert.equal(await statusOn(replica, kept.token), 202);
    }
    const revoked = await cli('token', 'revoke', '--jti', lost.jti, '--profile', 'homekit', '--config', configFile);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout.trim(), `revoked jti '${lost.jti}' of profile homekit: every replica refuses it within about a second`);
    const took = await waitUntil('both replicas to refuse the revoked token', async () => (await statusOn(a, lost.token)) === 401 && (await statusOn(b, lost.token)) === 401, 5000);
    const refused = await check(b, lost.token);
    assert.equal(refused.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="token revoked"');
    assert.ok(!refused.body.includes(lost.token) && !refused.body.includes(lost.jti), 'the answer does not echo the token or its id');
    for (const replica of [a, b]) assert.equal(await statusOn(replica, kept.token), 202, 'another token of the same device still passes');
    const verified = await cli('token', 'verify', lost.token, '--profile', 'homekit', '--config', configFile);
    assert.equal(verified.code, 1, 'token verify reads the shared list too');
    assert.match(verified.stdout, /^ {2}FAIL {2}token revoked$/m);
    assert.match(verified.stdout, /^outcome: {2}refused \(bearer-revoked\)$/m);
    assert.equal((await cli('token', 'verify', kept.token, '--profile', 'homekit', '--config', configFile)).code, 0);
    const scraped = await send({ port: metricsPort, path: '/metrics', method: 'GET', headers: { host: `127.0.0.1:${metricsPort}` } });
    assert.match(scraped.body, /^gatehouse_bearer_denylist_entries\{profile="homekit"\} 1$/m, 'replica A reports the entry');
    assert.match(scraped.body, /^gatehouse_bearer_denylist_age_seconds\{profile="homekit"\} [0-2]$/m, 'and a copy at most a poll or two old');
    const again = await cli('token', 'revoke', '--jti', lost.jti, '--profile', 'homekit', '--config', configFile);
    assert.equal(again.stdout.trim(), `jti '${lost.jti}' of profile homekit was already revoked`);
    // The time it took, for the record: the replicas poll every second.
    assert.ok(took < 5000);
  });

  test('token revoke --sub: every token of the subject is refused in that profile only; unrevoke lets them pass again', async () => {
    const first = await mint('desk-sensor', INGEST);
    const second = await mint('desk-sensor', INGEST);
    const elsewhere = await mint('desk-sensor', QUERY);
    const other = await mint('garage-sensor', INGEST);
    assert.equal((await cli('token', 'revoke', '--sub', 'desk-sensor', '--profile', 'homekit', '--config', configFile)).code, 0);
    await waitUntil('both replicas to refuse the subject', async () => (await statusOn(a, first.token)) === 401 && (await statusOn(b, second.token)) === 401, 5000);
    assert.equal(await statusOn(a, elsewhere.token, QUERY), 202, 'the metrics profile has its own list');
    assert.equal(await statusOn(b, other.token), 202, 'another subject still passes');
    const listed = await cli('token', 'revoked', '--config', configFile);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^homekit {2}sub {2}desk-sensor$/m);
    assert.equal((await cli('token', 'revoked', '--profile', 'metrics', '--config', configFile)).stdout.trim(), 'no revoked tokens');
    const unrevoked = await cli('token', 'unrevoke', '--sub', 'desk-sensor', '--profile', 'homekit', '--config', configFile);
    assert.equal(unrevoked.stdout.trim(), "sub 'desk-sensor' of profile homekit is no longer revoked");
    await waitUntil('both replicas to let the subject pass again', async () => (await statusOn(a, first.token)) === 202 && (await statusOn(b, second.token)) === 202, 5000);
  });

  test('operator mistakes get a clear message and exit code', async () => {
    const noProfile = await cli('token', 'revoke', '--jti', 'x', '--config', configFile);
    assert.equal(noProfile.code, 2);
    assert.match(noProfile.stderr, /name the profile with --profile \(one of homekit, metrics\)/);
    const unknown = await cli('token', 'revoke', '--jti', 'x', '--profile', 'homekti', '--config', configFile);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no bearer profile 'homekti' \(have: homekit, metrics\)/);
    const both = await cli('token', 'revoke', '--jti', 'x', '--sub', 'y', '--profile', 'homekit', '--config', configFile);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give exactly one of --jti and --sub/);
    const cookieStore = await cli('token', 'revoke', '--jti', 'x', '--profile', 'homekit', '--config', cookieConfigFile);
    assert.equal(cookieStore.code, 2);
    assert.match(cookieStore.stderr, /the shared deny-list lives in Redis \(session\.store: redis\)\. With the cookie store, put 'jti:<id>' lines in the profile's denyList file/);
    // A key of another type where the list belongs: Redis's own answer, not "could not be reached".
    const writer = createRedisClient(redisConfig({ url: redis.url }), () => undefined);
    try {
      await waitUntil('the writer to connect', () => writer.status === 'ready', 5000);
      await writer.set('gatehouse:{denylist}:profile:metrics', 'written by hand');
      const refused = await cli('token', 'revoke', '--jti', 'x', '--profile', 'metrics', '--config', configFile);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^gatehouse: Redis failed the command: WRONGTYPE/);
      await writer.del('gatehouse:{denylist}:profile:metrics');
    } finally {
      await quitClient(writer);
    }
  });

  test('a Redis outage keeps the last copy in force; a replica started during it answers 503 for tokens until it has read the list', async () => {
    const revokedToken = await mint('lost-phone', INGEST);
    const working = await mint('desk-sensor', INGEST);
    assert.equal((await cli('token', 'revoke', '--jti', revokedToken.jti, '--profile', 'homekit', '--config', configFile)).code, 0);
    await waitUntil('replica A to refuse the token', async () => (await statusOn(a, revokedToken.token)) === 401, 5000);
    await redis.kill();
    assert.equal(await statusOn(a, revokedToken.token), 401, 'still refused while Redis is down');
    assert.equal(await statusOn(a, working.token), 202, 'bearer tokens keep working while Redis is down');
    // A reload during the outage (SIGHUP, or a changed file) hands the copy to the new configuration.
    const replicaA = replicas[0]!;
    const reloads = () => replicaA.output().split('configuration reloaded').length - 1;
    const before = reloads();
    process.kill(replicaA.pid, 'SIGHUP');
    await waitUntil('replica A to reload', () => reloads() > before, 10_000);
    assert.equal(await statusOn(a, revokedToken.token), 401, 'still refused after a reload while Redis is down');
    assert.equal(await statusOn(a, working.token), 202, 'no 503 after a reload while Redis is down');
    const down = await cli('token', 'revoke', '--jti', 'x', '--profile', 'homekit', '--config', configFile);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^gatehouse: Redis could not be reached: /);
    const blindVerify = await cli('token', 'verify', working.token, '--profile', 'homekit', '--config', configFile);
    assert.equal(blindVerify.code, 1, 'token verify does not claim a deny-list pass it could not check');
    assert.match(blindVerify.stderr, /^gatehouse: Redis could not be reached: /);
    const late = await startReplica(false);
    assert.equal(await statusOn(late, working.token), 503, 'a replica that never read the list does not guess');
    const ready = await readiness(late);
    assert.equal(ready.status, 503);
    assert.match(ready.body, /bearer deny-list \(Redis\): not read from Redis yet/);
    await redis.restart();
    await waitUntil('the late replica to read the list', async () => (await statusOn(late, working.token)) === 202, 10_000);
    // This Redis keeps nothing on disk, so the restart forgot the entry: docs/redis.md asks for persistence.
    await waitUntil('replica A to reread the (now empty) list', async () => (await statusOn(a, revokedToken.token)) === 202, 10_000);
  });
});
