/**
 * The check path's JWS verification (`src/jwt/jws.ts`) against jose's `jwtVerify`, the reference it
 * replaces on that path: every algorithm, every way a signature can be wrong, the header and payload
 * shapes, the claim rules at their boundaries, and a seeded fuzz of mutated tokens. Gatehouse must never
 * accept what jose refuses; it refuses more in three documented places only (base64url that is padded,
 * holds other characters or is not canonical; any `crit`; times that are not finite).
 */
import assert from 'node:assert/strict';
import { constants, createSecretKey, randomBytes, sign as signDer, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { jwtVerify } from 'jose';
import { algorithmsFor } from '../../src/jwt/keys.js';
import { claimsProblem, decodeJws, signatureValid, type ClaimRules } from '../../src/jwt/jws.js';
import { b64url, ecKeys, edKeys, rsaKeys, signature, signJws, type Alg } from './support.js';

const NOW = 1_800_000_000;
const LEEWAY = 60;
const ISS = 'https://issuer.example';
const AUD = 'api.example';

interface Signer {
  readonly alg: Alg;
  readonly sign: KeyObject | Buffer;
  readonly verify: KeyObject;
}

function signers(): Signer[] {
  const ec256 = ecKeys('P-256');
  const ec384 = ecKeys('P-384');
  const ec521 = ecKeys('P-521');
  const rsa = rsaKeys();
  const ed = edKeys();
  const list: Signer[] = [
    { alg: 'ES256', sign: ec256.privateKey, verify: ec256.publicKey },
    { alg: 'ES384', sign: ec384.privateKey, verify: ec384.publicKey },
    { alg: 'ES512', sign: ec521.privateKey, verify: ec521.publicKey },
    { alg: 'RS256', sign: rsa.privateKey, verify: rsa.publicKey },
    { alg: 'RS384', sign: rsa.privateKey, verify: rsa.publicKey },
    { alg: 'RS512', sign: rsa.privateKey, verify: rsa.publicKey },
    { alg: 'PS256', sign: rsa.privateKey, verify: rsa.publicKey },
    { alg: 'EdDSA', sign: ed.privateKey, verify: ed.publicKey },
  ];
  for (const [alg, bytes] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
    const secret = randomBytes(bytes);
    list.push({ alg, sign: secret, verify: createSecretKey(secret) });
  }
  return list;
}

const RULES: ClaimRules = { issuers: [ISS], audiences: [AUD], required: ['exp'], leewaySeconds: LEEWAY };

/** Gatehouse's verdict: `true`, or what it refused. */
async function ours(token: string, key: KeyObject, alg: string, rules: ClaimRules = RULES): Promise<true | string> {
  const jws = decodeJws(token);
  if (typeof jws === 'string') return jws;
  if (jws.alg !== alg || !algorithmsFor(key).includes(alg)) return 'algorithm';
  if (!(await signatureValid(jws, key))) return 'signature';
  return claimsProblem(jws.payload, rules, NOW) ?? true;
}

/** jose's verdict with the same rules. */
async function theirs(token: string, key: KeyObject, alg: string, rules: ClaimRules = RULES): Promise<true | string> {
  try {
    await jwtVerify(token, key, {
      algorithms: [alg],
      ...(rules.issuers === undefined ? {} : { issuer: [...rules.issuers] }),
      ...(rules.audiences === undefined ? {} : { audience: [...rules.audiences] }),
      requiredClaims: [...rules.required],
      clockTolerance: rules.leewaySeconds,
      currentDate: new Date(NOW * 1000),
    });
    return true;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** The refusals where gatehouse is stricter than jose on purpose. */
const STRICTER = new Set(['not a compact JWS', 'not canonical base64url', 'the header names a critical extension', 'claim exp is not a finite number', 'claim nbf is not a finite number', 'claim iat is not a finite number']);

/** Asserts both agree, or that gatehouse refuses for one of its documented stricter reasons. */
async function agree(token: string, key: KeyObject, alg: string, label: string, rules?: ClaimRules): Promise<true | string> {
  const [mine, reference] = await Promise.all([ours(token, key, alg, rules), theirs(token, key, alg, rules)]);
  if (mine === true) assert.equal(reference, true, `${label}: gatehouse accepts what jose refuses (${String(reference)})`);
  else if (reference === true) assert.ok(STRICTER.has(mine), `${label}: gatehouse refuses (${mine}) what jose accepts`);
  return mine;
}

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ iss: ISS, aud: AUD, sub: 'device', exp: NOW + 3600, iat: NOW - 10, ...extra });

describe('JWS verification on the check path agrees with jose', () => {
  const all = signers();

  test('a valid token of every algorithm passes both', async () => {
    for (const signer of all) {
      const token = signJws({ alg: signer.alg, kid: 'k' }, claims(), signer.sign, signer.alg);
      assert.equal(await agree(token, signer.verify, signer.alg, signer.alg), true, signer.alg);
    }
  });

  test('every kind of wrong signature fails both', async () => {
    for (const signer of all) {
      const token = signJws({ alg: signer.alg }, claims(), signer.sign, signer.alg);
      const [header = '', payload = '', sig = ''] = token.split('.');
      const bytes = Buffer.from(sig, 'base64url');
      const flipped = Buffer.from(bytes);
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 0x01;
      const other = all.find((candidate) => candidate !== signer && candidate.alg === signer.alg);
      const foreign = signJws({ alg: signer.alg }, claims(), signer.alg.startsWith('HS') ? randomBytes(64) : signer.alg.startsWith('ES') ? ecKeys(({ ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const)[signer.alg as 'ES256']).privateKey : signer.alg === 'EdDSA' ? edKeys().privateKey : rsaKeys().privateKey, signer.alg);
      const cases: Record<string, string> = {
        'flipped last byte': `${header}.${payload}.${b64url(flipped)}`,
        'one byte short': `${header}.${payload}.${b64url(bytes.subarray(1))}`,
        'one byte long': `${header}.${payload}.${b64url(Buffer.concat([bytes, Buffer.from([0])]))}`,
        'all zero': `${header}.${payload}.${b64url(Buffer.alloc(bytes.length))}`,
        'payload swapped': `${header}.${b64url(JSON.stringify(claims({ sub: 'admin' })))}.${sig}`,
        'another key': foreign,
      };
      if (other !== undefined) cases['another key of the set'] = signJws({ alg: signer.alg }, claims(), other.sign, other.alg);
      if (signer.alg === 'PS256') {
        // RFC 7518 §3.5: the salt is as long as the digest; another length is another signature scheme.
        for (const saltLength of [0, 64]) cases[`salt of ${saltLength} bytes`] = `${header}.${payload}.${b64url(signDer('sha256', Buffer.from(`${header}.${payload}`), { key: signer.sign as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }))}`;
      }
      if (signer.alg.startsWith('ES')) {
        const der = signDer(`sha${signer.alg.slice(2)}`, Buffer.from(`${header}.${payload}`), signer.sign);
        cases['DER-encoded'] = `${header}.${payload}.${b64url(der)}`;
      }
      for (const [label, forged] of Object.entries(cases)) {
        const verdict = await agree(forged, signer.verify, signer.alg, `${signer.alg} ${label}`);
        assert.notEqual(verdict, true, `${signer.alg} ${label}`);
      }
    }
  });

  test('a key is never used for another algorithm, nor a secret for a public-key algorithm', async () => {
    const es = all.find((signer) => signer.alg === 'ES256')!;
    const rs = all.find((signer) => signer.alg === 'RS256')!;
    const hs = all.find((signer) => signer.alg === 'HS256')!;
    // RS256 signed, PS256 claimed (same key type, another scheme).
    const rsAsPs = signJws({ alg: 'PS256' }, claims(), rs.sign, 'RS256');
    assert.notEqual(await agree(rsAsPs, rs.verify, 'PS256', 'RS256 signature as PS256'), true);
    // The public key's bytes as an HMAC secret (CVE-2015-9235): the key is bound to ES256 only.
    const pem = es.verify.export({ type: 'spki', format: 'pem' });
    const confused = signJws({ alg: 'HS256' }, claims(), Buffer.from(pem), 'HS256');
    assert.equal(await ours(confused, es.verify, 'HS256'), 'algorithm');
    const jws = decodeJws(confused);
    assert.ok(typeof jws !== 'string');
    assert.equal(await signatureValid(jws, es.verify), false, 'an HMAC check with a public key is refused even when asked');
    const asPublic = decodeJws(signJws({ alg: 'ES256' }, claims(), es.sign, 'ES256'));
    assert.ok(typeof asPublic !== 'string');
    assert.equal(await signatureValid(asPublic, hs.verify), false, 'a secret never checks an ES256 signature');
    assert.equal(await signatureValid({ ...asPublic, alg: 'none' }, es.verify), false, 'none is no algorithm');
  });

  test('header and payload shapes: both refuse the same, and gatehouse refuses crit in every form', async () => {
    const { sign, verify, alg } = all.find((signer) => signer.alg === 'ES256')!;
    const shaped = (header: unknown, payload: unknown): string => signJws(header, payload, sign, alg);
    const refusedByBoth: Record<string, string> = {
      'header is an array': shaped('[{"alg":"ES256"}]', claims()),
      'header is null': shaped('null', claims()),
      'header without alg': shaped({ typ: 'JWT' }, claims()),
      'alg is not a string': shaped({ alg: ['ES256'] }, claims()),
      'payload is an array': shaped({ alg }, '[1]'),
      'payload is a number': shaped({ alg }, '123'),
      'payload is not JSON': shaped({ alg }, 'not json'),
      'header is not UTF-8': `${b64url(Buffer.from([0x7b, 0xff, 0x7d]))}.${b64url(JSON.stringify(claims()))}.AAAA`,
      'two segments': signJws({ alg }, claims(), sign, alg).split('.').slice(0, 2).join('.'),
      'four segments': `${shaped({ alg }, claims())}.AAAA`,
      'unknown crit': shaped({ alg, crit: ['urn:x'], 'urn:x': 1 }, claims()),
      'crit b64 false': shaped({ alg, crit: ['b64'], b64: false }, claims()),
      'empty crit': shaped({ alg, crit: [] }, claims()),
    };
    for (const [label, token] of Object.entries(refusedByBoth)) {
      const verdict = await agree(token, verify, alg, label);
      assert.notEqual(verdict, true, label);
    }
    assert.equal(await ours(shaped({ alg, crit: ['b64'], b64: true }, claims()), verify, alg), 'the header names a critical extension');
    const padded = `${shaped({ alg }, claims())}==`;
    assert.equal(await theirs(padded, verify, alg), true, 'jose reads past padding');
    assert.equal(await ours(padded, verify, alg), 'not a compact JWS', 'gatehouse takes unpadded base64url only');
    assert.equal(await agree(shaped({ alg, b64: false }, claims()), verify, alg, 'b64 without crit has no effect'), true);
    const bom = `${b64url(`\ufeff${JSON.stringify({ alg })}`)}.${b64url(JSON.stringify(claims()))}`;
    assert.equal(await ours(`${bom}.${b64url(signature(bom, alg, sign))}`, verify, alg), 'malformed header', 'a byte-order mark is not JSON');
  });

  test('claim rules agree with jose at every boundary', async () => {
    const { sign, verify, alg } = all.find((signer) => signer.alg === 'ES256')!;
    const cases: [string, Record<string, unknown>, boolean, ClaimRules?][] = [
      ['exp just inside the leeway', { exp: NOW - LEEWAY + 1 }, true],
      ['exp at the leeway', { exp: NOW - LEEWAY }, false],
      ['exp missing', { exp: undefined }, false],
      ['exp missing, not required', { exp: undefined }, true, { ...RULES, required: [] }],
      ['exp a string', { exp: String(NOW + 60) }, false],
      ['exp null', { exp: null }, false],
      ['nbf at the leeway', { nbf: NOW + LEEWAY }, true],
      ['nbf past the leeway', { nbf: NOW + LEEWAY + 1 }, false],
      ['nbf a string', { nbf: '0' }, false],
      ['iat a string', { iat: 'yesterday' }, false],
      ['iss another', { iss: `${ISS}/` }, false],
      ['iss missing', { iss: undefined }, false],
      ['iss an array', { iss: [ISS] }, false],
      ['iss not checked', { iss: 'anyone' }, true, { audiences: [AUD], required: ['exp'], leewaySeconds: LEEWAY }],
      ['aud in an array', { aud: ['other', AUD] }, true],
      ['aud another', { aud: 'other' }, false],
      ['aud an array without ours', { aud: ['other'] }, false],
      ['aud missing', { aud: undefined }, false],
      ['aud as a prefix', { aud: `${AUD}.evil` }, false],
      ['aud not checked', { aud: 'other' }, true, { issuers: [ISS], required: ['exp'], leewaySeconds: LEEWAY }],
      ['second audience configured', { aud: 'second' }, true, { ...RULES, audiences: [AUD, 'second'] }],
      ['sub required and missing', { sub: undefined }, false, { ...RULES, required: ['exp', 'sub'] }],
    ];
    for (const [label, extra, passes, rules] of cases) {
      const token = signJws({ alg }, JSON.parse(JSON.stringify(claims(extra))), sign, alg);
      const verdict = await agree(token, verify, alg, label, rules);
      assert.equal(verdict === true, passes, `${label}: ${String(verdict)}`);
    }
    // JSON reads 1e400 as Infinity: jose takes it as a time; gatehouse refuses it (JWT-24).
    const forever = signJws({ alg }, `{"iss":"${ISS}","aud":"${AUD}","exp":1e400}`, sign, alg);
    assert.equal(await theirs(forever, verify, alg), true, 'jose accepts an infinite exp');
    assert.equal(await ours(forever, verify, alg), 'claim exp is not a finite number');
  });

  test('seeded fuzz: no mutation of a valid token passes gatehouse that jose refuses', async () => {
    let seed = 20261129;
    const random = (below: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
    let accepted = 0;
    let stricter = 0;
    for (const signer of all) {
      const token = signJws({ alg: signer.alg }, claims(), signer.sign, signer.alg);
      for (let round = 0; round < 40; round++) {
        const at = random(token.length);
        const mutated = `${token.slice(0, at)}${alphabet[random(alphabet.length)] ?? ''}${token.slice(at + (random(3) === 0 ? 0 : 1))}`;
        const verdict = await agree(mutated, signer.verify, signer.alg, `${signer.alg} mutation at ${at}`);
        if (verdict === true) accepted++;
        else if (STRICTER.has(verdict)) stricter++;
      }
    }
    // Some mutations change nothing (the same character), and some only the unused bits of the last
    // character, which gatehouse refuses and jose decodes to the same bytes.
    assert.ok(accepted + stricter < all.length * 40, 'the mutations must mostly break the token');
  });
});
