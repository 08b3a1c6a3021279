import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { redisNames } from '../../src/bus/names.js';
import { redisOptions } from '../../src/bus/redis.js';
import { RedisPresence, type RedisPresenceOptions } from '../../src/presence/redis.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { presenceContract } from '../contracts/presence.js';
import { needs, REDIS_TEST_URL } from '../support/services.js';

async function connect(): Promise<Redis> {
  const redis = new Redis(REDIS_TEST_URL, { ...redisOptions, retryStrategy: () => 50 });
  redis.on('error', () => {});
  if (redis.status !== 'ready') await once(redis, 'ready');
  return redis;
}

/** Deletes every key under the prefix (the Redis is shared: never FLUSHALL). */
async function dropPrefix(prefix: string): Promise<void> {
  const redis = await connect();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

const u = () => `u-${randomUUID()}`;


describe.runIf(await needs('redis'))('RedisPresence', () => {
  presenceContract('RedisPresence', async () => {
    const prefix = `test:presence:${randomUUID()}`;
    const redis = await connect();
    const presence = new RedisPresence({ redis, nodeId: 'n1', prefix });
    await presence.start();
    return {
      presence,
      close: async () => {
        await presence.close();
        await redis.quit();
        await dropPrefix(prefix);
      },
    };
  });

  describe('several nodes', () => {
    const prefix = `test:presence:${randomUUID()}`;
    const opened: { presence: RedisPresence; redis: Redis }[] = [];
    const node = async (nodeId: string, options: Partial<RedisPresenceOptions> = {}) => {
      const redis = await connect();
      const presence = new RedisPresence({ redis, nodeId, prefix, ...options });
      await presence.start();
      opened.push({ presence, redis });
      return { presence, redis };
    };
    afterEach(async () => {
      for (const { presence, redis } of opened.splice(0)) {
        await presence.close();
        redis.disconnect();
      }
      await dropPrefix(prefix);
    });

    it('counts a user online while any node holds them', async () => {
      const a = (await node('a')).presence;
      const b = (await node('b')).presence;
      const user = u();
      expect(await a.add(user)).toBe(true);
      expect(await b.add(user)).toBe(false);
      expect(await b.online([user, u()])).toEqual(new Set([user]));
      expect(await a.remove(user)).toBe(false);
      expect(await a.online([user])).toEqual(new Set([user]));
      expect(await b.remove(user)).toBe(true);
      expect(await a.online([user])).toEqual(new Set());
    });

    it('takes a graceful node\'s users offline at once on close', async () => {
      const a = (await node('a')).presence;
      const b = (await node('b')).presence;
      const user = u();
      await a.add(user);
      await a.close();
      expect(await b.online([user])).toEqual(new Set());
      expect(await b.add(user)).toBe(true);
    });

    it('issue: a node killed with kill -9 has its users reported lost once, within lease + heartbeat', async () => {
      const short = { leaseTtlMs: 400, heartbeatMs: 100 };
      const a = await node('a', short);
      const b = await node('b', short);
      const c = await node('c', short);
      const lost: string[][] = [];
      b.presence.onLost((ids) => lost.push(ids));
      c.presence.onLost((ids) => lost.push(ids));
      const [u1, u2, u3] = [u(), u(), u()];
      await a.presence.add(u1);
      await a.presence.add(u2);
      await b.presence.add(u2);
      await c.presence.add(u3);
      // kill -9: the connection drops, nothing is cleaned up, the heartbeat can no longer refresh.
      a.redis.disconnect(false);
      const killedAt = Date.now();
      await waitUntil(() => lost.length > 0, 'onLost', 2000);
      const elapsedMs = Date.now() - killedAt;
      // Bound: the lease lapses, then the next heartbeat of a survivor reaps (plus slack for a loaded CI box).
      expect(elapsedMs).toBeLessThanOrEqual(400 + 100 + 1000);
      // Three more beats of each survivor: a second reap would report u1 again. Time is the scenario.
      await sleep(3 * short.heartbeatMs);
      expect(lost).toEqual([[u1]]);
      expect(await b.presence.online([u1, u2, u3])).toEqual(new Set([u2, u3]));
    });

    it('issue: a node that stalled past its lease and was reaped reports its still-held users found when it beats again', async () => {
      // a's heartbeat (600 ms) is slower than its lease (200 ms): a stall on every beat. b reaps it.
      const a = await node('a', { leaseTtlMs: 200, heartbeatMs: 600 });
      const b = await node('b', { leaseTtlMs: 2000, heartbeatMs: 50 });
      const c = await node('c', { leaseTtlMs: 2000, heartbeatMs: 50 });
      const lost: string[][] = [];
      const found: string[][] = [];
      b.presence.onLost((ids) => lost.push(ids));
      c.presence.onLost((ids) => lost.push(ids));
      const [alone, shared] = [u(), u()];
      await a.presence.add(alone);
      await a.presence.add(shared);
      await c.presence.add(shared);
      await waitUntil(() => lost.length > 0, 'the reap', 2000);
      expect(lost).toEqual([[alone]]);
      // (Whether b still sees `alone` offline now depends on a's next beat: not asserted.)
      // Attached after the fact: buffered like onLost. Only `alone` had been announced offline.
      await waitUntil(async () => (await b.presence.online([alone])).size === 1, 're-registration', 2000, 20);
      a.presence.onFound((ids) => found.push(ids));
      // The registration's answer reaches a just after Redis shows the user back.
      await waitUntil(() => found.length > 0, 'onFound', 2000);
      expect(found).toEqual([[alone]]);
      // a's next beats find its lease lapsed again and re-register, but report nobody twice for one
      // reap (a second reap waits for the 5 s reap lock).
      await sleep(1300); // two more of a's beats: the time is the scenario
      expect(found).toEqual([[alone]]);
      expect(lost).toEqual([[alone]]);
    });

    it('re-registers its users when Redis lost its keys, and finds nobody (nobody heard USER_LEFT)', async () => {
      const a = await node('a', { leaseTtlMs: 1000, heartbeatMs: 50 });
      const found: string[][] = [];
      a.presence.onFound((ids) => found.push(ids));
      const b = await node('b');
      const user = u();
      await a.presence.add(user);
      const names = redisNames(prefix);
      await b.redis.del(names.alive('a'), names.nodeUsers('a'), names.userNodes(user), names.nodes);
      expect(await b.presence.online([user])).toEqual(new Set());
      await waitUntil(async () => (await b.presence.online([user])).size > 0, 're-registration', 2000, 20);
      expect(await b.redis.sismember(names.nodes, 'a')).toBe(1);
      expect(found).toEqual([]);
    });
  });
});
