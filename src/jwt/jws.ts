/**
 * Compact JWS verification for the check path, written against node:crypto, with the checks and the order
 * of jose's `jwtVerify`: strict structure, header, algorithm, key, signature, then claims.
 *
 * Written by hand because it is small and it is the hot path. jose verifies through WebCrypto, whose
 * per-call bookkeeping costs the event loop about 20 µs per signature on top of jose's own parsing, which
 * is more than everything else a check does. node:crypto's `verify` with a callback runs the same OpenSSL
 * check on the libuv pool, as WebCrypto does, for a fraction of that cost. jose stays the reference: a
 * differential test feeds both the same tokens and requires the same verdicts (`test/jwt/jws.test.ts`).
 * @see RFC 7515, RFC 7518 §3, RFC 7519 §7.2, RFC 8725
 */
import { constants, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

/** For each ASCII code, its base64url value plus one; 0 for every other character. */
const BASE64URL_VALUES = new Uint8Array(128);
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
for (let index = 0; index < BASE64URL_ALPHABET.length; index++) BASE64URL_VALUES[BASE64URL_ALPHABET.charCodeAt(index)] = index + 1;

/** True when `segment` is non-empty and holds base64url characters only. */
function base64urlText(segment: string): boolean {
  if (segment.length === 0) return false;
  for (let index = 0; index < segment.length; index++) if ((BASE64URL_VALUES[segment.charCodeAt(index)] ?? 0) === 0) return false;
  return true;
}

/**
 * True when base64url text has no length that leaves a lone character and no bits set past the end of the
 * data (which only the last character can carry): then it is the one spelling of its bytes.
 */
function canonicalTail(segment: string): boolean {
  const rest = segment.length % 4;
  if (rest === 1) return false;
  const last = (BASE64URL_VALUES[segment.charCodeAt(segment.length - 1)] ?? 1) - 1;
  return rest === 2 ? (last & 0x0f) === 0 : rest === 3 ? (last & 0x03) === 0 : true;
}

/**
 * True when `segment` is the one canonical base64url spelling of its bytes: base64url characters, no
 * padding, no length that leaves a lone character, and no bits set past the end of the data. Decoding and
 * re-encoding would answer the same at several times the cost.
 */
export function canonicalBase64url(segment: string): boolean {
  return base64urlText(segment) && canonicalTail(segment);
}

/** Refuses bytes that are not UTF-8, as jose does; a byte-order mark is kept, so JSON.parse refuses it. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A JSON object from one base64url segment, or `undefined` for anything else. */
function jsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A compact JWS taken apart; nothing in it is verified yet. */
export interface DecodedJws {
  readonly header: Record<string, unknown>;
  readonly alg: string;
  readonly payload: Record<string, unknown>;
  /** `header.payload`, the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: string;
}

/**
 * Takes a compact JWS apart: three canonical base64url segments (a second spelling of the same bytes would
 * slip past deny-lists, JWT-29), a header and a payload that are JSON objects in UTF-8, a string `alg`, and
 * no `crit` (gatehouse understands no extension, and an unencoded payload has no place in a JWT; JWT-15).
 * @returns the parts, or a description of what is wrong that is safe to show.
 */
export function decodeJws(token: string): DecodedJws | string {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0 || token.indexOf('.', second + 1) >= 0) return 'not a compact JWS';
  const segments = [token.slice(0, first), token.slice(first + 1, second), token.slice(second + 1)] as const;
  if (!segments.every(base64urlText)) return 'not a compact JWS';
  if (!segments.every(canonicalTail)) return 'not canonical base64url';
  const header = jsonObject(segments[0]);
  if (header === undefined || typeof header.alg !== 'string' || header.alg === '') return 'malformed header';
  if (header.crit !== undefined) return 'the header names a critical extension';
  const payload = jsonObject(segments[1]);
  if (payload === undefined) return 'malformed payload';
  return { header, alg: header.alg, payload, signingInput: token.slice(0, second), signature: segments[2] };
}

/** How node:crypto checks one JWS algorithm (RFC 7518 §3.1). */
interface Scheme {
  readonly digest: string;
  readonly kind: 'hmac' | 'rsa' | 'pss' | 'ecdsa' | 'eddsa';
  /** The exact length of the signature, where the algorithm fixes it. */
  readonly bytes?: number;
}

const SCHEMES = new Map<string, Scheme>([
  ['HS256', { digest: 'sha256', kind: 'hmac', bytes: 32 }],
  ['HS384', { digest: 'sha384', kind: 'hmac', bytes: 48 }],
  ['HS512', { digest: 'sha512', kind: 'hmac', bytes: 64 }],
  ['RS256', { digest: 'sha256', kind: 'rsa' }],
  ['RS384', { digest: 'sha384', kind: 'rsa' }],
  ['RS512', { digest: 'sha512', kind: 'rsa' }],
  ['PS256', { digest: 'sha256', kind: 'pss' }],
  ['PS384', { digest: 'sha384', kind: 'pss' }],
  ['PS512', { digest: 'sha512', kind: 'pss' }],
  ['ES256', { digest: 'sha256', kind: 'ecdsa', bytes: 64 }],
  ['ES384', { digest: 'sha384', kind: 'ecdsa', bytes: 96 }],
  ['ES512', { digest: 'sha512', kind: 'ecdsa', bytes: 132 }],
  ['EdDSA', { digest: '', kind: 'eddsa', bytes: 64 }],
]);

/** The salt length of each RSASSA-PSS digest: the digest's own size (RFC 7518 §3.5). */
const PSS_SALT: Readonly<Record<string, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/**
 * Checks the signature of a decoded JWS with `key`. The caller has bound the key to `alg` (see
 * `algorithmsFor`); an unknown algorithm or a signature of the wrong length is simply not valid. Public-key
 * checks run on the libuv pool; an HMAC is compared in constant time on the spot.
 */
export function signatureValid(jws: DecodedJws, key: KeyObject): Promise<boolean> | boolean {
  const scheme = SCHEMES.get(jws.alg);
  if (scheme === undefined) return false;
  const signature = Buffer.from(jws.signature, 'base64url');
  if (scheme.bytes !== undefined && signature.length !== scheme.bytes) return false;
  const data = Buffer.from(jws.signingInput, 'latin1');
  if (scheme.kind === 'hmac') {
    if (key.type !== 'secret') return false;
    return timingSafeEqual(createHmac(scheme.digest, key).update(data).digest(), signature);
  }
  if (key.type !== 'public') return false;
  const options =
    scheme.kind === 'ecdsa'
      ? { key, dsaEncoding: 'ieee-p1363' as const }
      : scheme.kind === 'pss'
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT[scheme.digest] ?? 0 }
        : key;
  return new Promise((resolve) => {
    try {
      verify(scheme.kind === 'eddsa' ? null : scheme.digest, data, options, signature, (error, valid) => resolve(error === null && valid));
    } catch {
      // A key node:crypto cannot use for this scheme verifies nothing.
      resolve(false);
    }
  });
}

/** What a payload must say (RFC 7519 §4.1), as jose's `jwtVerify` options. */
export interface ClaimRules {
  /** When set, `iss` must be one of these exactly. */
  readonly issuers?: readonly string[];
  /** When set, `aud` (a string or an array of strings) must name one of these. */
  readonly audiences?: readonly string[];
  /** Claims that must be present. */
  readonly required: readonly string[];
  /** Seconds of clock skew allowed on `exp` and `nbf`. */
  readonly leewaySeconds: number;
}

const TIMES = ['iat', 'nbf', 'exp'] as const;

/**
 * Checks a verified payload against `rules` at `nowSeconds`: presence, `iss`, `aud`, then the times. The
 * times must be finite numbers: JSON.parse reads 1e400 as Infinity, which would never expire (JWT-24).
 * @returns `undefined` when the claims pass, else a description that is safe to show.
 */
export function claimsProblem(claims: Record<string, unknown>, rules: ClaimRules, nowSeconds: number): string | undefined {
  for (const claim of rules.required) if (!Object.hasOwn(claims, claim)) return `claim ${claim} is not valid`;
  if (rules.audiences !== undefined && !Object.hasOwn(claims, 'aud')) return 'claim aud is not valid';
  if (rules.issuers !== undefined && !Object.hasOwn(claims, 'iss')) return 'claim iss is not valid';
  if (rules.issuers !== undefined && !rules.issuers.includes(claims.iss as string)) return 'claim iss is not valid';
  if (rules.audiences !== undefined) {
    const { aud } = claims;
    const audiences = rules.audiences;
    const named = typeof aud === 'string' ? audiences.includes(aud) : Array.isArray(aud) && audiences.some((audience) => aud.includes(audience));
    if (!named) return 'claim aud is not valid';
  }
  for (const claim of TIMES) {
    const value = claims[claim];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) return `claim ${claim} is not a finite number`;
  }
  const { nbf, exp } = claims as { nbf?: number; exp?: number };
  if (nbf !== undefined && nbf > nowSeconds + rules.leewaySeconds) return 'claim nbf is not valid';
  if (exp !== undefined && exp <= nowSeconds - rules.leewaySeconds) return 'token expired';
  return undefined;
}
