/** The bounded two-generation cache (src/session/cache.ts): exact keys only, bounded size, promotion. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GenerationalCache } from '../../src/session/cache.js';

const tail = 'T'.repeat(40);

describe('GenerationalCache', () => {
  test('answers only for the exact key stored, even when another key shares its tail', () => {
    const cache = new GenerationalCache<string>(10);
    cache.set(`a${tail}`, 'first');
    assert.equal(cache.get(`a${tail}`), 'first');
    assert.equal(cache.get(`b${tail}`), undefined);
    assert.equal(cache.get(tail.slice(-12)), undefined);
    // A second key with the same tail displaces the first; neither answers for the other.
    cache.set(`b${tail}`, 'second');
    assert.equal(cache.get(`b${tail}`), 'second');
    assert.notEqual(cache.get(`a${tail}`), 'second');
  });

  test('delete removes only the key named', () => {
    const cache = new GenerationalCache<number>(10);
    cache.set(`a${tail}`, 1);
    cache.delete(`b${tail}`);
    assert.equal(cache.get(`a${tail}`), 1);
    cache.delete(`a${tail}`);
    assert.equal(cache.get(`a${tail}`), undefined);
  });

  test('holds at most twice its capacity, and a read keeps an old entry alive', () => {
    const cache = new GenerationalCache<number>(3);
    for (let index = 0; index < 3; index += 1) cache.set(`key-${index}`, index);
    cache.set('key-3', 3); // the first generation becomes the old one
    assert.equal(cache.get('key-0'), 0); // promoted into the young generation
    for (let index = 4; index < 7; index += 1) cache.set(`key-${index}`, index);
    assert.ok(cache.size <= 6);
    assert.equal(cache.get('key-0'), 0);
    assert.equal(cache.get('key-1'), undefined);
    for (let index = 0; index < 1000; index += 1) cache.set(`flood-${index}`, index);
    assert.ok(cache.size <= 6);
  });

  test('behaves as an exact map for whatever keys, within one generation', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 80 }), { maxLength: 50 }), fc.array(fc.string({ maxLength: 80 }), { maxLength: 50 }), (stored, probes) => {
        const cache = new GenerationalCache<string>(100);
        for (const key of stored) cache.set(key, `v:${key}`);
        for (const probe of [...stored, ...probes]) {
          const value = cache.get(probe);
          if (value !== undefined) assert.equal(value, `v:${probe}`);
        }
      }),
    );
  });

  test('refuses a capacity that is not a positive integer', () => {
    for (const capacity of [0, -1, 1.5, Number.NaN]) assert.throws(() => new GenerationalCache(capacity), /positive integer/);
  });
});
