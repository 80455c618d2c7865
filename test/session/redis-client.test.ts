/**
 * Batched session reads (src/session/redis-client.ts): which commands a burst of reads becomes, and that a
 * failed batch fails every read in it. A recording client stands in for ioredis here; the store contract
 * suite checks the same against a real redis-server.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBatchedReader, MAX_READ_BATCH, type RedisClient } from '../../src/session/redis-client.js';

/** A client that records the commands it is sent and answers from `values`, or fails MGETs when told to. */
function recordingClient(values: Record<string, string>, options: { isCluster?: boolean; failMget?: Error } = {}) {
  const sent: { command: 'get' | 'mget'; keys: string[] }[] = [];
  const client = {
    isCluster: options.isCluster === true,
    get(key: string): Promise<string | null> {
      sent.push({ command: 'get', keys: [key] });
      return Promise.resolve(values[key] ?? null);
    },
    mget(keys: string[]): Promise<(string | null)[]> {
      sent.push({ command: 'mget', keys: [...keys] });
      if (options.failMget !== undefined) return Promise.reject(options.failMget);
      return Promise.resolve(keys.map((key) => values[key] ?? null));
    },
  };
  return { client: client as unknown as RedisClient, sent };
}

const nextRound = () => new Promise((resolve) => setImmediate(resolve));

describe('createBatchedReader', () => {
  test('reads asked for in one round of the event loop go out as one MGET, in order, each answered with its own value', async () => {
    const { client, sent } = recordingClient({ a: 'value-a', c: 'value-c' });
    const read = createBatchedReader(client);
    const results = await Promise.all(['a', 'b', 'c', 'a'].map((key) => read(key)));
    assert.deepEqual(results, ['value-a', null, 'value-c', 'value-a']);
    assert.deepEqual(sent, [{ command: 'mget', keys: ['a', 'b', 'c', 'a'] }]);
  });

  test('a read alone is a plain GET, and reads of later rounds are later batches', async () => {
    const { client, sent } = recordingClient({ a: 'value-a', b: 'value-b' });
    const read = createBatchedReader(client);
    assert.equal(await read('a'), 'value-a');
    await nextRound();
    assert.deepEqual(await Promise.all([read('a'), read('b')]), ['value-a', 'value-b']);
    assert.deepEqual(sent, [
      { command: 'get', keys: ['a'] },
      { command: 'mget', keys: ['a', 'b'] },
    ]);
  });

  test(`a burst larger than ${MAX_READ_BATCH} keys is split into MGETs of at most ${MAX_READ_BATCH}`, async () => {
    const count = MAX_READ_BATCH * 2 + 3;
    const keys = Array.from({ length: count }, (_, index) => `k${index}`);
    const { client, sent } = recordingClient(Object.fromEntries(keys.map((key) => [key, `v-${key}`])));
    const read = createBatchedReader(client);
    const results = await Promise.all(keys.map((key) => read(key)));
    assert.deepEqual(results, keys.map((key) => `v-${key}`));
    assert.deepEqual(sent.map((one) => [one.command, one.keys.length]), [['mget', MAX_READ_BATCH], ['mget', MAX_READ_BATCH], ['mget', 3]]);
    assert.deepEqual(sent.flatMap((one) => one.keys), keys);
  });

  test('a failed MGET fails every read in its batch with the error (each check then answers 503), and later reads are sent afresh', async () => {
    const failure = new Error('Command timed out');
    const { client, sent } = recordingClient({ a: 'value-a' }, { failMget: failure });
    const read = createBatchedReader(client);
    const outcomes = await Promise.allSettled([read('a'), read('b'), read('c')]);
    assert.deepEqual(outcomes, [
      { status: 'rejected', reason: failure },
      { status: 'rejected', reason: failure },
      { status: 'rejected', reason: failure },
    ]);
    await nextRound();
    assert.equal(await read('a'), 'value-a', 'nothing of the failed batch is left pending');
    assert.deepEqual(sent.map((one) => one.command), ['mget', 'get']);
  });

  test('a Cluster reads key by key: the sessions are in different slots, which one MGET cannot span', async () => {
    const { client, sent } = recordingClient({ a: 'value-a', b: 'value-b' }, { isCluster: true });
    const read = createBatchedReader(client);
    assert.deepEqual(await Promise.all([read('a'), read('b')]), ['value-a', 'value-b']);
    assert.deepEqual(sent, [
      { command: 'get', keys: ['a'] },
      { command: 'get', keys: ['b'] },
    ]);
  });
});
