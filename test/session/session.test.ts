/** The session codec: exactly a v1 session decodes, everything else is `undefined`. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeBoundSession, decodeSession, encodeSession, type Session } from '../../src/session/session.js';

const VALID = { v: 1, s: 'sub-1', e: 'alice@homelab.example.com', ev: 1, g: ['admins', 'family'], u: 'alice', i: 'https://idp.example.com', c: 1000, r: 1000, x: 5000 };

function decode(value: unknown): Session | undefined {
  return decodeSession(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8'));
}

describe('decodeSession', () => {
  test('a minimal v1 session decodes to the session model', () => {
    assert.deepEqual(decode(VALID), {
      identity: { sub: 'sub-1', email: 'alice@homelab.example.com', emailVerified: true, groups: ['admins', 'family'], username: 'alice', issuer: 'https://idp.example.com', authMethod: 'session' },
      createdAt: 1000,
      refreshedAt: 1000,
      expiresAt: 5000,
    });
  });

  test('tokens decode when they are strings and times when they are times', () => {
    const decoded = decode({ ...VALID, it: 'id', ie: 4000, at: 'access', rt: 'refresh' });
    assert.ok(decoded !== undefined);
    assert.equal(decoded.idToken, 'id');
    assert.equal(decoded.idTokenExpiresAt, 4000);
    assert.equal(decoded.accessToken, 'access');
    assert.equal(decoded.refreshToken, 'refresh');
  });

  test('optional fields of the wrong type are dropped, never trusted', () => {
    const decoded = decode({ ...VALID, it: 5, ie: '4000', at: null, rt: { token: 'x' } });
    assert.ok(decoded !== undefined);
    for (const key of ['idToken', 'idTokenExpiresAt', 'accessToken', 'refreshToken']) assert.ok(!(key in decoded), key);
  });

  test('email_verified is true only for ev === 1', () => {
    for (const ev of [0, 2, true, '1', null, undefined]) assert.equal(decode({ ...VALID, ev })?.identity.emailVerified, false, String(ev));
  });

  test('the identity always says it came from a session, whatever the sealed value claims', () => {
    assert.equal(decode({ ...VALID, authMethod: 'bearer', m: 'bearer' })?.identity.authMethod, 'session');
  });

  test('rejects every malformed shape', () => {
    const malformed: [string, unknown][] = [
      ['not JSON', 'not json'],
      ['truncated JSON', JSON.stringify(VALID).slice(0, -1)],
      ['empty', ''],
      ['null', null],
      ['a number', 42],
      ['a string', 'session'],
      ['an array', [VALID]],
      ['an empty object', {}],
      ['no version', { ...VALID, v: undefined }],
      ['version 2', { ...VALID, v: 2 }],
      ['version as text', { ...VALID, v: '1' }],
      ['version 0', { ...VALID, v: 0 }],
      ['sub missing', { ...VALID, s: undefined }],
      ['sub a number', { ...VALID, s: 7 }],
      ['email missing', { ...VALID, e: undefined }],
      ['email null', { ...VALID, e: null }],
      ['username missing', { ...VALID, u: undefined }],
      ['issuer missing', { ...VALID, i: undefined }],
      ['issuer an object', { ...VALID, i: {} }],
      ['groups missing', { ...VALID, g: undefined }],
      ['groups a string', { ...VALID, g: 'admins' }],
      ['groups with a number', { ...VALID, g: ['admins', 1] }],
      ['groups with null', { ...VALID, g: [null] }],
      ['groups with an object', { ...VALID, g: [{ name: 'admins' }] }],
      ['createdAt missing', { ...VALID, c: undefined }],
      ['createdAt negative', { ...VALID, c: -1 }],
      ['createdAt fractional', { ...VALID, c: 1.5 }],
      ['createdAt text', { ...VALID, c: '1000' }],
      ['createdAt beyond 2^53', { ...VALID, c: 2 ** 53 }],
      ['refreshedAt missing', { ...VALID, r: undefined }],
      ['refreshedAt null', { ...VALID, r: null }],
      ['expiresAt missing', { ...VALID, x: undefined }],
      ['expiresAt text', { ...VALID, x: '5000' }],
      ['expiresAt infinite (1e999)', JSON.stringify(VALID).replace('"x":5000', '"x":1e999')],
      ['expiresAt boolean', { ...VALID, x: true }],
    ];
    for (const [what, value] of malformed) assert.equal(decode(value), undefined, what);
  });

  test('invalid UTF-8 and binary bytes do not decode and do not throw', () => {
    assert.equal(decodeSession(Buffer.from([0xff, 0xfe, 0x00, 0x7b])), undefined);
    assert.equal(decodeSession(Buffer.alloc(0)), undefined);
  });

  test('a __proto__ key neither pollutes nor decodes into the session', () => {
    const text = JSON.stringify(VALID).replace('{', '{"__proto__":{"polluted":true,"v":1},');
    const decoded = decode(text);
    assert.ok(decoded !== undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((decoded as unknown as Record<string, unknown>).polluted, undefined);
  });

  test('arbitrary bytes never throw (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        decodeSession(Buffer.from(bytes));
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary JSON values decode only when they are v1 sessions (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decoded = decodeSession(Buffer.from(JSON.stringify(value)));
        if (decoded !== undefined) assert.equal((value as { v?: unknown }).v, 1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('encodeSession', () => {
  const identity = fc.record({
    sub: fc.string(),
    email: fc.string(),
    emailVerified: fc.boolean(),
    groups: fc.array(fc.string(), { maxLength: 5 }),
    username: fc.string(),
    issuer: fc.string(),
    authMethod: fc.constant('session' as const),
  });
  const time = fc.integer({ min: 0, max: 2 ** 40 });

  test('every session round-trips through encode and decode (property)', () => {
    fc.assert(
      fc.property(identity, time, time, time, fc.option(fc.string(), { nil: undefined }), fc.option(fc.string(), { nil: undefined }), fc.option(fc.string(), { nil: undefined }), (id, createdAt, refreshedAt, expiresAt, idToken, refreshToken, providerSid) => {
        // fast-check builds records without a prototype; the decoder builds plain objects.
        const value: Session = {
          identity: { ...id, groups: [...id.groups] },
          createdAt,
          refreshedAt,
          expiresAt,
          ...(idToken === undefined ? {} : { idToken, idTokenExpiresAt: expiresAt }),
          ...(refreshToken === undefined ? {} : { refreshToken }),
          ...(providerSid === undefined ? {} : { providerSid }),
        };
        assert.deepEqual(decodeSession(encodeSession(value)), value);
      }),
      { numRuns: 300 },
    );
  });

  test('a session bound to a cookie name carries it, and decodes back with it', () => {
    const session = decode(VALID)!;
    assert.deepEqual(decodeBoundSession(encodeSession(session, '_gatehouse')), { session, cookieName: '_gatehouse' });
    assert.deepEqual(decodeBoundSession(encodeSession(session)), { session, cookieName: undefined }, 'unbound: no name');
    assert.ok(!encodeSession(session).toString('utf8').includes('"n"'), 'nothing written without a name');
    // A reader that does not look at the name still decodes the session.
    assert.deepEqual(decodeSession(encodeSession(session, '_gatehouse')), session);
  });

  test('a cookie name of the wrong type is not a session', () => {
    for (const n of [5, null, true, ['_gatehouse'], { name: '_gatehouse' }]) {
      assert.equal(decodeBoundSession(Buffer.from(JSON.stringify({ ...VALID, n }))), undefined, JSON.stringify(n));
      assert.equal(decode({ ...VALID, n }), undefined, JSON.stringify(n));
    }
  });

  test('a token the session does not hold is not written', () => {
    const text = encodeSession(decode(VALID)!).toString('utf8');
    for (const key of ['"it"', '"ie"', '"at"', '"rt"', '"ps"', '"n"']) assert.ok(!text.includes(key), key);
  });
});
