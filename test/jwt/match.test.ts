/** Wildcard matching of claims (src/jwt/match.ts): the shortcut for plain patterns changes no answer. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { wildcardMatch, wildcardMatchFully } from '../../src/jwt/match.js';

describe('wildcardMatch', () => {
  test('answers exactly what the full matcher answers, plain patterns or not', () => {
    const piece = fc.constantFrom('a', 'b', '.', '*', '?', '[', ']', '!', '-', '\\', 'example.com', 'vminsert');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.array(piece, { maxLength: 8 }), (pattern, text) => {
        assert.equal(wildcardMatch(pattern.join(''), text.join('')), wildcardMatchFully(pattern.join(''), text.join('')), `${pattern.join('')} ~ ${text.join('')}`);
      }),
      { numRuns: 20_000 },
    );
  });

  test('a plain pattern matches only its own text; special characters keep their meaning', () => {
    assert.equal(wildcardMatch('vminsert.homelab.example.com', 'vminsert.homelab.example.com'), true);
    assert.equal(wildcardMatch('vminsert.homelab.example.com', 'vminsert.homelab.example.co'), false);
    assert.equal(wildcardMatch('*.example.com', 'app.example.com'), true);
    assert.equal(wildcardMatch('app?', 'app1'), true);
    assert.equal(wildcardMatch('[ab]pp', 'bpp'), true);
    assert.equal(wildcardMatch('a\\*', 'a*'), true);
    assert.equal(wildcardMatch('a\\*', 'ab'), false);
  });
});
