/**
 * Static verification keys, as jwt-middleware's `secret` / `secrets` and more: PEM public keys
 * (`PUBLIC KEY`, the seed's `EC PUBLIC KEY`, or `RSA PUBLIC KEY`, each holding SPKI or PKCS#1 whatever its
 * label says; EC, RSA and Ed25519), certificates, JWK or JWKS JSON, and HMAC secrets of at least 32 bytes.
 * Each key is bound to the algorithms its type allows, so an HS256 token can never be checked against
 * public-key bytes (RFC 8725 §3.1, CVE-2015-9235).
 */
import { Buffer } from 'node:buffer';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';

/** A verification key with the algorithms it may verify. */
export interface VerificationKey {
  readonly kid: string | undefined;
  readonly key: KeyObject;
  readonly algorithms: readonly string[];
}

/** Shortest HMAC secret accepted (RFC 7518 §3.2: at least the hash size; JWT-34). */
export const MIN_HMAC_BYTES = 32;
/** Smallest RSA modulus accepted (JWT-31). */
export const MIN_RSA_BITS = 2048;

const EC_ALGORITHMS: Record<string, string> = { 'prime256v1': 'ES256', 'P-256': 'ES256', secp384r1: 'ES384', 'P-384': 'ES384', secp521r1: 'ES512', 'P-521': 'ES512' };
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/** The algorithms a public key can verify. */
export function algorithmsFor(key: KeyObject): string[] {
  if (key.type === 'secret') return ['HS256', 'HS384', 'HS512'];
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new TypeError(`an RSA key of ${bits} bits is too small (at least ${MIN_RSA_BITS})`);
    return type === 'rsa-pss' ? RSA_ALGORITHMS.filter((alg) => alg.startsWith('PS')) : RSA_ALGORITHMS;
  }
  if (type === 'ec') {
    const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (alg === undefined) throw new TypeError(`the EC curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'} is not supported`);
    return [alg];
  }
  if (type === 'ed25519') return ['EdDSA'];
  throw new TypeError(`a ${type ?? 'unknown'} key cannot verify JWTs`);
}

/** The public-key PEM labels read; the content decides what the key is, not the label. */
const PUBLIC_KEY_PEM = /-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|EC PUBLIC KEY)-----([A-Za-z0-9+/=\s]*)-----END \1-----/;

/**
 * A public key from the DER inside a `PUBLIC KEY`, `RSA PUBLIC KEY` or `EC PUBLIC KEY` block:
 * SubjectPublicKeyInfo or else a PKCS#1 RSA key, whatever the label says (as golang-jwt reads
 * `RSA PUBLIC KEY` and, since jwt-middleware v1.2.11, `PUBLIC KEY`). The two structures cannot be taken for
 * one another: SPKI starts with the algorithm's SEQUENCE, PKCS#1 with the modulus INTEGER.
 */
function fromPublicKeyDer(der: Buffer): KeyObject {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    try {
      return createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
    } catch {
      throw new TypeError('is a PEM block that holds neither a SubjectPublicKeyInfo nor a PKCS#1 RSA public key');
    }
  }
}

function fromPem(text: string): KeyObject {
  const trimmed = text.trim();
  if (/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----|-----BEGIN (RSA|EC) PRIVATE KEY-----/.test(trimmed)) {
    throw new TypeError('is a private key; configure only the public key');
  }
  if (trimmed.includes('-----BEGIN CERTIFICATE-----')) return createPublicKey(trimmed);
  const block = PUBLIC_KEY_PEM.exec(trimmed);
  if (block === null) throw new TypeError('is not a PEM block labelled PUBLIC KEY, RSA PUBLIC KEY, EC PUBLIC KEY or CERTIFICATE');
  return fromPublicKeyDer(Buffer.from((block[2] ?? '').replace(/\s+/g, ''), 'base64'));
}

/** The curve of each ECDSA algorithm, for a JWK that names its `alg` but not its `crv` (RFC 7518 §3.4). */
const CURVE_OF: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

function fromJwk(jwk: Record<string, unknown>): KeyObject {
  if (typeof jwk.d === 'string') throw new TypeError('is a private JWK; configure only the public key');
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new TypeError(`is a JWK for use '${JSON.stringify(jwk.use)}', not signatures`);
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) throw new TypeError('is a JWK whose key_ops do not include verify');
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new TypeError('is an oct JWK without k');
    return hmac(Buffer.from(jwk.k, 'base64url'));
  }
  // An EC key without `crv` takes it from its `alg`, which then also binds the key (jwt-middleware infers
  // it the same way); the point must lie on that curve or the key does not import.
  const crv = jwk.kty === 'EC' && jwk.crv === undefined && typeof jwk.alg === 'string' ? CURVE_OF[jwk.alg] : undefined;
  return createPublicKey({ key: (crv === undefined ? jwk : { ...jwk, crv }) as never, format: 'jwk' });
}

function hmac(bytes: Buffer): KeyObject {
  if (bytes.length < MIN_HMAC_BYTES) throw new TypeError(`is an HMAC secret of ${bytes.length} bytes; at least ${MIN_HMAC_BYTES} are required`);
  return createSecretKey(bytes);
}

function bind(kid: string | undefined, key: KeyObject, jwkAlg?: unknown): VerificationKey {
  let algorithms = algorithmsFor(key);
  // A JWK that names its algorithm verifies only that one (JWT-31).
  if (typeof jwkAlg === 'string') algorithms = algorithms.filter((alg) => alg === jwkAlg);
  if (algorithms.length === 0) throw new TypeError(`names the algorithm ${String(jwkAlg)}, which its key type cannot verify`);
  return { kid, key, algorithms };
}

/**
 * Parses one configured key text.
 * @param kid the key id it is configured under (`undefined` for the anonymous `secret`).
 * @param base64 jwt-middleware's `secretBase64Encoded`: the text is base64url of the real value.
 * @returns one key, or several for a JWKS.
 * @throws TypeError with what is wrong.
 */
export function parseKeyText(kid: string | undefined, text: string, base64 = false): VerificationKey[] {
  let value = text;
  let decoded: Buffer | undefined;
  if (base64) {
    if (!/^[A-Za-z0-9_+/=-]+$/.test(value.trim())) throw new TypeError('is not base64 (secretBase64Encoded is on)');
    decoded = Buffer.from(value.trim(), 'base64url');
    if (decoded.length === 0) throw new TypeError('is empty');
    value = decoded.toString('utf8');
  }
  if (value.trim() === '') throw new TypeError('is empty');
  if (value.includes('-----BEGIN ')) return [bind(kid, fromPem(value))];
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch {
      throw new TypeError('looks like JSON but does not parse');
    }
    const record = json as Record<string, unknown>;
    if (Array.isArray(record.keys)) {
      return record.keys.map((item) => {
        const jwk = item as Record<string, unknown>;
        const jwkKid = typeof jwk.kid === 'string' ? jwk.kid : kid;
        return bind(jwkKid, fromJwk(jwk), jwk.alg);
      });
    }
    return [bind(typeof record.kid === 'string' ? record.kid : kid, fromJwk(record), record.alg)];
  }
  // jwt-middleware takes any other text as an HMAC secret; a base64 one is its decoded bytes as they are
  // (a random secret is seldom valid UTF-8, and a round trip through text would change it).
  return [bind(kid, hmac(decoded ?? Buffer.from(value, 'utf8')))];
}
