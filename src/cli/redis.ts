/** The Redis connection of the operator commands (`sessions`, `token revoke`): the deployment's own settings. */
import type { Config } from '../config/index.js';
import { createRedisClient, type RedisClient } from '../session/index.js';

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
  return {
    client,
    failure: () => failure,
    close: async () => {
      const late = new Promise((resolve) => setTimeout(resolve, 1000).unref());
      await Promise.race([client.quit().catch(() => undefined), late]);
      client.disconnect();
    },
  };
}

/** The line a command prints when Redis did not answer. */
export function unreachable(redis: CommandRedis, error: unknown): string {
  return `gatehouse: Redis could not be reached: ${(redis.failure() ?? (error instanceof Error ? error : new Error(String(error)))).message}`;
}
