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

const sorted = (ids: string[]) => [...ids].sort();

/** Records the commands Redis runs that name `text` (MONITOR), those its scripts run apart. */
async function watchCommands(text: string) {
  const monitor = await new Redis(REDIS_TEST_URL).monitor();
  const seen: string[][] = [];
  const scripted: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args.some((arg) => arg.includes(text))) (source === 'lua' ? scripted : seen).push(args);
  });
  return {
    seen,
    scripted,
    /** Resolves once Redis has shown every command sent through `via` so far (it runs them in order). */
    async settle(via: Redis) {
      const marker = `${text}:settled:${randomUUID()}`;
      await via.echo(marker);
      await waitUntil(() => seen.some((args) => args.includes(marker)), 'the monitor', 2000, 5);
      seen.splice(seen.findIndex((args) => args.includes(marker)), 1);
    },
    close: () => monitor.disconnect(),
  };
}

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

    describe('nodesHolding', () => {
      /** Users on nodes a, b and c (and one on none), with their node sets as SUNION reads them. */
      const cluster = async () => {
        const [a, b, c] = [await node('a'), await node('b'), await node('c')];
        const [x, y, z, v, unknown] = [u(), u(), u(), u(), u()];
        await a.presence.add(x);
        await a.presence.add(y);
        await b.presence.add(y);
        await c.presence.add(z);
        await b.presence.add(v);
        await c.presence.add(v);
        const names = redisNames(prefix);
        const sunion = async (ids: string[]) => sorted(await a.redis.sunion(...ids.map((id) => names.userNodes(id))));
        return { a, b, users: { x, y, z, v, unknown }, sunion };
      };

      it('answers the asks of one tick with one Redis call, each as SUNION does, in the order asked', async () => {
        const { a, users, sunion } = await cluster();
        const { x, y, z, v, unknown } = users;
        const asks = [[x], [y], [x, y], [z, unknown], [unknown], [x, y, z, v], [y, x], [x, y], [v, v]];
        const expected = await Promise.all(asks.map(sunion));
        const watch = await watchCommands(`${prefix}:user:`);
        try {
          const answeredInOrder: number[] = [];
          const answers = await Promise.all(
            asks.map((ids, i) =>
              a.presence.nodesHolding(ids).then((nodeIds) => {
                answeredInOrder.push(i);
                return nodeIds;
              }),
            ),
          );
          await watch.settle(a.redis);
          expect(answers.map(sorted)).toEqual(expected);
          expect(answers.map(sorted)).toEqual([['a'], ['a', 'b'], ['a', 'b'], ['c'], [], ['a', 'b', 'c'], ['a', 'b'], ['a', 'b'], ['b', 'c']]);
          expect(answeredInOrder).toEqual(asks.map((_, i) => i));
          // One command for the tick; identical asks ([x, y] twice) read Redis once, yet each
          // answer is its own array (the bus appends to it).
          expect(watch.seen.map((args) => args[0])).toEqual(['eval']);
          expect(watch.scripted.filter((args) => args[0]?.toLowerCase() === 'sunion')).toHaveLength(asks.length - 1);
          expect(new Set(answers).size).toBe(asks.length);
        } finally {
          watch.close();
        }
      });

      it('sends a lone ask at once as a plain SUNION, and each tick its own call', async () => {
        const { a, users } = await cluster();
        const watch = await watchCommands(`${prefix}:user:`);
        try {
          expect(sorted(await a.presence.nodesHolding([users.y]))).toEqual(['a', 'b']);
          expect(sorted(await a.presence.nodesHolding([users.z, users.unknown]))).toEqual(['c']);
          const [first, second] = await Promise.all([a.presence.nodesHolding([users.x]), a.presence.nodesHolding([users.v])]);
          expect([first, sorted(second)]).toEqual([['a'], ['b', 'c']]);
          await watch.settle(a.redis);
          expect(watch.seen.map((args) => [args[0], args.length])).toEqual([
            ['sunion', 2],
            ['sunion', 3],
            ['eval', 7], // eval, script, numkeys 0, the users' key pattern (2), two asks
          ]);
          expect(await a.presence.nodesHolding([])).toEqual([]);
        } finally {
          watch.close();
        }
      });

      it('unions a large ask (a notification to thousands of users) as SUNION does, in a tick with others', async () => {
        const { a, users, sunion } = await cluster();
        const many = [...Array.from({ length: 2500 }, u), users.x, ...Array.from({ length: 1200 }, u), users.v, users.z];
        const answers = await Promise.all([a.presence.nodesHolding([users.y]), a.presence.nodesHolding(many)]);
        expect(answers.map(sorted)).toEqual([['a', 'b'], ['a', 'b', 'c']]);
        expect(sorted(answers[1] ?? [])).toEqual(await sunion(many));
      });

      it('fails every ask of the tick when Redis answers an error, and answers the next tick', async () => {
        const { a, users } = await cluster();
        const broken = u();
        await a.redis.set(redisNames(prefix).userNodes(broken), 'not a set');
        const settled = await Promise.allSettled([
          a.presence.nodesHolding([users.x]),
          a.presence.nodesHolding([broken, users.y]),
          a.presence.nodesHolding([users.z]),
        ]);
        expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
        const reasons = settled.map((s) => (s.status === 'rejected' ? (s.reason as Error) : null));
        expect(reasons[0]?.message).toMatch(/WRONGTYPE/);
        expect(new Set(reasons).size).toBe(1);
        expect(await a.presence.nodesHolding([users.x])).toEqual(['a']);
      });

      it('fails every ask of the tick while Redis is unreachable; an empty ask needs no Redis', async () => {
        const { b, users } = await cluster();
        b.redis.disconnect();
        const settled = await Promise.allSettled([b.presence.nodesHolding([users.x]), b.presence.nodesHolding([users.y, users.z])]);
        expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
        await expect(b.presence.nodesHolding([users.x])).rejects.toThrow();
        expect(await b.presence.nodesHolding([])).toEqual([]);
      });
    });

    describe('the calls of one turn', () => {
      /** Node a with its scripts loaded (a NOSCRIPT retry would show as a second command), node b, and a dead node's leftover. */
      const setting = async () => {
        const [a, b] = [await node('a'), await node('b')];
        const warm = u();
        await a.presence.add(warm);
        await a.presence.online([warm]);
        await a.presence.remove(warm);
        const names = redisNames(prefix);
        const [onB, afterGhost, fresh] = [u(), u(), u()];
        await b.presence.add(onB);
        // A node that died without being reaped yet: its entry stays, its lease is gone.
        await a.redis.sadd(names.userNodes(afterGhost), 'ghost');
        return { a, b, names, users: { onB, afterGhost, fresh } };
      };
      const scriptCalls = (seen: string[][]) => seen.filter((args) => args[0]?.startsWith('eval'));

      it('adds with one script call, answering each user as alone and dropping dead nodes\' entries', async () => {
        const { a, names, users } = await setting();
        const { onB, afterGhost, fresh } = users;
        const watch = await watchCommands(`${prefix}:user:`);
        try {
          expect(await Promise.all([a.presence.add(onB), a.presence.add(afterGhost), a.presence.add(fresh)])).toEqual([false, true, true]);
          await watch.settle(a.redis);
          expect(scriptCalls(watch.seen)).toHaveLength(1);
          expect(scriptCalls(watch.seen)[0]?.slice(-3)).toEqual([onB, afterGhost, fresh]);
        } finally {
          watch.close();
        }
        expect(sorted(await a.redis.smembers(names.userNodes(onB)))).toEqual(['a', 'b']);
        expect(await a.redis.smembers(names.userNodes(afterGhost))).toEqual(['a']);
        expect(sorted(await a.redis.smembers(names.nodeUsers('a')))).toEqual(sorted([onB, afterGhost, fresh]));
        // Already held here: not a new arrival, whatever Redis says.
        expect(await Promise.all([a.presence.add(fresh), a.presence.add(u())])).toEqual([false, true]);
      });

      it('removes with one script call, each user offline only when no live node holds them', async () => {
        const { a, names, users } = await setting();
        const { onB, afterGhost, fresh } = users;
        await a.presence.add(onB);
        await a.presence.add(fresh);
        // afterGhost is held by a and by the dead node: a's remove takes it offline and drops the set.
        await a.presence.add(afterGhost);
        await a.redis.sadd(names.userNodes(afterGhost), 'ghost');
        const watch = await watchCommands(`${prefix}:user:`);
        try {
          expect(await Promise.all([a.presence.remove(onB), a.presence.remove(afterGhost), a.presence.remove(fresh), a.presence.remove(u())])).toEqual([
            false,
            true,
            true,
            true,
          ]);
          await watch.settle(a.redis);
          expect(scriptCalls(watch.seen)).toHaveLength(1);
        } finally {
          watch.close();
        }
        expect(await a.redis.exists(names.userNodes(afterGhost), names.userNodes(fresh))).toBe(0);
        expect(await a.redis.smembers(names.userNodes(onB))).toEqual(['b']);
        expect(await a.redis.smembers(names.nodeUsers('a'))).toEqual([]);
      });

      it('answers the online asks of a turn with one script call, each id read once', async () => {
        const { a, users } = await setting();
        const { onB, afterGhost, fresh } = users;
        const mine = u();
        await a.presence.add(mine);
        const watch = await watchCommands(`${prefix}:user:`);
        try {
          const answers = await Promise.all([
            a.presence.online([onB, afterGhost]),
            a.presence.online([fresh, onB, mine, onB]),
            a.presence.online([afterGhost]),
            a.presence.online([]),
          ]);
          expect(answers).toEqual([new Set([onB]), new Set([onB, mine]), new Set(), new Set()]);
          await watch.settle(a.redis);
          const calls = scriptCalls(watch.seen);
          expect(calls).toHaveLength(1);
          // evalsha, sha, numkeys, one key per distinct id, the alive pattern (2).
          expect(calls[0]).toHaveLength(3 + 4 + 2);
        } finally {
          watch.close();
        }
      });

      it('answers every call of the turn from local state when the script fails, and asks Redis again next turn', async () => {
        const { a, names, users } = await setting();
        const broken = u();
        await a.redis.set(names.userNodes(broken), 'not a set');
        // The adds of the turn fail together: each answers as this node sees it (new here: came online).
        expect(await Promise.all([a.presence.add(users.onB), a.presence.add(broken)])).toEqual([true, true]);
        expect(await Promise.all([a.presence.online([broken, users.fresh]), a.presence.online([users.onB])])).toEqual([new Set([broken]), new Set([users.onB])]);
        await a.redis.del(names.userNodes(broken));
        expect(await a.presence.online([users.onB, users.fresh])).toEqual(new Set([users.onB]));
        expect(await a.presence.add(users.fresh)).toBe(true);
        expect(await a.presence.remove(broken)).toBe(true);
        expect(await a.presence.online([broken])).toEqual(new Set());
      });
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
