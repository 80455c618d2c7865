/**
 * The Redis session store over a real Redis Cluster: six `redis-server --cluster-enabled yes` processes
 * (three masters, one replica each) created with `redis-cli --cluster create`. Sessions of many ids land in
 * many hash slots on different masters; save, load, sign-out, list, revoke and the refresh lease all work.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedisClient, createRedisStore, sessionBinding, type CookieJar, type RedisClient, type RedisSessionStore, type Session } from '../../src/session/index.js';
import { changeDenyEntry, createSharedDenyList, listDenyEntries } from '../../src/jwt/index.js';
import { redisConfig, sessionFor, startCluster, waitUntil, type ClusterRedis } from '../support/redis.js';

const NAME = '_gatehouse';
const PREFIX = 'gatehouse:';
const ATTRIBUTES = { domain: '.homelab.example.com', path: '/', maxAge: 3600, secure: true, httpOnly: true, sameSite: 'lax' } as const;
const USERS = ['ann@homelab.example.com', 'bob@homelab.example.com', 'cyd@homelab.example.com'];
const PER_USER = 8;

let cluster: ClusterRedis;
let client: RedisClient;
let store: RedisSessionStore;
const saved: { email: string; session: Session; jar: CookieJar }[] = [];

before(async () => {
  cluster = await startCluster();
  client = createRedisClient(redisConfig({ useCluster: true, clusterUrls: [...cluster.urls], keyPrefix: PREFIX }), () => undefined);
  store = createRedisStore({ client, cookieName: NAME, keyPrefix: PREFIX, binding: sessionBinding('https://idp.homelab.example.com', 'gatehouse'), now: Date.now });
  await waitUntil('the cluster client to be ready', () => client.status === 'ready', 10_000);
});

after(async () => {
  try {
    // Undefined when before() failed early.
    await (store as RedisSessionStore | undefined)?.close();
  } catch {
    // Never connected.
  }
  await (cluster as ClusterRedis | undefined)?.stop();
});

const nowSeconds = () => Math.floor(Date.now() / 1000);
const idOf = (jar: CookieJar) => jar.get(NAME)![0]!.split('.')[1]!;

async function save(session: Session): Promise<CookieJar> {
  let cookies: string[];
  try {
    cookies = await store.save(session, new Map(), ATTRIBUTES);
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
    assert.fail(`save over the cluster failed: ${error instanceof Error ? error.message : String(error)}${cause}`);
  }
  const pair = cookies[0]!.split(';')[0]!;
  return new Map([[NAME, [pair.slice(pair.indexOf('=') + 1)]]]);
}

describe('Redis store over Cluster', () => {
  test('the cluster is up', (t) => {
    t.diagnostic(`cluster created and converged in ${cluster.createdInMs} ms`);
    assert.equal(cluster.nodes.length, 6);
  });

  test('sessions of many ids spread over slots and masters; each saves and loads back', async () => {
    for (const email of USERS) {
      for (let index = 0; index < PER_USER; index += 1) {
        const session = sessionFor(email);
        saved.push({ email, session, jar: await save(session) });
      }
    }
    for (const { session, jar } of saved) {
      const loaded = await store.load(jar, nowSeconds());
      assert.equal(loaded.kind, 'session', JSON.stringify(loaded));
      assert.deepEqual(loaded.session, session);
    }
    const slots = new Set<number>();
    for (const { jar } of saved) slots.add(Number(await cluster.nodes[0]!.cli('CLUSTER', 'KEYSLOT', `${PREFIX}{${idOf(jar)}}:session`)));
    assert.ok(slots.size > 10, `${slots.size} distinct slots for ${saved.length} sessions`);
    let mastersWithKeys = 0;
    for (const node of cluster.nodes) {
      const role = await node.cli('ROLE');
      if (role.startsWith('master') && Number(await node.cli('DBSIZE')) > 0) mastersWithKeys += 1;
    }
    assert.ok(mastersWithKeys >= 2, `sessions are on ${mastersWithKeys} master(s)`);
  });

  test('list by email and by subject finds every session of a user, and no one else', async () => {
    assert.equal(saved.length, USERS.length * PER_USER, 'the sessions of the previous test were saved');
    for (const email of USERS) {
      const byEmail = await store.list({ email: email.toUpperCase() });
      assert.equal(byEmail.length, PER_USER, `${email}: ${JSON.stringify(byEmail)}`);
      assert.ok(byEmail.every((summary) => summary.email === email && !JSON.stringify(summary).includes('refresh-')));
      assert.equal((await store.list({ sub: `sub-${email}` })).length, PER_USER);
    }
  });

  test('revoke ends every session of one user across the cluster and leaves the others', async () => {
    assert.equal(saved.length, USERS.length * PER_USER, 'the sessions of the first test were saved');
    const [victim, ...others] = USERS;
    assert.equal(await store.revoke({ email: victim! }), PER_USER);
    for (const { email, jar } of saved) {
      const loaded = await store.load(jar, nowSeconds());
      if (email === victim) assert.deepEqual(loaded, { kind: 'invalid', reason: 'session-not-found' });
      else assert.equal(loaded.kind, 'session', `${email} keeps the session`);
    }
    assert.deepEqual(await store.list({ email: victim! }), []);
    for (const email of others) assert.equal((await store.list({ email })).length, PER_USER);
  });

  test('sign-out, refresh under the same ticket and the refresh lease work on the cluster', async () => {
    const session = sessionFor('dee@homelab.example.com');
    const jar = await save(session);
    const handle = jar.get(NAME)![0]!;
    assert.equal(await store.lock(handle, 5000), true);
    assert.equal(await store.lock(handle, 5000), false);
    await store.unlock(handle);
    const refreshed: Session = { ...session, refreshedAt: session.refreshedAt + 1, refreshToken: 'refresh-new' };
    assert.deepEqual(await store.replace(refreshed, jar, ATTRIBUTES), [], 'the same ticket');
    const reloaded = await store.reload(handle, nowSeconds());
    assert.deepEqual(reloaded.kind === 'session' ? reloaded.session : reloaded, refreshed);
    await store.clear(jar, { ...ATTRIBUTES, maxAge: 0 });
    assert.deepEqual(await store.load(jar, nowSeconds()), { kind: 'invalid', reason: 'session-not-found' });
    assert.deepEqual(await store.ready(), { ok: true, detail: 'redis answers' });
  });

  test('the shared bearer deny-list writes and reads its keys (one slot) over the cluster', async () => {
    const list = createSharedDenyList({ client, keyPrefix: PREFIX, profiles: ['homekit', 'metrics'], onError: () => undefined, pollMs: 30 });
    try {
      list.start();
      await waitUntil('the deny-list to be read over the cluster', () => list.status().ok, 10_000);
      assert.equal(await changeDenyEntry(client, PREFIX, { profile: 'homekit', kind: 'jti', value: 'cluster-jti' }, 'add'), true);
      assert.equal(await changeDenyEntry(client, PREFIX, { profile: 'metrics', kind: 'sub', value: 'vmagent' }, 'add'), true);
      await waitUntil('both entries to reach the copy', () => list.denies('homekit', 'cluster-jti', undefined) && list.denies('metrics', undefined, 'vmagent'), 5000);
      assert.equal(list.denies('homekit', undefined, 'vmagent'), false);
      assert.deepEqual(await listDenyEntries(client, PREFIX, ['homekit', 'metrics']), [
        { profile: 'homekit', kind: 'jti', value: 'cluster-jti' },
        { profile: 'metrics', kind: 'sub', value: 'vmagent' },
      ]);
      assert.equal(await changeDenyEntry(client, PREFIX, { profile: 'homekit', kind: 'jti', value: 'cluster-jti' }, 'remove'), true);
      await waitUntil('the removal to reach the copy', () => !list.denies('homekit', 'cluster-jti', undefined), 5000);
    } finally {
      list.close();
    }
  });
});
