/**
 * Sealing small values for cookies: AES-256-GCM with keys derived by HKDF-SHA256 from the configured
 * secrets, in a versioned format that names the key, with the cookie name bound as associated data.
 * The first secret seals, every secret opens, so secrets rotate without logging anyone out.
 *
 * Format: `v1.` + base64url( kid(4) ‖ iv(12) ‖ ciphertext ‖ tag(16) ).
 * @see RFC 5869 (HKDF), NIST SP 800-38D (GCM: a random 96-bit IV per seal)
 */
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { decodeCookieSecret } from './secret.js';

const VERSION_PREFIX = 'v1.';
const KID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const OVERHEAD = KID_BYTES + IV_BYTES + TAG_BYTES;

/** What a key is for; keys for different purposes never open each other's values. */
export type SealPurpose = 'session' | 'login-transaction' | 'redis-ticket';

interface Key {
  readonly kid: Buffer;
  readonly key: KeyObject;
}

/** Seals and opens values for one purpose. */
export interface Keyring {
  /** Seals `plaintext`, binding `context` (the cookie name) as associated data. */
  seal(plaintext: Buffer, context: string): string;
  /** Opens a sealed value; `undefined` for anything tampered, truncated, foreign or malformed. */
  open(sealed: string, context: string): Buffer | undefined;
  /** True when `sealed` was made with a key other than the current one (re-seal to rotate). */
  isStale(sealed: string): boolean;
}

function deriveKey(secret: Buffer, purpose: SealPurpose): Key {
  const raw = Buffer.from(hkdfSync('sha256', secret, 'gatehouse-cookie-v1', `gatehouse ${purpose}`, 32));
  const kid = createHash('sha256').update(raw).digest().subarray(0, KID_BYTES);
  return { kid, key: createSecretKey(raw) };
}

/**
 * Builds a keyring from cookie secrets (the formats `decodeCookieSecret` accepts).
 * @throws TypeError when there is no secret or one cannot be decoded.
 */
export function createKeyring(secrets: readonly string[], purpose: SealPurpose): Keyring {
  if (secrets.length === 0) throw new TypeError('at least one secret is required');
  const keys = secrets.map((secret) => {
    const bytes = decodeCookieSecret(secret);
    if (bytes === undefined) throw new TypeError('a secret does not decode to 16, 24 or 32 bytes');
    return deriveKey(bytes, purpose);
  });
  const current = keys[0] as Key;
  const aad = (context: string, kid: Buffer) => Buffer.concat([Buffer.from(`gatehouse:v1:${purpose}:${context}:`, 'utf8'), kid]);
  const findKey = (kid: Buffer) => keys.find((candidate) => candidate.kid.equals(kid));

  return {
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(aad(context, current.kid));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return VERSION_PREFIX + Buffer.concat([current.kid, iv, body, cipher.getAuthTag()]).toString('base64url');
    },
    open(sealed, context) {
      if (!sealed.startsWith(VERSION_PREFIX)) return undefined;
      const encoded = sealed.slice(VERSION_PREFIX.length);
      // base64url only: Buffer.from would silently skip other characters.
      if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
      const bytes = Buffer.from(encoded, 'base64url');
      // Only the canonical encoding: spare low bits in the last character would give a second spelling.
      if (bytes.length < OVERHEAD || bytes.toString('base64url') !== encoded) return undefined;
      const kid = bytes.subarray(0, KID_BYTES);
      const key = findKey(kid);
      if (key === undefined) return undefined;
      const iv = bytes.subarray(KID_BYTES, KID_BYTES + IV_BYTES);
      const tag = bytes.subarray(bytes.length - TAG_BYTES);
      const body = bytes.subarray(KID_BYTES + IV_BYTES, bytes.length - TAG_BYTES);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(context, kid));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        // Authentication failed: tampered, truncated or sealed for another name.
        return undefined;
      }
    },
    isStale(sealed) {
      if (!sealed.startsWith(VERSION_PREFIX)) return false;
      const head = Buffer.from(sealed.slice(VERSION_PREFIX.length, VERSION_PREFIX.length + 8), 'base64url');
      return !head.subarray(0, KID_BYTES).equals(current.kid);
    },
  };
}
