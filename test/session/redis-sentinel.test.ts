/**
 * The Redis session store over Sentinel: real redis-server processes (a master, a replica, three
 * sentinels). Sessions go to the master the sentinels name; after a failover (`SENTINEL FAILOVER`) the
 * store follows the new master by itself, keeps the sessions that were replicated, and works for new ones.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isGatewayError } from '../../src/errors.js';
import { createRedisClient, createRedisStore, sessionBinding, type CookieJar, type RedisClient, type RedisSessionStore, type Session } from '../../src/session/index.js';
import { redisConfig, sessionFor, startSentinel, waitUntil, type SentinelRedis } from '../support/redis.js';

const NAME = '_gatehouse';
const PREFIX = 'gatehouse:';
const ATTRIBUTES = { domain: '.homelab.example.com', path: '/', maxAge: 3600, secure: true, httpOnly: true, sameSite: 'lax' } as const;

let sentinel: SentinelRedis;
let client: RedisClient;
let store: RedisSessionStore;
const connectionErrors: Error[] = [];

before(async () => {
  sentinel = await startSentinel();
  client = createRedisClient(redisConfig({ useSentinel: true, sentinelMasterName: sentinel.masterName, sentinelUrls: [...sentinel.sentinelUrls], keyPrefix: PREFIX }), (error) => connectionErrors.push(error));
  store = createRedisStore({ client, cookieName: NAME, keyPrefix: PREFIX, binding: sessionBinding('https://idp.homelab.example.com', 'gatehouse'), now: Date.now });
  await waitUntil('the store to connect through the sentinels', () => client.status === 'ready', 10_000);
});

after(async () => {
  try {
    // Undefined when before() failed early.
    await (store as RedisSessionStore | undefined)?.close();
  } catch {
    // Never connected.
  }
  await (sentinel as SentinelRedis | undefined)?.stop();
});

async function save(session: Session): Promise<CookieJar> {
  const cookies = await store.save(session, new Map(), ATTRIBUTES);
  const pair = cookies[0]!.split(';')[0]!;
  return new Map([[NAME, [pair.slice(pair.indexOf('=') + 1)]]]);
}

const idOf = (jar: CookieJar) => jar.get(NAME)![0]!.split('.')[1]!;

async function loads(jar: CookieJar, session: Session): Promise<void> {
  const loaded = await store.load(jar, Math.floor(Date.now() / 1000));
  assert.equal(loaded.kind, 'session', JSON.stringify(loaded));
  assert.deepEqual(loaded.session, session);
}

describe('Redis store over Sentinel', () => {
  test('sessions are saved on, and loaded from, the master the sentinels name (and reach the replica)', async () => {
    assert.equal(await sentinel.masterPort(), sentinel.master.port);
    const session = sessionFor('sentinel@homelab.example.com');
    const jar = await save(session);
    await loads(jar, session);
    const key = `${PREFIX}{${idOf(jar)}}:session`;
    assert.notEqual(await sentinel.master.cli('GET', key), '', 'written to the master');
    await waitUntil('the replica to have the session', async () => (await sentinel.replica.cli('EXISTS', key)) === '1', 5000);
    assert.deepEqual(await store.ready(), { ok: true, detail: 'redis answers' });
  });

  test('after SENTINEL FAILOVER the store follows the new master: old sessions load, sign-outs and new logins stick', async (t) => {
    const before = sessionFor('before-failover@homelab.example.com');
    const beforeJar = await save(before);
    const leaving = sessionFor('leaving@homelab.example.com');
    const leavingJar = await save(leaving);
    // Replicated before the failover (WAIT: the writes reached the replica).
    assert.equal(await sentinel.master.cli('WAIT', '1', '2000'), '1');

    const started = Date.now();
    assert.equal(await sentinel.sentinels[0]!.cli('SENTINEL', 'FAILOVER', sentinel.masterName), 'OK');
    await waitUntil('the sentinels to name the replica as master', async () => (await sentinel.masterPort()) === sentinel.replica.port, 15_000, 50);
    const switched = Date.now();
    t.diagnostic(`sentinels switched master in ${switched - started} ms`);
    // A second after the sentinels announced the new master, a user signs out and another signs in.
    await new Promise((resolve) => setTimeout(resolve, 1000));

    // Until the client has moved, an operation fails as "store unavailable" (a 503), never otherwise.
    const failures: string[] = [];
    const retried = async <T>(what: string, operation: () => Promise<T>): Promise<T> => {
      let outcome: { value: T } | { error: unknown } | undefined;
      await waitUntil(what, async () => {
        try {
          outcome = { value: await operation() };
        } catch (error) {
          if (!isGatewayError(error, 'ERR_SESSION_STORE_UNAVAILABLE')) outcome = { error };
          else failures.push(error.message);
        }
        return outcome !== undefined;
      }, 15_000, 100);
      assert.ok(outcome !== undefined);
      if ('error' in outcome) assert.fail(`${what}: a failover error must be ERR_SESSION_STORE_UNAVAILABLE, got ${String(outcome.error)}`);
      return outcome.value;
    };
    await retried('the sign-out to succeed', () => store.clear(leavingJar, { ...ATTRIBUTES, maxAge: 0 }));
    const after = sessionFor('after-failover@homelab.example.com');
    const afterJar = await retried('a login to succeed', () => save(after));
    t.diagnostic(`sign-out and login done ${Date.now() - switched} ms after the switch; ${failures.length} failed attempts (${[...new Set(failures)].slice(0, 2).join(' | ')})`);

    // The failover is complete when the sentinels have made the old master a replica of the new one: it
    // then drops whatever it still had and copies the new master.
    await waitUntil('the old master to be reconfigured as a replica', async () => {
      const info = await sentinel.master.cli('INFO', 'replication');
      return info.includes('role:slave') && info.includes(`master_port:${sentinel.replica.port}`) && info.includes('master_link_status:up');
    }, 20_000, 50);
    t.diagnostic(`failover complete ${Date.now() - started} ms after SENTINEL FAILOVER`);

    // The demotion drops the old master's clients: the store reconnects, through the sentinels.
    const now = Math.floor(Date.now() / 1000);
    assert.deepEqual(await retried('a load after the demotion', () => store.load(leavingJar, now)), { kind: 'invalid', reason: 'session-not-found' }, 'a sign-out made after the switch stays done (the old master must not have taken it)');
    const afterLoaded = await store.load(afterJar, now);
    assert.equal(afterLoaded.kind, 'session', `a login made after the switch is kept: ${JSON.stringify(afterLoaded)}`);
    assert.equal(await sentinel.replica.cli('EXISTS', `${PREFIX}{${idOf(afterJar)}}:session`), '1', 'written to the promoted replica, the new master');
    await loads(beforeJar, before);

    // New sessions, sign-out and the operator commands work on the new master.
    const fresh = sessionFor('fresh@homelab.example.com');
    const freshJar = await save(fresh);
    await loads(freshJar, fresh);
    assert.equal((await store.list({ email: 'fresh@homelab.example.com' })).length, 1);
    assert.equal(await store.revoke({ email: 'before-failover@homelab.example.com' }), 1);
    assert.equal((await store.load(beforeJar, now)).kind, 'invalid');
    assert.deepEqual(await store.ready(), { ok: true, detail: 'redis answers' });
  });
});
