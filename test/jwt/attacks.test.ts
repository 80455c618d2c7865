/**
 * security-cases.md section A (JWT-01..JWT-34) and DOS-01/02/04/05 against bearer profiles: every token here
 * is built byte by byte, so the verifier sees exactly the attack the catalogue describes. Profile-level
 * cases run on compileProfile with a frozen clock and a fetch spy (no token may make gatehouse fetch a URL
 * of its choosing); transport cases (JWT-30, DOS-01) run through a real gatehouse; rotation and broken
 * JWKS cases (JWT-32/33) run against a JWKS server on loopback whose fetches are counted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type ProfileConfig } from '../../src/config/index.js';
import { compileProfile, type BearerProfile, type ProfileEnvironment, type ProfileResult } from '../../src/jwt/index.js';
import { baseEnv } from '../support/gatehouse-fixture.js';
import { b64url, ecKeys, edKeys, fetchSpy, indent, publicJwk, REQUEST, rsaKeys, seedPem, signature, signJws, spkiPem, startJwksServer, startProfileGatehouse, type JwksServer, type ProfileGatehouse } from './support.js';

const NOW = 1_800_000_000;
const ISS = 'https://idp.test/realms/home';
const API = 'https://api.homelab.example.com';
const ec = ecKeys();
const rsa = rsaKeys();
const ed = edKeys();
const attacker = ecKeys();
const attackerRsa = rsaKeys();
const EC_PEM = seedPem(ec.publicKey);
const RSA_PEM = spkiPem(rsa.publicKey);
const HMAC_SECRET = 'a-hmac-secret-of-more-than-32-bytes-for-hs256';

const payload = (extra: Record<string, unknown> = {}) => ({ iss: ISS, sub: 'device-1', aud: API, iat: NOW - 10, exp: NOW + 3600, ...extra });
const KEYS = { 'k-es': EC_PEM, 'k-rsa': RSA_PEM, 'k-ed': spkiPem(ed.publicKey) };
/** The catalogue's fixture as a profile: static keys by kid, exact issuer and audience. */
const FIXTURE: ProfileConfig = { issuers: [ISS], skipPrefetch: true, audiences: [API], secrets: KEYS };

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-jwt-attacks-'));
const opened: { close(): void }[] = [];
after(() => {
  for (const profile of opened) profile.close();
  rmSync(dir, { recursive: true, force: true });
});

function environment(extra: Partial<ProfileEnvironment> = {}): ProfileEnvironment & { urls: string[] } {
  const spy = fetchSpy();
  return { env: {}, timeoutMs: 300, now: () => NOW * 1000, fetch: spy.fetch, urls: spy.urls, ...extra };
}

function profileOf(config: ProfileConfig, env: ProfileEnvironment = environment()): BearerProfile {
  const profile = compileProfile('attacks', config, env);
  opened.push(profile);
  return profile;
}

const fixtureEnv = environment();
const fixture = profileOf(FIXTURE, fixtureEnv);
/** The same keys with no remote issuer at all: nothing can ever be fetched. */
const staticEnv = environment();
const staticOnly = profileOf({ audiences: [API], secrets: KEYS }, staticEnv);

const es = (header: Readonly<Record<string, unknown>> | string = { alg: 'ES256', typ: 'JWT', kid: 'k-es' }, claims: Readonly<Record<string, unknown>> | string = payload()) => signJws(header, claims, ec.privateKey, 'ES256');
const rs = (header: Readonly<Record<string, unknown>> | string = { alg: 'RS256', kid: 'k-rsa' }, claims: Readonly<Record<string, unknown>> | string = payload()) => signJws(header, claims, rsa.privateKey, 'RS256');

async function expectInvalid(profile: BearerProfile, token: string, label: string, description?: RegExp, maxMs = 1000): Promise<void> {
  const started = performance.now();
  let result: ProfileResult;
  try {
    result = await profile.check(token, REQUEST);
  } catch (error) {
    assert.fail(`${label}: check threw ${String(error)}`);
  }
  assert.equal(result.kind, 'invalid', `${label}: expected invalid, got ${JSON.stringify(result).slice(0, 300)}`);
  assert.equal(result.reason, 'bearer-invalid', label);
  if (description !== undefined) assert.match(result.description, description, label);
  assert.ok(performance.now() - started < maxMs, `${label}: took ${Math.round(performance.now() - started)} ms`);
}

async function expectValid(profile: BearerProfile, token: string, label: string): Promise<Record<string, unknown>> {
  const result = await profile.check(token, REQUEST);
  assert.equal(result.kind, 'valid', `${label}: expected valid, got ${JSON.stringify(result).slice(0, 300)}`);
  return result.claims;
}

const parts = (token: string) => token.split('.') as [string, string, string];

describe('baseline', () => {
  test('honest ES256, RS256, EdDSA tokens verify; nothing is fetched', async () => {
    await expectValid(fixture, es(), 'ES256');
    await expectValid(fixture, rs(), 'RS256');
    await expectValid(fixture, signJws({ alg: 'EdDSA', kid: 'k-ed' }, payload(), ed.privateKey, 'EdDSA'), 'EdDSA');
    assert.deepEqual(fixtureEnv.urls, []);
  });
});

describe('algorithms and signatures', () => {
  test('JWT-01: alg none in every spelling, with an empty or a kept signature', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const header = b64url(JSON.stringify({ alg, typ: 'JWT' }));
      const body = b64url(JSON.stringify(payload()));
      await expectInvalid(fixture, `${header}.${body}.`, `alg ${alg}, empty signature`);
      const [, , kept] = parts(rs());
      await expectInvalid(fixture, `${b64url(JSON.stringify({ alg, kid: 'k-rsa' }))}.${body}.${kept}`, `alg ${alg}, RS256 signature kept`);
    }
  });

  test('JWT-02: alg missing, null, empty, a list, an object, padded or lower-case', async () => {
    const variants: unknown[] = [undefined, null, '', ['RS256'], {}, 'RS256 ', 'rs256', 'Rs256'];
    for (const alg of variants) {
      const header = alg === undefined ? { kid: 'k-rsa' } : { alg, kid: 'k-rsa' };
      await expectInvalid(fixture, rs(header), `alg ${alg === undefined ? 'missing' : JSON.stringify(alg)}`);
    }
  });

  test('JWT-03: empty signature, two segments, four segments, a one-byte signature', async () => {
    const [header, body] = parts(rs());
    for (const token of [`${header}.${body}.`, `${header}.${body}`, `${rs()}.${body}`, `${header}.${body}.AA`, `${header}.${body}.A`]) {
      await expectInvalid(fixture, token, token.slice(-12));
    }
  });

  test('JWT-04: a flipped signature byte, a wrong HMAC secret, a changed claim under the old signature', async () => {
    for (const token of [es(), rs()]) {
      const [header, body, sig] = parts(token);
      const bytes = Buffer.from(sig, 'base64url');
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
      await expectInvalid(fixture, `${header}.${body}.${b64url(bytes)}`, 'flipped last byte', /signature/);
      const forged = b64url(JSON.stringify(payload({ sub: 'admin' })));
      await expectInvalid(fixture, `${header}.${forged}.${sig}`, 'changed payload', /signature/);
    }
    const hs = profileOf({ audiences: [API], secret: HMAC_SECRET });
    await expectValid(hs, signJws({ alg: 'HS256' }, payload(), HMAC_SECRET, 'HS256'), 'HS256 with the configured secret');
    await expectInvalid(hs, signJws({ alg: 'HS256' }, payload(), `${HMAC_SECRET}!`, 'HS256'), 'HS256 with a wrong secret', /signature/);
  });

  test('JWT-05: HS256 signed with the RSA and EC public keys in every byte form', async () => {
    const rsaJwk = rsa.publicKey.export({ format: 'jwk' });
    const forms: [string, string | Buffer][] = [
      ['SPKI PEM', RSA_PEM],
      ['SPKI PEM without the trailing newline', RSA_PEM.trimEnd()],
      ['SPKI PEM with a leading newline', `\n${RSA_PEM}`],
      ['SPKI PEM with leading spaces', `  ${RSA_PEM}`],
      ['PKCS#1 PEM', rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
      ['SPKI DER', rsa.publicKey.export({ type: 'spki', format: 'der' })],
      ['JWK JSON', JSON.stringify(rsaJwk)],
      ['raw modulus', Buffer.from(rsaJwk.n ?? '', 'base64url')],
    ];
    for (const [label, secret] of forms) {
      for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
        await expectInvalid(fixture, signJws({ alg, kid: 'k-rsa' }, payload(), secret, alg), `${alg} with the RSA ${label}`, /cannot verify/);
        await expectInvalid(fixture, signJws({ alg }, payload(), secret, alg), `${alg} without kid, RSA ${label}`);
      }
    }
    const ecSpki = spkiPem(ec.publicKey);
    for (const [label, secret] of [['SPKI PEM', ecSpki], ['SPKI DER', ec.publicKey.export({ type: 'spki', format: 'der' })], ['JWK JSON', JSON.stringify(ec.publicKey.export({ format: 'jwk' }))]] as const) {
      await expectInvalid(fixture, signJws({ alg: 'HS256', kid: 'k-es' }, payload(), secret, 'HS256'), `HS256 with the EC ${label}`, /cannot verify/);
    }
    assert.deepEqual(fixtureEnv.urls, []);
  });

  test('JWT-06: HS256 keyed with the exact configured PEM text (the seed form, as secrets and as secret)', async () => {
    await expectInvalid(fixture, signJws({ alg: 'HS256', kid: 'k-es' }, payload(), EC_PEM, 'HS256'), 'EC PUBLIC KEY text', /cannot verify HS256/);
    await expectInvalid(fixture, signJws({ alg: 'HS256', kid: 'k-rsa' }, payload(), RSA_PEM, 'HS256'), 'RSA PUBLIC KEY text', /cannot verify HS256/);
    // jwt-middleware's fixed-secret mode: the PEM as the anonymous `secret`, tokens without kid.
    const fixed = profileOf({ audiences: [API], secret: EC_PEM });
    await expectValid(fixed, signJws({ alg: 'ES256' }, payload(), ec.privateKey, 'ES256'), 'ES256 against the fixed PEM secret');
    await expectInvalid(fixed, signJws({ alg: 'HS256' }, payload(), EC_PEM, 'HS256'), 'HS256 keyed with the fixed PEM text', /cannot verify HS256/);
    await expectInvalid(fixed, signJws({ alg: 'HS256', kid: 'anything' }, payload(), EC_PEM, 'HS256'), 'HS256 with a kid, keyed with the PEM text');
  });

  test('JWT-07: kty and alg must agree; keys verify only their own algorithm', async () => {
    await expectInvalid(fixture, signJws({ alg: 'RS256', kid: 'k-es' }, payload(), rsa.privateKey, 'RS256'), 'RS256 with the EC kid', /cannot verify RS256/);
    await expectInvalid(fixture, signJws({ alg: 'ES256', kid: 'k-rsa' }, payload(), ec.privateKey, 'ES256'), 'ES256 with the RSA kid', /cannot verify ES256/);
    await expectInvalid(fixture, signJws({ alg: 'ES384', kid: 'k-es' }, payload(), ec.privateKey, 'ES384'), 'ES384 signed with a P-256 key', /cannot verify ES384/);
    await expectInvalid(fixture, signJws({ alg: 'EdDSA', kid: 'k-es' }, payload(), ed.privateKey, 'EdDSA'), 'EdDSA with the EC kid', /cannot verify EdDSA/);
    await expectInvalid(fixture, signJws({ alg: 'ES256', kid: 'k-ed' }, payload(), ec.privateKey, 'ES256'), 'ES256 with the Ed25519 kid', /cannot verify ES256/);
    const rsOnly = profileOf({ ...FIXTURE, validMethods: ['RS256', 'ES256'] });
    await expectValid(rsOnly, rs(), 'RS256 when allowed');
    await expectInvalid(rsOnly, signJws({ alg: 'PS256', kid: 'k-rsa' }, payload(), rsa.privateKey, 'PS256'), 'PS256 when only RS256 is allowed', /not allowed/);
    await expectInvalid(rsOnly, signJws({ alg: 'RS512', kid: 'k-rsa' }, payload(), rsa.privateKey, 'RS512'), 'RS512 when only RS256 is allowed', /not allowed/);
    // The RSA key itself may do PS256 when it is allowed (default list).
    await expectValid(fixture, signJws({ alg: 'PS256', kid: 'k-rsa' }, payload(), rsa.privateKey, 'PS256'), 'PS256 by default');
  });

  test('JWT-08: psychic signatures (r = s = 0, r = s = n) are refused', async () => {
    const [header, body] = parts(es());
    const n = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');
    await expectInvalid(fixture, `${header}.${body}.${b64url(Buffer.alloc(64))}`, 'r = s = 0', /signature/);
    await expectInvalid(fixture, `${header}.${body}.${b64url(Buffer.concat([n, n]))}`, 'r = s = n', /signature/);
  });

  test('JWT-09: DER and wrong-length ECDSA signatures are refused; the high-S twin cannot escape a deny-list', async () => {
    const token = es(undefined, payload({ jti: 'revoked-1' }));
    const [header, body, sig] = parts(token);
    const der = sign('sha256', Buffer.from(`${header}.${body}`), { key: ec.privateKey, dsaEncoding: 'der' });
    assert.ok(der.length >= 68 && der.length <= 72);
    await expectInvalid(fixture, `${header}.${body}.${b64url(der)}`, 'DER signature', /signature/);
    const raw = Buffer.from(sig, 'base64url');
    await expectInvalid(fixture, `${header}.${body}.${b64url(raw.subarray(0, 63))}`, '63-byte signature', /signature/);
    await expectInvalid(fixture, `${header}.${body}.${b64url(Buffer.concat([raw, Buffer.from([0])]))}`, '65-byte signature', /signature/);
    await expectInvalid(fixture, `${header}.${body}.${b64url(Buffer.concat([Buffer.from([0]), raw]))}`, 'zero-prefixed signature', /signature/);

    // s' = n − s verifies too (ECDSA is malleable); revocation is keyed on decoded claims, so it stays revoked.
    const n = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
    const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
    const twin = `${header}.${body}.${b64url(Buffer.concat([raw.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]))}`;
    const denyList = join(dir, 'deny-09.txt');
    writeFileSync(denyList, 'jti:revoked-1\n');
    const revoking = profileOf({ ...FIXTURE, denyList });
    for (const variant of [token, twin]) {
      const result = await revoking.check(variant, REQUEST);
      assert.notEqual(result.kind, 'valid');
      if (result.kind === 'invalid' && result.description !== 'token revoked') assert.match(result.description, /signature/);
    }
    const original = await revoking.check(token, REQUEST);
    assert.deepEqual(original.kind === 'invalid' ? original.reason : original.kind, 'bearer-revoked');
  });
});

describe('kid and header parameters', () => {
  const traversal = ['../../../../../../dev/null', '/dev/null', '..\\..\\windows\\win.ini', '../../../../proc/self/environ'];
  const injection = ["x' UNION SELECT 'k' -- ", 'k-es|id', '$(id)', 'k-es\u0000../x', 'https://evil.com/key.pem', 'k-es ', ' k-es', 'K-ES'];

  test('JWT-10: kid path traversal, HS256 with an empty key or the file contents: refused, no file read', async () => {
    for (const kid of traversal) {
      for (const secret of ['', 'root:x:0:0:root:/root:/bin/bash\n']) {
        await expectInvalid(fixture, signJws({ alg: 'HS256', kid }, payload(), secret, 'HS256'), `kid ${kid}`);
        await expectInvalid(staticOnly, signJws({ alg: 'HS256', kid }, payload(), secret, 'HS256'), `kid ${kid}, static profile`);
      }
    }
  });

  test('JWT-11: kid injection: refused, no 5xx, no outbound request', async () => {
    for (const kid of injection) {
      await expectInvalid(staticOnly, signJws({ alg: 'ES256', kid }, payload(), ec.privateKey, 'ES256'), `kid ${JSON.stringify(kid)}`, /kid/);
      await expectInvalid(fixture, signJws({ alg: 'ES256', kid }, payload(), ec.privateKey, 'ES256'), `kid ${JSON.stringify(kid)} (with issuers)`);
    }
  });

  test('JWT-12: kid as an object key, a non-string, or 10 000 characters: refused without a prototype hit', async () => {
    const kids: unknown[] = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 1, { $ne: null }, ['k-es'], null, '', true, 'x'.repeat(10_000)];
    for (const kid of kids) {
      const token = signJws({ alg: 'ES256', kid }, payload(), ec.privateKey, 'ES256');
      await expectInvalid(staticOnly, token, `kid ${JSON.stringify(kid).slice(0, 20)}`);
      await expectInvalid(fixture, token, `kid ${JSON.stringify(kid).slice(0, 20)} (with issuers)`);
    }
  });

  test('JWT-13: jku and x5u are never fetched or used', async () => {
    const urls = ['https://evil.com/jwks.json', 'http://169.254.169.254/latest', `${ISS}/protocol/openid-connect/certs`];
    for (const jku of urls) {
      await expectInvalid(fixture, signJws({ alg: 'ES256', kid: 'atk', jku }, payload(), attacker.privateKey, 'ES256'), `jku ${jku}`);
      await expectInvalid(fixture, signJws({ alg: 'ES256', kid: 'k-es', jku }, payload(), attacker.privateKey, 'ES256'), `jku ${jku} with a known kid`, /signature/);
      await expectInvalid(fixture, signJws({ alg: 'ES256', kid: 'atk', x5u: jku }, payload(), attacker.privateKey, 'ES256'), `x5u ${jku}`);
    }
  });

  test('JWT-14: an embedded jwk or x5c is never the verification key', async () => {
    const jwk = publicJwk(attacker.publicKey, 'k-es');
    await expectInvalid(fixture, signJws({ alg: 'ES256', kid: 'k-es', jwk }, payload(), attacker.privateKey, 'ES256'), 'jwk header, known kid', /signature/);
    await expectInvalid(fixture, signJws({ alg: 'ES256', jwk }, payload(), attacker.privateKey, 'ES256'), 'jwk header, no kid');
    const x5c = [attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')];
    await expectInvalid(fixture, signJws({ alg: 'ES256', kid: 'k-es', x5c }, payload(), attacker.privateKey, 'ES256'), 'x5c header', /signature/);
    await expectInvalid(fixture, signJws({ alg: 'RS256', kid: 'k-rsa', jwk: publicJwk(attackerRsa.publicKey, 'k-rsa') }, payload(), attackerRsa.privateKey, 'RS256'), 'RSA jwk header', /signature/);
  });

  test('JWT-15: crit: a known claim, an unknown extension, an empty list, a string: all refused', async () => {
    const variants = [{ crit: ['exp'] }, { crit: ['urn:x:unknown'], 'urn:x:unknown': true }, { crit: [] }, { crit: 'b64' }, { crit: ['b64'] }, { crit: [1] }];
    for (const extra of variants) await expectInvalid(fixture, es({ alg: 'ES256', kid: 'k-es', ...extra }), `crit ${JSON.stringify(extra)}`);
  });

  test('JWT-16: b64:false (RFC 7797) is refused, with a raw or an encoded payload', async () => {
    const header = { alg: 'ES256', kid: 'k-es', b64: false, crit: ['b64'] };
    const raw = JSON.stringify(payload({ sub: 'admin' }));
    const headerPart = b64url(JSON.stringify(header));
    const unencoded = `${headerPart}.${raw}.${b64url(signature(`${headerPart}.${raw}`, 'ES256', ec.privateKey))}`;
    await expectInvalid(fixture, unencoded, 'unencoded payload', /compact/);
    const encodedPayload = `${headerPart}.${b64url(raw)}.${b64url(signature(`${headerPart}.${raw}`, 'ES256', ec.privateKey))}`;
    await expectInvalid(fixture, encodedPayload, 'b64:false with an encoded payload');
  });

  test('JWT-17, DOS-03: JWE (five segments) of every kind, PBES2 with p2c 2^31 and zip DEF included, is refused in well under 10 ms, nothing derived, inflated or decrypted', async () => {
    const segment = () => b64url(Buffer.from(Array.from({ length: 24 }, (_, index) => index)));
    const headers = [
      { alg: 'dir', enc: 'A256GCM' },
      { alg: 'RSA-OAEP', enc: 'A256GCM', kid: 'k-rsa' },
      { alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2_147_483_647, p2s: 'c2FsdHNhbHQ' },
      { alg: 'dir', enc: 'A256GCM', zip: 'DEF' },
      { alg: 'dir', enc: 'A256GCM', cty: 'JWT' },
    ];
    for (const header of headers) {
      const jwe = [b64url(JSON.stringify(header)), header.alg === 'dir' ? '' : segment(), segment(), segment(), segment()].join('.');
      const times: number[] = [];
      for (let run = 0; run < 3; run++) {
        const started = performance.now();
        await expectInvalid(fixture, jwe, `JWE ${header.alg}`, /compact/);
        times.push(performance.now() - started);
      }
      assert.ok(Math.min(...times) < 10, `JWE ${header.alg} took ${times.map(Math.round).join('/')} ms`);
    }
  });

  test('JWT-18: JSON serialisations and the polyglot are refused (compact JWS only)', async () => {
    const [header, body, sig] = parts(es());
    const forged = b64url(JSON.stringify(payload({ sub: 'admin' })));
    await expectInvalid(fixture, JSON.stringify({ protected: header, payload: body, signature: sig }), 'flattened JSON', /compact/);
    await expectInvalid(fixture, JSON.stringify({ payload: body, signatures: [{ protected: header, signature: sig }] }), 'general JSON', /compact/);
    await expectInvalid(fixture, JSON.stringify({ [header]: `.${forged}.`, protected: header, payload: body, signature: sig }), 'polyglot', /compact/);
    await expectInvalid(fixture, `${header}.${forged}.${sig} ${JSON.stringify({ protected: header, payload: body, signature: sig })}`, 'compact plus JSON', /compact/);
  });

  test('JWT-10..14: no URL from a token is ever fetched; the configured issuer at most once per cooldown', () => {
    assert.deepEqual(staticEnv.urls, [], 'a profile without issuers never fetches');
    // A token with an unknown kid that names the configured issuer may fetch that issuer's keys (the
    // jwt-middleware rotation rule), rate-limited: the frozen clock never leaves the first cooldown.
    for (const url of fixtureEnv.urls) assert.ok(url.startsWith(`${ISS}/.well-known/`), `fetched ${url}`);
    assert.ok(fixtureEnv.urls.length <= 2, `fetched ${fixtureEnv.urls.length} times: ${fixtureEnv.urls.join(', ')}`);
  });
});

describe('claims', () => {
  test('JWT-19: a token for another service, signed with the same key, is refused', async () => {
    await expectInvalid(fixture, es(undefined, payload({ aud: 'gateway' })), 'aud of the OIDC client', /aud/);
    await expectInvalid(fixture, es(undefined, payload({ aud: 'https://grafana.homelab.example.com' })), 'another API', /aud/);
  });

  test('JWT-20: aud missing, null, empty, an empty list', async () => {
    const { aud: _aud, ...withoutAud } = payload();
    await expectInvalid(fixture, es(undefined, withoutAud), 'aud missing', /aud/);
    for (const aud of [null, '', []]) await expectInvalid(fixture, es(undefined, payload({ aud })), `aud ${JSON.stringify(aud)}`, /aud/);
  });

  test('JWT-21: aud near-misses are refused (exact string equality)', async () => {
    for (const aud of [`${API}.evil.com`, API.slice(0, -1), `x${API}`, 'HTTPS://API.homelab.example.com', `${API}/`, ` ${API}`, `${API}\u0000`]) {
      await expectInvalid(fixture, es(undefined, payload({ aud })), `aud ${aud}`, /aud/);
    }
  });

  test('JWT-22: aud arrays: a list holding the audience passes; odd element types never do', async () => {
    await expectValid(fixture, es(undefined, payload({ aud: [API] })), 'aud [API]');
    await expectValid(fixture, es(undefined, payload({ aud: ['https://other', API] })), 'aud [other, API]');
    for (const aud of [[123], [null], [[API]], [{ 0: API }], { [API]: true }, Array.from({ length: 10_000 }, () => 'x')]) {
      await expectInvalid(fixture, es(undefined, payload({ aud })), `aud ${JSON.stringify(aud).slice(0, 40)}`);
    }
  });

  test('JWT-23: iss variants are refused (exact string equality)', async () => {
    const { iss: _iss, ...withoutIss } = payload();
    await expectInvalid(fixture, es(undefined, withoutIss), 'iss missing', /iss/);
    for (const iss of [`${ISS}/`, 'https://IDP.test/realms/home', `${ISS}2`, ISS.slice(0, -1), ['https://evil', ISS], null, 1]) {
      await expectInvalid(fixture, es(undefined, payload({ iss })), `iss ${JSON.stringify(iss)}`, /iss/);
    }
  });

  test('JWT-24: exp: required, numeric, with a 60 s leeway; fractional allowed', async () => {
    const { exp: _exp, ...withoutExp } = payload();
    await expectInvalid(fixture, es(undefined, withoutExp), 'exp missing', /exp/);
    await expectInvalid(fixture, es(undefined, payload({ exp: NOW - 61 })), 'exp now-61', /expired/);
    await expectValid(fixture, es(undefined, payload({ exp: NOW - 30 })), 'exp now-30 (within the leeway)');
    await expectValid(fixture, es(undefined, payload({ exp: NOW + 300.5 })), 'exp fractional');
    for (const exp of ['9999999999', -1, true, [], {}, null]) await expectInvalid(fixture, es(undefined, payload({ exp })), `exp ${JSON.stringify(exp)}`);
    const allowing = profileOf({ ...FIXTURE, allowNonExpiring: true });
    await expectValid(allowing, es(undefined, withoutExp), 'no exp with allowNonExpiring');
    await expectInvalid(allowing, es(undefined, payload({ exp: NOW - 61 })), 'an expired exp with allowNonExpiring', /expired/);
  });

  test('JWT-24: exp 1e400 (JSON.parse gives Infinity) is refused', async () => {
    const text = JSON.stringify(payload()).replace(`"exp":${NOW + 3600}`, '"exp":1e400');
    assert.match(text, /"exp":1e400/);
    await expectInvalid(fixture, es(undefined, text), 'exp 1e400');
  });

  test('JWT-25: nbf and iat: future values beyond the leeway, non-numbers and 1e400 are refused', async () => {
    await expectInvalid(fixture, es(undefined, payload({ nbf: NOW + 120 })), 'nbf now+120', /nbf/);
    await expectValid(fixture, es(undefined, payload({ nbf: NOW + 30 })), 'nbf now+30 (within the leeway)');
    await expectInvalid(fixture, es(undefined, payload({ iat: NOW + 3600 })), 'iat now+3600', /future/);
    await expectValid(fixture, es(undefined, payload({ iat: NOW + 30 })), 'iat now+30 (within the leeway)');
    for (const claim of ['nbf', 'iat']) {
      for (const value of ['"1"', 'true', '[]', '{}', '1e400']) {
        const text = JSON.stringify(payload()).replace(/}$/, `,"${claim}":${value}}`).replace(`"iat":${NOW - 10},`, claim === 'iat' ? '' : `"iat":${NOW - 10},`);
        await expectInvalid(fixture, es(undefined, text), `${claim} ${value}`);
      }
    }
    const tight = profileOf({ ...FIXTURE, leeway: '0s' });
    await expectInvalid(tight, es(undefined, payload({ exp: NOW - 1 })), 'leeway 0s: exp now-1', /expired/);
    assert.throws(() => compileProfile('x', { ...FIXTURE, leeway: '10m' }, environment()), /leeway: at most 5m/);
  });

  test('DOS-12: claims near 2^31 and 2^53 and a clock a day off never lead to acceptance; bad skew and refresh values are refused at config load', async () => {
    await expectInvalid(fixture, es(undefined, payload({ nbf: 2 ** 53 })), 'nbf 2^53');
    await expectInvalid(fixture, es(undefined, payload({ iat: 2 ** 53 })), 'iat 2^53', /future/);
    await expectInvalid(fixture, es(undefined, payload({ exp: -(2 ** 53) })), 'exp -2^53', /expired/);
    await expectInvalid(fixture, es(undefined, payload({ exp: 2 ** 31 - 2 ** 32 })), 'exp 2^31 wrapped to a negative 32-bit value', /expired/);
    await expectInvalid(fixture, es(undefined, payload({ exp: NOW - 3600, iat: 2 ** 31 })), 'an expired token with iat past 2^31', /expired|future/);
    await expectValid(fixture, es(undefined, payload({ exp: 2 ** 31 })), 'exp 2^31 (2038): a plain future date');
    const ahead = profileOf(FIXTURE, environment({ now: () => (NOW + 86_400) * 1000 }));
    await expectInvalid(ahead, es(), 'clock a day ahead: the hour-long token has expired', /expired/);
    const behind = profileOf(FIXTURE, environment({ now: () => (NOW - 86_400) * 1000 }));
    await expectInvalid(behind, es(), 'clock a day behind: the token is issued in the future', /future/);
    const file = join(dir, 'skew.yaml');
    const profile = (name: string, key: string, value: string) => `    ${name}:\n      secrets: { k: '${JSON.stringify(publicJwk(ec.publicKey, 'k'))}' }\n      ${key}: "${value}"\n`;
    writeFileSync(
      file,
      `bearer:\n  profiles:\n${profile('nan', 'leeway', 'NaN')}${profile('infinite', 'leeway', 'Infinity')}${profile('negative', 'leeway', '-5s')}${profile('wide', 'leeway', '10m')}${profile('loop', 'refreshKeysInterval', '0s')}${profile('backwards', 'refreshKeysInterval', '-1m')}${profile('late', 'delayPrefetch', '-1s')}`,
    );
    let problems: readonly { path: string; message: string }[] = [];
    assert.throws(
      () => loadConfig({ file, env: baseEnv({ issuer: 'https://idp.example.com', clientId: 'gatehouse', clientSecret: 'secret' }) }),
      (error: unknown) => {
        problems = error instanceof ConfigError ? error.problems : [];
        return error instanceof ConfigError;
      },
    );
    const said = (path: string) => problems.filter((problem) => problem.path === path).map((problem) => problem.message);
    assert.deepEqual(said('bearer.profiles.nan.leeway'), ['must be a Go duration such as 30s or 10m']);
    assert.deepEqual(said('bearer.profiles.infinite.leeway'), ['must be a Go duration such as 30s or 10m']);
    assert.deepEqual(said('bearer.profiles.negative.leeway'), ['must not be negative']);
    assert.deepEqual(said('bearer.profiles.loop.refreshKeysInterval'), ['must be at least 10s']);
    assert.deepEqual(said('bearer.profiles.backwards.refreshKeysInterval'), ['must not be negative']);
    assert.deepEqual(said('bearer.profiles.late.delayPrefetch'), ['must not be negative']);
    // 10m is a well-formed duration; the profile itself says it is too wide (every problem reported at once).
    assert.deepEqual(said('bearer.profiles.wide'), ['leeway: at most 5m']);
  });

  test('JWT-26: required claims (require): absent, null, another type or spelling never pass', async () => {
    const requiring = profileOf({ ...FIXTURE, require: { tenant: 'home', scope: 'gateway' } });
    await expectValid(requiring, es(undefined, payload({ tenant: 'home', scope: 'gateway' })), 'both claims');
    const cases: [string, Record<string, unknown>][] = [
      ['absent', { scope: 'gateway' }],
      ['null', { tenant: null, scope: 'gateway' }],
      ['a number', { tenant: 1, scope: 'gateway' }],
      ['a trailing NUL', { tenant: 'home\u0000', scope: 'gateway' }],
      ['another case', { tenant: 'Home', scope: 'gateway' }],
      ['an object without the key', { tenant: { other: 'home' }, scope: 'gateway' }],
      ['scope missing', { tenant: 'home' }],
    ];
    for (const [label, claims] of cases) {
      const result = await requiring.check(es(undefined, payload(claims)), REQUEST);
      assert.equal(result.kind, 'forbidden', `${label}: ${JSON.stringify(result).slice(0, 200)}`);
      assert.equal(result.reason, 'bearer-claim-not-allowed');
    }
    // jwt-middleware's documented semantics: a list claim passes when one element does.
    await expectValid(requiring, es(undefined, payload({ tenant: ['home'], scope: ['read', 'gateway'] })), 'list claims');
  });

  test('JWT-27: duplicate members: last wins everywhere, and a duplicate alg never becomes none', async () => {
    const mapping = profileOf({ ...FIXTURE, headerMap: { 'X-User': 'sub' } });
    const body = JSON.stringify(payload()).replace('"sub":"device-1"', '"sub":"alice","sub":"admin"');
    const claims = await expectValid(mapping, es(undefined, body), 'duplicate sub');
    assert.equal(claims.sub, 'admin');
    assert.deepEqual(mapping.headersFor(claims), { 'x-user': 'admin' });
    await expectInvalid(fixture, es('{"alg":"ES256","kid":"k-es","alg":"none"}'), 'duplicate alg, none last', /not allowed/);
    await expectValid(fixture, es('{"alg":"none","kid":"k-es","alg":"ES256"}'), 'duplicate alg, ES256 last');
    const audFirst = JSON.stringify(payload()).replace(`"aud":"${API}"`, `"aud":"other","aud":"${API}"`);
    await expectValid(fixture, es(undefined, audFirst), 'duplicate aud, the audience last');
    const audLast = JSON.stringify(payload()).replace(`"aud":"${API}"`, `"aud":"${API}","aud":"other"`);
    await expectInvalid(fixture, es(undefined, audLast), 'duplicate aud, another last', /aud/);
  });

  test('JWT-28: __proto__ and constructor claims pollute nothing and satisfy no requirement', async () => {
    const requiring = profileOf({ ...FIXTURE, require: { groups: 'admins' }, headerMap: { 'X-Groups': 'groups', 'X-Admin': 'admin' } });
    const polluting = [
      JSON.stringify(payload()).replace(/}$/, ',"__proto__":{"groups":["admins"],"admin":true}}'),
      JSON.stringify(payload()).replace(/}$/, ',"constructor":{"prototype":{"admin":true,"groups":["admins"]}}}'),
    ];
    for (const text of polluting) {
      const claims = await expectValid(fixture, es(undefined, text), 'polluting claims');
      assert.equal(Object.getPrototypeOf(claims), Object.prototype);
      assert.equal(claims.groups, undefined);
      assert.equal(({} as Record<string, unknown>).admin, undefined);
      assert.equal(({} as Record<string, unknown>).groups, undefined);
      const result = await requiring.check(es(undefined, text), REQUEST);
      assert.equal(result.kind, 'forbidden', JSON.stringify(result).slice(0, 200));
      assert.deepEqual(requiring.headersFor(claims), { 'x-groups': '', 'x-admin': '' });
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined, 'nothing leaked into Object.prototype');
  });

  test('JWT-29: non-canonical base64url spellings of a valid token are refused', async () => {
    let token = es();
    for (let attempt = 0; !/[-_]/.test(token) && attempt < 50; attempt++) token = es(undefined, payload({ jti: String(attempt) }));
    await expectValid(fixture, token, 'the canonical token');
    const [header, body, sig] = parts(token);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 64 bytes are 86 characters; the last holds 2 data bits and 4 unused ones.
    const last = alphabet.indexOf(sig.at(-1)!);
    const sameBytes = `${sig.slice(0, -1)}${alphabet[last ^ 1]!}`;
    assert.deepEqual(Buffer.from(sameBytes, 'base64url'), Buffer.from(sig, 'base64url'));
    const variants = [
      `${header}=.${body}.${sig}`,
      `${header}.${body}.${sig}==`,
      token.replaceAll('-', '+').replaceAll('_', '/'),
      `${header}.${body.slice(0, 10)}\n${body.slice(10)}.${sig}`,
      `${header}.${body}. ${sig}`,
      `${header}.${body}.${sameBytes}`,
      token.replace('.', '%2E'),
      encodeURIComponent(`${header}.${body}.${sig}=`),
    ];
    for (const variant of variants) await expectInvalid(fixture, variant, `variant ${variant.slice(-16)}`);
  });
});

describe('key selection', () => {
  test('JWT-31: no kid verifies only with the one key there is, or the anonymous secret', async () => {
    const single = profileOf({ audiences: [API], secrets: { only: EC_PEM } });
    await expectValid(single, signJws({ alg: 'ES256' }, payload(), ec.privateKey, 'ES256'), 'no kid, one key');
    await expectInvalid(fixture, signJws({ alg: 'ES256' }, payload(), ec.privateKey, 'ES256'), 'no kid, three keys', /no kid/);
    const anonymous = profileOf({ audiences: [API], secret: EC_PEM, secrets: { 'k-rsa': RSA_PEM } });
    await expectValid(anonymous, signJws({ alg: 'ES256' }, payload(), ec.privateKey, 'ES256'), 'no kid, the anonymous secret');
    // A kid never falls back to the anonymous secret (jwt-middleware did).
    await expectInvalid(anonymous, signJws({ alg: 'ES256', kid: 'unknown' }, payload(), ec.privateKey, 'ES256'), 'unknown kid with a secret', /kid/);
  });

  test('JWT-31: a JWK for encryption, a JWK alg its key cannot do, RSA under 2048 bits: refused at config', () => {
    const env = environment();
    assert.throws(() => compileProfile('x', { secrets: { enc: JSON.stringify(publicJwk(ec.publicKey, 'enc', { use: 'enc' })) } }, env), /secrets\.enc: .*use/);
    assert.throws(() => compileProfile('x', { secrets: { k: JSON.stringify(publicJwk(ec.publicKey, 'k', { alg: 'ES384' })) } }, env), /ES384/);
    assert.throws(() => compileProfile('x', { secrets: { k: JSON.stringify(publicJwk(ec.publicKey, 'k', { alg: 'RS256' })) } }, env), /RS256/);
    const small = rsaKeys(1024);
    assert.throws(() => compileProfile('x', { secrets: { small: spkiPem(small.publicKey) } }, env), /1024 bits is too small/);
    assert.throws(() => compileProfile('x', { secrets: { small: JSON.stringify(publicJwk(small.publicKey, 'small')) } }, env), /too small/);
    assert.throws(() => compileProfile('x', { secrets: { private: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } }, env), /private key/);
    assert.throws(() => compileProfile('x', { secrets: { private: JSON.stringify(ec.privateKey.export({ format: 'jwk' })) } }, env), /private JWK/);
    const file = join(dir, 'enc.yaml');
    writeFileSync(file, `bearer:\n  profiles:\n    devices:\n      secrets:\n        enc: '${JSON.stringify(publicJwk(ec.publicKey, 'enc', { use: 'enc' }))}'\n`);
    assert.throws(
      () => loadConfig({ file, env: baseEnv({ issuer: 'https://idp.example.com', clientId: 'gatehouse', clientSecret: 'secret' }) }),
      (error: unknown) => error instanceof ConfigError && error.problems.some((problem) => problem.code === 'ERR_CONFIG_BEARER_PROFILE_INVALID' && problem.path === 'bearer.profiles.devices'),
    );
  });

  test('JWT-31: a JWK alg binds the key to that algorithm only', async () => {
    const bound = profileOf({ audiences: [API], secrets: { r: JSON.stringify(publicJwk(rsa.publicKey, 'r', { alg: 'RS256', use: 'sig' })) } });
    await expectValid(bound, signJws({ alg: 'RS256', kid: 'r' }, payload(), rsa.privateKey, 'RS256'), 'RS256 as named');
    await expectInvalid(bound, signJws({ alg: 'PS256', kid: 'r' }, payload(), rsa.privateKey, 'PS256'), 'PS256 with an RS256 JWK', /cannot verify PS256/);
    await expectInvalid(bound, signJws({ alg: 'RS512', kid: 'r' }, payload(), rsa.privateKey, 'RS512'), 'RS512 with an RS256 JWK', /cannot verify RS512/);
  });

  test('JWT-34: weak HMAC secrets are refused at config; tokens signed with them never verify', async () => {
    const env = environment();
    for (const weak of ['secret', 'changeme', 'x'.repeat(31)]) {
      assert.throws(() => compileProfile('x', { secret: weak }, env), /HMAC secret of \d+ bytes; at least 32/);
      assert.throws(() => compileProfile('x', { secrets: { k: weak } }, env), /secrets\.k: is an HMAC secret/);
    }
    assert.throws(() => compileProfile('x', { secret: Buffer.from('short').toString('base64url'), secretBase64Encoded: true }, env), /at least 32/);
    assert.throws(() => compileProfile('x', { secret: '' }, env), /has no keys/);
    assert.throws(() => compileProfile('x', { secrets: { k: '' } }, env), /secrets\.k: is empty/);
    const file = join(dir, 'weak.yaml');
    writeFileSync(file, 'bearer:\n  profiles:\n    devices:\n      secret: changeme\n');
    assert.throws(
      () => loadConfig({ file, env: baseEnv({ issuer: 'https://idp.example.com', clientId: 'gatehouse', clientSecret: 'secret' }) }),
      (error: unknown) => error instanceof ConfigError && error.problems.some((problem) => problem.code === 'ERR_CONFIG_BEARER_PROFILE_INVALID' && /at least 32/.test(problem.message)),
    );
    const strong = profileOf({ audiences: [API], secret: HMAC_SECRET });
    for (const weak of ['', 'secret', 'changeme']) await expectInvalid(strong, signJws({ alg: 'HS256' }, payload(), weak, 'HS256'), `signed with '${weak}'`, /signature/);
  });
});

describe('remote keys (JWKS on loopback)', () => {
  let server: JwksServer;
  const k1 = ecKeys();
  const k3 = ecKeys();
  before(async () => {
    server = await startJwksServer([publicJwk(k1.publicKey, 'k1', { alg: 'ES256', use: 'sig' })]);
  });
  after(async () => {
    await server.close();
  });

  const remotePayload = (extra: Record<string, unknown> = {}) => ({ ...payload(), iss: server.issuer, ...extra });
  const signed = (key: KeyObject, kid: string, extra: Record<string, unknown> = {}) => signJws({ alg: 'ES256', kid }, remotePayload(extra), key, 'ES256');

  function remoteProfile(clock: { t: number }, extra: Partial<ProfileConfig> = {}, timeoutMs = 2000): BearerProfile {
    return profileOf({ issuers: [server.issuer], audiences: [API], ...extra }, { env: {}, timeoutMs, now: () => clock.t });
  }

  test('JWT-32: rotation: a new kid verifies after exactly one refetch; unknown kids fetch at most once per cooldown', async () => {
    server.mode = 'ok';
    server.keys = [publicJwk(k1.publicKey, 'k1', { alg: 'ES256', use: 'sig' })];
    server.hits.jwks = 0;
    server.hits.discovery = 0;
    const clock = { t: NOW * 1000 };
    const profile = remoteProfile(clock);
    profile.start();
    await expectValid(profile, signed(k1.privateKey, 'k1'), 'k1 after the prefetch');
    assert.equal(server.hits.jwks, 1, 'the prefetch only');
    assert.equal(server.hits.discovery, 1, 'discovery once');
    assert.equal(profile.status().ok, true);

    clock.t += 31_000;
    server.keys = [publicJwk(k1.publicKey, 'k1'), publicJwk(k3.publicKey, 'k3')];
    await expectValid(profile, signed(k3.privateKey, 'k3'), 'k3 after rotation');
    assert.equal(server.hits.jwks, 2, 'exactly one refetch for the new kid');

    const random = () => signed(attacker.privateKey, `rnd-${Math.random().toString(36).slice(2)}`);
    await Promise.all(Array.from({ length: 50 }, () => expectInvalid(profile, random(), 'random kid', /kid/)));
    assert.equal(server.hits.jwks, 2, 'no fetch inside the cooldown (DOS-04)');
    clock.t += 31_000;
    await Promise.all(Array.from({ length: 50 }, () => expectInvalid(profile, random(), 'random kid after the cooldown', /kid/)));
    assert.equal(server.hits.jwks, 3, 'one single-flight fetch for 50 concurrent unknown kids');
    await expectValid(profile, signed(k1.privateKey, 'k1', { jti: 'another' }), 'k1 still, from the cache');
    assert.equal(server.hits.jwks, 3);

    // A kid is looked up only at the issuer the token names, and only a configured one.
    await expectInvalid(profile, signJws({ alg: 'ES256', kid: 'k9' }, { ...remotePayload(), iss: 'https://elsewhere.example.com' }, attacker.privateKey, 'ES256'), 'unknown kid, unconfigured iss', /kid/);
    clock.t += 31_000;
    await expectInvalid(profile, signJws({ alg: 'ES256', kid: 'k9' }, { ...remotePayload(), iss: 'https://elsewhere.example.com' }, attacker.privateKey, 'ES256'), 'unknown kid, unconfigured iss', /kid/);
    assert.equal(server.hits.jwks, 3, 'an unconfigured iss fetches nothing');
  });

  test('JWT-32: a key that left the JWKS verifies nothing after the refresh, not even tokens it verified before', async () => {
    server.mode = 'ok';
    server.keys = [publicJwk(k1.publicKey, 'k1'), publicJwk(k3.publicKey, 'k3')];
    const clock = { t: NOW * 1000 };
    const profile = remoteProfile(clock);
    profile.start();
    const before = signed(k1.privateKey, 'k1', { jti: 'verified-before' });
    await expectValid(profile, before, 'k1 while published');
    server.keys = [publicJwk(k3.publicKey, 'k3')];
    clock.t += 31_000;
    await expectInvalid(profile, signed(attacker.privateKey, 'unknown'), 'an unknown kid triggers the refresh', /kid/);
    await expectInvalid(profile, signed(k1.privateKey, 'k1', { jti: 'signed-after' }), 'a new k1 token after k1 left', /kid/);
    await expectValid(profile, signed(k3.privateKey, 'k3'), 'k3 still');
    await expectInvalid(profile, before, 'the k1 token verified before k1 left', /kid/);
  });

  test('JWT-31/33: unusable keys in a JWKS are skipped; the good key still verifies; duplicate kids keep the first', async () => {
    server.mode = 'ok';
    server.keys = [
      { kty: 'AKP', alg: 'ML-DSA-44', kid: 'pq', pub: 'not-a-key' },
      { kty: 'XYZ', kid: 'xyz' },
      { kty: 'RSA', kid: 'bad-n', n: '!!!', e: 'AQAB' },
      publicJwk(rsaKeys(1024).publicKey, 'small'),
      publicJwk(ec.publicKey, 'enc', { use: 'enc' }),
      'not an object',
      publicJwk(k1.publicKey, 'k1'),
      publicJwk(attacker.publicKey, 'k1'),
    ] as Record<string, unknown>[];
    const profile = remoteProfile({ t: NOW * 1000 });
    profile.start();
    await expectValid(profile, signed(k1.privateKey, 'k1'), 'k1 next to broken keys');
    await expectInvalid(profile, signed(attacker.privateKey, 'k1'), 'the second key under the same kid', /signature/);
    await expectInvalid(profile, signed(ec.privateKey, 'enc'), 'a use:enc key', /kid/);
    await expectInvalid(profile, signed(attacker.privateKey, 'small'), 'an RSA-1024 key', /kid/);
    assert.equal(profile.status().ok, true);
  });

  for (const mode of ['status-500', 'html', 'hang', 'huge', 'redirect'] as const) {
    test(`JWT-33/DOS-05: JWKS ${mode} with an empty cache: invalid, never valid, and quickly`, async () => {
      server.mode = mode;
      const profile = remoteProfile({ t: NOW * 1000 }, {}, 300);
      const started = performance.now();
      await expectInvalid(profile, signed(k1.privateKey, 'k1'), `k1 with the JWKS ${mode}`, /kid/, 1500);
      assert.ok(performance.now() - started < 1500, `took ${Math.round(performance.now() - started)} ms`);
      assert.equal(profile.status().ok, false);
      server.mode = 'ok';
    });
  }

  test('JWT-33: an outage after a successful fetch keeps the last good keys', async () => {
    server.mode = 'ok';
    server.keys = [publicJwk(k1.publicKey, 'k1')];
    const clock = { t: NOW * 1000 };
    const profile = remoteProfile(clock, {}, 300);
    profile.start();
    await expectValid(profile, signed(k1.privateKey, 'k1', { jti: 'a' }), 'k1 while up');
    for (const mode of ['status-500', 'html', 'hang'] as const) {
      server.mode = mode;
      clock.t += 31_000;
      await expectInvalid(profile, signed(attacker.privateKey, `unknown-${mode}`), 'an unknown kid triggers a failing refetch', /kid/, 1500);
      await expectValid(profile, signed(k1.privateKey, 'k1', { jti: `during-${mode}` }), `k1 during the outage (${mode})`);
    }
    server.mode = 'ok';
  });

  test('skipPrefetch: nothing is fetched at start; the first unknown kid fetches', async () => {
    server.mode = 'ok';
    server.keys = [publicJwk(k1.publicKey, 'k1')];
    const before = server.hits.jwks;
    const profile = remoteProfile({ t: NOW * 1000 }, { skipPrefetch: true });
    profile.start();
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(server.hits.jwks, before);
    await expectValid(profile, signed(k1.privateKey, 'k1'), 'k1 fetched on demand');
    assert.equal(server.hits.jwks, before + 1);
  });

  test('an issuer given as {issuer, jwks} skips discovery', async () => {
    server.mode = 'ok';
    const discovery = server.hits.discovery;
    const profile = profileOf({ issuers: [{ issuer: server.issuer, jwks: server.jwksUri }], audiences: [API] }, { env: {}, timeoutMs: 1000, now: () => NOW * 1000 });
    await expectValid(profile, signed(k1.privateKey, 'k1'), 'k1 from the configured JWKS URL');
    assert.equal(server.hits.discovery, discovery);
  });

  test('wildcard issuers are refused at config', () => {
    assert.throws(() => compileProfile('x', { issuers: ['https://*.example.com'] }, environment()), /wildcard/);
  });
});

describe('denial of service', () => {
  test('DOS-01: a token over 16 KB is refused before any decoding, whatever it holds', async () => {
    const big = `${'a'.repeat(8 * 1024)}.${'b'.repeat(8 * 1024)}.c`;
    await expectInvalid(fixture, big, '16 KB + 3', /too large/);
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      await expectInvalid(fixture, 'x'.repeat(1024 * 1024), '1 MB', /too large/);
      times.push(performance.now() - started);
    }
    assert.ok(Math.min(...times) < 50, `1 MB token: ${times.map(Math.round).join('/')} ms`);
  });

  test('DOS-02: 100 000 dots, 10 000 segments, deep JSON and huge arrays: refused in linear time', async () => {
    const cases: [string, string][] = [
      ['100 000 dots', '.'.repeat(100_000)],
      ['16 000 dots', '.'.repeat(16_000)],
      ['5 000 segments', Array.from({ length: 5000 }, () => 'ab').join('.')],
      ['deep header', `${b64url(`{"alg":"ES256","kid":"k-es","x":${'['.repeat(5000)}${']'.repeat(5000)}}`)}.${b64url('{}')}.AAAA`],
      ['deep payload', `${b64url('{"alg":"ES256","kid":"k-es"}')}.${b64url(`{"x":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`)}.AAAA`],
      ['long array', `${b64url('{"alg":"ES256","kid":"k-es"}')}.${b64url(`{"aud":[${Array.from({ length: 5000 }, () => '0').join(',')}]}`)}.AAAA`],
    ];
    for (const [label, token] of cases) {
      // The fastest of three runs, so a garbage-collection pause is not mistaken for super-linear work.
      const times: number[] = [];
      for (let run = 0; run < 3; run++) {
        const started = performance.now();
        await expectInvalid(fixture, token, label);
        times.push(performance.now() - started);
      }
      assert.ok(Math.min(...times) < 50, `${label}: ${times.map(Math.round).join('/')} ms`);
    }
  });
});

describe('the verified-token cache', () => {
  test('answers only for the exact token it verified: not a twin with the same signature, not the digest of a long one', async () => {
    const profile = profileOf(FIXTURE);
    const short = es();
    await expectValid(profile, short, 'short token');
    await expectValid(profile, short, 'short token again, from the cache');
    // Same tail (the signature), another payload: the cache is indexed by the tail, but confirms the whole token.
    const [header, , sig] = parts(short);
    await expectInvalid(profile, `${header}.${b64url(JSON.stringify(payload({ sub: 'someone-else' })))}.${sig}`, 'payload swapped under a cached signature');

    const long = es(undefined, payload({ pad: 'p'.repeat(3000) }));
    assert.ok(long.length > 2048);
    await expectValid(profile, long, 'long token');
    await expectValid(profile, long, 'long token again, from the cache');
    const digest = createHash('sha256').update(long).digest('base64url');
    await expectInvalid(profile, digest, "the long token's digest, presented as a token");
  });
});

describe('bearer transport through gatehouse (JWT-30, DOS-01)', () => {
  let gatehouse: ProfileGatehouse;
  const host = 'api.homelab.example.com';
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const live = () => {
    const claims: Record<string, unknown> = { ...payload(), iat: nowSeconds(), exp: nowSeconds() + 600 };
    return signJws({ alg: 'ES256', kid: 'k-es' }, claims, ec.privateKey, 'ES256');
  };
  const profileYaml = (extra: string) => `      issuers: [${ISS}]
      skipPrefetch: true
      audiences: [${API}]
      secrets:
        k-es: |
${indent(EC_PEM, 10)}
${extra}`;

  before(async () => {
    gatehouse = await startProfileGatehouse(`bearer:
  profiles:
    devices:
${profileYaml('')}
    devices-query:
${profileYaml('      parameterName: access_token\n')}
routes:
  - name: api
    hosts: [${host}]
    auth: [bearer:devices]
  - name: query
    hosts: [query.homelab.example.com]
    auth: [bearer:devices-query]
`);
  });
  after(async () => {
    await gatehouse.close();
  });

  const status = async (authorization: string | readonly string[] | undefined, uri = '/', target = host) => {
    const response = await gatehouse.check(target, uri, { headers: authorization === undefined ? {} : { authorization } });
    return { status: response.status, reason: response.headers['x-gatehouse-reason'], challenge: response.headers['www-authenticate'] };
  };

  test('JWT-30: the Bearer scheme is case-insensitive and may be followed by several spaces (RFC 6750 §2.1: 1*SP)', async () => {
    const token = live();
    for (const value of [`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`]) {
      assert.equal((await status(value)).status, 202, value.slice(0, 10));
    }
    // jwt-middleware reads the header with or without the Bearer prefix.
    assert.equal((await status(token)).status, 202);
  });

  test('JWT-30: other schemes, trailing junk and an empty Bearer are refused', async () => {
    const token = live();
    for (const value of [`Basic ${token}`, `Basic ${Buffer.from('device:password').toString('base64')}`, `Bearer ${token} junk`, 'Bearer', 'Bearer ', `Token ${token}`, `Bearer ${token}, Bearer ${token}`]) {
      const answer = await status(value);
      assert.equal(answer.status, 401, value.slice(0, 12));
      assert.ok(answer.reason === 'bearer-invalid' || answer.reason === 'bearer-missing', `${value.slice(0, 12)}: ${String(answer.reason)}`);
      assert.match(String(answer.challenge), /^Bearer/);
    }
  });

  test('JWT-30: two Authorization headers are refused, whichever comes first', async () => {
    const token = live();
    const forged = es();
    for (const pair of [[`Bearer ${token}`, `Bearer ${forged}`], [`Bearer ${forged}`, `Bearer ${token}`]]) {
      const answer = await status(pair);
      assert.ok(answer.status === 400 || answer.status === 401, `two Authorization headers (${pair[0] === `Bearer ${token}` ? 'valid first' : 'forged first'}) answered ${answer.status}`);
    }
  });

  test('JWT-30: a token in the query is not read unless parameterName says so', async () => {
    const token = live();
    const plain = await status(undefined, `/?access_token=${token}`);
    assert.equal(plain.status, 401);
    assert.equal(plain.reason, 'bearer-missing');
    assert.equal((await status(undefined, `/?access_token=${token}`, 'query.homelab.example.com')).status, 202);
    assert.equal((await status(undefined, `/?token=${token}`, 'query.homelab.example.com')).status, 401);
  });

  test('DOS-01: a 20 KB token is refused as invalid; a 64 KB Authorization header gets 431', async () => {
    const twenty = await status(`Bearer ${'a'.repeat(10_000)}.${'b'.repeat(10_000)}.c`);
    assert.equal(twenty.status, 401);
    assert.match(String(twenty.challenge), /token too large/);
    const huge = await gatehouse.check(host, '/', { headers: { authorization: `Bearer ${'a'.repeat(64 * 1024)}` } });
    assert.equal(huge.status, 431);
  });
});
