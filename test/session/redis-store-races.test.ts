/**
 * The Redis session store under races and wear (real redis-server on loopback): a refresh that finishes
 * after a sign-out or revocation, a login that lands while a revocation runs, index sets of users who sign
 * in often, and values in Redis that gatehouse did not write.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createRedisClient, type RedisClient } from '../../src/session/redis-client.js';
import { createRedisStore, type RedisSessionStore } from '../../src/session/redis-store.js';
import { isGatewayError } from '../../src/errors.js';
import type { CookieAttributes, CookieJar } from '../../src/session/cookies.js';
import type { Session } from '../../src/session/session.js';
import { redisConfig, sessionFor, startRedis, waitUntil, type StandaloneRedis } from '../support/redis.js';

const NAME = '_gatehouse';
const PREFIX = 'gatehouse:';
const ATTRIBUTES: CookieAttributes = { domain: '.homelab.example.com', path: '/', maxAge: 3600, secure: true, httpOnly: true, sameSite: 'lax' };

let redis: StandaloneRedis;
let client: RedisClient;
let raw: Redis;
let store: RedisSessionStore;

function jarOf(setCookies: readonly string[]): CookieJar {
  const jar: CookieJar = new Map();
  for (const setCookie of setCookies) {
    const pair = setCookie.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (!/;\s*Max-Age=0(;|$)/i.test(setCookie)) jar.set(pair.slice(0, eq), [pair.slice(eq + 1)]);
  }
  return jar;
}

const makeStore = (c: RedisClient) => createRedisStore({ client: c, cookieName: NAME, keyPrefix: PREFIX, binding: 'test', now: Date.now });

before(async () => {
  redis = await startRedis();
  client = createRedisClient(redisConfig({ url: redis.url }), () => undefined);
  await waitUntil('redis', () => client.status === 'ready', 5000);
  raw = new Redis(redis.url);
  store = makeStore(client);
});

after(async () => {
  await store.close();
  raw.disconnect();
  await redis.stop();
});

const ended = (error: unknown) => isGatewayError(error, 'ERR_SESSION_ENDED');

test('a refresh that finishes after `sessions revoke` is not saved: the revoked user stays signed out', async () => {
  const login = sessionFor('revoked@homelab.example.com');
  const jar = jarOf(await store.save(login, new Map(), ATTRIBUTES));
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await store.load(jar, now)).kind, 'session');
  // Replica A has started a refresh (IdP round trip) of this session; meanwhile the operator revokes.
  assert.equal(await store.revoke({ sub: login.identity.sub }), 1);
  assert.equal((await store.load(jar, now)).kind, 'invalid');
  // The refresh completes and stores its result in place of the session, as a refresh does.
  const refreshed: Session = { ...login, refreshedAt: login.createdAt + 1, refreshToken: 'rotated' };
  await assert.rejects(store.replace(refreshed, jar, ATTRIBUTES), ended);
  assert.equal((await store.load(jar, now)).kind, 'invalid', 'the old ticket stays dead');
  assert.deepEqual(await store.list({ sub: login.identity.sub }), [], 'no new session appeared');
});

test('a refresh of a live session keeps its ticket and its absolute expiry', async () => {
  const login = sessionFor('live@homelab.example.com');
  const jar = jarOf(await store.save(login, new Map(), ATTRIBUTES));
  const refreshed: Session = { ...login, refreshedAt: login.createdAt + 1, refreshToken: 'rotated' };
  assert.deepEqual(await store.replace(refreshed, jar, ATTRIBUTES), [], 'no new cookie');
  const loaded = await store.load(jar, Math.floor(Date.now() / 1000));
  assert.equal(loaded.kind === 'session' ? loaded.session.refreshToken : undefined, 'rotated');
  assert.equal(loaded.kind === 'session' ? loaded.session.expiresAt : undefined, login.expiresAt);
});

test('a sign-out in another tab racing a refresh is not undone', async () => {
  const login = sessionFor('signout@homelab.example.com');
  const jar = jarOf(await store.save(login, new Map(), ATTRIBUTES));
  await store.clear(jar, ATTRIBUTES);
  const refreshed: Session = { ...login, refreshedAt: login.createdAt + 1 };
  await assert.rejects(store.replace(refreshed, jar, ATTRIBUTES), ended);
  assert.equal((await store.load(jar, Math.floor(Date.now() / 1000))).kind, 'invalid');
});

test('a refreshed session is never saved under a ticket that is not its own (SESS-07)', async () => {
  const victim = sessionFor('victim@homelab.example.com');
  const mallory = sessionFor('mallory@homelab.example.com');
  const malloryJar = jarOf(await store.save(mallory, new Map(), ATTRIBUTES));
  await assert.rejects(store.replace({ ...victim, refreshedAt: victim.createdAt + 1 }, malloryJar, ATTRIBUTES), ended);
  await assert.rejects(store.replace({ ...victim, refreshedAt: victim.createdAt + 1 }, new Map(), ATTRIBUTES), ended, 'no ticket at all');
  const loaded = await store.load(malloryJar, Math.floor(Date.now() / 1000));
  assert.equal(loaded.kind === 'session' ? loaded.session.identity.email : undefined, 'mallory@homelab.example.com');
});

test('a login racing `sessions revoke` stays listed, so the next revoke ends it', async () => {
  const email = 'race@homelab.example.com';
  const other = makeStore(createRedisClient(redisConfig({ url: redis.url }), () => undefined));
  await waitUntil('redis', async () => (await other.ready()).ok, 5000);
  const first = sessionFor(email);
  await store.save(first, new Map(), ATTRIBUTES);
  let lateJar: CookieJar | undefined;
  // A client whose SMEMBERS answer arrives just before another replica's login completes (a real interleaving).
  const racing = new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'smembers') {
        return async (key: string) => {
          const ids = await target.smembers(key);
          lateJar = jarOf(await other.save(sessionFor(email), new Map(), ATTRIBUTES));
          return ids;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  assert.equal(await makeStore(racing).revoke({ email }), 1);
  assert.ok(lateJar);
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await store.load(lateJar, now)).kind, 'session', 'the late login was not seen by that revoke');
  assert.equal((await store.list({ email })).length, 1, 'but it is still listed');
  assert.equal(await store.revoke({ email }), 1);
  assert.equal((await store.load(lateJar, now)).kind, 'invalid', 'and the next revoke ends it');
  await other.close();
});

test('index sets do not grow with every login: sign-out takes the id out, and ended sessions are pruned', async () => {
  const email = 'churn@homelab.example.com';
  const indexSizes = async () => Promise.all((await raw.keys(`${PREFIX}email:*`)).map((key) => raw.scard(key)));
  const before = (await indexSizes()).reduce((sum, size) => sum + size, 0);
  for (let index = 0; index < 20; index += 1) {
    const jar = jarOf(await store.save(sessionFor(email), new Map(), ATTRIBUTES));
    await store.clear(jar, ATTRIBUTES);
  }
  assert.equal((await indexSizes()).reduce((sum, size) => sum + size, 0), before, 'every sign-out left the index as it was');
  // Sessions that end without a sign-out (expired, or deleted by hand here) are pruned once a set grows.
  for (let index = 0; index < 40; index += 1) {
    await store.save(sessionFor(email), new Map(), ATTRIBUTES);
    for (const key of await raw.keys(`${PREFIX}{*}:session`)) await raw.del(key);
  }
  assert.ok(Math.max(...(await indexSizes())) <= 33, `index sizes ${(await indexSizes()).join(',')}`);
  assert.deepEqual(await store.list({ email }), []);
});

test('index sets last as long as their longest session, and never shorter (also on Redis before 7.0)', async () => {
  const email = 'ttl@homelab.example.com';
  const long = sessionFor(email);
  await store.save(long, new Map(), ATTRIBUTES);
  const short = { ...sessionFor(email), expiresAt: Math.floor(Date.now() / 1000) + 60 };
  await store.save(short, new Map(), ATTRIBUTES);
  const [key] = await raw.keys(`${PREFIX}email:*`);
  const ttl = await raw.ttl(key ?? '');
  assert.ok(ttl > 60 && ttl <= long.expiresAt - Math.floor(Date.now() / 1000) + 1, `ttl ${ttl}`);
});

test('a hand-written or corrupted meta value does not break `sessions list`', async () => {
  const login = sessionFor('meta@homelab.example.com');
  await store.save(login, new Map(), ATTRIBUTES);
  for (const key of await raw.keys(`${PREFIX}{*}:meta`)) await raw.set(key, 'not json', 'KEEPTTL');
  const listed = await store.list({ sub: login.identity.sub });
  assert.equal(listed.length, 1, 'the session is listed, without its times');
  assert.equal(listed[0]?.createdAt, 0);
});
