/** The cookie session store: sealed sessions in (possibly chunked) cookies, with a cache of opened values. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createKeyring } from '../../src/crypto/keyring.js';
import { createCookieStore } from '../../src/session/cookie-store.js';
import { parseCookies, type CookieAttributes, type CookieJar } from '../../src/session/cookies.js';
import { encodeSession, type Session } from '../../src/session/session.js';
import type { LoadResult, SessionStore } from '../../src/session/store.js';

const SECRET_A = 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf';
const SECRET_B = randomBytes(32).toString('base64url');
const NAME = '_gatehouse';
const NOW = 1_800_000_000;
const ATTRIBUTES: CookieAttributes = { domain: '.homelab.example.com', path: '/', maxAge: 3600, secure: true, httpOnly: true, sameSite: 'lax' };

function session(overrides: Partial<Session> = {}, email = 'alice@homelab.example.com'): Session {
  return {
    identity: { sub: `sub-${email}`, email, emailVerified: true, groups: ['family'], username: email.split('@')[0]!, issuer: 'https://idp.example.com', authMethod: 'session' },
    createdAt: NOW,
    refreshedAt: NOW,
    expiresAt: NOW + 3600,
    ...overrides,
  };
}

/** The browser's jar after the Set-Cookie values (Max-Age=0 deletes). */
function jarOf(setCookies: readonly string[], start: CookieJar = new Map()): CookieJar {
  const jar: CookieJar = new Map([...start].map(([name, values]) => [name, [...values]]));
  for (const setCookie of setCookies) {
    const pair = setCookie.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (setCookie.includes('; Max-Age=0;')) jar.delete(pair.slice(0, eq));
    else jar.set(pair.slice(0, eq), [pair.slice(eq + 1)]);
  }
  return jar;
}

async function saved(store: SessionStore, value: Session, start: CookieJar = new Map()): Promise<CookieJar> {
  return jarOf(await store.save(value, start, ATTRIBUTES), start);
}

function reasonOf(result: LoadResult): string {
  return result.kind === 'invalid' ? result.reason : result.kind;
}

describe('save and load', () => {
  test('a saved session loads back whole, synchronously and asynchronously, not stale', async () => {
    const store = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    const value = session({ idToken: 'id.token.x', idTokenExpiresAt: NOW + 300, accessToken: 'at', refreshToken: 'rt' });
    const jar = await saved(store, value);
    assert.deepEqual([...jar.keys()], [NAME]);
    const loaded = await store.load(jar, NOW);
    assert.equal(loaded.kind, 'session');
    assert.deepEqual(loaded.session, value);
    assert.equal(loaded.stale, false);
    assert.equal(loaded.handle, jar.get(NAME)![0]);
    assert.deepEqual(store.loadSync!(jar, NOW), loaded);
    assert.equal(store.kind, 'cookie');
    assert.deepEqual(await store.ready(), { ok: true, detail: 'cookie store' });
  });

  test('no cookie is none', async () => {
    const store = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    assert.deepEqual(await store.load(new Map(), NOW), { kind: 'none' });
    assert.deepEqual(await store.load(parseCookies('other=1; _gatehouse_tx_abc=v1.x'), NOW), { kind: 'none' });
  });

  test('a large session is chunked and loads back', async () => {
    const store = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    const groups = Array.from({ length: 200 }, (_, index) => `group-${index}-${randomBytes(8).toString('hex')}`);
    const value = session({ identity: { ...session().identity, groups } });
    const jar = await saved(store, value);
    assert.ok(jar.size > 1, `${jar.size} cookies`);
    assert.ok(!jar.has(NAME));
    const loaded = await store.load(jar, NOW);
    assert.equal(loaded.kind, 'session');
    assert.deepEqual(loaded.session.identity.groups, groups);
  });

  test('SESS-04: a session at or after expiresAt is session-expired, even when it is cached', async () => {
    const store = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    const value = session({ expiresAt: NOW + 60 });
    const jar = await saved(store, value);
    assert.equal(reasonOf(await store.load(jar, NOW + 59)), 'session');
    assert.equal(reasonOf(await store.load(jar, NOW + 60)), 'session-expired');
    assert.equal(reasonOf(await store.load(jar, NOW + 10 * 365 * 86400)), 'session-expired');
    const fresh = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    assert.equal(reasonOf(await fresh.load(jar, NOW + 61)), 'session-expired');
  });
});

describe('SESS-02/SESS-03: what is not exactly a sealed session fails closed with a reason', () => {
  const store = createCookieStore({ name: NAME, secrets: [SECRET_A] });

  test('tampered, truncated, extended, garbage and plaintext values are session-cookie-invalid', async () => {
    const jar = await saved(store, session());
    const value = jar.get(NAME)![0]!;
    const variants = [
      value.slice(0, -1),
      value.slice(0, 20),
      `${value}AAAA`,
      value.slice(0, 10) + (value[10] === 'A' ? 'B' : 'A') + value.slice(11),
      value.slice(0, -5) + (value.at(-5) === 'A' ? 'B' : 'A') + value.slice(-4),
      'v1.' + randomBytes(100).toString('base64url'),
      'null',
      '{"sub":"admin"}',
      'eyJzdWIiOiJhZG1pbiJ9',
      'v1.',
      'v1.!!!!',
    ];
    for (const variant of variants) {
      const result = await store.load(new Map([[NAME, [variant]]]), NOW);
      assert.deepEqual(result, { kind: 'invalid', reason: 'session-cookie-invalid' }, variant.slice(0, 40));
    }
  });

  test("another deployment's secret, another cookie name, or another purpose is session-cookie-invalid", async () => {
    const foreign = createCookieStore({ name: NAME, secrets: [SECRET_B] });
    const foreignJar = await saved(foreign, session({}, 'admin@homelab.example.com'));
    assert.equal(reasonOf(await store.load(foreignJar, NOW)), 'session-cookie-invalid');

    const otherName = createCookieStore({ name: '_other', secrets: [SECRET_A] });
    const otherJar = await saved(otherName, session({}, 'admin@homelab.example.com'));
    assert.equal(reasonOf(await store.load(new Map([[NAME, otherJar.get('_other')!]]), NOW)), 'session-cookie-invalid');

    const asTransaction = createKeyring([SECRET_A], 'login-transaction').seal(encodeSession(session()), NAME);
    assert.equal(reasonOf(await store.load(new Map([[NAME, [asTransaction]]]), NOW)), 'session-cookie-invalid');
  });

  test('a correctly sealed value that is not a v1 session is session-cookie-malformed', async () => {
    const keyring = createKeyring([SECRET_A], 'session');
    for (const plaintext of ['{"sub":"admin"}', 'not json', '{"v":2}', '[]']) {
      const result = await store.load(new Map([[NAME, [keyring.seal(Buffer.from(plaintext), NAME)]]]), NOW);
      assert.deepEqual(result, { kind: 'invalid', reason: 'session-cookie-malformed' }, plaintext);
    }
  });

  test('SESS-08: the session cookie sent twice is session-cookie-ambiguous, even when both copies are valid', async () => {
    const mine = (await saved(store, session())).get(NAME)![0]!;
    const theirs = (await saved(store, session({}, 'mallory@homelab.example.com'))).get(NAME)![0]!;
    assert.equal(reasonOf(await store.load(parseCookies(`${NAME}=${mine}; ${NAME}=${theirs}`), NOW)), 'session-cookie-ambiguous');
    assert.equal(reasonOf(await store.load(parseCookies(`${NAME}=${mine}; ${NAME}=${mine}`), NOW)), 'session-cookie-ambiguous');
  });

  test('SESS-05: chunk tricks on a real chunked session never load it', async () => {
    const groups = Array.from({ length: 250 }, (_, index) => `g${index}-${randomBytes(10).toString('hex')}`);
    const jar = await saved(store, session({ identity: { ...session().identity, groups } }));
    const chunks = [...jar.keys()].filter((name) => name.startsWith(`${NAME}_`)).sort();
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    const tricks: [string, CookieJar][] = [];
    const missingMiddle = new Map(jar);
    missingMiddle.delete(`${NAME}_1`);
    tricks.push(['missing middle chunk', missingMiddle]);
    const missingLast = new Map(jar);
    missingLast.delete(chunks.at(-1)!);
    tricks.push(['missing last chunk', missingLast]);
    const swapped = new Map(jar);
    swapped.set(`${NAME}_0`, jar.get(`${NAME}_1`)!);
    swapped.set(`${NAME}_1`, jar.get(`${NAME}_0`)!);
    tricks.push(['chunks reordered', swapped]);
    const extra = new Map(jar);
    extra.set(`${NAME}_${chunks.length}`, ['AAAA']);
    tricks.push(['an extra chunk', extra]);
    tricks.push(['a duplicated chunk', new Map([...jar, [`${NAME}_1`, [jar.get(`${NAME}_1`)![0]!, jar.get(`${NAME}_1`)![0]!]]])]);
    for (const [what, tricked] of tricks) {
      const result = await store.load(tricked, NOW);
      assert.equal(result.kind, 'invalid', what);
    }
    assert.equal(reasonOf(await store.load(tricks[4]![1], NOW)), 'session-cookie-ambiguous');
    const huge = new Map(jar);
    huge.set(`${NAME}_99999999`, ['x']);
    assert.equal(reasonOf(await store.load(huge, NOW)), 'session', 'a far-away chunk name is never read');
  });
});

describe('the opened-session cache', () => {
  test('returns only what the same exact value opened to', async () => {
    const store = createCookieStore({ name: NAME, secrets: [SECRET_A], cacheSize: 4 });
    const alice = await saved(store, session({}, 'alice@homelab.example.com'));
    const bob = await saved(store, session({}, 'bob@homelab.example.com'));
    for (let round = 0; round < 3; round += 1) {
      const a = await store.load(alice, NOW);
      const b = await store.load(bob, NOW);
      assert.equal(a.kind === 'session' ? a.session.identity.email : a.kind, 'alice@homelab.example.com');
      assert.equal(b.kind === 'session' ? b.session.identity.email : b.kind, 'bob@homelab.example.com');
    }
    // A value that differs from a cached one by a single character is opened afresh, and fails.
    const value = alice.get(NAME)![0]!;
    const tampered = value.slice(0, 30) + (value[30] === 'A' ? 'B' : 'A') + value.slice(31);
    assert.equal(reasonOf(await store.load(new Map([[NAME, [tampered]]]), NOW)), 'session-cookie-invalid');
  });

  test("a store with other secrets does not benefit from another store's cache", async () => {
    const mine = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    const theirs = createCookieStore({ name: NAME, secrets: [SECRET_B] });
    const jar = await saved(theirs, session({}, 'admin@homelab.example.com'));
    assert.equal(reasonOf(await theirs.load(jar, NOW)), 'session');
    assert.equal(reasonOf(await mine.load(jar, NOW)), 'session-cookie-invalid');
  });

  test('a flood of distinct values keeps the cache bounded and correct', async () => {
    const store = createCookieStore({ name: NAME, secrets: [SECRET_A], cacheSize: 8 });
    const jars: CookieJar[] = [];
    for (let index = 0; index < 40; index += 1) jars.push(await saved(store, session({}, `user${index}@homelab.example.com`)));
    for (const [index, jar] of jars.entries()) {
      const loaded = await store.load(jar, NOW);
      assert.equal(loaded.kind === 'session' ? loaded.session.identity.email : loaded.kind, `user${index}@homelab.example.com`);
    }
  });

  test('cacheSize must be a positive integer', () => {
    assert.throws(() => createCookieStore({ name: NAME, secrets: [SECRET_A], cacheSize: 0 }), TypeError);
  });
});

describe('SESS-03: rotation', () => {
  test('a session sealed with the previous secret loads as stale when that secret is listed second', async () => {
    const old = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    const rotated = createCookieStore({ name: NAME, secrets: [SECRET_B, SECRET_A] });
    const jar = await saved(old, session());
    const loaded = await rotated.load(jar, NOW);
    assert.equal(loaded.kind, 'session');
    assert.equal(loaded.stale, true);
    const resealed = await saved(rotated, session(), jar);
    const again = await rotated.load(resealed, NOW);
    assert.equal(again.kind === 'session' && again.stale, false);
    assert.equal(reasonOf(await createCookieStore({ name: NAME, secrets: [SECRET_B] }).load(resealed, NOW)), 'session');
  });

  test('a session sealed with a secret removed from the list is refused', async () => {
    const old = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    const jar = await saved(old, session());
    assert.equal(reasonOf(await createCookieStore({ name: NAME, secrets: [SECRET_B] }).load(jar, NOW)), 'session-cookie-invalid');
  });
});

describe('clear', () => {
  test('SESS-09: clears the whole cookie and every chunk present, with Max-Age=0 and the same domain and path', async () => {
    const store = createCookieStore({ name: NAME, secrets: [SECRET_A] });
    const groups = Array.from({ length: 200 }, (_, index) => `group-${index}-${randomBytes(8).toString('hex')}`);
    const jar = await saved(store, session({ identity: { ...session().identity, groups } }));
    const cleared = await store.clear(jar, { ...ATTRIBUTES, maxAge: 0 });
    const names = cleared.map((setCookie) => setCookie.slice(0, setCookie.indexOf('=')));
    assert.deepEqual(names.sort(), [NAME, ...[...jar.keys()]].sort());
    for (const setCookie of cleared) assert.match(setCookie, /=; Path=\/; Domain=\.homelab\.example\.com; Max-Age=0; /);
    assert.equal(jarOf(cleared, jar).size, 0);
  });
});
