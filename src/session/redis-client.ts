/**
 * The Redis (or Valkey) connection of the session store, with ioredis: standalone, Sentinel or Cluster,
 * TLS for `rediss://`, ACL user and password. Commands fail fast when the connection is down (no offline
 * queue) and time out after `commandTimeoutMs`, so a check answers 503 well before the proxy's own
 * timeout; the client reconnects with backoff in the background.
 */
import { readFileSync } from 'node:fs';
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';

/** What the store needs of a Redis client (a standalone client and a cluster both provide it). */
export type RedisClient = Redis | Cluster;

/** Bounded time of every Redis command, milliseconds. */
export const REDIS_COMMAND_TIMEOUT_MS = 1000;

function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url.includes('://') ? url : `redis://${url}`);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port === '' ? 6379 : Number(parsed.port) };
}

/** Builds the ioredis options of a configuration (no connection yet). */
export function redisOptions(redis: Config['session']['redis']): { mode: 'standalone' | 'sentinel' | 'cluster'; options: RedisOptions; nodes: { host: string; port: number }[] } {
  const url = redis.url === '' ? undefined : new URL(redis.url);
  const useTls = url?.protocol === 'rediss:' || redis.caPath !== '';
  const tls = useTls ? { rejectUnauthorized: !redis.insecureSkipTlsVerify, ...(redis.caPath === '' ? {} : { ca: readFileSync(redis.caPath) }) } : undefined;
  const username = redis.username !== '' ? redis.username : url?.username === '' || url === undefined ? undefined : decodeURIComponent(url.username);
  const password = redis.password !== '' ? redis.password : url?.password === '' || url === undefined ? undefined : decodeURIComponent(url.password);
  const db = url !== undefined && url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined;
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
    enableAutoPipelining: false,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(db === undefined || Number.isNaN(db) ? {} : { db }),
    ...(tls === undefined ? {} : { tls }),
    // oauth2-proxy's idle timeout keeps idle connections from being cut by the server's `timeout`: TCP
    // keep-alive probes at that interval do the same.
    ...(redis.idleTimeout > 0 ? { keepAlive: redis.idleTimeout } : {}),
  };
  if (redis.useSentinel) {
    return {
      mode: 'sentinel',
      nodes: redis.sentinelUrls.map(hostPort),
      options: {
        ...options,
        sentinels: redis.sentinelUrls.map(hostPort),
        name: redis.sentinelMasterName,
        ...(redis.sentinelPassword === '' ? {} : { sentinelPassword: redis.sentinelPassword }),
        sentinelRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
        // Follow a failover as soon as the sentinels announce it, not when the old master drops us:
        // writes in between would go to a master about to be demoted, and be lost.
        failoverDetector: true,
      },
    };
  }
  if (redis.useCluster) return { mode: 'cluster', nodes: redis.clusterUrls.map(hostPort), options };
  return { mode: 'standalone', nodes: url === undefined ? [] : [hostPort(redis.url)], options };
}

/** Creates (and starts connecting) the client. */
export function createRedisClient(redis: Config['session']['redis'], onError: (error: Error) => void): RedisClient {
  const { mode, options, nodes } = redisOptions(redis);
  let client: RedisClient;
  if (mode === 'cluster') {
    client = new Cluster(nodes, { redisOptions: options, enableOfflineQueue: false, enableAutoPipelining: true, clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000), lazyConnect: true });
  } else if (mode === 'sentinel') {
    client = new Redis(options);
  } else {
    const node = nodes[0] ?? { host: '127.0.0.1', port: 6379 };
    client = new Redis({ ...options, host: node.host, port: node.port });
  }
  // Connection errors are reported (rate-limited by the caller) and also surface per command, as a 503
  // for the check; the client reconnects by itself.
  client.on('error', onError);
  client.connect().catch(onError);
  return client;
}

/**
 * Quits a client: QUIT waits for the server, so a server that is gone or failing over is let go of after a
 * second, and the connection is dropped either way.
 */
export async function quitClient(client: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 1000);
  });
  await Promise.race([client.quit().catch(() => undefined), late]);
  clearTimeout(timer);
  client.disconnect();
}

/** The most keys one MGET of {@link createBatchedReader} asks for. */
export const MAX_READ_BATCH = 128;

/**
 * Reads string values in batches. The reads asked for while the event loop works through one round of
 * ready sockets go to Redis together, as one MGET, when that round ends (`setImmediate`). One GET per
 * check would cost a socket write in gatehouse and a read and a write in Redis, per check; under load a
 * round holds several checks, so this saves most of those. (ioredis' own auto-pipelining flushes on
 * `process.nextTick`, which runs after every socket's callback, so it batched next to nothing here and
 * cost more than it saved.) Every read still starts after its request arrived, so a sign-out is seen as
 * soon as before.
 *
 * A Cluster reads key by key: the keys of different sessions are in different slots, which one MGET
 * cannot span. A batch that fails, fails every read in it, so each of those checks answers 503.
 */
export function createBatchedReader(client: RedisClient): (key: string) => Promise<string | null> {
  if (client.isCluster) return (key) => client.get(key);
  interface Read {
    readonly key: string;
    readonly resolve: (value: string | null) => void;
    readonly reject: (error: unknown) => void;
  }
  let pending: Read[] = [];
  const send = (reads: readonly Read[]) => {
    const [only] = reads;
    if (reads.length === 1 && only !== undefined) {
      client.get(only.key).then(only.resolve, only.reject);
      return;
    }
    client.mget(reads.map((read) => read.key)).then(
      (values) => {
        for (let index = 0; index < reads.length; index += 1) reads[index]?.resolve(values[index] ?? null);
      },
      (error: unknown) => {
        for (const read of reads) read.reject(error);
      },
    );
  };
  const flush = () => {
    const reads = pending;
    pending = [];
    if (reads.length <= MAX_READ_BATCH) send(reads);
    else for (let start = 0; start < reads.length; start += MAX_READ_BATCH) send(reads.slice(start, start + MAX_READ_BATCH));
  };
  return (key) =>
    new Promise((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ key, resolve, reject });
    });
}
