/** Cookie secrets in the formats oauth2-proxy accepts (and standard base64, which it does not: #3529). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { COOKIE_SECRET_LENGTHS, decodeCookieSecret } from '../../src/crypto/secret.js';

/** Random bytes whose base64 spelling uses `+` and `/` and whose base64url spelling uses `-` and `_`. */
function bytesWithSpecialCharacters(length: number): Buffer {
  for (;;) {
    const bytes = randomBytes(length);
    const standard = bytes.toString('base64');
    if (standard.includes('+') && standard.includes('/')) return bytes;
  }
}

describe('decodeCookieSecret', () => {
  test('accepted lengths are 16, 24 and 32 bytes', () => {
    assert.deepEqual([...COOKIE_SECRET_LENGTHS], [16, 24, 32]);
  });

  test('raw secrets of 16, 24 and 32 bytes are taken as they are', () => {
    for (const length of COOKIE_SECRET_LENGTHS) {
      // '!' is in neither base64 alphabet, so only the raw reading applies.
      const raw = '!'.repeat(4) + 'k'.repeat(length - 4);
      assert.deepEqual(decodeCookieSecret(raw), Buffer.from(raw, 'utf8'), `${length} raw`);
    }
  });

  test('base64url of 16, 24 and 32 bytes decodes, with and without padding', () => {
    for (const length of COOKIE_SECRET_LENGTHS) {
      const bytes = bytesWithSpecialCharacters(length);
      const url = bytes.toString('base64url');
      assert.ok(url.includes('-') && url.includes('_'), url);
      assert.deepEqual(decodeCookieSecret(url), bytes, `${length} base64url`);
      const padded = url + '='.repeat((4 - (url.length % 4)) % 4);
      assert.deepEqual(decodeCookieSecret(padded), bytes, `${length} padded base64url`);
    }
  });

  test('standard base64 with + and / and padding decodes (oauth2-proxy #3529)', () => {
    for (const length of COOKIE_SECRET_LENGTHS) {
      const bytes = bytesWithSpecialCharacters(length);
      const standard = bytes.toString('base64');
      assert.ok(/[+/]/.test(standard), standard);
      assert.deepEqual(decodeCookieSecret(standard), bytes, `${length} base64`);
      assert.deepEqual(decodeCookieSecret(standard.replace(/=+$/, '')), bytes, `${length} unpadded base64`);
    }
  });

  test('a secret that reads as base64url of an accepted length is decoded first, as oauth2-proxy does', () => {
    const text = 'abcdefghijklmnopqrstuvwxyz012345'; // 32 characters, and base64url of 24 bytes
    assert.deepEqual(decodeCookieSecret(text), Buffer.from(text, 'base64url'));
    assert.equal(decodeCookieSecret(text)?.length, 24);
  });

  test('wrong lengths are refused in every reading', () => {
    for (const length of [0, 1, 8, 15, 17, 20, 23, 25, 31, 33, 48, 64]) {
      const raw = '!'.repeat(length);
      assert.equal(decodeCookieSecret(raw), undefined, `${length} raw`);
      const bytes = randomBytes(length);
      if (length === 0) continue;
      const url = bytes.toString('base64url');
      // Only when the text is also not a raw secret of an accepted length.
      if (![16, 24, 32].includes(url.length)) assert.equal(decodeCookieSecret(url), undefined, `${length} base64url`);
      const standard = bytes.toString('base64');
      if (![16, 24, 32].includes(standard.length)) assert.equal(decodeCookieSecret(standard), undefined, `${length} base64`);
    }
  });

  test('whatever the text, the result is undefined or 16, 24 or 32 bytes, and it never throws (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.base64String({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 })), (text) => {
        const bytes = decodeCookieSecret(text);
        assert.ok(bytes === undefined || [16, 24, 32].includes(bytes.length), `${JSON.stringify(text)} → ${bytes?.length ?? 'undefined'}`);
      }),
      { numRuns: 1000 },
    );
  });
});
