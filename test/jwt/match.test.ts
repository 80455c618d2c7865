/**
 * Wildcard matching of claims (src/jwt/match.ts): the same answers as BSD fnmatch without flags (the
 * plugin's danwakefield/fnmatch), the shortcut for plain patterns changes no answer, the plugin's "*." rule,
 * and bounded work on hostile input.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { claimMatches, MAX_STEPS, wildcardMatch, wildcardMatchFully } from '../../src/jwt/match.js';
import { fnmatchReference } from './fnmatch-reference.js';

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

  test('answers exactly what fnmatch answers: stars, ?, classes, ranges, negation, escapes, unclosed classes, astral characters', () => {
    const patternPiece = fc.constantFrom('a', 'b', 'c', '.', '*', '*', '?', '[', ']', '!', '^', '-', '\\', 'é', '😀', 'ab');
    const textPiece = fc.constantFrom('a', 'b', 'c', '.', '[', ']', '-', '\\', '!', '*', 'é', '😀');
    fc.assert(
      fc.property(fc.array(patternPiece, { maxLength: 10 }), fc.array(textPiece, { maxLength: 8 }), (pattern, text) => {
        assert.equal(wildcardMatchFully(pattern.join(''), text.join('')), fnmatchReference(pattern.join(''), text.join('')), `${pattern.join('')} ~ ${text.join('')}`);
      }),
      { numRuns: 50_000 },
    );
  });

  test('a plain pattern matches only its own text; special characters keep their meaning', () => {
    assert.equal(wildcardMatch('vminsert.homelab.example.com', 'vminsert.homelab.example.com'), true);
    assert.equal(wildcardMatch('vminsert.homelab.example.com', 'vminsert.homelab.example.co'), false);
    assert.equal(wildcardMatch('*.example.com', 'app.example.com'), true);
    assert.equal(wildcardMatch('*.example.com', 'a/b.example.com'), true, '* crosses / and .');
    assert.equal(wildcardMatch('app?', 'app1'), true);
    assert.equal(wildcardMatch('[ab]pp', 'bpp'), true);
    assert.equal(wildcardMatch('[!ab]pp', 'bpp'), false);
    assert.equal(wildcardMatch('[a-c]pp', 'cpp'), true);
    assert.equal(wildcardMatch('a\\*', 'a*'), true);
    assert.equal(wildcardMatch('a\\*', 'ab'), false);
    assert.equal(wildcardMatch('[ab', '[ab'), false, 'an unclosed class matches nothing, as in fnmatch');
    assert.equal(wildcardMatch('[]a]', ']a]'), false, 'a ] right after [ closes an empty class');
    assert.equal(wildcardMatch('?', '😀'), true, '? is one code point');
    assert.equal(wildcardMatch('APP.example.com', 'app.example.com'), false, 'case-sensitive');
  });

  test('claimMatches adds the plugin rule that *.example.com also matches example.com', () => {
    assert.equal(claimMatches('*.example.com', 'example.com'), true);
    assert.equal(claimMatches('*.example.com', 'app.example.com'), true);
    assert.equal(claimMatches('*.example.com', 'xexample.com'), false);
    assert.equal(claimMatches('*.example.com', 'example.org'), false);
    assert.equal(claimMatches('example.com', 'example.com'), true);
  });

  test('hostile patterns and texts cost at most a bounded number of steps, and then do not match', () => {
    const text = 'a'.repeat(16_000);
    for (const pattern of [`${'*a'.repeat(2000)}b`, `*${'?'.repeat(8000)}b*`, `*${'[a]'.repeat(4000)}b*`, `${'*'.repeat(5000)}b`]) {
      const started = performance.now();
      assert.equal(wildcardMatch(pattern, text), false, pattern.slice(0, 12));
      assert.ok(performance.now() - started < 250, `${pattern.slice(0, 12)}… took ${String(performance.now() - started)} ms`);
    }
    assert.equal(wildcardMatch(`*${'?'.repeat(50)}`, text), true, 'an ordinary pattern is well within the budget');
    assert.equal(wildcardMatch(`*a?a*${'b'.repeat(10)}`, `${'c'.repeat(Math.floor(MAX_STEPS / 4))}axa${'b'.repeat(10)}`), true, 'a short piece is found far into a long text');
  });
});
