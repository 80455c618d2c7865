/**
 * Bearer profiles against jwt-middleware (its validate.go and jwt.go, v1.2.1 to v1.4.1): the behaviour a
 * pasted plugin block depends on, and where gatehouse is deliberately safer (each such case is a row of the
 * differences table in docs/bearer.md). The last group checks other statements of docs/bearer.md.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { loadConfig, type ProfileConfig } from '../../src/config/index.js';
import { compileProfile, compileRequire, parseKeyText, parseTemplate, profileWarnings, type BearerProfile, type ProfileResult, type TemplateRequest } from '../../src/jwt/index.js';
import { baseEnv } from '../support/gatehouse-fixture.js';
import { ecKeys, profileFixture, REQUEST, rsaKeys, signJws, spkiPem, startJwksServer, startProfileGatehouse, type JwksServer, type ProfileGatehouse } from './support.js';

const NOW = 1_800_000_000;
const ISS = 'https://devices.homelab.example.com';
const { privateKey, publicKey, pem: PEM, keys: KEYS, dir, opened, token, profileOf } = profileFixture('parity', NOW, ISS);
const NO_ENV: ReadonlyMap<string, string> = new Map();

/** `pass`, `forbidden:<claim>` or `invalid:<why>` for a token with `claims` (or a raw token text). */
async function outcome(profile: BearerProfile, claims: Record<string, unknown> | string, request: TemplateRequest & { ip: string } = REQUEST): Promise<string> {
  const result: ProfileResult = await profile.check(typeof claims === 'string' ? claims : token(claims), request);
  if (result.kind === 'valid') return 'pass';
  if (result.kind === 'forbidden') return `forbidden:${/claim (\S+)/.exec(result.description)?.[1] ?? result.reason}`;
  return result.kind === 'invalid' ? `invalid:${result.description}` : result.kind;
}

/** The configuration problems of a YAML file, or [] when it loads. */
function configProblems(yaml: string): string[] {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  try {
    loadConfig({ file, env: baseEnv({ issuer: 'https://idp.example.com', clientId: 'gatehouse', clientSecret: 'secret' }) });
    return [];
  } catch (error) {
    const problems = (error as { problems?: { code: string; message: string }[] }).problems;
    return problems === undefined ? [String(error)] : problems.map((problem) => `${problem.code}: ${problem.message}`);
  }
}

const HMAC = 'a-hmac-secret-of-more-than-32-bytes-for-hs256';

describe('require: jwt-middleware v1.3.1+ semantics', () => {
  test('a one-key {$or: [...]} or {$and: [...]} map at the top of require combines whole claim maps', async () => {
    const either = profileOf({ require: { $or: [{ aud: 'vminsert.homelab.example.com' }, { role: 'admin' }] } });
    assert.equal(await outcome(either, { role: 'admin' }), 'pass');
    assert.equal(await outcome(either, { aud: 'vminsert.homelab.example.com' }), 'pass');
    assert.equal(await outcome(either, { role: 'user' }), 'forbidden:$or');
    const both = profileOf({ require: { $and: [{ aud: 'vminsert.homelab.example.com' }, { role: 'admin' }] } });
    assert.equal(await outcome(both, { aud: 'vminsert.homelab.example.com', role: 'admin' }), 'pass');
    assert.equal(await outcome(both, { aud: 'vminsert.homelab.example.com', role: 'user' }), 'forbidden:role', 'the failing claim is named');
    const nested = profileOf({ require: { $or: [{ $and: [{ role: 'hr' }, { level: 3 }] }, { role: 'admin' }] } });
    assert.equal(await outcome(nested, { role: ['hr', 'power'], level: 3 }), 'pass');
    assert.equal(await outcome(nested, { role: 'hr', level: 2 }), 'forbidden:$or');
  });

  test('a list inside $and keeps $and: every item must pass', () => {
    const check = compileRequire({ role: { $and: [['hr', 'power'], 'staff'] } }, NO_ENV);
    assert.deepEqual(check({ role: ['hr', 'staff'] }, REQUEST), { pass: false, claim: 'role' });
    assert.deepEqual(check({ role: ['hr', 'power', 'staff'] }, REQUEST), { pass: true });
  });

  test('$and or $or beside other keys, an unknown operator or an empty operator list is a configuration error', () => {
    assert.throws(() => compileRequire({ $or: [{ role: 'admin' }], aud: 'x' }, NO_ENV), /\$or must be the only key of its map/);
    assert.throws(() => compileRequire({ role: { $and: ['a'], other: 'b' } }, NO_ENV), /\$and must be the only key/);
    assert.throws(() => compileRequire({ $xor: [{ role: 'admin' }] }, NO_ENV), /unknown operator '\$xor'/);
    assert.throws(() => compileRequire({ $or: [] }, NO_ENV), /needs a non-empty list/);
    assert.throws(() => compileRequire({ $and: { role: 'admin' } }, NO_ENV), /needs a non-empty list/);
  });

  test('an object claim whose key is *.example.com satisfies the string requirement example.com', () => {
    const check = compileRequire({ tenant: 'example.com' }, NO_ENV);
    assert.deepEqual(check({ tenant: '*.example.com' }, REQUEST), { pass: true }, 'string claim');
    assert.deepEqual(check({ tenant: { '*.example.com': ['admin'] } }, REQUEST), { pass: true }, 'object claim key');
    assert.deepEqual(check({ tenant: { '*.example.org': ['admin'] } }, REQUEST), { pass: false, claim: 'tenant' });
  });

  test('wildcard claim names: every matching name is tried, and ?, [...] and the "*." rule count as wildcards', () => {
    const check = compileRequire({ abc: 'yes' }, NO_ENV);
    assert.deepEqual(check({ 'a*': 'no', '*': 'yes' }, REQUEST), { pass: true }, 'a later matching name validates');
    assert.deepEqual(check({ 'ab?': 'yes' }, REQUEST), { pass: true }, 'a ? pattern as a claim name');
    assert.deepEqual(check({ '[a-c]bc': 'yes' }, REQUEST), { pass: true }, 'a class in a claim name');
    assert.deepEqual(check({ 'ab?': 'no', 'x*': 'yes' }, REQUEST), { pass: false, claim: 'abc' }, 'no matching name holds the value');
    assert.deepEqual(compileRequire({ 'example.com': 'yes' }, NO_ENV)({ '*.example.com': 'yes' }, REQUEST), { pass: true }, 'the "*." rule on a claim name');
    assert.deepEqual(check({ abc: 'no', '*': 'yes' }, REQUEST), { pass: false, claim: 'abc' }, 'a claim that is present is never replaced by a wildcard name');
  });

  test('numbers beyond ±(2^53 - 1) never match: a requirement there is a configuration error, a claim there fails', async () => {
    // JSON.parse reads 9007199254740993 as 9007199254740992: such integers cannot be compared exactly, so a
    // comparison never answers yes for them (the plugin compares them as text through json.Number).
    assert.throws(() => profileOf({ require: { device: 9007199254740992 } }), /beyond ±9007199254740991/);
    assert.throws(() => compileRequire({ device: -9007199254740992 }, NO_ENV), /beyond/);
    const raw = (device: string) => signJws({ alg: 'ES256', kid: 'k' }, `{"iss":"${ISS}","sub":"device-1","iat":${NOW - 10},"exp":${NOW + 3600},"device":${device}}`, privateKey, 'ES256');
    const largest = profileOf({ require: { device: 9007199254740991 } });
    assert.equal(await outcome(largest, raw('9007199254740991')), 'pass');
    assert.equal(await outcome(largest, raw('9007199254740993')), 'forbidden:device');
    assert.equal(await outcome(largest, raw('9007199254740991.5')), 'forbidden:device', 'rounds to 2^53');
    assert.equal(await outcome(largest, raw('1e400')), 'forbidden:device', 'Infinity');
    const fraction = profileOf({ require: { ratio: 1.5, level: 3 } });
    assert.equal(await outcome(fraction, { ratio: 1.5, level: 3 }), 'pass', 'fractions and small integers compare as numbers');
  });
});

describe('template functions: the plugin uses Go url.QueryEscape and html.EscapeString', () => {
  const request: TemplateRequest = { ...REQUEST, Path: "/search?q=it's(1)*!&x=<b>", URL: `https://${REQUEST.Host}/search?q=it's(1)*!&x=<b>` };

  test("URLQueryEscape escapes every byte outside A-Z a-z 0-9 - _ . ~ as Go's url.QueryEscape does", () => {
    assert.equal(parseTemplate('{{URLQueryEscape .Path}}', NO_ENV)(request), '%2Fsearch%3Fq%3Dit%27s%281%29%2A%21%26x%3D%3Cb%3E');
    assert.equal(parseTemplate('{{URLQueryEscape .Path}}', NO_ENV)({ ...request, Path: 'a b~c-d_e.f/é' }), 'a+b~c-d_e.f%2F%C3%A9');
    assert.equal(parseTemplate('{{URLQueryEscape .Path}}', NO_ENV)({ ...request, Path: 'x\ud800' }), 'x%EF%BF%BD', 'a lone surrogate does not throw');
  });

  test("HTMLEscape gives Go's html.EscapeString entities (&amp; &lt; &gt; &#34; &#39;)", () => {
    assert.equal(parseTemplate('{{HTMLEscape .Path}}', NO_ENV)(request), '/search?q=it&#39;s(1)*!&amp;x=&lt;b&gt;');
    assert.equal(parseTemplate('{{HTMLEscape .Path}}', NO_ENV)({ ...request, Path: '"+' }), '&#34;+', 'only & \' < > " are escaped');
  });
});

describe('keys: PEM and JWK forms the plugin reads', () => {
  test('a PEM label that does not match its content still parses: the content decides (SPKI or PKCS#1)', () => {
    const rsa = rsaKeys().publicKey;
    const spkiUnderRsaLabel = spkiPem(rsa).replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '-----$1 RSA PUBLIC KEY-----');
    assert.deepEqual(parseKeyText('k', spkiUnderRsaLabel)[0]?.algorithms, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'], 'SPKI under RSA PUBLIC KEY');
    const pkcs1UnderPublicLabel = rsa.export({ type: 'pkcs1', format: 'pem' }).toString().replace(/-----(BEGIN|END) RSA PUBLIC KEY-----/g, '-----$1 PUBLIC KEY-----');
    assert.equal(parseKeyText('k', pkcs1UnderPublicLabel)[0]?.key.asymmetricKeyType, 'rsa', 'PKCS#1 under PUBLIC KEY');
    const ecUnderRsaLabel = spkiPem(publicKey).replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '-----$1 RSA PUBLIC KEY-----');
    assert.deepEqual(parseKeyText('k', ecUnderRsaLabel)[0]?.algorithms, ['ES256'], 'an EC key stays an EC key whatever the label');
    assert.deepEqual(parseKeyText('k', PEM)[0]?.algorithms, ['ES256'], 'EC PUBLIC KEY');
    assert.throws(() => parseKeyText('k', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), /neither a SubjectPublicKeyInfo nor a PKCS#1/);
  });

  describe('fetched key sets', () => {
    let server: JwksServer;
    const signer = ecKeys();
    before(async () => {
      server = await startJwksServer();
    });
    after(async () => {
      await server.close();
    });

    const remoteProfile = (): BearerProfile => {
      const profile = compileProfile('remote', { issuers: [server.issuer] }, { env: {}, timeoutMs: 1000 });
      opened.push(profile);
      return profile;
    };
    const live = () => ({ iss: server.issuer, sub: 'device-1', iat: Math.floor(Date.now() / 1000) - 10, exp: Math.floor(Date.now() / 1000) + 600 });

    test('a JWKS key without kid is found under its RFC 7638 thumbprint', async () => {
      const jwk = signer.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
      server.keys = [jwk];
      const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
      const profile = remoteProfile();
      assert.equal(await outcome(profile, signJws({ alg: 'ES256', kid: thumbprint }, live(), signer.privateKey, 'ES256')), 'pass');
      assert.match(await outcome(profile, signJws({ alg: 'ES256', kid: 'another' }, live(), signer.privateKey, 'ES256')), /^invalid:no key has this kid/);
    });

    test('the thumbprint of a P-384 key is over its own curve (the plugin assumed P-256)', async () => {
      const p384 = ecKeys('P-384');
      const jwk = p384.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
      server.keys = [jwk];
      const profile = remoteProfile();
      assert.equal(await outcome(profile, signJws({ alg: 'ES384', kid: await calculateJwkThumbprint(jwk, 'sha256') }, live(), p384.privateKey, 'ES384')), 'pass');
    });

    test('a JWKS EC key without crv takes its curve from alg; without alg either it is skipped', async () => {
      const { crv: _crv, ...jwk } = signer.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
      server.keys = [
        { ...jwk, kid: 'no-crv', alg: 'ES256' },
        { ...jwk, kid: 'no-crv-no-alg' },
      ];
      const profile = remoteProfile();
      assert.equal(await outcome(profile, signJws({ alg: 'ES256', kid: 'no-crv' }, live(), signer.privateKey, 'ES256')), 'pass');
      assert.match(await outcome(profile, signJws({ alg: 'ES256', kid: 'no-crv-no-alg' }, live(), signer.privateKey, 'ES256')), /^invalid:no key has this kid/);
      server.keys = [{ ...jwk, kid: 'wrong-curve', alg: 'ES384' }];
      const other = remoteProfile();
      assert.match(await outcome(other, signJws({ alg: 'ES384', kid: 'wrong-curve' }, live(), signer.privateKey, 'ES256')), /^invalid:/, 'a P-256 point read as P-384 does not import');
    });
  });

  describe('a token without kid is verified only with keys that may speak for the issuer it names', () => {
    let a: JwksServer;
    let b: JwksServer;
    const signerA = ecKeys();
    const signerB = ecKeys();
    const jwkA = { ...(signerA.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'a-1' };
    const jwkB = { ...(signerB.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'b-1' };
    before(async () => {
      a = await startJwksServer([jwkA]);
      b = await startJwksServer([]);
    });
    after(async () => {
      await a.close();
      await b.close();
    });
    const claims = (iss: string) => {
      const now = Math.floor(Date.now() / 1000);
      return { iss, sub: 'device-1', iat: now - 10, exp: now + 600 };
    };
    const twoIssuers = async (config: Partial<ProfileConfig> = {}): Promise<BearerProfile> => {
      const profile = compileProfile('two', { issuers: [a.issuer, b.issuer], ...config }, { env: {}, timeoutMs: 1000 });
      opened.push(profile);
      profile.start();
      for (let waited = 0; !profile.status().ok && waited < 3000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      return profile;
    };
    const noKid = (iss: string, signer: { privateKey: KeyObject }) => signJws({ alg: 'ES256' }, claims(iss), signer.privateKey, 'ES256');

    test("issuer A's only key never verifies a token naming issuer B, which publishes nothing", async () => {
      b.mode = 'ok';
      b.keys = [];
      const profile = await twoIssuers();
      assert.equal(profile.status().ok, true, profile.status().detail);
      assert.equal(await outcome(profile, noKid(a.issuer, signerA)), 'pass', 'naming A: the one key A publishes');
      assert.equal(await outcome(profile, noKid(b.issuer, signerA)), 'invalid:the token has no kid');
    });

    test("issuer A's only key never verifies a token naming issuer B while B is down", async () => {
      b.mode = 'status-500';
      const profile = await twoIssuers();
      assert.equal(profile.status().ok, false, 'B is not ready');
      for (let waited = 0; !/status-500|HTTP 500/.test(profile.status().detail) && waited < 3000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await outcome(profile, noKid(a.issuer, signerA)), 'pass');
      assert.equal(await outcome(profile, noKid(b.issuer, signerA)), 'invalid:the token has no kid');
      b.mode = 'ok';
    });

    test("each issuer's one key verifies only its own kid-less tokens, and a kid-less token naming no listed issuer is refused", async () => {
      b.mode = 'ok';
      b.keys = [jwkB];
      const profile = await twoIssuers();
      assert.equal(profile.status().ok, true, profile.status().detail);
      assert.equal(await outcome(profile, noKid(b.issuer, signerB)), 'pass');
      assert.match(await outcome(profile, noKid(b.issuer, signerA)), /^invalid:jws signature verification failed/, "A's signature on a token naming B");
      assert.match(await outcome(profile, noKid(a.issuer, signerB)), /^invalid:jws signature verification failed/, "B's signature on a token naming A");
      assert.equal(await outcome(profile, noKid('https://elsewhere.example.com', signerA)), 'invalid:the token has no kid');
      const { iss: _iss, ...withoutIss } = claims(a.issuer);
      assert.equal(await outcome(profile, signJws({ alg: 'ES256' }, withoutIss, signerA.privateKey, 'ES256')), 'invalid:the token has no kid', 'no iss');
    });

    test("a profile's one static key verifies kid-less tokens naming an issuer that has no keys; beside an issuer's key it is ambiguous", async () => {
      b.mode = 'ok';
      b.keys = [];
      const withStatic = await twoIssuers({ secrets: { own: spkiPem(signerB.publicKey) } });
      assert.equal(await outcome(withStatic, noKid(b.issuer, signerB)), 'pass', 'B has no keys: the static key is the only one');
      assert.equal(await outcome(withStatic, noKid(b.issuer, signerA)), 'invalid:jws signature verification failed');
      assert.equal(await outcome(withStatic, noKid(a.issuer, signerA)), 'invalid:the token has no kid', "A's key and the static key: two candidates");
    });

    test('the anonymous secret is used for every kid-less token, as in the plugin', async () => {
      const withSecret = await twoIssuers({ secret: spkiPem(signerB.publicKey) });
      assert.equal(await outcome(withSecret, noKid(a.issuer, signerB)), 'pass');
      assert.equal(await outcome(withSecret, noKid(a.issuer, signerA)), 'invalid:jws signature verification failed', "A's own key is not tried instead");
    });
  });
});

describe('configuration keys a plugin block may carry', () => {
  test('infoToStdout (v1.2.6 to v1.2.19) is accepted with a warning that it has no effect; logUnauthorized is accepted', () => {
    assert.deepEqual(configProblems(`bearer:\n  profiles:\n    d:\n      secret: ${HMAC}\n      logUnauthorized: INFO\n`), []);
    assert.deepEqual(configProblems(`bearer:\n  profiles:\n    d:\n      secret: ${HMAC}\n      infoToStdout: true\n`), []);
    const [warning, ...more] = profileWarnings({ d: { secret: HMAC, infoToStdout: true }, e: { secret: HMAC } });
    assert.match(warning ?? '', /^bearer\.profiles\.d\.infoToStdout .*has no effect: .*standard output.*auth log/);
    assert.deepEqual(more, []);
    // The loaded configuration carries it, so `serve` logs it and `config check` prints it.
    const file = join(dir, 'info-to-stdout.yaml');
    writeFileSync(file, `bearer:\n  profiles:\n    d:\n      secret: ${HMAC}\n      infoToStdout: true\n`);
    const loaded = loadConfig({ file, env: baseEnv({ issuer: 'https://idp.example.com', clientId: 'gatehouse', clientSecret: 'secret' }) });
    assert.equal(loaded.warnings.filter((line) => line.startsWith('bearer.profiles.d.infoToStdout ')).length, 1, loaded.warnings.join('\n'));
  });

  test('issuers and validMethods may be comma-separated strings, as Traefik hands plugin lists; items are trimmed, empty ones dropped', async () => {
    assert.deepEqual(configProblems(`bearer:\n  profiles:\n    d:\n      skipPrefetch: true\n      issuers: "https://a.example.com,https://b.example.com"\n      validMethods: "ES256,RS256"\n`), []);
    const profile = profileOf({ secrets: { k: PEM }, issuers: ` ${ISS} , https://other.example.com,,`, validMethods: 'ES256, RS256,' });
    assert.match(profile.status().detail, /2 remote key sets/);
    assert.equal(await outcome(profile, {}), 'pass');
    assert.match(await outcome(profile, signJws({ alg: 'HS256' }, { iss: ISS, sub: 'x', iat: NOW - 10, exp: NOW + 600 }, HMAC, 'HS256')), /^invalid:the algorithm HS256 is not allowed/);
  });
});

describe('other statements of docs/bearer.md', () => {
  test('list claims against list requirements, several audiences, exact case, numbers never strings', async () => {
    const profile = profileOf({ require: { aud: ['vmselect.homelab.example.com', 'vminsert.homelab.example.com'], role: 'Admin', level: 3 } });
    assert.equal(await outcome(profile, { aud: ['grafana.homelab.example.com', 'vminsert.homelab.example.com'], role: 'Admin', level: 3 }), 'pass');
    assert.equal(await outcome(profile, { aud: ['*.homelab.example.com'], role: 'Admin', level: 3 }), 'pass');
    assert.equal(await outcome(profile, { aud: 'vminsert.homelab.example.com', role: 'admin', level: 3 }), 'forbidden:role');
    assert.equal(await outcome(profile, { aud: 'vminsert.homelab.example.com', role: 'Admin', level: '3' }), 'forbidden:level');
    assert.equal(await outcome(profile, { aud: 'vminsert.homelab.example.com', Role: 'Admin', level: 3 }), 'forbidden:role', 'claim names are case-sensitive');
  });

  test('a template that expands to wildcard characters is text, never a pattern', async () => {
    const profile = profileOf({ require: { path: '{{.Path}}' } });
    const hostile = { ...REQUEST, Path: '/*', URL: `https://${REQUEST.Host}/*` };
    assert.equal(await outcome(profile, { path: '/api/v1/import' }, hostile), 'forbidden:path');
    assert.equal(await outcome(profile, { path: '/*' }, hostile), 'pass');
    assert.equal(await outcome(profile, { path: '/*' }, REQUEST), 'pass', 'a wildcard in the token still matches, as in the plugin');
  });

  test('secret: a PEM is a public key (HS256 keyed with its text is refused); other text is an HMAC secret', async () => {
    const pemSecret = profileOf({ secrets: {}, secret: PEM });
    const confused = signJws({ alg: 'HS256' }, { iss: ISS, sub: 'x', iat: NOW - 10, exp: NOW + 600 }, PEM, 'HS256');
    assert.match(await outcome(pemSecret, confused), /^invalid:the key cannot verify HS256/);
    const hmac = profileOf({ secrets: {}, secret: HMAC });
    assert.equal(await outcome(hmac, signJws({ alg: 'HS256' }, { iss: ISS, sub: 'x', iat: NOW - 10, exp: NOW + 600 }, HMAC, 'HS256')), 'pass');
    assert.match(await outcome(hmac, token({})), /^invalid:/, 'an ES256 token never verifies with an HMAC secret');
  });

  test('freshness: a failing requirement is stale exactly when now - iat > freshness', async () => {
    const profile = profileOf({ require: { role: 'admin' }, freshness: 100 });
    const at = async (age: number) => {
      const result = await profile.check(token({ role: 'user' }, NOW - age), REQUEST);
      return result.kind === 'forbidden' && result.stale;
    };
    assert.equal(await at(100), false);
    assert.equal(await at(101), true);
  });

  describe('through gatehouse', () => {
    let gatehouse: ProfileGatehouse;
    const LOGIN = 'https://login.homelab.example.com';
    const live = (claims: Record<string, unknown> = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return signJws({ alg: 'ES256', kid: 'k' }, { iss: ISS, sub: 'device-1', iat: now, exp: now + 600, ...claims }, privateKey, 'ES256');
    };
    before(async () => {
      const profiles: Record<string, Partial<ProfileConfig>> = {
        query: { ...KEYS, parameterName: 'jwt', headerName: '', cookieName: '' },
        login: { ...KEYS, require: { role: 'admin' }, redirectUnauthorized: `${LOGIN}{{.Path}}` },
        custom: { ...KEYS, headerName: 'X-Device-Token', cookieName: '', optional: true },
      };
      const routes = Object.keys(profiles).map((name) => ({ name, hosts: [`${name}.homelab.example.com`], auth: [`bearer:${name}`] }));
      gatehouse = await startProfileGatehouse(JSON.stringify({ bearer: { profiles }, routes }, null, 2));
    });
    after(async () => {
      await gatehouse.close();
    });

    test('a token in the query parameter is never written to the logs, valid or not', async () => {
      const good = live();
      const bad = live({ exp: 1 });
      assert.equal((await gatehouse.check('query.homelab.example.com', `/write?db=x&jwt=${good}`)).status, 202);
      assert.equal((await gatehouse.check('query.homelab.example.com', `/write?jwt=${bad}`)).status, 401);
      const logs = gatehouse.logs.join('\n');
      for (const jwt of [good, bad]) assert.equal(logs.includes(jwt.split('.')[2] ?? jwt), false);
    });

    test('a hostile path in a redirect template cannot move the Location off the configured host', async () => {
      for (const uri of ['//evil.example/x', '/@evil.example/', '/x?a=%0d%0aSet-Cookie:%20a=b', '/x?rd=https://evil.example/']) {
        const response = await gatehouse.check('login.homelab.example.com', uri);
        assert.equal(response.status, 302, uri);
        const location = String(response.headers.location);
        assert.equal(new URL(location).host, 'login.homelab.example.com', uri);
        assert.equal(/[\r\n]/.test(location), false, uri);
        assert.equal(response.headers['set-cookie'], undefined, uri);
      }
      // An encoded CR/LF or a backslash in the path is refused before any template sees it.
      for (const uri of ['/%0d%0aSet-Cookie:%20a=b', '/\\evil.example']) assert.equal((await gatehouse.check('login.homelab.example.com', uri)).status, 400, uri);
    });

    test('a custom headerName takes the token with or without Bearer; optional never excuses an invalid token', async () => {
      assert.equal((await gatehouse.check('custom.homelab.example.com', '/', { headers: { 'x-device-token': live() } })).status, 202);
      assert.equal((await gatehouse.check('custom.homelab.example.com', '/', { headers: { 'x-device-token': `bearer ${live()}` } })).status, 202);
      assert.equal((await gatehouse.check('custom.homelab.example.com', '/', { headers: { 'x-device-token': `Token ${live()}` } })).status, 401);
      assert.equal((await gatehouse.check('custom.homelab.example.com', '/', { headers: { 'x-device-token': live({ exp: 1 }) } })).status, 401);
      assert.equal((await gatehouse.check('custom.homelab.example.com', '/')).status, 202, 'optional: no token passes');
    });
  });
});
