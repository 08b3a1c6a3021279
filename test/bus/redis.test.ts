import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BusEvent } from '../../src/bus/bus.js';
import { NOTIFICATIONS_CHANNEL, redisNames } from '../../src/bus/names.js';
import { RedisBus, redisOptions } from '../../src/bus/redis.js';
import { GATE_PUBLISH, type Log } from '../../src/bus/redis-scripts.js';
import { RedisPresence } from '../../src/presence/redis.js';
import { freePort } from '../../scripts/support/ports.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { busContract, collect, message } from '../contracts/bus.js';
import { OwnRedis } from '../support/cluster.js';
import { connect, dropPrefix } from '../support/redis.js';
import { needs } from '../support/services.js';

interface TestNode {
  nodeId: string;
  redis: Redis;
  /** The bus's subscriber connection (a duplicate of `redis`), to see what the bus sees of it. */
  sub: Redis;
  presence: RedisPresence;
  bus: RedisBus;
  /** Every event but notifications (contracts/bus.ts, collect). */
  events: BusEvent[];
  /** The raw text of each notification, this suite's and others'. */
  notifications: string[];
  close(): Promise<void>;
}

/** `retryMs`: reconnect delay of both connections (the bus's subscriber is duplicated from `redis`). */
async function startNode(prefix: string, nodeId: string, options: { orderWaitMs?: number; log?: Log; url?: string; retryMs?: number } = {}): Promise<TestNode> {
  const redis = await connect(options.url, options.retryMs);
  const presence = new RedisPresence({ redis, nodeId, prefix, leaseTtlMs: 2000, heartbeatMs: 200 });
  await presence.start();
  const duplicate = vi.spyOn(redis, 'duplicate');
  const bus = new RedisBus({ pub: redis, locate: (userIds) => presence.nodesHolding(userIds), nodeId, prefix, orderWaitMs: options.orderWaitMs, log: options.log });
  const sub = duplicate.mock.results[0]!.value as Redis;
  duplicate.mockRestore();
  await bus.start();
  const notifications: string[] = [];
  const events = collect(bus, (raw) => notifications.push(raw));
  const close = async () => {
    await presence.close();
    await bus.close();
    await redis.quit().catch(() => redis.disconnect());
  };
  return { nodeId, redis, sub, presence, bus, events, notifications, close };
}

const u = () => `u-${randomUUID()}`;
const ids = (events: BusEvent[], conversationId: string) =>
  events.flatMap((e) => (e.type === 'message' && e.conversationId === conversationId ? [Number(e.messageId)] : []));
const deliver = (userIds: string[], text = `{"n":"${randomUUID()}"}`) => ({ type: 'deliver' as const, userIds, text, method: 'TYPING' as const });

/**
 * A fence for "nothing more arrives": each node gets an event that another node publishes after
 * everything published so far (a node hands its own users' events over without Redis). One Redis
 * runs commands in turn and pushes to a subscriber in that order, so once a node has its fence, it
 * has every earlier event meant for it. The fences are taken out of `events` again.
 * `users[i]` is held by `nodes[i]`.
 */
async function fence(nodes: TestNode[], users: string[]): Promise<void> {
  const fences = nodes.map((_, i) => deliver([users[i]!], `{"fence":"${randomUUID()}"}`));
  await Promise.all(fences.map((f, i) => nodes[(i + 1) % nodes.length]!.bus.publish(f)));
  const at = (n: TestNode, i: number) => n.events.findIndex((e) => e.type === 'deliver' && e.text === fences[i]!.text);
  await waitUntil(() => nodes.every((n, i) => at(n, i) >= 0), 'every node to get its fence');
  nodes.forEach((n, i) => n.events.splice(at(n, i), 1));
}

describe.runIf(await needs('redis'))('RedisBus', () => {
  busContract('RedisBus', async () => {
    const prefix = `test:bus:${randomUUID()}`;
    const node = await startNode(prefix, 'n1');
    return {
      bus: node.bus,
      nodeId: node.nodeId,
      hold: async (userIds) => {
        for (const id of userIds) await node.presence.add(id);
      },
      close: async () => {
        await node.close();
        await dropPrefix(prefix);
      },
    };
  });

  describe('three nodes on one Redis', () => {
    const prefix = `test:bus:${randomUUID()}`;
    let nodes: TestNode[] = [];
    const start = async (options: { orderWaitMs?: number; log?: Log } = {}) => {
      nodes = await Promise.all(['a', 'b', 'c'].map((id) => startNode(prefix, id, options)));
      const held = await Promise.all(nodes.map(async (n) => { const id = u(); await n.presence.add(id); return id; }));
      return { nodes: nodes as [TestNode, TestNode, TestNode], users: held as [string, string, string] };
    };
    afterEach(async () => {
      await Promise.all(nodes.map((n) => n.close()));
      nodes = [];
      await dropPrefix(prefix);
    });

    it('routes an event only to the nodes that hold its users', async () => {
      const { nodes: [a, b, c], users } = await start();
      const [ua, ub] = users;
      await a.bus.publish(deliver([ub]));
      await a.bus.publish(deliver([ua, ub]));
      await fence([a, b, c], users);
      expect([a.events.length, b.events.length, c.events.length]).toEqual([1, 2, 0]);
    });

    it('drops nothing: 3 × 300 concurrent publishes all arrive where they should', async () => {
      const { nodes: all, users } = await start();
      const targets = Array.from({ length: 900 }, (_, i) => i % 3);
      await Promise.all(targets.map((t, i) => all[i % 3]!.bus.publish(deliver([users[t]!]))));
      await waitUntil(() => all.every((n) => n.events.length === 300), '300 events per node', 5000);
      await fence(all, users);
      expect(all.map((n) => n.events.length)).toEqual([300, 300, 300]);
    });

    it('ORDER: a prevId chain 1..50 published concurrently from 3 nodes in shuffled order arrives in chain order everywhere', async () => {
      const { nodes: all, users } = await start({ orderWaitMs: 2000 });
      const conversationId = randomUUID();
      // Message 1 creates the conversation's seq (see the known gap in bus/redis.ts).
      await all[0]!.bus.publish(message(conversationId, 1, users));
      const rest = Array.from({ length: 49 }, (_, i) => i + 2).sort(() => Math.random() - 0.5);
      await Promise.all(
        rest.map(async (id, i) => {
          await sleep(Math.random() * 20); // spreads the publishes: the shuffled timing is the scenario
          await all[i % 3]!.bus.publish(message(conversationId, id, users));
        }),
      );
      await waitUntil(() => all.every((n) => ids(n.events, conversationId).length === 50), '50 messages per node', 5000);
      const chain = Array.from({ length: 50 }, (_, i) => i + 1);
      for (const n of all) expect(ids(n.events, conversationId)).toEqual(chain);
    });

    it('ORDER without a seq: a successor whose predecessor is in flight waits for it (first use, idle expiry, Redis restart)', async () => {
      const { nodes: all, users } = await start({ orderWaitMs: 2000 });
      const conversationId = randomUUID();
      // History from before this Redis: nothing recorded for the conversation. 11 arrives first.
      await all[1]!.bus.publish(message(conversationId, 11, users, null, true));
      await fence(all, users);
      expect(ids(all[2]!.events, conversationId)).toEqual([]);
      await all[0]!.bus.publish(message(conversationId, 10, users, null, false));
      await waitUntil(() => all.every((n) => ids(n.events, conversationId).length === 2), 'both delivered', 2000);
      for (const n of all) expect(ids(n.events, conversationId)).toEqual([10, 11]);
    });

    it('releases a parked message after orderWaitMs when its predecessor never comes, and still delivers a late one', async () => {
      const { nodes: [a, b, c], users } = await start({ orderWaitMs: 300 });
      const conversationId = randomUUID();
      await a.bus.publish(message(conversationId, 1, users));
      const parkedAt = Date.now();
      await b.bus.publish(message(conversationId, 3, users)); // 2's publisher "died"
      await fence([a, b, c], users); // well within orderWaitMs
      expect(ids(c.events, conversationId)).toEqual([1]);
      await waitUntil(() => [a, b, c].every((n) => ids(n.events, conversationId).length === 2), 'forced release', 2000);
      expect(Date.now() - parkedAt).toBeGreaterThanOrEqual(280);
      await c.bus.publish(message(conversationId, 4, users));
      await a.bus.publish(message(conversationId, 2, users)); // late: published, never lost
      await waitUntil(() => [a, b, c].every((n) => ids(n.events, conversationId).length === 4), 'the late one');
      for (const n of [a, b, c]) expect(ids(n.events, conversationId)).toEqual([1, 3, 4, 2]);
    });

    it('hands each NOTIFICATIONS message to every node exactly once', async () => {
      const { nodes: all, users } = await start();
      const raw = JSON.stringify({ users: [u()], content: randomUUID() });
      const mainApi = await connect();
      await mainApi.publish(NOTIFICATIONS_CHANNEL, raw);
      await mainApi.quit();
      const mine = (n: TestNode) => n.notifications.filter((r) => r === raw);
      await waitUntil(() => all.every((n) => mine(n).length === 1), 'the notification on every node');
      await fence(all, users);
      expect(all.map((n) => mine(n).length)).toEqual([1, 1, 1]);
    });

    it('logs and drops malformed envelopes, and keeps working', async () => {
      const log = { info: vi.fn(), warn: vi.fn() };
      const { nodes: [a], users: [ua] } = await start({ log });
      const other = await connect();
      const channel = redisNames(prefix).nodeChannel('a');
      for (const bad of ['not json', '[]', 'null', '{"type":"deliver"}', '{"type":"message","userIds":[1]}', '{"type":"nope"}']) {
        await other.publish(channel, bad);
      }
      await other.quit();
      await a.bus.publish(deliver([ua]));
      await waitUntil(() => a.events.length === 1, 'the good event');
      expect(a.events[0]?.type).toBe('deliver');
      expect(log.warn.mock.calls.filter(([, msg]) => msg === 'bus: dropped a malformed envelope')).toHaveLength(6);
    });
  });
});

describe.runIf(await needs('redis'))('RedisBus with Redis unreachable since start', () => {
  it('issue: close() returns within 1 s (nothing waits behind a SUBSCRIBE), and publishes reach this node meanwhile', async () => {
    const pub = new Redis(`redis://127.0.0.1:${await freePort()}`, { ...redisOptions, lazyConnect: true });
    pub.on('error', () => {});
    pub.connect().catch(() => {});
    const bus = new RedisBus({ pub, locate: async () => [], nodeId: 'lonely' });
    const events = collect(bus);
    const event = deliver([u()]);
    await bus.publish(event);
    expect(events).toEqual([event]);
    await sleep(300); // the scenario: reconnect attempts to nowhere pile up for a while before close()
    const closing = Date.now();
    await bus.close();
    expect(Date.now() - closing).toBeLessThan(1000);
    pub.disconnect();
  });
});

describe.runIf(await needs('redis'))('RedisBus and RedisPresence while Redis is down', () => {
  let server: OwnRedis;
  let nodes: TestNode[] = [];
  beforeAll(async () => {
    server = new OwnRedis(await freePort());
    await server.start();
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await server.stop();
  });

  it('answers locally without rejecting, then re-registers and routes again after a restart', async () => {
    const prefix = 'test:outage';
    const [a, b] = (nodes = await Promise.all(['a', 'b'].map((id) => startNode(prefix, id, { url: server.url })))) as [TestNode, TestNode];
    const [ua, ua2, ub] = [u(), u(), u()];
    await a.presence.add(ua);
    await b.presence.add(ub);
    await a.bus.publish(deliver([ub]));
    await waitUntil(() => b.events.length === 1, 'the event on b');

    await server.stop();
    await waitUntil(() => a.redis.status !== 'ready' && b.redis.status !== 'ready', 'clients to notice', 3000);
    expect(await a.presence.add(ua2)).toBe(true);
    expect(await a.presence.remove(ua)).toBe(true);
    expect(await a.presence.online([ua, ua2, ub])).toEqual(new Set([ua2]));
    await expect(a.bus.ping()).rejects.toThrow();
    const local = deliver([ua2]);
    await expect(a.bus.publish(local)).resolves.toBeUndefined();
    const stored = message(randomUUID(), 1, [ua2]);
    await expect(a.bus.publish(stored)).resolves.toBeUndefined();
    expect(a.events.slice(-2)).toEqual([local, stored]);

    // A fresh server: Redis lost everything, the nodes put back what they hold.
    await server.start();
    const names = redisNames(prefix);
    const probe = await connect(server.url);
    await waitUntil(() => a.redis.status === 'ready' && b.redis.status === 'ready', 'reconnect', 5000);
    const subscribed = async () => {
      const counts = (await probe.pubsub('NUMSUB', names.nodeChannel('a'), names.nodeChannel('b'))) as (string | number)[];
      return Number(counts[1]) === 1 && Number(counts[3]) === 1;
    };
    await waitUntil(async () => (await subscribed()) && (await b.presence.online([ua2])).size > 0, 'subscribed and re-registered', 5000, 20);
    await probe.quit();
    await a.bus.ping();
    expect(await b.presence.online([ua, ua2, ub])).toEqual(new Set([ua2, ub]));
    expect(await b.presence.add(ua2)).toBe(false);
    const [aBefore, bBefore] = [a.events.length, b.events.length];
    // ua2 is on both nodes now (b added it above), ub on b only; b's publish is through Redis
    // before a's starts, so b gets them in that order.
    const toUa2 = deliver([ua2]);
    const toUb = deliver([ub]);
    await b.bus.publish(toUa2);
    await a.bus.publish(toUb);
    await waitUntil(() => a.events.length > aBefore && b.events.length > bBefore + 1, 'routing after restart', 5000);
    expect(a.events.slice(aBefore)).toEqual([toUa2]);
    expect(b.events.slice(bBefore)).toEqual([toUa2, toUb]);
  });

  it("issue: only the subscriber dropped (Redis's pubsub output-buffer limit): this node's events, acks included, reach it once, directly; then through Redis again", async () => {
    const log = { info: vi.fn(), warn: vi.fn() };
    // Reconnects after 1.5 s, so the subscriber stays away long enough to publish meanwhile.
    const a = await startNode('test:subdown', 'a', { url: server.url, log, retryMs: 1500 });
    nodes.push(a);
    const ua = u();
    await a.presence.add(ua);
    const admin = await connect(server.url);
    const subscribers = async () => Number(((await admin.pubsub('NUMSUB', redisNames('test:subdown').nodeChannel('a'))) as (string | number)[])[1]);
    expect(await subscribers()).toBe(1);
    // What Redis does to a subscriber past client-output-buffer-limit pubsub; the publisher stays connected.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(await subscribers()).toBe(0);
    // At once, before the bus may have seen the socket close: the PUBLISH count tells.
    const first = deliver([ua]);
    await a.bus.publish(first);
    expect(a.events).toEqual([first]);
    await waitUntil(() => a.sub.status !== 'ready', 'the bus to see its subscriber gone');
    const notSubscribed = () => log.warn.mock.calls.filter(([, msg]) => String(msg).startsWith('bus: not subscribed'));
    expect(notSubscribed()).toHaveLength(1);
    // A stored message from this node's own client: its ack (origin) and a member held here.
    const ack = message(randomUUID(), 1, [ua], { nodeId: 'a' });
    const second = deliver([ua]);
    await a.bus.publish(ack);
    await a.bus.publish(second);
    expect(a.events).toEqual([first, ack, second]);
    expect(notSubscribed()).toHaveLength(1);
    expect(a.redis.status).toBe('ready');

    await waitUntil(() => log.info.mock.calls.some(([, msg]) => String(msg).startsWith('bus: subscribed again')), 'resubscribed', 5000);
    expect(await subscribers()).toBe(1);
    const third = deliver([ua]);
    await a.bus.publish(third);
    await waitUntil(() => a.events.length === 4, 'the fourth event');
    await a.bus.flush(); // nothing a published is on its way now: a second copy of `third` would be in
    expect(a.events).toEqual([first, ack, second, third]);
    expect(log.info.mock.calls.filter(([, msg]) => msg === 'bus: redis is back for publishing')).toHaveLength(0);
    await admin.quit();
  });

  it('issue: re-registration runs where it was sent, not behind a newer REMOVE after a NOSCRIPT', async () => {
    const prefix = 'test:noscript';
    const [a, b] = (await Promise.all(['a', 'b'].map((id) => startNode(prefix, id, { url: server.url })))) as [TestNode, TestNode];
    nodes.push(a, b);
    const [gone, stays] = [u(), u()];
    await a.presence.add(gone);
    await a.presence.add(stays);
    // As after a Redis restart: no scripts. REMOVE gets loaded again first, REGISTER does not.
    await a.redis.script('FLUSH');
    await a.presence.remove(stays);
    await a.presence.add(stays);
    // What ioredis emits after a reconnect: RedisPresence re-registers with `gone` still held...
    a.redis.emit('ready');
    // ...and the user leaves right after; this REMOVE is sent behind the re-registration.
    expect(await a.presence.remove(gone)).toBe(true);
    // A fence on a's connection: a retried registration would have been sent before this PING.
    await a.redis.ping();
    expect(await b.presence.online([gone, stays])).toEqual(new Set([stays]));
  });
});

describe.runIf(await needs('redis'))('RedisBus: a publish whose outcome it does not know (ONCE)', () => {
  const prefix = `test:bus:once:${randomUUID()}`;
  let node: TestNode | undefined;
  afterEach(async () => {
    await node?.close();
    node = undefined;
    await dropPrefix(prefix);
  });

  /**
   * The node's next GATE_PUBLISH runs in Redis, then fails as a command timeout does after it
   * acted (the reply lost); `beforeFailing` runs in between. Counts the envelopes its subscriber
   * gets on its own channel, which is how the echo is seen arriving.
   */
  async function gateActsThenTimesOut(n: TestNode, beforeFailing: () => Promise<void>): Promise<{ echoes: () => number }> {
    // Loaded first, so the call is an EVALSHA (a NOSCRIPT retry would go through EVAL, unwatched).
    await n.redis.script('LOAD', GATE_PUBLISH.lua);
    let echoes = 0;
    n.sub.on('message', (channel: string) => {
      if (channel === redisNames(prefix).nodeChannel(n.nodeId)) echoes++;
    });
    const evalsha = n.redis.evalsha.bind(n.redis) as (...args: unknown[]) => Promise<unknown>;
    const spy = vi.spyOn(n.redis, 'evalsha') as unknown as { mockImplementation(f: (...args: unknown[]) => Promise<unknown>): void; mockRestore(): void };
    spy.mockImplementation(async (...args) => {
      if (args[0] !== GATE_PUBLISH.sha) return evalsha(...args);
      spy.mockRestore();
      await evalsha(...args);
      await beforeFailing();
      throw new Error('Command timed out');
    });
    return { echoes: () => echoes };
  }

  it('hands a message over once when its publisher falls back first and the envelope comes back after', async () => {
    node = await startNode(prefix, 'a');
    const n = node;
    const ua = u();
    await n.presence.add(ua);
    const seen = await gateActsThenTimesOut(n, async () => {});
    // Its predecessor never came here, so it takes the gate, addressed to this node too.
    const m = message(randomUUID(), 5, [ua]);
    await n.bus.publish(m);
    expect(n.events).toEqual([m]);
    await waitUntil(() => seen.echoes() === 1, 'the envelope to come back through Redis');
    await sleep(50);
    expect(n.events).toEqual([m]);
  });

  it('hands a message over once when the envelope comes back before its publisher falls back', async () => {
    node = await startNode(prefix, 'a');
    const n = node;
    const ua = u();
    await n.presence.add(ua);
    const seen = await gateActsThenTimesOut(n, async () => {
      await waitUntil(() => seen.echoes() === 1 && n.events.length === 1, 'the echo first');
    });
    const m = message(randomUUID(), 5, [ua]);
    await n.bus.publish(m);
    await n.bus.flush();
    expect(n.events).toEqual([m]);
  });
});
