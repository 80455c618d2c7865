/** The Redis connection of the operator commands (`sessions`, `token revoke`): the deployment's own settings. */
import type { Config } from '../config/index.js';
import { createRedisClient, quitClient, type RedisClient } from '../session/index.js';
import { EXIT, type CommandIo } from './io.js';

/** A client of the configured Redis, with the last connection error it reported. */
export interface CommandRedis {
  readonly client: RedisClient;
  /** The connection error to report when a command fails, if Redis reported one. */
  failure(): Error | undefined;
  /** Quits (bounded: an unreachable Redis is let go of after a second). */
  close(): Promise<void>;
}

/**
 * Connects to the configured Redis and waits for it briefly (the client connects lazily), so an unreachable
 * Redis is a clear error of the command rather than a timeout of its first operation.
 */
export async function connectForCommand(redis: Config['session']['redis']): Promise<CommandRedis> {
  let failure: Error | undefined;
  const client = createRedisClient(redis, (error) => {
    failure = error;
  });
  for (let waited = 0; client.status !== 'ready' && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  return { client, failure: () => failure, close: () => quitClient(client) };
}

/**
 * The line a command prints when its Redis work failed: that Redis could not be reached (with the
 * connection's own error), or else what Redis answered, with the errors behind an aborted transaction
 * (`EXECABORT` hides a `NOPERM` or `WRONGTYPE`).
 */
export function redisFailure(redis: CommandRedis, error: unknown): string {
  const own = error instanceof Error ? error : new Error(String(error));
  if (redis.client.status !== 'ready') return `gatehouse: Redis could not be reached: ${(redis.failure() ?? own).message}`;
  const previous: unknown = (own as { previousErrors?: unknown }).previousErrors;
  const causes = Array.isArray(previous) ? previous.filter((cause): cause is Error => cause instanceof Error).map((cause) => cause.message) : [];
  return `gatehouse: Redis failed the command: ${[own.message, ...causes].join('; ')}`;
}

/**
 * Runs a command's Redis work on a fresh connection: its exit code, or 1 with a clear line when Redis did
 * not answer; the connection is closed either way.
 */
export async function withCommandRedis(redis: Config['session']['redis'], io: CommandIo, work: (client: RedisClient) => Promise<number>): Promise<number> {
  const connection = await connectForCommand(redis);
  try {
    return await work(connection.client);
  } catch (error) {
    io.err(redisFailure(connection, error));
    return EXIT.failure;
  } finally {
    await connection.close();
  }
}
