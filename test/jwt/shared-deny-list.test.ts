/**
 * The bearer deny-list shared through a real redis-server: what one writer revokes, every replica's copy
 * refuses after its next poll; an entry written by hand is picked up by the periodic reread; a replica
 * that never read the lists refuses to answer (503) instead of guessing; a Redis outage keeps the last
 * copy in force.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { changeDenyEntry, createSharedDenyList, denyListKeys, denyValueProblem, listDenyEntries, MAX_DENY_VALUE_LENGTH, type SharedDenyList } from '../../src/jwt/index.js';
import { isGatewayError } from '../../src/errors.js';
import { createRedisClient, type RedisClient } from '../../src/session/index.js';
import { freePort, redisConfig, startRedis, waitUntil, type StandaloneRedis } from '../support/redis.js';

const PREFIX = 'gatehouse:';
let redis: StandaloneRedis;
const clients: RedisClient[] = [];
const lists: SharedDenyList[] = [];

function client(url: string): RedisClient {
  const created = createRedisClient(redisConfig({ url }), () => undefined);
  clients.push(created);
  return created;
}

/** A replica's copy, polling fast so the tests need not wait a second per change. */
function replica(url: string, errors: Error[] = [], rereadMs = 60_000): SharedDenyList {
  const list = createSharedDenyList({ client: client(url), keyPrefix: PREFIX, profiles: ['homekit', 'metrics'], onError: (error) => errors.push(error), pollMs: 30, rereadMs });
  lists.push(list);
  list.start();
  return list;
}

/** True once `list` answers at all (it has read Redis once). */
function hasRead(list: SharedDenyList): boolean {
  try {
    list.denies('homekit', undefined, undefined);
    return true;
  } catch {
    return false;
  }
}

let writer: RedisClient;

before(async () => {
  redis = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  writer = client(redis.url);
  await waitUntil('the writer to connect', () => writer.status === 'ready', 5000);
});

after(async () => {
  for (const list of lists) list.close();
  for (const each of clients) each.disconnect();
  await redis.stop();
});

describe('the shared bearer deny-list', () => {
  test('a revoked jti is refused by every replica after its next poll, and passes again once unrevoked', async () => {
    const a = replica(redis.url);
    const b = replica(redis.url);
    await waitUntil('both replicas to read the lists', () => hasRead(a) && hasRead(b), 5000);
    assert.equal(a.denies('homekit', 'jti-1', 'homekit'), false);
    assert.equal(await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'jti-1' }, 'add'), true, 'a new entry changes the list');
    assert.equal(await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'jti-1' }, 'add'), false, 'adding it twice changes nothing');
    await waitUntil('both replicas to refuse jti-1', () => a.denies('homekit', 'jti-1', 'someone') && b.denies('homekit', 'jti-1', 'someone'), 3000);
    assert.equal(a.denies('homekit', 'jti-2', 'someone'), false, 'another jti of the same subject passes');
    assert.equal(a.denies('metrics', 'jti-1', 'someone'), false, 'the entry belongs to its profile only');
    assert.equal(a.denies('homekit', undefined, 'jti-1'), false, 'a jti entry does not name a subject');
    assert.deepEqual(await listDenyEntries(writer, PREFIX, ['homekit', 'metrics']), [{ profile: 'homekit', kind: 'jti', value: 'jti-1' }]);
    assert.equal(await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'jti-1' }, 'remove'), true);
    assert.equal(await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'jti-1' }, 'remove'), false, 'removing it twice changes nothing');
    await waitUntil('both replicas to let jti-1 pass again', () => !a.denies('homekit', 'jti-1', 'x') && !b.denies('homekit', 'jti-1', 'x'), 3000);
  });

  test('a revoked subject refuses every token of that subject, and only that subject', async () => {
    const a = replica(redis.url);
    await waitUntil('the replica to read the lists', () => hasRead(a), 5000);
    await changeDenyEntry(writer, PREFIX, { profile: 'metrics', kind: 'sub', value: 'vmagent' }, 'add');
    await waitUntil('the replica to refuse the subject', () => a.denies('metrics', 'any-jti', 'vmagent'), 3000);
    assert.equal(a.denies('metrics', undefined, 'vmagent'), true, 'a token without a jti is refused by its subject');
    assert.equal(a.denies('metrics', 'any-jti', 'vmagent-2'), false);
    assert.equal(a.denies('metrics', 'vmagent', undefined), false, 'a subject entry does not name a jti');
    assert.equal(a.denies('metrics', 42, ['vmagent']), false, 'claims that are not strings name nothing');
    assert.match(a.status().detail, /^1 entry, current as of \d+s ago$/);
    assert.equal(a.state()?.entries.get('metrics'), 1);
    assert.equal(a.state()?.entries.get('homekit'), 0);
    assert.ok((a.state()?.ageSeconds ?? 99) <= 1, 'polled moments ago');
    await changeDenyEntry(writer, PREFIX, { profile: 'metrics', kind: 'sub', value: 'vmagent' }, 'remove');
  });

  test('an entry written by hand without changing the stamp is picked up by the periodic reread; members of another shape name nothing', async () => {
    const a = replica(redis.url, [], 300);
    const polling = replica(redis.url);
    await waitUntil('the replicas to read the lists', () => hasRead(a) && hasRead(polling), 5000);
    const keys = denyListKeys(PREFIX);
    await writer.sadd(keys.list('homekit'), 'jti:by-hand', 'by-hand-without-kind', 'JTI:upper');
    await waitUntil('the reread to find the entry', () => a.denies('homekit', 'by-hand', undefined), 3000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(polling.denies('homekit', 'by-hand', undefined), false, 'the stamp did not change, so only a reread finds the entry');
    assert.equal(a.denies('homekit', 'by-hand-without-kind', 'by-hand-without-kind'), false);
    assert.equal(a.denies('homekit', 'upper', undefined), false, 'kinds are exact');
    await writer.del(keys.list('homekit'));
    await writer.set(keys.version, 'changed-by-hand');
  });

  test('a replica that never read the lists refuses to answer (503) rather than let a revoked token pass', async () => {
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const errors: Error[] = [];
    const blind = replica(nobody, errors);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.throws(
      () => blind.denies('homekit', 'jti-1', 'homekit'),
      (error: unknown) => isGatewayError(error, 'ERR_SESSION_STORE_UNAVAILABLE') && /not been read from Redis yet/.test(error.message),
    );
    assert.equal(blind.status().ok, false);
    assert.equal(blind.state(), undefined);
    assert.match(blind.status().detail, /^not read from Redis yet/);
    assert.equal(errors.length, 0, 'connection failures are the client error handler’s to report, not repeated per poll');
  });

  test('a Redis outage keeps the last copy in force, and a restarted Redis with persistence still holds the entries', async () => {
    const errors: Error[] = [];
    const a = replica(redis.url, errors);
    await waitUntil('the replica to read the lists', () => hasRead(a), 5000);
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'lost-laptop' }, 'add');
    await waitUntil('the replica to refuse the token', () => a.denies('homekit', 'lost-laptop', undefined), 3000);
    await redis.kill();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(a.denies('homekit', 'lost-laptop', undefined), true, 'still refused while Redis is down');
    assert.equal(a.denies('homekit', 'desk-sensor', undefined), false, 'other tokens keep working while Redis is down');
    assert.equal(a.status().ok, true, 'the copy stays usable');
    await redis.restart();
    await waitUntil('the replica to read again', () => !/last read failed/.test(a.status().detail), 10_000);
    assert.equal(a.denies('homekit', 'lost-laptop', undefined), true, 'the appendonly file kept the entry through the restart');
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'lost-laptop' }, 'remove');
  });

  test('firstRead waits for the first read, and gives up after its timeout when Redis cannot be reached', async () => {
    const reachable = replica(redis.url);
    assert.equal(await reachable.firstRead(5000), true);
    assert.equal(await reachable.firstRead(1), true, 'once read, at once');
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const blind = replica(nobody);
    const started = Date.now();
    assert.equal(await blind.firstRead(150), false);
    assert.ok(Date.now() - started >= 140);
  });

  test('a copy handed over on a reload answers at once, even with Redis down; only a copy of the same source and profiles counts', async () => {
    const first = createSharedDenyList({ client: client(redis.url), keyPrefix: PREFIX, profiles: ['homekit', 'metrics'], onError: () => undefined, pollMs: 30, source: 'deployment-1' });
    lists.push(first);
    first.start();
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'handed-over' }, 'add');
    await waitUntil('the first copy to hold the entry', () => hasRead(first) && first.denies('homekit', 'handed-over', undefined), 3000);
    const copy = first.copy();
    assert.ok(copy !== undefined);
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const seeded = (source: string, profiles: readonly string[]) => {
      const list = createSharedDenyList({ client: client(nobody), keyPrefix: PREFIX, profiles, onError: () => undefined, pollMs: 30, source, seed: copy });
      lists.push(list);
      list.start();
      return list;
    };
    const next = seeded('deployment-1', ['homekit']);
    assert.equal(await next.firstRead(1), true, 'a seeded copy needs no read');
    assert.equal(next.denies('homekit', 'handed-over', undefined), true, 'the revocation survives the reload while Redis is down');
    assert.equal(next.denies('homekit', 'other', undefined), false);
    assert.match(next.status().detail, /^1 entry, current as of \d+s ago/);
    assert.throws(() => seeded('deployment-2', ['homekit']).denies('homekit', 'other', undefined), /not been read from Redis yet/, 'another Redis: no seed');
    assert.throws(() => seeded('deployment-1', ['homekit', 'garage']).denies('homekit', 'other', undefined), /not been read from Redis yet/, 'a profile the copy lacks: no seed');
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'handed-over' }, 'remove');
  });

  test('entries are checked before they are written', async () => {
    assert.equal(denyValueProblem(''), 'is empty');
    assert.equal(denyValueProblem('x'.repeat(MAX_DENY_VALUE_LENGTH)), undefined);
    assert.equal(denyValueProblem('x'.repeat(MAX_DENY_VALUE_LENGTH + 1)), `is longer than ${MAX_DENY_VALUE_LENGTH} characters`);
    assert.equal(denyValueProblem('a\r\nb'), 'holds a control character');
    assert.equal(denyValueProblem('auth0|64f1c2'), undefined);
    assert.equal(denyValueProblem('a\u009bb'), 'holds a control character', 'C1 controls too');
    assert.equal(denyValueProblem('\u202eevil'), 'holds a line separator or a bidirectional control character');
    assert.equal(denyValueProblem('a\u2028b'), 'holds a line separator or a bidirectional control character');
    assert.equal(denyValueProblem('jürgen@example.com'), undefined, 'other non-ASCII text is fine');
    await assert.rejects(changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'sub', value: '' }, 'add'), /the sub is empty/);
    await assert.rejects(changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: '\u202eevil' }, 'add'), /bidirectional/);
    assert.deepEqual(await listDenyEntries(writer, PREFIX, ['homekit']), [], 'nothing was written');
  });

  test('a list that cannot be read (a key of another type) holds back neither the other lists nor a fresh replica', async () => {
    const keys = denyListKeys(PREFIX);
    const a = replica(redis.url);
    await waitUntil('the replica to read', () => hasRead(a), 5000);
    await writer.set(keys.list('metrics'), 'not a set');
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'after-the-bad-key' }, 'add');
    await waitUntil('the homekit list to be read', () => a.denies('homekit', 'after-the-bad-key', undefined), 3000);
    assert.equal(a.denies('metrics', 'x', undefined), false, 'the metrics list keeps its last copy');
    assert.match(a.status().detail, /profile:metrics.*WRONGTYPE/);

    const fresh = replica(redis.url);
    await waitUntil('the fresh replica to read', () => hasRead(fresh), 5000);
    assert.equal(fresh.denies('homekit', 'after-the-bad-key', undefined), true);
    assert.throws(() => fresh.denies('metrics', 'x', undefined), (error: unknown) => isGatewayError(error, 'ERR_SESSION_STORE_UNAVAILABLE'), 'a list never read lets nothing pass');
    assert.equal(fresh.status().ok, false);
    assert.match(fresh.status().detail, /list of metrics has not been read/);

    await writer.del(keys.list('metrics'));
    await waitUntil('the fresh replica to read the metrics list', () => fresh.status().ok, 5000);
    assert.equal(fresh.denies('metrics', 'x', undefined), false);
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'after-the-bad-key' }, 'remove');
  });

  test('the version is a random stamp: a Redis that lost its data and took new entries is never mistaken for the copy a replica holds', async () => {
    // Polls only when told, with the 30 s reread far off: as a replica between two polls.
    const reader = client(redis.url);
    await waitUntil('the reader to connect', () => reader.status === 'ready', 5000);
    const list = createSharedDenyList({ client: reader, keyPrefix: PREFIX, profiles: ['homekit'], onError: () => undefined, pollMs: 3_600_000 });
    lists.push(list);
    await list.refresh(true);
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'old-1' }, 'add');
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'old-2' }, 'add');
    await list.refresh();
    assert.equal(list.denies('homekit', 'old-1', undefined), true);
    // Redis loses its data (a restore from an older snapshot or a lossy failover alike), and two
    // revocations follow before this replica polls again. A counter would be back at the value it saw.
    await writer.flushall();
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'stolen-phone' }, 'add');
    await changeDenyEntry(writer, PREFIX, { profile: 'homekit', kind: 'jti', value: 'lost-laptop' }, 'add');
    assert.match((await writer.get(denyListKeys(PREFIX).version)) ?? '', /^[A-Za-z0-9_-]{22}$/);
    await list.refresh();
    assert.equal(list.denies('homekit', 'stolen-phone', undefined), true, 'revoked after the loss: refused at the next poll');
    assert.equal(list.denies('homekit', 'old-1', undefined), false, 'the list in force is the one Redis holds');
    await writer.flushall();
  });
});
