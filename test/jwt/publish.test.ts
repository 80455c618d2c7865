/** `bearer.publishKeys`: gatehouse publishes its own signing keys at /.well-known/jwks.json. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { startGatehouse, type Gatehouse } from '../support/gatehouse-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-publish-'));
let gatehouse: Gatehouse;
let es256: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let ed25519: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

before(async () => {
  const first = await generateKeyPair('ES256', { extractable: true });
  const second = await generateKeyPair('EdDSA', { extractable: true });
  es256 = first.privateKey;
  ed25519 = second.privateKey;
  writeFileSync(join(dir, 'vicmet.pub.pem'), await exportSPKI(first.publicKey));
  writeFileSync(join(dir, 'homekit-2026.jwk.json'), JSON.stringify({ ...(await exportJWK(second.publicKey)), kid: 'homekit-2026' }));
  gatehouse = await startGatehouse({ env: { GATEHOUSE_BEARER_PUBLISH_KEYS: `${join(dir, 'vicmet.pub.pem')},${join(dir, 'homekit-2026.jwk.json')}` } });
});

after(async () => {
  await gatehouse.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the JWKS names each key by kid with its algorithm, holds no private part, and verifies tokens signed with them', async () => {
  const response = await gatehouse.request('/.well-known/jwks.json', { proxied: false });
  assert.equal(response.status, 200);
  assert.match(String(response.headers['content-type']), /^application\/jwk-set\+json/);
  const jwks = JSON.parse(response.body) as { keys: { kid: string; alg: string; use: string; d?: string }[] };
  assert.deepEqual(jwks.keys.map((key) => [key.kid, key.alg, key.use]), [['vicmet', 'ES256', 'sig'], ['homekit-2026', 'EdDSA', 'sig']]);
  assert.ok(jwks.keys.every((key) => key.d === undefined));
  const verifyWith = createLocalJWKSet(jwks);
  for (const [key, alg, kid] of [[es256, 'ES256', 'vicmet'], [ed25519, 'EdDSA', 'homekit-2026']] as const) {
    const token = await new SignJWT({ sub: 'homekit' }).setProtectedHeader({ alg, kid }).setExpirationTime('1h').sign(key);
    const { payload } = await jwtVerify(token, verifyWith);
    assert.equal(payload.sub, 'homekit');
  }
});

test('only GET and HEAD on the exact path', async () => {
  assert.notEqual((await gatehouse.request('/.well-known/jwks.json', { method: 'POST', proxied: false })).status, 200);
  assert.notEqual((await gatehouse.request('/.well-known/jwks.json?x=1', { proxied: false, headers: { accept: 'application/json' } })).status, 200);
});
