/** `gatehouse doctor` against a real provider (the development one) and a real gatehouse. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CommandIo } from '../../src/cli/io.js';
import type { DevProvider } from '../../src/devidp/index.js';
import { COOKIE_SECRET, startGatehouse, startTestProvider, type Gatehouse } from '../support/gatehouse-fixture.js';
import { freePort, startRedis } from '../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-doctor-'));
const TOKEN = 'doctor-diagnose-token-8d2f61c0';
let idp: DevProvider;
let gatehouse: Gatehouse;

before(async () => {
  idp = await startTestProvider();
  gatehouse = await startGatehouse({ devProvider: idp, env: { GATEHOUSE_DIAGNOSTICS_TOKEN: TOKEN } });
});

after(async () => {
  await gatehouse.close();
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, overrides: Record<string, string> = {}, extra = ''): string {
  const values = { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, token: TOKEN, domains: '[.homelab.example.com]', ...overrides };
  const file = join(dir, name);
  writeFileSync(
    file,
    `provider: { issuer: "${values.issuer}", clientId: "${values.clientId}", clientSecret: "${values.clientSecret}" }
cookie: { secrets: ["${COOKIE_SECRET}"], domains: ${values.domains}, secure: false }
authorization: { emailDomains: [homelab.example.com] }
diagnostics: { token: "${values.token}" }
${extra}`,
  );
  return file;
}

async function doctor(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = { out: (text) => out.push(text), err: (text) => err.push(text), env: {} };
  const code = await main(['doctor', ...args], io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('a healthy set-up: discovery, credentials, clock, cookie secret and what a check sees all pass', async () => {
  const result = await doctor(['--config', config('good.yaml', { domains: '[]' }), '--url', `http://127.0.0.1:${gatehouse.port}/dashboard?x=1`]);
  assert.equal(result.code, 0, result.out);
  for (const line of [/^OK +discovery: issuer .* discovered$/m, /^OK +credentials: client credentials accepted/m, /^OK +clock: /m, /^OK +cookie secret: /m, /^OK +trusted proxy: /m, /^OK +forwarded path: path \/dashboard\?x=1 arrives$/m]) {
    assert.match(result.out, line);
  }
  assert.match(result.out, /^\d+ passed, \d+ warnings?, 0 failed$/m);
  assert.doesNotMatch(result.out, new RegExp(`${TOKEN}|${idp.clientSecret}`), 'a secret was printed');
});

test('wrong client secret and a foreign issuer are failures that say what to change', async () => {
  const wrong = await doctor(['--config', config('wrong-secret.yaml', { clientSecret: 'not-the-secret' })]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.out, /^FAIL +credentials: the token endpoint refused the client id and secret \(invalid_client\)\n +fix: /m);
  const slash = await doctor(['--config', config('issuer.yaml', { issuer: `${idp.issuer}/` })]);
  assert.equal(slash.code, 1);
  assert.match(slash.out, /^FAIL +discovery: the provider calls itself '.*', not '.*\/'\n +fix: set provider\.issuer to exactly/m);
});

test('an unreachable provider and an address under no cookie domain are failures', async () => {
  const down = await doctor(['--config', config('down.yaml', { issuer: 'http://127.0.0.1:9' }), '--url', 'https://other.example.org/']);
  assert.equal(down.code, 1);
  assert.match(down.out, /^FAIL +discovery: .* could not be read/m);
  assert.match(down.out, /^FAIL +cookie domain: other\.example\.org is under none of the cookie domains/m);
});

test('without the diagnostics token, or with a different one, doctor says why it cannot see through the proxy', async () => {
  const without = await doctor(['--config', config('no-token.yaml', { token: '' }), '--url', `http://127.0.0.1:${gatehouse.port}/`]);
  assert.match(without.out, /^WARN +through the proxy: diagnostics\.token is not set/m);
  const other = await doctor(['--config', config('other-token.yaml', { token: 'a-different-token-value' }), '--url', `http://127.0.0.1:${gatehouse.port}/`]);
  assert.equal(other.code, 1);
  assert.match(other.out, /^FAIL +through the proxy: the answer \(\d+\) did not come from gatehouse's diagnose echo/m);
});

test('the diagnose echo answers only to the exact token, and shows names, never values', async () => {
  const echo = await gatehouse.request('/admin?secret=1', { headers: { 'x-gatehouse-diagnose': TOKEN, cookie: '_gatehouse=sealed-value; other=1', authorization: 'Bearer abc.def.ghi' } });
  assert.equal(echo.status, 403);
  const body = JSON.parse(echo.body) as { gatehouse: string; peerTrusted: boolean; seen: { host: string; uri: string }; cookies: string[]; authorization: string };
  assert.equal(body.gatehouse, 'diagnose');
  assert.equal(body.peerTrusted, true);
  assert.deepEqual([body.seen.host, body.seen.uri], ['app.homelab.example.com', '/admin?secret=1']);
  assert.deepEqual(body.cookies, ['_gatehouse', 'other']);
  assert.equal(body.authorization, 'present');
  assert.doesNotMatch(echo.body, /sealed-value|abc\.def\.ghi/);
  const wrong = await gatehouse.request('/admin', { headers: { 'x-gatehouse-diagnose': `${TOKEN}x`, accept: 'application/json' } });
  assert.notEqual(wrong.headers['x-gatehouse-reason'], 'diagnose');
});

test('with the Redis store: Redis reachable, and warnings for an evicting or forgetful Redis', async () => {
  const redisYaml = (url: string) => `session: { store: redis, redis: { url: "${url}" } }\n`;
  const careless = await startRedis({ extraArgs: ['--maxmemory-policy', 'allkeys-lru'] });
  const careful = await startRedis({ extraArgs: ['--appendonly', 'yes'] });
  try {
    const warned = await doctor(['--config', config('careless.yaml', {}, redisYaml(careless.url))]);
    assert.equal(warned.code, 0, 'warnings are not failures');
    assert.match(warned.out, /^OK +redis: Redis answers$/m);
    assert.match(warned.out, /^WARN +redis eviction: maxmemory-policy is allkeys-lru: .*revoked tokens pass again\n +fix: set maxmemory-policy noeviction/m);
    assert.match(warned.out, /^WARN +redis persistence: Redis keeps nothing on disk/m);
    assert.match(warned.out, /^\d+ passed, 2 warnings, 0 failed$/m, 'warnings are counted as warnings');
    const fine = await doctor(['--config', config('careful.yaml', {}, redisYaml(careful.url))]);
    assert.match(fine.out, /^OK +redis eviction: maxmemory-policy noeviction never drops the deny-lists$/m);
    assert.match(fine.out, /^OK +redis persistence: append-only file$/m);
    const down = await doctor(['--config', config('no-redis.yaml', {}, redisYaml(`redis://127.0.0.1:${await freePort()}`))]);
    assert.equal(down.code, 1);
    assert.match(down.out, /^FAIL +redis: Redis could not be reached: .*\n +fix: check session\.redis/m);
  } finally {
    await careless.stop();
    await careful.stop();
  }
});

test('doctor with wrong input: exit 2 and a one-line error', async () => {
  const bad = await doctor(['--url', 'not a url']);
  assert.equal(bad.code, 2);
  assert.match(bad.err.split('\n')[0] ?? '', /^gatehouse: --url 'not a url' is not an absolute URL$/);
  assert.equal((await doctor(['extra'])).code, 2);
  assert.equal((await doctor(['--help'])).code, 0);
});
