/** The cookie keyring: AES-256-GCM sealing bound to a purpose and a cookie name, with key rotation. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createKeyring } from '../../src/crypto/keyring.js';

const SECRET_A = 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf';
const SECRET_B = 'abcdefghijklmnopqrstuvwx'; // 24 raw bytes
const SECRET_FOREIGN = randomBytes(32).toString('base64url');
const NAME = '_gatehouse';

const KID = 4;
const IV = 12;
const TAG = 16;

const plaintext = Buffer.from(JSON.stringify({ v: 1, s: 'alice', e: 'alice@homelab.example.com' }), 'utf8');

/** The decoded bytes of a sealed value. */
function bytesOf(sealed: string): Buffer {
  assert.ok(sealed.startsWith('v1.'), sealed);
  return Buffer.from(sealed.slice(3), 'base64url');
}

function encode(bytes: Buffer): string {
  return `v1.${bytes.toString('base64url')}`;
}

function flipBit(bytes: Buffer, index: number, bit = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ (1 << bit);
  return copy;
}

describe('seal and open', () => {
  const keyring = createKeyring([SECRET_A], 'session');

  test('a sealed value opens to the same bytes with the same purpose and context', () => {
    const sealed = keyring.seal(plaintext, NAME);
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(keyring.open(sealed, NAME), plaintext);
    // The layout is kid(4) ‖ iv(12) ‖ ciphertext ‖ tag(16): GCM adds no padding.
    assert.equal(bytesOf(sealed).length, KID + IV + plaintext.length + TAG);
  });

  test('round trip for any plaintext and context (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.string({ maxLength: 40 }), (data, context) => {
        const input = Buffer.from(data);
        assert.deepEqual(keyring.open(keyring.seal(input, context), context), input);
      }),
      { numRuns: 200 },
    );
  });

  test('an empty plaintext seals and opens', () => {
    assert.deepEqual(keyring.open(keyring.seal(Buffer.alloc(0), NAME), NAME), Buffer.alloc(0));
  });

  test('SESS-12: sealing the same plaintext twice gives different values with different random IVs', () => {
    const seen = new Set<string>();
    const ivs = new Set<string>();
    for (let index = 0; index < 200; index += 1) {
      const sealed = keyring.seal(plaintext, NAME);
      seen.add(sealed);
      ivs.add(bytesOf(sealed).subarray(KID, KID + IV).toString('hex'));
    }
    assert.equal(seen.size, 200);
    assert.equal(ivs.size, 200);
  });
});

describe('SESS-02/SESS-03: anything but the exact sealed value opens to undefined', () => {
  const keyring = createKeyring([SECRET_A], 'session');
  const sealed = keyring.seal(plaintext, NAME);
  const bytes = bytesOf(sealed);
  const ciphertextStart = KID + IV;
  const tagStart = bytes.length - TAG;

  test('a bit flip anywhere (kid, iv, ciphertext, tag) is refused', () => {
    for (let index = 0; index < bytes.length; index += 1) {
      for (const bit of [0, 7]) {
        assert.equal(keyring.open(encode(flipBit(bytes, index, bit)), NAME), undefined, `byte ${index} bit ${bit}`);
      }
    }
  });

  test('each region separately: kid, iv, ciphertext, tag', () => {
    assert.equal(keyring.open(encode(flipBit(bytes, 0)), NAME), undefined, 'kid');
    assert.equal(keyring.open(encode(flipBit(bytes, KID + 3)), NAME), undefined, 'iv');
    assert.equal(keyring.open(encode(flipBit(bytes, ciphertextStart + 2)), NAME), undefined, 'ciphertext');
    assert.equal(keyring.open(encode(flipBit(bytes, tagStart + 15)), NAME), undefined, 'tag');
  });

  test('truncation by bytes or by characters is refused', () => {
    for (let cut = 1; cut <= bytes.length; cut += 1) {
      assert.equal(keyring.open(encode(bytes.subarray(0, bytes.length - cut)), NAME), undefined, `${cut} bytes cut`);
    }
    for (let cut = 1; cut < sealed.length; cut += 1) {
      assert.equal(keyring.open(sealed.slice(0, sealed.length - cut), NAME), undefined, `${cut} characters cut`);
    }
  });

  test('appended bytes are refused', () => {
    for (const extra of [Buffer.from([0]), Buffer.from('A'), randomBytes(16), randomBytes(300)]) {
      assert.equal(keyring.open(encode(Buffer.concat([bytes, extra])), NAME), undefined, `${extra.length} bytes appended`);
    }
  });

  test('appended or altered characters are refused, whatever the length of the value (canonical base64url only)', () => {
    // Values of every length modulo 3 bytes, so every base64url tail shape is covered.
    for (const size of [30, 31, 32, 33]) {
      const value = keyring.seal(randomBytes(size), NAME);
      for (const extra of ['A', 'Q', '_', 'AA', 'AAA', '=', '==']) {
        assert.equal(keyring.open(value + extra, NAME), undefined, `${size}-byte plaintext + '${extra}'`);
      }
      // The last character may carry unused low bits; another character with the same used bits is another value.
      const last = value.charAt(value.length - 1);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      for (const replacement of alphabet) {
        if (replacement === last) continue;
        assert.equal(keyring.open(value.slice(0, -1) + replacement, NAME), undefined, `${size}-byte plaintext, last character '${last}' → '${replacement}'`);
      }
    }
  });

  test('another context (cookie name) is refused: the name is bound as associated data', () => {
    for (const context of ['_gatehouse_0', '_Gatehouse', '_gatehouse ', '', '_gatehouse_tx_abc', 'other']) {
      assert.equal(keyring.open(sealed, context), undefined, context);
    }
  });

  test('another purpose with the same secret is refused', () => {
    assert.equal(createKeyring([SECRET_A], 'login-transaction').open(sealed, NAME), undefined);
    assert.equal(createKeyring([SECRET_A], 'redis-ticket').open(sealed, NAME), undefined);
    const transaction = createKeyring([SECRET_A], 'login-transaction').seal(plaintext, NAME);
    assert.equal(keyring.open(transaction, NAME), undefined);
  });

  test("another deployment's secret is refused, and so is a key removed from the keyring", () => {
    assert.equal(createKeyring([SECRET_FOREIGN], 'session').open(sealed, NAME), undefined);
    const withB = createKeyring([SECRET_B], 'session').seal(plaintext, NAME);
    assert.equal(keyring.open(withB, NAME), undefined);
  });

  test('a value spliced from two seals (kid and iv of one, body of another) is refused', () => {
    const other = bytesOf(keyring.seal(plaintext, NAME));
    const spliced = Buffer.concat([bytes.subarray(0, KID + IV), other.subarray(KID + IV)]);
    assert.equal(keyring.open(encode(spliced), NAME), undefined);
  });
});

describe('rotation', () => {
  const onlyA = createKeyring([SECRET_A], 'session');
  const bThenA = createKeyring([SECRET_B, SECRET_A], 'session');
  const aThenB = createKeyring([SECRET_A, SECRET_B], 'session');

  test('the first secret seals; every listed secret opens', () => {
    const sealedWithB = bThenA.seal(plaintext, NAME);
    assert.deepEqual(aThenB.open(sealedWithB, NAME), plaintext);
    assert.deepEqual(bThenA.open(sealedWithB, NAME), plaintext);
    assert.equal(onlyA.open(sealedWithB, NAME), undefined);
    assert.deepEqual(bThenA.open(onlyA.seal(plaintext, NAME), NAME), plaintext);
  });

  test('isStale is true for a value sealed with a key other than the current one', () => {
    const sealedWithB = bThenA.seal(plaintext, NAME);
    const sealedWithA = onlyA.seal(plaintext, NAME);
    assert.equal(aThenB.isStale(sealedWithB), true);
    assert.equal(aThenB.isStale(sealedWithA), false);
    assert.equal(bThenA.isStale(sealedWithA), true);
    assert.equal(bThenA.isStale(sealedWithB), false);
  });

  test('the same secret listed for two purposes gets two key ids', () => {
    const session = bytesOf(onlyA.seal(plaintext, NAME)).subarray(0, KID);
    const transaction = bytesOf(createKeyring([SECRET_A], 'login-transaction').seal(plaintext, NAME)).subarray(0, KID);
    assert.notDeepEqual(session, transaction);
  });
});

describe('malformed input never throws', () => {
  const keyring = createKeyring([SECRET_A, SECRET_B], 'session');

  test('fixed garbage opens to undefined', () => {
    const garbage = ['', 'v1', 'v1.', 'v1.=', 'v1.====', 'v2.AAAA', 'V1.AAAA', 'v1.' + 'A'.repeat(10), 'v1.' + 'A'.repeat(43), 'v1.' + 'A'.repeat(10_000), 'v1.a+b/c', 'v1.AAAA AAAA', 'v1.%41%41', 'null', '{"sub":"admin"}', 'v1.\u0000\u0001', 'v1.🦊🦊🦊', 'v1..'];
    for (const value of garbage) {
      assert.equal(keyring.open(value, NAME), undefined, JSON.stringify(value.slice(0, 40)));
      assert.equal(typeof keyring.isStale(value), 'boolean');
    }
  });

  test('arbitrary strings, with or without the version prefix, open to undefined (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.base64String({ maxLength: 400 })), fc.boolean(), (text, prefixed) => {
        const value = prefixed ? `v1.${text}` : text;
        assert.equal(keyring.open(value, NAME), undefined);
        assert.doesNotThrow(() => keyring.isStale(value));
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes in the sealed layout open to undefined (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (data) => {
        assert.equal(keyring.open(encode(Buffer.from(data)), NAME), undefined);
      }),
      { numRuns: 300 },
    );
  });
});

describe('createKeyring arguments', () => {
  test('no secret is a TypeError', () => {
    assert.throws(() => createKeyring([], 'session'), TypeError);
  });

  test('a secret that decodes to no accepted length is a TypeError', () => {
    for (const bad of ['', 'short', '!'.repeat(31), '!'.repeat(33)]) {
      assert.throws(() => createKeyring([SECRET_A, bad], 'session'), TypeError, bad);
    }
  });
});
