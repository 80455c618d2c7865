/** Case-insensitive protocol tokens, compared by character: the same answers as lower-casing. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isAsciiWord, spellsAt } from '../src/ascii.js';

// Letters of the words in both cases, non-ASCII letters that lower-casing maps near them, and digits,
// punctuation and control characters, which the 0x20 fold must never turn into a letter.
const text = fc.array(fc.constantFrom(...'hostHOSTbearerBEARERhttpsHTTPS'.split(''), 'ſ', 'K', 'İ', '\u0008', '\u0013', '\u0014', '\u0010', '\u0012', '\u0005', '\u0001', '(', '4', '3', '2', '0', '-', ' '), { maxLength: 9 }).map((chars) => chars.join(''));
const word = fc.constantFrom('host', 'authorization', 'bearer', 'http', 'https');

describe('ascii tokens', () => {
  test('isAsciiWord answers as text.toLowerCase() === word, for ASCII text', () => {
    fc.assert(
      fc.property(text, word, (candidate, lower) => {
        const ascii = Array.from({ length: candidate.length }, (_, index) => candidate.charCodeAt(index)).every((code) => code < 0x80);
        // Non-ASCII characters never match: 'K' (Kelvin) lower-cases to 'k', but is not the ASCII letter.
        assert.equal(isAsciiWord(candidate, lower), ascii && candidate.toLowerCase() === lower, JSON.stringify(candidate));
      }),
      { numRuns: 20_000 },
    );
  });

  test('spellsAt compares the slice at an offset and refuses a text too short for it', () => {
    assert.equal(spellsAt('x-Bearer y', 'bearer', 2), true);
    assert.equal(spellsAt('x-Bearer', 'bearer', 3), false);
    assert.equal(spellsAt('BEAR', 'bearer'), false);
    assert.equal(spellsAt('bearer', 'bearer'), true);
    assert.equal(spellsAt('bEaReRs', 'bearer'), true);
    assert.equal(spellsAt('b@arer', 'bearer'), false);
  });
});
