/**
 * Cookie secrets in the formats oauth2-proxy accepts: 16, 24 or 32 bytes, given raw or base64url-encoded,
 * and (where oauth2-proxy fails, its issue #3529) standard base64 too.
 */
import { Buffer } from 'node:buffer';

const VALID_LENGTHS: ReadonlySet<number> = new Set([16, 24, 32]);
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Accepted secret lengths in bytes. */
export const COOKIE_SECRET_LENGTHS = [16, 24, 32] as const;

/**
 * Decodes a cookie secret to its key bytes: base64url first (as oauth2-proxy), then standard base64, then
 * the raw text. A decoding counts only when it yields 16, 24 or 32 bytes.
 * @returns the bytes, or `undefined` when no reading gives an accepted length.
 */
export function decodeCookieSecret(text: string): Buffer | undefined {
  if (BASE64URL.test(text)) {
    const bytes = Buffer.from(text.replace(/=+$/, ''), 'base64url');
    if (VALID_LENGTHS.has(bytes.length)) return bytes;
  }
  if (BASE64.test(text)) {
    const bytes = Buffer.from(text, 'base64');
    if (VALID_LENGTHS.has(bytes.length)) return bytes;
  }
  const raw = Buffer.from(text, 'utf8');
  return VALID_LENGTHS.has(raw.length) ? raw : undefined;
}
