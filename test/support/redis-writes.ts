/**
 * How many writes an ioredis client makes to its socket from now on that mention any of
 * `needles`: each write is one round trip's requests (ioredis pipelines a tick's commands), so a
 * test can count round trips, or show that something never reached Redis. Other users of the
 * client (presence's heartbeat) are not counted unless they mention a needle. `restore` puts the
 * socket's write back.
 */
import type { Redis } from 'ioredis';

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
