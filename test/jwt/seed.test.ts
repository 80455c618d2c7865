/**
 * The seed's machine-to-machine case, moved to gatehouse unchanged: the `vmcluster-jwt` jwt-middleware block
 * (ES256 key `vicmet` under the `EC PUBLIC KEY` label, issuer https://jwts.farcaller.net, skipPrefetch,
 * `require: {aud: vminsert.homelab.example.com}`) and the token the seed made on jwt.io. Checked once at the
 * profile (compileProfile) and once through a real gatehouse answering Traefik's forward-auth requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProfile, type BearerProfile } from '../../src/jwt/index.js';
import type { ProfileResult } from '../../src/jwt/index.js';
import { ecKeys, fetchSpy, indent, REQUEST, SEED, seedPem, seedProfile, signJws, startProfileGatehouse, type ProfileGatehouse } from './support.js';

const { privateKey, publicKey } = ecKeys();
const PEM = seedPem(publicKey);
const other = ecKeys();

/** The seed's header, exactly. */
const HEADER = { alg: 'ES256', typ: 'JWT', kid: SEED.kid };
/** The seed's payload, exactly. */
const PAYLOAD = { iss: SEED.issuer, sub: SEED.sub, aud: SEED.aud, iat: SEED.iat, exp: SEED.exp };
const SEED_TOKEN = signJws(HEADER, PAYLOAD, privateKey, 'ES256');

function expectKind<K extends ProfileResult['kind']>(result: ProfileResult, kind: K): Extract<ProfileResult, { kind: K }> {
  assert.equal(result.kind, kind, `expected ${kind}, got ${JSON.stringify(result)}`);
  return result as Extract<ProfileResult, { kind: K }>;
}

describe('the seed at the profile', () => {
  // Ten minutes after the seed's iat: inside the default freshness window (3600 s).
  const now = (SEED.iat + 600) * 1000;
  const spy = fetchSpy();
  let profile: BearerProfile;
  before(() => {
    profile = compileProfile('homekit', seedProfile(PEM), { env: {}, timeoutMs: 500, now: () => now, fetch: spy.fetch });
    profile.start();
  });
  after(() => {
    profile.close();
  });

  test('the EC PUBLIC KEY label is what the seed pasted', () => {
    assert.match(PEM, /^-----BEGIN EC PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END EC PUBLIC KEY-----\n?$/);
  });

  test("the seed's token is valid, with its claims", async () => {
    const valid = expectKind(await profile.check(SEED_TOKEN, REQUEST), 'valid');
    assert.deepEqual(valid.claims, PAYLOAD);
    assert.equal(valid.token, SEED_TOKEN);
  });

  test('skipPrefetch: nothing is fetched at start or for a token whose kid is configured', () => {
    assert.deepEqual(spy.urls, []);
    assert.equal(profile.status().ok, true);
  });

  test('another audience is forbidden (claim aud), not invalid', async () => {
    const token = signJws(HEADER, { ...PAYLOAD, aud: 'vmselect.homelab.example.com' }, privateKey, 'ES256');
    const forbidden = expectKind(await profile.check(token, REQUEST), 'forbidden');
    assert.equal(forbidden.reason, 'bearer-claim-not-allowed');
    assert.equal(forbidden.description, 'claim aud is not valid');
    assert.equal(forbidden.stale, false);
  });

  test('an expired token is invalid', async () => {
    const token = signJws(HEADER, { ...PAYLOAD, exp: SEED.iat + 300 }, privateKey, 'ES256');
    const invalid = expectKind(await profile.check(token, REQUEST), 'invalid');
    assert.equal(invalid.reason, 'bearer-invalid');
    assert.equal(invalid.description, 'token expired');
  });

  test('a token signed by another key is invalid', async () => {
    const token = signJws(HEADER, PAYLOAD, other.privateKey, 'ES256');
    const invalid = expectKind(await profile.check(token, REQUEST), 'invalid');
    assert.equal(invalid.reason, 'bearer-invalid');
    assert.match(invalid.description, /signature/);
  });

  test('no token: nothing is extracted from a request without one', () => {
    const empty = { header: () => undefined, cookie: () => undefined, query: () => undefined };
    assert.equal(profile.extract(empty), undefined);
    assert.equal(profile.extract({ ...empty, header: (name) => (name === 'authorization' ? `Bearer ${SEED_TOKEN}` : undefined) }), SEED_TOKEN);
  });
});

describe('the seed through gatehouse (Traefik forward auth)', () => {
  let gatehouse: ProfileGatehouse;
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  before(async () => {
    const block = (extra: string) => `      issuers:
        - ${SEED.issuer}
      skipPrefetch: true
      secrets:
        ${SEED.kid}: |
${indent(PEM, 10)}
      require:
        aud: ${SEED.aud}
${extra}`;
    gatehouse = await startProfileGatehouse(`bearer:
  profiles:
    homekit:
${block('')}
    homekit-mapped:
${block(`      headerMap:
        X-Device: sub
        X-Token-Audience: aud
`)}
routes:
  - name: vminsert
    hosts: [${SEED.aud}]
    auth: [bearer:homekit]
  - name: vmselect
    hosts: [vmselect.homelab.example.com]
    auth: [bearer:homekit-mapped]
`);
  });
  after(async () => {
    await gatehouse.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  test("the seed's token: 202 with the identity headers", async () => {
    const response = await gatehouse.check(SEED.aud, '/api/v1/import/prometheus', { method: 'POST', headers: bearer(SEED_TOKEN) });
    assert.equal(response.status, 202, response.body);
    assert.equal(response.headers['x-auth-request-user'], SEED.sub);
    assert.equal(response.headers['www-authenticate'], undefined);
  });

  test('the same token through nginx-style /oauth2/auth: 202', async () => {
    const response = await gatehouse.check(SEED.aud, '/api/v1/import', { endpoint: '/oauth2/auth', headers: bearer(SEED_TOKEN) });
    assert.equal(response.status, 202, response.body);
  });

  test('headerMap: the mapped claims reach the upstream headers, overwriting what the client sent', async () => {
    const response = await gatehouse.check('vmselect.homelab.example.com', '/select/0/prometheus', { headers: { ...bearer(SEED_TOKEN), 'x-device': 'admin' } });
    assert.equal(response.status, 202, response.body);
    assert.equal(response.headers['x-device'], SEED.sub);
    assert.equal(response.headers['x-token-audience'], SEED.aud);
  });

  test('another audience, freshly issued: 403 insufficient_scope', async () => {
    const token = signJws(HEADER, { ...PAYLOAD, aud: 'vmselect.homelab.example.com', iat: nowSeconds() }, privateKey, 'ES256');
    const response = await gatehouse.check(SEED.aud, '/api/v1/import', { headers: bearer(token) });
    assert.equal(response.status, 403);
    assert.match(String(response.headers['www-authenticate']), /^Bearer error="insufficient_scope", error_description="claim aud is not valid"$/);
    assert.equal(response.headers['x-gatehouse-reason'], 'bearer-claim-not-allowed');
    assert.deepEqual(JSON.parse(response.body), { error: 'insufficient_scope', reason: 'bearer-claim-not-allowed' });
    assert.equal(response.headers['x-auth-request-user'], undefined);
  });

  test("another audience with the seed's 2024 iat: 401, because it is older than freshness (3600 s)", async () => {
    const token = signJws(HEADER, { ...PAYLOAD, aud: 'vmselect.homelab.example.com' }, privateKey, 'ES256');
    const response = await gatehouse.check(SEED.aud, '/api/v1/import', { headers: bearer(token) });
    assert.equal(response.status, 401);
    assert.match(String(response.headers['www-authenticate']), /^Bearer error="invalid_token", error_description="claim aud is not valid; the token is older than the freshness window"$/);
    assert.equal(response.headers['x-gatehouse-reason'], 'bearer-claim-not-allowed');
  });

  test('expired: 401 invalid_token', async () => {
    const token = signJws(HEADER, { ...PAYLOAD, iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }, privateKey, 'ES256');
    const response = await gatehouse.check(SEED.aud, '/api/v1/import', { headers: bearer(token) });
    assert.equal(response.status, 401);
    assert.equal(response.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="token expired"');
    assert.equal(response.headers['x-gatehouse-reason'], 'bearer-invalid');
    assert.deepEqual(JSON.parse(response.body), { error: 'invalid_token', reason: 'bearer-invalid' });
  });

  test('signed by another key: 401 invalid_token', async () => {
    const token = signJws(HEADER, PAYLOAD, other.privateKey, 'ES256');
    const response = await gatehouse.check(SEED.aud, '/api/v1/import', { headers: bearer(token) });
    assert.equal(response.status, 401);
    assert.match(String(response.headers['www-authenticate']), /^Bearer error="invalid_token"/);
    assert.equal(response.headers['x-gatehouse-reason'], 'bearer-invalid');
    assert.equal(response.headers['x-auth-request-user'], undefined);
  });

  test('no token: 401 bearer-missing with a bare Bearer challenge (RFC 6750 §3.1: no error code), never a redirect', async () => {
    for (const headers of [{}, { accept: 'text/html', 'sec-fetch-mode': 'navigate' }]) {
      const response = await gatehouse.check(SEED.aud, '/api/v1/import', { headers });
      assert.equal(response.status, 401);
      assert.equal(response.headers['x-gatehouse-reason'], 'bearer-missing');
      assert.equal(response.headers.location, undefined);
      const challenge = String(response.headers['www-authenticate']);
      assert.match(challenge, /^Bearer\b/);
      assert.doesNotMatch(challenge, /error=/);
    }
  });

  test('no answer and no log line carries the token', async () => {
    const bad = signJws(HEADER, PAYLOAD, other.privateKey, 'ES256');
    const response = await gatehouse.check(SEED.aud, '/api/v1/import', { headers: bearer(bad) });
    assert.equal(response.body.includes(bad), false);
    assert.equal(JSON.stringify(response.headers).includes(bad.split('.')[2]!), false);
    const logs = gatehouse.logs.join('\n');
    assert.ok(logs.includes('bearer token rejected'), 'the refusal is logged');
    for (const token of [SEED_TOKEN, bad]) assert.equal(logs.includes(token.split('.')[2]!), false, 'a signature reached the log');
  });
});
