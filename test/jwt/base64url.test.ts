/** The canonical base64url check of bearer tokens (JWT-29): the same answer as a decode and re-encode. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalBase64url } from '../../src/jwt/jws.js';

const roundTrips = (segment: string) => segment !== '' && Buffer.from(segment, 'base64url').toString('base64url') === segment;

describe('canonicalBase64url', () => {
  test('accepts exactly the segments that survive a decode and re-encode', () => {
    const alphabet = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''), '=', '+', '/', '.', ' ', 'é'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 24 }), (chars) => {
        const segment = chars.join('');
        assert.equal(canonicalBase64url(segment), roundTrips(segment), JSON.stringify(segment));
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const segment = Buffer.from(bytes).toString('base64url');
        assert.equal(canonicalBase64url(segment), segment !== '');
      }),
    );
  });

  test('refuses second spellings of the same bytes', () => {
    for (const [segment, expected] of [['eyJhIjoxfQ', true], ['eyJhIjoxfR', false], ['eyJhIjoxfQ==', false], ['QQ', true], ['QR', false], ['QUI', true], ['QUJ', false], ['Q', false], ['', false], ['garbage', false]] as const) {
      assert.equal(canonicalBase64url(segment), expected, segment);
    }
  });
});
