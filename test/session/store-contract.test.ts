/**
 * The SessionStore contract (src/session/store.ts), one suite run against every store: the cookie store
 * and the Redis store over a real redis-server. What only a server-side store can promise (the entry is
 * gone after sign-out, SESS-10 format checks before any command, nothing readable in Redis without the
 * cookie, the TTL) is checked where the store has a Redis behind it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isGatewayError } from '../../src/errors.js';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createCookieStore, sessionBinding } from '../../src/session/cookie-store.js';
import { parseCookies, type CookieAttributes, type CookieJar } from '../../src/session/cookies.js';
import { applyCookies } from './support.js';
import { createRedisClient, type RedisClient } from '../../src/session/redis-client.js';
import { createRedisStore, type RedisSessionStore } from '../../src/session/redis-store.js';
import type { Session } from '../../src/session/session.js';
import type { LoadResult, SessionStore } from '../../src/session/store.js';
import { redisConfig, startRedis, waitUntil, type StandaloneRedis } from '../support/redis.js';

const NAME = '_gatehouse';
const SECRET = 'q3Jx0l7m2YkR5vT8wN1bC4dF6gH9jK0LzXcVbNmAsDf';
const OTHER_SECRET = 'Zm9yZWlnbi1kZXBsb3ltZW50LXNlY3JldC0zMmJ5dGU';
const ISSUER = 'https://idp.homelab.example.com';
const BINDING = sessionBinding(ISSUER, 'gatehouse');
const OTHER_BINDING = sessionBinding('https://idp.elsewhere.example.com', 'gatehouse');
const PREFIX = 'gatehouse:';
/** The stores' clock: a whole second, so a TTL is exactly `expiresAt - NOW`. */
const NOW = Math.floor(Date.now() / 1000);
const LIFETIME = 3600;
const ATTRIBUTES: CookieAttributes = { domain: '.homelab.example.com', path: '/', maxAge: LIFETIME, secure: true, httpOnly: true, sameSite: 'lax' };
const TICKET = /^r1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;

/** What a Redis-backed harness lets the suite look at behind the store's back. */
interface RedisInspector {
  /** A separate plain connection to the same server. */
  readonly client: Redis;
  readonly keyPrefix: string;
  /** Commands the server has executed so far (only `command` when named), not counting INFO (the counting itself). */
  commandCalls(command?: string): Promise<number>;
  /** A store of the same deployment with another clock (seconds), on the same Redis, connected. */
  storeAt(nowSeconds: number): Promise<RedisSessionStore>;
}

/** A store under test, with stores of other deployments and, for Redis, an inspector. */
interface Harness {
  readonly store: SessionStore;
  /** Stores of other deployments (another secret or another issuer/client binding) on the same backend. */
  readonly foreign: readonly SessionStore[];
  readonly redis?: RedisInspector;
  close(): Promise<void>;
}

/** A session with every token set to a recognisable random value. */
function sessionFor(email: string, overrides: Partial<Session> = {}): Session {
  return {
    identity: { sub: `sub-${randomBytes(6).toString('hex')}-${email}`, email, emailVerified: true, groups: ['family'], username: email.split('@')[0]!, issuer: ISSUER, authMethod: 'session' },
    createdAt: NOW,
    refreshedAt: NOW,
    expiresAt: NOW + LIFETIME,
    idToken: `eyJhbGciOiJFUzI1NiJ9.${randomBytes(24).toString('base64url')}.${randomBytes(32).toString('base64url')}`,
    idTokenExpiresAt: NOW + 300,
    accessToken: `access-${randomBytes(24).toString('base64url')}`,
    refreshToken: `refresh-${randomBytes(24).toString('base64url')}`,
    ...overrides,
  };
}

/** The session cookie's value in a jar (not chunked: the suite's sessions are small). */
function valueOf(jar: CookieJar): string {
  const value = jar.get(NAME)?.[0];
  assert.ok(value !== undefined && value !== '', `no ${NAME} cookie in ${JSON.stringify([...jar.keys()])}`);
  return value;
}

async function saveNew(store: SessionStore, session: Session, start: CookieJar = new Map()): Promise<CookieJar> {
  return applyCookies(await store.save(session, start, ATTRIBUTES), start);
}

const reasonOf = (result: LoadResult): string => (result.kind === 'invalid' ? result.reason : result.kind);

/** Loads and asserts it neither threw nor produced a session. */
async function assertRefused(store: SessionStore, jar: CookieJar, label: string, nowSeconds = NOW): Promise<LoadResult> {
  let result: LoadResult;
  try {
    result = await store.load(jar, nowSeconds);
  } catch (error) {
    assert.fail(`${label}: load threw instead of refusing: ${error instanceof Error ? error.message : String(error)}`);
  }
  assert.equal(result.kind, 'invalid', `${label}: ${JSON.stringify(result).slice(0, 200)}`);
  return result;
}

/** Replaces the character at `index` with another one of the same alphabet (format kept, content changed). */
function flipAt(value: string, index: number): string {
  const at = value.charAt(index);
  return value.slice(0, index) + (at === 'A' ? 'B' : 'A') + value.slice(index + 1);
}

function sessionKeyOf(inspector: RedisInspector, ticket: string): string {
  return `${inspector.keyPrefix}{${ticket.split('.')[1] ?? ''}}:session`;
}

/**
 * The suite. `factory` builds a fresh harness for the describe block; `kind` says which store it is, so
 * the server-side cases are registered only for a store with a Redis behind it (nothing is skipped).
 */
function storeContract(name: string, kind: SessionStore['kind'], factory: () => Promise<Harness>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let harness!: Harness;
    let started: Harness | undefined;
    before(async () => {
      started = await factory();
      harness = started;
      assert.equal(harness.store.kind, kind);
      assert.equal(harness.redis !== undefined, kind === 'redis');
    });
    after(async () => {
      await started?.close();
    });

    test('save then load gives back the whole session, with its handle, not stale', async () => {
      const { store } = harness;
      const value = sessionFor('alice@homelab.example.com');
      const setCookies = await store.save(value, new Map(), ATTRIBUTES);
      assert.ok(setCookies.length >= 1);
      for (const setCookie of setCookies) {
        assert.match(setCookie, /; Path=\/; Domain=\.homelab\.example\.com; Max-Age=3600; /, 'the attributes the caller gave');
        assert.match(setCookie, /HttpOnly/);
        assert.match(setCookie, /Secure/);
      }
      const jar = applyCookies(setCookies);
      const loaded = await store.load(jar, NOW);
      assert.equal(loaded.kind, 'session');
      assert.deepEqual(loaded.session, value);
      assert.equal(loaded.handle, valueOf(jar));
      assert.equal(loaded.stale, false);
      if (store.kind === 'redis') assert.match(valueOf(jar), TICKET, 'the cookie is an opaque ticket');
      // The same cookie as a browser sends it, through the header parser.
      const again = await store.load(parseCookies(`theme=dark; ${NAME}=${valueOf(jar)}; other=1`), NOW);
      assert.deepEqual(again.kind === 'session' ? again.session : again, value);
      assert.deepEqual(await store.ready(), { ok: true, detail: store.kind === 'redis' ? 'redis answers' : 'cookie store' });
    });

    test('no session cookie is none', async () => {
      const { store } = harness;
      assert.deepEqual(await store.load(new Map(), NOW), { kind: 'none' });
      assert.deepEqual(await store.load(parseCookies('theme=dark; _gatehouse_tx_abc=v1.x; _gatehousex=1'), NOW), { kind: 'none' });
      assert.deepEqual(await store.load(new Map([[NAME, ['']]]), NOW), { kind: 'none' });
    });

    test('SESS-02: tampered, truncated, extended, swapped and garbage cookies are invalid, never a throw', async () => {
      const { store } = harness;
      const value = valueOf(await saveNew(store, sessionFor('tamper@homelab.example.com')));
      const other = valueOf(await saveNew(store, sessionFor('other@homelab.example.com')));
      const variants: [string, string][] = [
        ['one character changed near the start', flipAt(value, 5)],
        ['one character changed in the middle', flipAt(value, Math.floor(value.length / 2))],
        ['one character changed at the end', flipAt(value, value.length - 2)],
        ['truncated by one', value.slice(0, -1)],
        ['extended', `${value}A`],
        ['half of one and half of another', value.slice(0, Math.floor(value.length / 2)) + other.slice(Math.floor(other.length / 2))],
        ['random base64url', randomBytes(120).toString('base64url')],
        ['random ticket-shaped', `r1.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`],
        ['null', 'null'],
        ['plaintext JSON', '{"sub":"admin","email":"admin@homelab.example.com"}'],
        ['base64 JSON', Buffer.from('{"sub":"admin"}').toString('base64url')],
        ['dots', 'r1..'],
        ['v1 prefix only', 'v1.'],
        ['non-ASCII', 'ÿþ\u0000\u202e'],
      ];
      for (const [label, variant] of variants) await assertRefused(store, new Map([[NAME, [variant]]]), label);
      // Garbage in chunk cookies as well.
      await assertRefused(store, new Map([[`${NAME}_0`, [value.slice(0, 10)]], [`${NAME}_1`, ['!!!!']]]), 'garbage chunks');
      assert.deepEqual(await store.load(new Map([[NAME, [value, other]]]), NOW), { kind: 'invalid', reason: 'session-cookie-ambiguous' });
    });

    test("SESS-03: another deployment's cookie (other secret, other issuer or client) is invalid", async () => {
      const { store, foreign } = harness;
      assert.ok(foreign.length > 0);
      for (const [index, other] of foreign.entries()) {
        const jar = await saveNew(other, sessionFor('admin@homelab.example.com', { identity: { ...sessionFor('admin@homelab.example.com').identity, groups: ['admins'] } }));
        assert.equal((await other.load(jar, NOW)).kind, 'session', 'it is a valid session where it was made');
        await assertRefused(store, jar, `foreign deployment ${index}`);
      }
    });

    test('SESS-04: a session at or after expiresAt is session-expired', async () => {
      const { store } = harness;
      const jar = await saveNew(store, sessionFor('expiring@homelab.example.com', { expiresAt: NOW + 60 }));
      assert.equal(reasonOf(await store.load(jar, NOW + 59)), 'session');
      assert.equal(reasonOf(await assertRefused(store, jar, 'at expiresAt', NOW + 60)), 'session-expired');
      assert.equal(reasonOf(await assertRefused(store, jar, 'long after', NOW + 10 * 365 * 86400)), 'session-expired');
    });

    test('SESS-09: clear deletes the cookie; the browser then has no session', async () => {
      const { store } = harness;
      const jar = await saveNew(store, sessionFor('leaving@homelab.example.com'));
      const cleared = await store.clear(jar, { ...ATTRIBUTES, maxAge: 0 });
      assert.ok(cleared.some((setCookie) => setCookie.startsWith(`${NAME}=;`) && /Max-Age=0/.test(setCookie) && /Domain=\.homelab\.example\.com/.test(setCookie)), cleared.join(' | '));
      const after = applyCookies(cleared, jar);
      assert.deepEqual(await store.load(after, NOW), { kind: 'none' });
      const { redis } = harness;
      if (redis !== undefined) {
        // The old cookie, replayed, no longer opens anything: the entry is gone from Redis.
        assert.deepEqual(await store.load(jar, NOW), { kind: 'invalid', reason: 'session-not-found' });
        const id = valueOf(jar).split('.')[1]!;
        assert.equal(await redis.client.exists(`${redis.keyPrefix}{${id}}:session`, `${redis.keyPrefix}{${id}}:meta`), 0, 'the session and its metadata are deleted');
      }
    });

    test('a refresh of the session the request holds loads back refreshed (Redis: under the same ticket)', async () => {
      const { store } = harness;
      const first = sessionFor('refresh@homelab.example.com');
      const jar = await saveNew(store, first);
      const refreshed: Session = { ...first, refreshedAt: NOW + 30, accessToken: 'access-new', refreshToken: 'refresh-new', idTokenExpiresAt: NOW + 330 };
      // As a refresh stores it: in place, where the store can (a shared store), else as any other save.
      const setCookies = await (store.replace ?? store.save)(refreshed, jar, ATTRIBUTES);
      const next = applyCookies(setCookies, jar);
      const loaded = await store.load(next, NOW + 31);
      assert.equal(loaded.kind, 'session');
      assert.deepEqual(loaded.session, refreshed);
      if (store.kind === 'redis') {
        assert.deepEqual(setCookies, [], 'a refresh keeps the ticket: no cookie to deliver');
        assert.equal(valueOf(next), valueOf(jar));
      }
    });

    test('SESS-07: a login never reuses the ticket or cookie the request brought', async () => {
      const { store } = harness;
      // The attacker's own, valid session, planted in the victim's browser; then the victim logs in.
      const attacker = sessionFor('mallory@homelab.example.com');
      const planted = await saveNew(store, attacker);
      const plantedValue = valueOf(planted);
      const victim = sessionFor('victim@homelab.example.com');
      const afterLogin = await saveNew(store, victim, planted);
      assert.notEqual(valueOf(afterLogin), plantedValue, 'a new ticket');
      const mine = await store.load(afterLogin, NOW);
      assert.deepEqual(mine.kind === 'session' ? mine.session : mine, victim);
      const theirs = await store.load(planted, NOW);
      assert.deepEqual(theirs.kind === 'session' ? theirs.session : theirs, attacker, 'the planted ticket still opens only the attacker session');

      // Even a save shaped like a refresh (refreshedAt after createdAt) does not write into a planted
      // ticket that belongs to someone else: it gets a cookie of its own. And a refresh (a shared store's
      // `replace`) refuses: it only ever rewrites the session it refreshes.
      const refreshShaped: Session = { ...victim, refreshedAt: NOW + 5 };
      assert.notEqual(valueOf(await saveNew(store, refreshShaped, planted)), plantedValue);
      if (store.replace !== undefined) {
        await assert.rejects(store.replace(refreshShaped, planted, ATTRIBUTES), (error: unknown) => isGatewayError(error, 'ERR_SESSION_ENDED'));
      }
      const stillTheirs = await store.load(planted, NOW);
      assert.deepEqual(stillTheirs.kind === 'session' ? stillTheirs.session : stillTheirs, attacker);

      // A forged, well-formed ticket that names nothing: the login gets a fresh one, the forgery stays empty.
      const forged = new Map([[NAME, [`r1.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`]]]);
      const fresh = await saveNew(store, { ...victim }, forged);
      assert.notEqual(valueOf(fresh), forged.get(NAME)![0]);
      await assertRefused(store, forged, 'the forged ticket');
    });

    test('SESS-10: key-injection tickets are refused, never a throw (Redis: before any command is sent)', async () => {
      const { store, redis } = harness;
      const id = randomBytes(16).toString('base64url');
      const key = randomBytes(32).toString('base64url');
      const hostile = [
        'r1.*.*',
        `r1.${'*'.repeat(22)}.${'*'.repeat(43)}`,
        `r1.${'?'.repeat(22)}.${key}`,
        `r1.${'['.repeat(22)}.${key}`,
        '\r\n*1\r\n$8\r\nFLUSHALL\r\n',
        `r1.${id}\r\n*1\r\n$8\r\nFLUSHALL\r\n.${key}`,
        `r1.${id}.${key}\r\n*1\r\n$8\r\nFLUSHALL\r\n`,
        `r1.${id}.${key}\n`,
        `r1.${id.slice(0, 20)}\r\n.${key}`,
        `r1.${id.slice(0, 21)}:.${key}`,
        `r1.${id.slice(0, 19)}../.${key}`,
        '../../../../etc/passwd',
        `r1.../../../${'a'.repeat(13)}.${key}`,
        `r1.${'A'.repeat(8192)}.${key}`,
        'x'.repeat(8192),
        `r1.${id}.${key}${'A'.repeat(8192)}`,
        `r1.${'é'.repeat(22)}.${key}`,
        `r1.${id}.${key.slice(0, 42)}+`,
        `r1.${id}.${key.slice(0, 42)}/`,
        `r1.${id}.${key.slice(0, 42)}=`,
        `R1.${id}.${key}`,
        `r2.${id}.${key}`,
        `r1.${id}.${key}.`,
        `r1.${id}`,
        `${PREFIX}*:session`,
        '*',
        '?',
        ':',
      ];
      const canary = `${PREFIX}canary:${randomBytes(6).toString('hex')}`;
      if (redis !== undefined) await redis.client.set(canary, '1', 'EX', 60);
      if (redis !== undefined) {
        // The counter sees the store's commands: one real load is at least one command.
        const start = await redis.commandCalls();
        await store.load(new Map([[NAME, [`r1.${id}.${key}`]]]), NOW);
        assert.ok((await redis.commandCalls()) > start, 'INFO commandstats counts the store’s commands');
      }
      const before = redis === undefined ? 0 : await redis.commandCalls();
      for (const value of hostile) {
        const label = JSON.stringify(value.slice(0, 60));
        await assertRefused(store, new Map([[NAME, [value]]]), label);
        // The same value split into chunk cookies.
        await assertRefused(store, new Map([[`${NAME}_0`, [value.slice(0, 3)]], [`${NAME}_1`, [value.slice(3)]]]), `${label} in chunks`);
        const cleared = await store.clear(new Map([[NAME, [value]]]), { ...ATTRIBUTES, maxAge: 0 });
        assert.ok(cleared.some((setCookie) => setCookie.startsWith(`${NAME}=;`)), `${label}: clear still clears the cookie`);
        if (store.lock !== undefined) assert.equal(await store.lock(value, 1000), false, `${label}: no lease on a malformed ticket`);
        if (store.unlock !== undefined) await store.unlock(value);
        if (store.reload !== undefined) assert.equal((await store.reload(value, NOW)).kind, 'invalid', `${label}: reload`);
      }
      if (redis !== undefined) {
        const sent = (await redis.commandCalls()) - before;
        assert.equal(sent, 0, `${sent} Redis command(s) were sent for malformed tickets`);
        assert.equal(await redis.client.get(canary), '1', 'nothing was flushed');
      }
    });

    // What only a store with a server behind it can promise.
    if (kind === 'redis') {
      test('SESS-11: a corrupted, foreign or truncated value in Redis is invalid, never a throw', async () => {
        const { store, redis } = harness;
        assert.ok(redis !== undefined);
        const jar = await saveNew(store, sessionFor('corrupt@homelab.example.com'));
        const ticket = valueOf(jar);
        const key = sessionKeyOf(redis, ticket);
        const donor = valueOf(await saveNew(store, sessionFor('donor@homelab.example.com')));
        const donorValue = await redis.client.get(sessionKeyOf(redis, donor));
        assert.ok(donorValue !== null);
        const sealed = await redis.client.get(key);
        assert.ok(sealed !== null);
        // Opened once first, so the store holds it opened: what it holds must not stand in for what Redis now has.
        assert.equal((await store.load(jar, NOW)).kind, 'session');
        for (const [label, stored] of [
          ['JSON in clear', '{"v":1,"s":"admin","e":"admin@homelab.example.com","ev":1,"g":["admins"],"u":"admin","i":"x","c":1,"r":1,"x":9999999999}'],
          ['garbage', 'not base64 at all \u0000'],
          ['empty', ''],
          ['too short', 'AAAA'],
          ["another session's value", donorValue],
          ['one byte changed', flipAt(sealed, 30)],
        ] as const) {
          await redis.client.set(key, stored, 'EX', 60);
          await assertRefused(store, jar, label);
        }
        await redis.client.set(key, sealed, 'EX', 60);
        assert.equal((await store.load(jar, NOW)).kind, 'session', 'the original value opens again');
        await redis.client.del(key);
        assert.deepEqual(await store.load(jar, NOW), { kind: 'invalid', reason: 'session-not-found' }, 'deleted in Redis: gone at once, whatever was opened before');
      });

      test('concurrent loads are read in one MGET, and each gets its own session (a deleted one is gone)', async () => {
        const { store, redis } = harness;
        assert.ok(redis !== undefined);
        const emails = ['batch-1', 'batch-2', 'batch-3', 'batch-4'].map((name) => `${name}-${randomBytes(3).toString('hex')}@homelab.example.com`);
        const jars = await Promise.all(emails.map((email) => saveNew(store, sessionFor(email))));
        await redis.client.del(sessionKeyOf(redis, valueOf(jars[2]!)));
        // Twice: tickets never opened by this store, then the same tickets opened before.
        for (const round of ['first loads', 'repeat loads']) {
          const gets = await redis.commandCalls('get');
          const mgets = await redis.commandCalls('mget');
          const results = await Promise.all(jars.map((jar) => store.load(jar, NOW)));
          assert.deepEqual(
            results.map((result) => (result.kind === 'session' ? result.session.identity.email : reasonOf(result))),
            [emails[0], emails[1], 'session-not-found', emails[3]],
            round,
          );
          assert.equal((await redis.commandCalls('mget')) - mgets, 1, `${round}: one MGET for the four`);
          assert.equal((await redis.commandCalls('get')) - gets, 0, `${round}: no GET of their own`);
        }
      });

      test('the value in Redis is not readable without the cookie: no email, subject or token in clear', async () => {
        const { store, redis } = harness;
        assert.ok(redis !== undefined);
        const email = `private-${randomBytes(4).toString('hex')}@homelab.example.com`;
        const value = sessionFor(email);
        const ticket = valueOf(await saveNew(store, value));
        const stored = await redis.client.get(sessionKeyOf(redis, ticket));
        assert.ok(stored !== null, 'the session is stored under its id');
        const decoded = Buffer.from(stored, 'base64').toString('latin1');
        const secrets = [value.identity.email, value.identity.sub, value.idToken!, value.accessToken!, value.refreshToken!, value.idToken!.split('.')[2]!];
        for (const secret of secrets) {
          assert.ok(!stored.includes(secret), `the stored value holds ${secret.slice(0, 12)}… in clear`);
          assert.ok(!decoded.includes(secret), `the decoded value holds ${secret.slice(0, 12)}…`);
        }
        assert.ok(!stored.includes(ticket.split('.')[2]!), 'the key of the ticket is not stored');
        // No token anywhere in Redis, and no key named after the user.
        const keys = await redis.client.keys(`${redis.keyPrefix}*`);
        for (const name of keys) {
          assert.ok(!name.includes(email) && !name.includes(value.identity.sub), `key ${name} names the user`);
          const type = await redis.client.type(name);
          const contents = type === 'string' ? [(await redis.client.get(name)) ?? ''] : type === 'set' ? await redis.client.smembers(name) : [];
          for (const content of contents) {
            for (const token of [value.idToken!, value.accessToken!, value.refreshToken!, ticket.split('.')[2]!]) assert.ok(!content.includes(token), `key ${name} holds a token or the ticket key`);
          }
        }
      });

      test('the Redis TTL is the remaining session lifetime (and a refresh does not extend it)', async () => {
        const { store, redis } = harness;
        assert.ok(redis !== undefined);
        const value = sessionFor('ttl@homelab.example.com');
        const jar = await saveNew(store, value);
        const id = valueOf(jar).split('.')[1]!;
        const sessionTtl = await redis.client.ttl(`${redis.keyPrefix}{${id}}:session`);
        const metaTtl = await redis.client.ttl(`${redis.keyPrefix}{${id}}:meta`);
        assert.ok(sessionTtl >= LIFETIME - 1 && sessionTtl <= LIFETIME, `session TTL ${sessionTtl}, expected ${LIFETIME}`);
        assert.ok(metaTtl >= LIFETIME - 1 && metaTtl <= LIFETIME, `meta TTL ${metaTtl}, expected ${LIFETIME}`);

        // Ten minutes later a refresh rewrites the session: the TTL is what is left of the lifetime, 3000 s.
        const later = await redis.storeAt(NOW + 600);
        const cookies = await later.replace({ ...value, refreshedAt: NOW + 600, refreshToken: 'refresh-later' }, jar, ATTRIBUTES);
        assert.deepEqual(cookies, []);
        const refreshedTtl = await redis.client.ttl(`${redis.keyPrefix}{${id}}:session`);
        assert.ok(refreshedTtl >= LIFETIME - 600 - 1 && refreshedTtl <= LIFETIME - 600, `TTL after the refresh ${refreshedTtl}, expected ${LIFETIME - 600}`);

        // Every index key the session created expires too, no earlier than the session: nothing stays forever.
        const before = new Set(await redis.client.keys(`${redis.keyPrefix}*`));
        const other = sessionFor(`index-${randomBytes(4).toString('hex')}@homelab.example.com`);
        const otherId = valueOf(await saveNew(store, other)).split('.')[1]!;
        const created = (await redis.client.keys(`${redis.keyPrefix}*`)).filter((name) => !before.has(name) && !name.endsWith(otherId));
        assert.ok(created.length >= 1, 'the session is indexed by user');
        for (const name of created) {
          const ttl = await redis.client.ttl(name);
          assert.ok(ttl >= LIFETIME - 1, `index key ${name} has TTL ${ttl} (−1 = never expires); expected ≥ ${LIFETIME - 1}`);
        }
      });

      test('shared stores: the refresh lease is exclusive across replicas, and released', async () => {
        const { store, redis } = harness;
        assert.ok(store.lock !== undefined && store.unlock !== undefined && redis !== undefined);
        const handle = valueOf(await saveNew(store, sessionFor('lease@homelab.example.com')));
        const replica = await redis.storeAt(NOW);
        assert.equal(await store.lock(handle, 5000), true);
        assert.equal(await store.lock(handle, 5000), false, 'not twice');
        assert.equal(await replica.lock(handle, 5000), false, 'not by another replica');
        const pttl = await redis.client.pttl(`${redis.keyPrefix}{${handle.split('.')[1]!}}:lock`);
        assert.ok(pttl > 0 && pttl <= 5000, `lease PTTL ${pttl}`);
        await replica.unlock(handle);
        assert.equal(await replica.lock(handle, 5000), false, "another replica's unlock does not release this one's lease");
        await store.unlock(handle);
        assert.equal(await replica.lock(handle, 5000), true, 'released');
        await replica.unlock(handle);
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------------

storeContract('cookie store', 'cookie', () => {
  const store = createCookieStore({ name: NAME, secrets: [SECRET], binding: BINDING });
  const foreign = [createCookieStore({ name: NAME, secrets: [OTHER_SECRET], binding: BINDING }), createCookieStore({ name: NAME, secrets: [SECRET], binding: OTHER_BINDING })];
  return Promise.resolve({
    store,
    foreign,
    close: async () => {
      await store.close();
      for (const other of foreign) await other.close();
    },
  });
});

storeContract('Redis store (standalone redis-server)', 'redis', async () => {
  const server: StandaloneRedis = await startRedis();
  const clients: RedisClient[] = [];
  const errors: Error[] = [];
  const storeOf = (binding: string, nowSeconds: number): RedisSessionStore => {
    const client = createRedisClient(redisConfig({ url: server.url, keyPrefix: PREFIX }), (error) => errors.push(error));
    clients.push(client);
    return createRedisStore({ client, cookieName: NAME, keyPrefix: PREFIX, binding, now: () => nowSeconds * 1000 });
  };
  const inspector = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await inspector.connect();
    const store = storeOf(BINDING, NOW);
    const foreign = [storeOf(OTHER_BINDING, NOW)];
    const extra: RedisSessionStore[] = [];
    await waitUntil('the store clients to connect', () => clients.every((client) => client.status === 'ready'), 5000);
    return {
      store,
      foreign,
      redis: {
        client: inspector,
        keyPrefix: PREFIX,
        async commandCalls(command) {
          const info = await inspector.info('commandstats');
          let calls = 0;
          for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (command === undefined ? match[1] !== 'info' : match[1] === command) calls += Number(match[2]);
          return calls;
        },
        async storeAt(nowSeconds) {
          const made = storeOf(BINDING, nowSeconds);
          extra.push(made);
          await waitUntil('the new store client to connect', () => clients.every((client) => client.status === 'ready'), 5000);
          return made;
        },
      },
      close: async () => {
        for (const made of [store, ...foreign, ...extra]) await made.close();
        inspector.disconnect();
        await server.stop();
      },
    };
  } catch (error) {
    for (const client of clients) client.disconnect();
    inspector.disconnect();
    await server.stop();
    throw error;
  }
});
