/**
 * Helpers for suites that talk to the test Redis directly: a connection with the project's client
 * options, dropping a suite's keys, and counting what a client writes.
 */
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { redisOptions } from '../../src/bus/redis.js';
import { REDIS_TEST_URL } from './services.js';

/** A ready client with the bus's options; `retryMs`: its reconnect delay (a bus's subscriber is duplicated from it). */
export async function connect(url = REDIS_TEST_URL, retryMs = 50): Promise<Redis> {
  const redis = new Redis(url, { ...redisOptions, retryStrategy: () => retryMs });
  redis.on('error', () => {});
  if (redis.status !== 'ready') await once(redis, 'ready');
  return redis;
}

/** Deletes every key under the prefix (the Redis is shared: never FLUSHALL). */
export async function dropPrefix(prefix: string, url = REDIS_TEST_URL): Promise<void> {
  const redis = await connect(url);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

/**
 * How many writes an ioredis client makes to its socket from now on that mention any of
 * `needles`: each write is one round trip's requests (ioredis pipelines a tick's commands), so a
 * test can count round trips, or show that something never reached Redis. Other users of the
 * client (presence's heartbeat) are not counted unless they mention a needle. `restore` puts the
 * socket's write back.
 */
export function countWrites(redis: Redis, needles: string[]): { count: () => number; restore: () => void } {
  const stream = redis.stream;
  const write = stream.write;
  let writes = 0;
  stream.write = function (this: typeof stream, ...args: Parameters<typeof write>) {
    const text = String(args[0]);
    if (needles.some((needle) => text.includes(needle))) writes++;
    return write.apply(this, args);
  } as typeof write;
  return { count: () => writes, restore: () => void (stream.write = write) };
}
