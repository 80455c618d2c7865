/** Reading the `Bearer` scheme of an Authorization header (RFC 6750 §2.1), by character. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bearerPrefixLength, bearerTokenOf } from '../../src/jwt/provider-bearer.js';

// Headers made of the letters of the scheme in both cases, spaces, a tab, other letters and non-ASCII
// characters whose case folding could be mistaken for an ASCII letter.
const header = fc.array(fc.constantFrom(...'bearBEARx '.split(''), '\t', 'ſ', 'K', 'İ'), { maxLength: 14 }).map((chars) => chars.join(''));

describe('the Bearer scheme', () => {
  test('bearerPrefixLength measures what /^bearer +/i matches, and 0 when it does not match', () => {
    fc.assert(
      fc.property(header, (text) => {
        assert.equal(bearerPrefixLength(text), /^bearer +/i.exec(text)?.[0].length ?? 0, JSON.stringify(text));
      }),
      { numRuns: 20_000 },
    );
  });

  test('bearerTokenOf takes what follows "bearer " in any letter case, trimmed, and nothing else', () => {
    const expected = (text: string) => (text.length < 8 || text.slice(0, 7).toLowerCase() !== 'bearer ' ? undefined : text.slice(7).trim());
    fc.assert(
      fc.property(header, (text) => {
        assert.equal(bearerTokenOf(text), expected(text), JSON.stringify(text));
      }),
      { numRuns: 20_000 },
    );
    for (const [text, token] of [[undefined, undefined], ['Bearer', undefined], ['Bearer ', undefined], ['bearer x', 'x'], ['BEARER   x ', 'x'], ['Bearer\tx', undefined], ['Basic eA==', undefined], ['Bearer    ', '']] as const) {
      assert.equal(bearerTokenOf(text), token, JSON.stringify(text));
    }
  });
});
