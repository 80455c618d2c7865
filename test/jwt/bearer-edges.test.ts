/**
 * Edges of bearer verification: binary base64 HMAC secrets, the memo kept with a cached token, the
 * provider's verified-token cache, discovery
 * that fails once, claims that are not Latin-1 in `headerMap`, symmetric keys in a published key set, the provider's logout tokens offered as
 * bearer tokens (JWT-19b), and a token header that would break `WWW-Authenticate`.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { compileProfile, type BearerProfile, type ProfileEnvironment } from '../../src/jwt/index.js';
import { createProviderBearerVerifier } from '../../src/jwt/provider-bearer.js';
import { createRemoteKeySet } from '../../src/jwt/remote-jwks.js';
import { b64url, ecKeys, indent, publicJwk, REQUEST, seedPem, signJws, startJwksServer, startProfileGatehouse } from './support.js';

const NOW = 1_800_000_000;
const ISS = 'https://idp.test/realms/home';
const API = 'https://api.homelab.example.com';
const ec = ecKeys();
const payload = (extra: Record<string, unknown> = {}) => ({ iss: ISS, sub: 'device-1', aud: API, iat: NOW - 10, exp: NOW + 3600, ...extra });
const opened: BearerProfile[] = [];
after(() => {
  for (const profile of opened) profile.close();
});
const env = (extra: Partial<ProfileEnvironment> = {}): ProfileEnvironment => ({ env: {}, timeoutMs: 500, now: () => NOW * 1000, ...extra });
const host = 'api.homelab.example.com';

/** A gatehouse whose one route takes the `devices` profile's ES256 tokens; `profileExtra` adds profile keys. */
const devicesGatehouse = (profileExtra = '') =>
  startProfileGatehouse(`bearer:
  profiles:
    devices:
      issuers: [${ISS}]
      skipPrefetch: true
      audiences: [${API}]${profileExtra}
      secrets:
        k-es: |
${indent(seedPem(ec.publicKey), 10)}
routes:
  - name: api
    hosts: [${host}]
    auth: [bearer:devices]
`);

describe('bearer verification edges', () => {
  test('secretBase64Encoded: a binary HMAC secret verifies tokens signed with those bytes', async () => {
    // A random 32-byte secret, as `openssl rand -base64 32` gives: most such secrets are not valid UTF-8.
    const secret = randomBytes(32);
    secret[0] = 0xff; // make sure at least one byte is not UTF-8
    const profile = compileProfile('b64', { issuers: [ISS], skipPrefetch: true, audiences: [API], secret: secret.toString('base64url'), secretBase64Encoded: true }, env());
    opened.push(profile);
    const token = signJws({ alg: 'HS256', typ: 'JWT' }, payload(), secret, 'HS256');
    const result = await profile.check(token, REQUEST);
    assert.equal(result.kind, 'valid', JSON.stringify(result));
  });

  test('a memo comes with a token from its second check on, the same one while it stays cached', async () => {
    const profile = compileProfile('memo', { issuers: [ISS], skipPrefetch: true, audiences: [API], secrets: { 'k-es': seedPem(ec.publicKey) } }, env());
    opened.push(profile);
    const token = signJws({ alg: 'ES256', kid: 'k-es' }, payload({ jti: 'memo-1' }), ec.privateKey, 'ES256');
    const first = await profile.check(token, REQUEST);
    assert.ok(first.kind === 'valid', JSON.stringify(first));
    assert.equal(first.memo, undefined, 'nothing is kept for a token seen once');
    const second = await profile.check(token, REQUEST);
    const third = await profile.check(token, REQUEST);
    assert.ok(second.kind === 'valid' && third.kind === 'valid');
    assert.ok(second.memo !== undefined, 'a cached token brings its memo');
    second.memo.facts = 'worked out';
    assert.equal(third.memo, second.memo, 'the same memo on every later check');
    assert.equal(third.claims, first.claims, 'and the same claims object');
    const other = await profile.check(signJws({ alg: 'ES256', kid: 'k-es' }, payload({ jti: 'memo-2' }), ec.privateKey, 'ES256'), REQUEST);
    assert.equal(other.kind === 'valid' ? other.memo : 'x', undefined, 'another token does not share it');
  });

  test('discovery that fails once is tried again (the jwks.json fallback is not kept forever)', async () => {
    let discoveryUp = false;
    const jwk = publicJwk(ec.publicKey, 'k1');
    const fetchFn = ((input: string | URL | Request) => {
      const url = input instanceof Request ? input.url : input.toString();
      if (url.endsWith('/.well-known/openid-configuration')) {
        return Promise.resolve(discoveryUp ? new Response(JSON.stringify({ jwks_uri: 'https://idp.test/certs' }), { status: 200 }) : new Response('down', { status: 503 }));
      }
      if (url === 'https://idp.test/certs') return Promise.resolve(new Response(JSON.stringify({ keys: [jwk] }), { status: 200 }));
      return Promise.resolve(new Response('not found', { status: 404 }));
    }) as typeof fetch;
    let clock = 0;
    const set = createRemoteKeySet({ issuer: 'https://idp.test', timeoutMs: 500, cooldownMs: 10, fetch: fetchFn, now: () => clock });
    try {
      await set.refresh(); // the issuer is briefly down at start
      discoveryUp = true;
      clock += 1000;
      await set.refresh();
      clock += 1000;
      assert.notEqual(await set.get('k1'), undefined, 'the key from the discovered jwks_uri is never found');
    } finally {
      set.close();
    }
  });

  test('a valid token whose mapped claim is not Latin-1 is allowed (headerMap), not a 500', async () => {
    const gatehouse = await devicesGatehouse('\n      headerMap:\n        X-Name: name');
    try {
      const nowS = Math.floor(Date.now() / 1000);
      const token = signJws({ alg: 'ES256', kid: 'k-es' }, { ...payload(), iat: nowS, exp: nowS + 600, name: '山田 太郎' }, ec.privateKey, 'ES256');
      const ok = await gatehouse.check(host, '/', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 202, `status ${ok.status}`);
      assert.equal(ok.headers['x-name'], '%E5%B1%B1%E7%94%B0 %E5%A4%AA%E9%83%8E', 'percent-encoded as the identity headers are');
    } finally {
      await gatehouse.close();
    }
  });

  test('a symmetric (oct) key in a fetched key set is never used: a published secret would let anyone sign', async () => {
    const secret = randomBytes(32);
    const jwks = await startJwksServer([{ kty: 'oct', kid: 'pub-oct', k: b64url(secret), alg: 'HS256' }, publicJwk(ec.publicKey, 'k-ec')]);
    const set = createRemoteKeySet({ issuer: jwks.issuer, jwksUri: jwks.jwksUri, timeoutMs: 500 });
    try {
      await set.refresh();
      assert.equal(await set.get('pub-oct'), undefined);
      assert.notEqual(await set.get('k-ec'), undefined, 'the asymmetric key beside it is used');
      const profile = compileProfile('remote', { issuers: [{ issuer: ISS, jwks: jwks.jwksUri }], audiences: [API] }, env({ now: Date.now }));
      opened.push(profile);
      const nowS = Math.floor(Date.now() / 1000);
      const forged = signJws({ alg: 'HS256', kid: 'pub-oct' }, { ...payload(), iat: nowS, exp: nowS + 600, sub: 'admin' }, secret, 'HS256');
      const result = await profile.check(forged, REQUEST);
      assert.equal(result.kind, 'invalid', JSON.stringify(result));
    } finally {
      set.close();
      await jwks.close();
    }
  });

  test("the provider's tokens are cached once verified, and leave the cache with their key or their exp", async () => {
    const first = await startJwksServer([publicJwk(ec.publicKey, 'k-ec', { alg: 'ES256' })]);
    const other = ecKeys();
    const second = await startJwksServer([publicJwk(other.publicKey, 'k-other', { alg: 'ES256' })]);
    let jwksUri = first.jwksUri;
    const verifier = createProviderBearerVerifier({ issuer: first.issuer, audiences: ['gatehouse'], jwksUri: () => jwksUri, timeoutMs: 500, clockToleranceSeconds: 0 });
    try {
      verifier.warm();
      await new Promise((resolve) => setTimeout(resolve, 150));
      const nowS = Math.floor(Date.now() / 1000);
      const token = signJws({ alg: 'ES256', kid: 'k-ec' }, { iss: first.issuer, aud: 'gatehouse', sub: 'alice', iat: nowS, exp: nowS + 120 }, ec.privateKey, 'ES256');
      const claims = await verifier.verify(token);
      assert.equal(await verifier.verify(token), claims, 'a repeat check answers from the cache (the same claims object)');
      const brief = signJws({ alg: 'ES256', kid: 'k-ec' }, { iss: first.issuer, aud: 'gatehouse', sub: 'bob', iat: nowS, exp: nowS + 1 }, ec.privateKey, 'ES256');
      assert.equal((await verifier.verify(brief)).sub, 'bob');
      while (Date.now() / 1000 < nowS + 1) await new Promise((resolve) => setTimeout(resolve, 100));
      await assert.rejects(verifier.verify(brief), /token expired/, 'a cached token ends at its exp');
      // The provider moves to a key set without the token's key: the cached token goes with the key.
      jwksUri = second.jwksUri;
      verifier.warm();
      await new Promise((resolve) => setTimeout(resolve, 150));
      await assert.rejects(verifier.verify(token), /no provider key has this kid/);
    } finally {
      verifier.close();
      await first.close();
      await second.close();
    }
  });

  test("JWT-19b: the provider's logout token is not a bearer token, by its typ or by its events claim", async () => {
    const jwks = await startJwksServer([publicJwk(ec.publicKey, 'k-ec', { alg: 'ES256' })]);
    const verifier = createProviderBearerVerifier({ issuer: jwks.issuer, audiences: ['gatehouse'], jwksUri: () => jwks.jwksUri, timeoutMs: 500, clockToleranceSeconds: 30 });
    try {
      verifier.warm();
      const nowS = Math.floor(Date.now() / 1000);
      const claims = { iss: jwks.issuer, aud: 'gatehouse', sub: 'alice', iat: nowS, exp: nowS + 120 };
      const events = { events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, jti: 'j-1' };
      const honest = signJws({ alg: 'ES256', kid: 'k-ec' }, claims, ec.privateKey, 'ES256');
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal((await verifier.verify(honest)).sub, 'alice', 'control: an ID token-shaped token passes');
      const byType = signJws({ alg: 'ES256', kid: 'k-ec', typ: 'logout+jwt' }, { ...claims, ...events }, ec.privateKey, 'ES256');
      await assert.rejects(verifier.verify(byType), /a logout token is not a bearer token/);
      const byEvents = signJws({ alg: 'ES256', kid: 'k-ec', typ: 'JWT' }, { ...claims, ...events }, ec.privateKey, 'ES256');
      await assert.rejects(verifier.verify(byEvents), /a logout token is not a bearer token/);
    } finally {
      verifier.close();
      await jwks.close();
    }
  });

  test('a token whose alg holds line breaks or non-Latin-1 text is a 401 with a clean WWW-Authenticate, not a 500', async () => {
    const gatehouse = await devicesGatehouse();
    try {
      for (const alg of ['ES256\r\nSet-Cookie: x=1', 'ES256\u2603"\\']) {
        const token = `${b64url(JSON.stringify({ alg, kid: 'k-es' }))}.${b64url(JSON.stringify(payload()))}.${b64url('sig')}`;
        const answer = await gatehouse.check(host, '/', { headers: { authorization: `Bearer ${token}` } });
        assert.equal(answer.status, 401, JSON.stringify(alg));
        const challenge = String(answer.headers['www-authenticate']);
        assert.match(challenge, /^Bearer error="invalid_token", error_description="the algorithm ES256(Set-Cookie: x=1)? is not allowed"$/, challenge);
        assert.equal(answer.headers['set-cookie'], undefined);
      }
    } finally {
      await gatehouse.close();
    }
  });
});
