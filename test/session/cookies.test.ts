/** Cookies on the wire: the bounded parser, Set-Cookie serialisation, the domain choice and chunking. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  COOKIE_BUDGET,
  MAX_CHUNKS,
  MAX_COOKIES,
  chooseCookieDomain,
  clearChunkedCookie,
  parseCookies,
  readChunkedCookie,
  serializeCookie,
  writeChunkedCookie,
  type CookieAttributes,
  type CookieJar,
} from '../../src/session/cookies.js';

const NAME = '_gatehouse';

const ATTRIBUTES: CookieAttributes = { domain: '.homelab.example.com', path: '/', maxAge: 604800, secure: true, httpOnly: true, sameSite: 'lax' };

/** What a browser would send back after storing these `Set-Cookie` values (deletions dropped). */
function jarAfter(setCookies: readonly string[], start: CookieJar = new Map()): CookieJar {
  const jar: CookieJar = new Map([...start].map(([name, values]) => [name, [...values]]));
  for (const setCookie of setCookies) {
    const pair = setCookie.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (/Max-Age=0(;|$)/.test(setCookie)) jar.delete(name);
    else jar.set(name, [value]);
  }
  return jar;
}

function cookieNames(setCookies: readonly string[]): string[] {
  return setCookies.map((setCookie) => setCookie.slice(0, setCookie.indexOf('=')));
}

function deletions(setCookies: readonly string[]): string[] {
  return cookieNames(setCookies.filter((setCookie) => setCookie.includes('Max-Age=0;')));
}

describe('parseCookies', () => {
  test('no header or an empty one gives an empty jar', () => {
    assert.equal(parseCookies(undefined).size, 0);
    assert.equal(parseCookies('').size, 0);
  });

  test('pairs are split on ; and trimmed; values may contain =', () => {
    const jar = parseCookies(' a=1 ;b = 2;c=x=y==; d=');
    assert.deepEqual([...jar], [['a', ['1']], ['b', ['2']], ['c', ['x=y==']], ['d', ['']]]);
  });

  test('SESS-06: malformed syntax is skipped without throwing', () => {
    assert.equal(parseCookies('=;;;==').size, 0);
    assert.equal(parseCookies(';;;;').size, 0);
    assert.equal(parseCookies('=').size, 0);
    assert.equal(parseCookies('=value').size, 0);
    assert.deepEqual([...parseCookies('novalue; a=1; =x; ;b=2')], [['a', ['1']], ['b', ['2']]]);
    assert.deepEqual([...parseCookies('ü=ß; 🦊=\u0000')], [['ü', ['ß']], ['🦊', ['\u0000']]]);
  });

  test('one pair of double quotes around a value is removed, nothing else', () => {
    assert.deepEqual(parseCookies('a="quoted value"').get('a'), ['quoted value']);
    assert.deepEqual(parseCookies('a=""').get('a'), ['']);
    assert.deepEqual(parseCookies('a="').get('a'), ['"']);
    assert.deepEqual(parseCookies('a="x').get('a'), ['"x']);
    assert.deepEqual(parseCookies('a=""x""').get('a'), ['"x"']);
  });

  test('a name sent more than once keeps every value, in order (SESS-08 needs to see the duplicate)', () => {
    assert.deepEqual(parseCookies('a=1; b=2; a=3; a=1').get('a'), ['1', '3', '1']);
  });

  test(`at most MAX_COOKIES (${MAX_COOKIES}) values are read; the rest are ignored`, () => {
    const header = Array.from({ length: MAX_COOKIES + 50 }, (_, index) => `c${index}=${index}`).join('; ');
    const jar = parseCookies(header);
    assert.equal(jar.size, MAX_COOKIES);
    assert.ok(jar.has(`c${MAX_COOKIES - 1}`));
    assert.ok(!jar.has(`c${MAX_COOKIES}`));
    const duplicates = parseCookies(Array.from({ length: 500 }, () => 'same=1').join('; '));
    assert.equal(duplicates.get('same')?.length, MAX_COOKIES);
  });

  test('never throws and never holds more than MAX_COOKIES values (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.array(fc.constantFrom('=', ';', ' ', '"', 'a', '_gatehouse', '_0', 'v1.', ','), { maxLength: 300 }).map((parts) => parts.join(''))), (header) => {
        const jar = parseCookies(header);
        let count = 0;
        for (const [name, values] of jar) {
          assert.notEqual(name, '');
          count += values.length;
        }
        assert.ok(count <= MAX_COOKIES);
      }),
      { numRuns: 500 },
    );
  });
});

describe('serializeCookie', () => {
  test('every attribute is written', () => {
    assert.equal(serializeCookie(NAME, 'v1.abc', ATTRIBUTES), '_gatehouse=v1.abc; Path=/; Domain=.homelab.example.com; Max-Age=604800; HttpOnly; Secure; SameSite=Lax');
  });

  test('a host-only cookie has no Domain; an empty SameSite is omitted; strict and none are spelled as browsers expect', () => {
    const hostOnly = serializeCookie(NAME, 'x', { ...ATTRIBUTES, domain: undefined, sameSite: '' });
    assert.ok(!hostOnly.includes('Domain='), hostOnly);
    assert.ok(!hostOnly.includes('SameSite'), hostOnly);
    assert.ok(serializeCookie(NAME, 'x', { ...ATTRIBUTES, sameSite: 'strict' }).endsWith('; SameSite=Strict'));
    assert.ok(serializeCookie(NAME, 'x', { ...ATTRIBUTES, sameSite: 'none' }).endsWith('; SameSite=None'));
  });

  test('HttpOnly and Secure are left out only when switched off', () => {
    const plain = serializeCookie(NAME, 'x', { ...ATTRIBUTES, secure: false, httpOnly: false });
    assert.ok(!plain.includes('Secure') && !plain.includes('HttpOnly'), plain);
  });

  test('Max-Age 0 or below clears: Max-Age=0 plus an Expires in 1970', () => {
    for (const maxAge of [0, -5]) {
      const cleared = serializeCookie(NAME, '', { ...ATTRIBUTES, maxAge });
      assert.match(cleared, /; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT/);
    }
    assert.match(serializeCookie(NAME, 'x', { ...ATTRIBUTES, maxAge: 99.9 }), /; Max-Age=99;/);
  });
});

describe('chooseCookieDomain', () => {
  const domains = ['.example.com', '.homelab.example.com', 'other.org'];

  test('the longest configured domain the host is within wins, whatever the order', () => {
    assert.equal(chooseCookieDomain('app.homelab.example.com', domains), '.homelab.example.com');
    assert.equal(chooseCookieDomain('app.homelab.example.com', [...domains].reverse()), '.homelab.example.com');
    assert.equal(chooseCookieDomain('www.example.com', domains), '.example.com');
    assert.equal(chooseCookieDomain('a.b.other.org', domains), 'other.org');
  });

  test('the domain itself matches its entry', () => {
    assert.equal(chooseCookieDomain('homelab.example.com', domains), '.homelab.example.com');
    assert.equal(chooseCookieDomain('other.org', domains), 'other.org');
  });

  test('a dot boundary is required: evilhomelab.example.com is not within .homelab.example.com', () => {
    assert.equal(chooseCookieDomain('evilhomelab.example.com', ['.homelab.example.com']), undefined);
    assert.equal(chooseCookieDomain('evilhomelab.example.com', domains), '.example.com');
    assert.equal(chooseCookieDomain('notother.org', domains), undefined);
    assert.equal(chooseCookieDomain('homelab.example.com.evil.com', domains), undefined);
    assert.equal(chooseCookieDomain('example.co', domains), undefined);
  });

  test('no configured domain, or none matching, gives a host-only cookie', () => {
    assert.equal(chooseCookieDomain('app.homelab.example.com', []), undefined);
    assert.equal(chooseCookieDomain('evil.com', domains), undefined);
    assert.equal(chooseCookieDomain('', domains), undefined);
  });
});

describe('writeChunkedCookie and readChunkedCookie', () => {
  const cookieValue = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'.split('')), minLength: 1, maxLength: 25_000 });

  test('any value up to 25 KB round-trips, and every Set-Cookie stays within the browser budget (property)', () => {
    fc.assert(
      fc.property(cookieValue, (value) => {
        const written = writeChunkedCookie(NAME, value, ATTRIBUTES, new Map());
        for (const setCookie of written) assert.ok(setCookie.length <= COOKIE_BUDGET, `${setCookie.length} > ${COOKIE_BUDGET}`);
        assert.ok(written.length <= MAX_CHUNKS);
        const read = readChunkedCookie(NAME, jarAfter(written));
        assert.deepEqual(read, { kind: 'value', value });
      }),
      { numRuns: 60 },
    );
  });

  test('a small value is one cookie; a large one is _0, _1, … with the same attributes', () => {
    assert.deepEqual(cookieNames(writeChunkedCookie(NAME, 'x'.repeat(100), ATTRIBUTES, new Map())), [NAME]);
    const chunked = writeChunkedCookie(NAME, 'x'.repeat(10_000), ATTRIBUTES, new Map());
    assert.deepEqual(cookieNames(chunked), [`${NAME}_0`, `${NAME}_1`, `${NAME}_2`]);
    for (const setCookie of chunked) assert.ok(setCookie.endsWith('; Path=/; Domain=.homelab.example.com; Max-Age=604800; HttpOnly; Secure; SameSite=Lax'), setCookie);
  });

  test('a value needing more than MAX_CHUNKS chunks is a RangeError, not a silent truncation', () => {
    assert.throws(() => writeChunkedCookie(NAME, 'x'.repeat(MAX_CHUNKS * COOKIE_BUDGET), ATTRIBUTES, new Map()), RangeError);
  });

  test('stale chunks the browser still holds are cleared when the value shrinks to one cookie', () => {
    const old = jarAfter(writeChunkedCookie(NAME, 'o'.repeat(15_000), ATTRIBUTES, new Map()));
    assert.equal(old.size, 4);
    const written = writeChunkedCookie(NAME, 'n'.repeat(50), ATTRIBUTES, old);
    assert.deepEqual(cookieNames(written), [NAME, `${NAME}_0`, `${NAME}_1`, `${NAME}_2`, `${NAME}_3`]);
    assert.deepEqual(deletions(written), [`${NAME}_0`, `${NAME}_1`, `${NAME}_2`, `${NAME}_3`]);
    for (const cleared of written.slice(1)) assert.match(cleared, /; Path=\/; Domain=\.homelab\.example\.com; Max-Age=0; /);
    const after = jarAfter(written, old);
    assert.deepEqual(readChunkedCookie(NAME, after), { kind: 'value', value: 'n'.repeat(50) });
    assert.deepEqual([...after.keys()], [NAME]);
  });

  test('the whole cookie and surplus chunks are cleared when the value grows or shrinks into fewer chunks', () => {
    const start: CookieJar = new Map([[NAME, ['whole']], [`${NAME}_0`, ['a']], [`${NAME}_1`, ['b']], [`${NAME}_2`, ['c']], [`${NAME}_3`, ['d']]]);
    const written = writeChunkedCookie(NAME, 'g'.repeat(6000), ATTRIBUTES, start);
    assert.deepEqual(deletions(written).sort(), [NAME, `${NAME}_2`, `${NAME}_3`].sort());
    const after = jarAfter(written, start);
    assert.deepEqual(readChunkedCookie(NAME, after), { kind: 'value', value: 'g'.repeat(6000) });
  });

  test('absent, and an empty whole cookie with no chunks, read as absent', () => {
    assert.deepEqual(readChunkedCookie(NAME, new Map()), { kind: 'absent' });
    assert.deepEqual(readChunkedCookie(NAME, new Map([[NAME, ['']]])), { kind: 'absent' });
    assert.deepEqual(readChunkedCookie(NAME, new Map([['other', ['x']]])), { kind: 'absent' });
  });

  test('SESS-05: a missing middle chunk never yields the full value (reading stops at the gap)', () => {
    const value = 'a'.repeat(4000) + 'b'.repeat(4000) + 'c'.repeat(3000);
    const jar = jarAfter(writeChunkedCookie(NAME, value, ATTRIBUTES, new Map()));
    jar.delete(`${NAME}_1`);
    const read = readChunkedCookie(NAME, jar);
    assert.ok(read.kind !== 'value' || (read.value !== value && !read.value.includes('c')), JSON.stringify(read).slice(0, 100));
  });

  test('SESS-05: chunks in another order read as another value', () => {
    const value = 'a'.repeat(4000) + 'b'.repeat(4000);
    const jar = jarAfter(writeChunkedCookie(NAME, value, ATTRIBUTES, new Map()));
    const first = jar.get(`${NAME}_0`)!;
    jar.set(`${NAME}_0`, jar.get(`${NAME}_1`)!);
    jar.set(`${NAME}_1`, first);
    const read = readChunkedCookie(NAME, jar);
    assert.ok(read.kind !== 'value' || read.value !== value);
  });

  test('SESS-05/SESS-08: a duplicated chunk or whole cookie is ambiguous', () => {
    assert.deepEqual(readChunkedCookie(NAME, parseCookies('_gatehouse=a; _gatehouse=b')), { kind: 'ambiguous' });
    assert.deepEqual(readChunkedCookie(NAME, parseCookies('_gatehouse_0=a; _gatehouse_1=b; _gatehouse_1=c')), { kind: 'ambiguous' });
    assert.deepEqual(readChunkedCookie(NAME, parseCookies('_gatehouse_0=a; _gatehouse_0=a')), { kind: 'ambiguous' });
  });

  test('SESS-05/SESS-08: a whole cookie beside chunks is ambiguous (gatehouse never leaves both); an extra high chunk is never read', () => {
    assert.deepEqual(readChunkedCookie(NAME, parseCookies('_gatehouse_0=a; _gatehouse=whole')), { kind: 'ambiguous' });
    assert.deepEqual(readChunkedCookie(NAME, parseCookies('_gatehouse_1=b; _gatehouse=whole')), { kind: 'value', value: 'whole' }, 'a chunk without _0 is no chunked cookie');
    assert.deepEqual(readChunkedCookie(NAME, parseCookies('_gatehouse_0=a; _gatehouse=')), { kind: 'value', value: 'a' }, 'an emptied whole cookie is absent');
    assert.deepEqual(readChunkedCookie(NAME, parseCookies('_gatehouse_99999999=x; _gatehouse_0=a')), { kind: 'value', value: 'a' });
    assert.deepEqual(readChunkedCookie(NAME, parseCookies(`_gatehouse_${MAX_CHUNKS}=x`)), { kind: 'absent' });
  });

  test('SESS-05/SESS-06: 1000 chunk-named cookies cost bounded work and read at most MAX_CHUNKS chunks', () => {
    const header = Array.from({ length: 1000 }, (_, index) => `_gatehouse_${index}=${'z'.repeat(50)}`).join('; ');
    const started = process.hrtime.bigint();
    const jar = parseCookies(header);
    const read = readChunkedCookie(NAME, jar);
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(jar.size <= MAX_COOKIES);
    assert.equal(read.kind, 'value');
    assert.equal(read.value.length, MAX_CHUNKS * 50);
    assert.ok(elapsedMs < 50, `${elapsedMs} ms`);
  });

  test('clearChunkedCookie clears the whole cookie and every chunk the request holds, with the same name, domain and path', () => {
    const jar = parseCookies('_gatehouse_0=a; _gatehouse_1=b; _gatehouse_2=c; other=1');
    const cleared = clearChunkedCookie(NAME, ATTRIBUTES, jar);
    assert.deepEqual(cookieNames(cleared), [NAME, `${NAME}_0`, `${NAME}_1`, `${NAME}_2`]);
    for (const setCookie of cleared) assert.match(setCookie, /=; Path=\/; Domain=\.homelab\.example\.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax$/);
  });
});
