/** Identity headers for the upstream (FWD-16, FWD-17): always all present, values that cannot split a header. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { headerSafe, identityHeaders, type IdentityHeaderOptions } from '../../src/gateway/headers.js';
import type { Identity } from '../../src/identity/index.js';

const ALL: IdentityHeaderOptions = { authorization: true, xAuthRequest: true, accessToken: true };

function identity(overrides: Partial<Identity> = {}): Identity {
  return { sub: 'sub-1', email: 'alice@homelab.example.com', emailVerified: true, groups: ['admins', 'family'], username: 'alice', issuer: 'https://idp.example.com', authMethod: 'session', ...overrides };
}

/** True when Node would write this header value (no CR, LF, NUL or other forbidden byte). */
function writable(name: string, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

describe('headerSafe', () => {
  test('FWD-17: CR, LF, NUL and other control characters are removed, so a value cannot start a new header', () => {
    assert.equal(headerSafe('bob\r\nX-Auth-Request-Groups: admin'), 'bobX-Auth-Request-Groups: admin');
    assert.equal(headerSafe('alice\nadmin'), 'aliceadmin');
    assert.equal(headerSafe('a@homelab.example.com\u0000'), 'a@homelab.example.com');
    assert.equal(headerSafe('tab\there\u0007\u001b\u007f'), 'tabhere');
    assert.equal(headerSafe('\r\n\r\n'), '');
  });

  test('FWD-17: C1 controls and Unicode line separators are not sent raw', () => {
    for (const char of ['\u0085', '\u2028', '\u2029', '\u009b']) {
      const safe = headerSafe(`x${char}y`);
      assert.ok(/^[\x20-\x7e]*$/.test(safe), JSON.stringify(safe));
      assert.ok(!safe.includes(char));
    }
  });

  test('FWD-17: non-ASCII is percent-encoded as UTF-8, and % itself too so the encoding is unambiguous', () => {
    assert.equal(headerSafe('Zoë 🦊'), 'Zo%C3%AB %F0%9F%A6%8A');
    assert.equal(headerSafe('100%'), '100%25');
    assert.equal(headerSafe('%C3%AB'), '%25C3%25AB');
    assert.equal(decodeURIComponent(headerSafe('Zoë 🦊 100%')), 'Zoë 🦊 100%');
  });

  test('FWD-17: commas are escaped only in list items', () => {
    assert.equal(headerSafe('dev,admin', true), 'dev%2Cadmin');
    assert.equal(headerSafe('dev,admin'), 'dev,admin');
  });

  test('printable ASCII passes unchanged', () => {
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, index) => String.fromCharCode(0x20 + index)).join('').replace('%', '');
    assert.equal(headerSafe(printable), printable);
  });

  test('any string becomes a printable-ASCII value Node accepts (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.boolean(), (value, list) => {
        const safe = headerSafe(value, list);
        assert.ok(/^[\x20-\x7e]*$/.test(safe), JSON.stringify(safe));
        assert.ok(writable('x-auth-request-user', safe));
        if (list) assert.ok(!safe.includes(','));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('identityHeaders', () => {
  test('FWD-16: with every option on, every configured header is present', () => {
    const headers = identityHeaders(identity(), { idToken: 'id.token.sig', accessToken: 'access-token' }, ALL);
    assert.deepEqual(headers, {
      'gap-auth': 'alice@homelab.example.com',
      'x-auth-request-user': 'sub-1',
      'x-auth-request-email': 'alice@homelab.example.com',
      'x-auth-request-groups': 'admins,family',
      'x-auth-request-preferred-username': 'alice',
      'x-auth-request-access-token': 'access-token',
      authorization: 'Bearer id.token.sig',
    });
  });

  test('FWD-16: every configured header is present and empty when its claim or token is absent', () => {
    const headers = identityHeaders(identity({ email: '', groups: [], username: '' }), {}, ALL);
    assert.deepEqual(headers, {
      'gap-auth': 'sub-1',
      'x-auth-request-user': 'sub-1',
      'x-auth-request-email': '',
      'x-auth-request-groups': '',
      'x-auth-request-preferred-username': '',
      'x-auth-request-access-token': '',
      authorization: '',
    });
    const anonymous = identityHeaders(identity({ sub: '', email: '', groups: [], username: '' }), {}, ALL);
    for (const value of Object.values(anonymous)) assert.equal(value, '');
  });

  test('only the configured headers are sent: no tokens unless asked for (SESS-13)', () => {
    const plain = identityHeaders(identity(), { idToken: 'id.token.sig', accessToken: 'access-token' }, { authorization: false, xAuthRequest: true, accessToken: false });
    assert.deepEqual(Object.keys(plain).sort(), ['gap-auth', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username', 'x-auth-request-user']);
    assert.ok(!JSON.stringify(plain).includes('token'));
    const minimal = identityHeaders(identity(), { idToken: 'id.token.sig' }, { authorization: false, xAuthRequest: false, accessToken: false });
    assert.deepEqual(minimal, { 'gap-auth': 'alice@homelab.example.com' });
  });

  test('FWD-17: hostile claim values are made safe in every header', () => {
    const hostile = identity({
      sub: 'bob\r\nX-Auth-Request-Groups: admin',
      email: 'a@homelab.example.com\u0000',
      username: 'alice\nadmin',
      groups: ['dev,admin', 'ops\r\nSet-Cookie: x=1', 'Zoë 🦊'],
    });
    const headers = identityHeaders(hostile, { idToken: 'id\r\ntoken', accessToken: 'at\nx' }, ALL);
    for (const [name, value] of Object.entries(headers)) {
      assert.ok(typeof value === 'string' && !/[\r\n\0]/.test(value), `${name}: ${JSON.stringify(value)}`);
      if (name !== 'authorization') assert.ok(writable(name, value), `${name}: ${JSON.stringify(value)}`);
    }
    assert.equal(headers['x-auth-request-user'], 'bobX-Auth-Request-Groups: admin');
    assert.equal(headers['x-auth-request-preferred-username'], 'aliceadmin');
    assert.equal(headers['x-auth-request-email'], 'a@homelab.example.com');
    // Three groups stay three: the comma inside a name cannot forge a fourth entry.
    assert.equal(headers['x-auth-request-groups'], 'dev%2Cadmin,opsSet-Cookie: x=1,Zo%C3%AB %F0%9F%A6%8A');
    const groups = headers['x-auth-request-groups'] as string;
    assert.equal(groups.split(',').length, 3);
    assert.ok(!groups.split(',').includes('admin'));
  });

  test('FWD-17: the Authorization header never carries CR or LF, whatever the stored token holds', () => {
    const headers = identityHeaders(identity(), { idToken: 'eyJ.x\r\nX-Admin: 1' }, ALL);
    assert.ok(writable('authorization', headers.authorization), JSON.stringify(headers.authorization));
  });

  test('every header value Node accepts, for any identity (property)', () => {
    const text = fc.string({ unit: 'binary', maxLength: 60 });
    fc.assert(
      fc.property(text, text, text, fc.array(text, { maxLength: 6 }), (sub, email, username, groups) => {
        const headers = identityHeaders(identity({ sub, email, username, groups }), { accessToken: email }, { authorization: false, xAuthRequest: true, accessToken: true });
        for (const [name, value] of Object.entries(headers)) assert.ok(writable(name, value), `${name}: ${JSON.stringify(value)}`);
        const list = String(headers['x-auth-request-groups']);
        assert.equal(list === '' ? 0 : list.split(',').length, groups.length === 1 && headerSafe(groups[0]!, true) === '' ? 0 : groups.length);
      }),
      { numRuns: 500 },
    );
  });
});
