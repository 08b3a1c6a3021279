/**
 * SOLO (bus/solo.ts): a node that is the only one registered hands every event to itself without
 * a word to Redis, and stops doing so, with its order gates brought up to date, before a node that
 * joins serves anyone.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BusEvent } from '../../src/bus/bus.js';
import { redisNames } from '../../src/bus/names.js';
import { RedisBus } from '../../src/bus/redis.js';
import { RedisPresence } from '../../src/presence/redis.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { busContract, collect, message } from '../contracts/bus.js';
import { connect, countWrites, dropPrefix } from '../support/redis.js';
import { needs } from '../support/services.js';

const LEASE_MS = 2000;

describe.runIf(await needs('redis'))('RedisBus alone (SOLO)', () => {
  let prefix = '';
  let names = redisNames();
  const closers: Array<() => Promise<void>> = [];
  const newPrefix = () => {
    prefix = `test:solo:${randomUUID()}`;
    names = redisNames(prefix);
  };
  newPrefix();
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await dropPrefix(prefix);
    newPrefix();
  });

  async function admin(): Promise<Redis> {
    const redis = await connect();
    closers.push(async () => void redis.disconnect());
    return redis;
  }

  /** A node whose bus may count itself alone; `said` collects its info logs. `registered` runs once presence.start() resolved. */
  async function node(nodeId: string, soloCheckMs = 50, registered: () => void = () => {}) {
    const redis = await connect();
    const presence = new RedisPresence({ redis, nodeId, prefix, leaseTtlMs: LEASE_MS, heartbeatMs: 200 });
    await presence.start();
    registered();
    const said: string[] = [];
    const log = { info: (_o: object, msg: string) => void said.push(msg), warn: () => {} };
    const duplicate = vi.spyOn(redis, 'duplicate');
    const bus = new RedisBus({ pub: redis, locate: (userIds) => presence.nodesHolding(userIds), solo: presence, soloCheckMs, nodeId, prefix, orderWaitMs: 300, log });
    const sub = duplicate.mock.results[0]!.value as Redis;
    duplicate.mockRestore();
    await bus.start();
    const events = collect(bus);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await presence.close();
      await bus.close();
      await redis.quit();
    };
    closers.push(close);
    return { nodeId, redis, sub, presence, bus, events, said, close };
  }

  const alone = (n: { bus: RedisBus }) => waitUntil(() => n.bus.solo, 'the node to count itself alone', 3000);
  const seq = (redis: Redis, conversationId: string) => redis.get(names.conversationSeq(conversationId));
  const texts = (events: BusEvent[]) => events.map((e) => (e.type === 'message' ? `m${e.messageId}` : 'd'));

  busContract('RedisBus, a node alone', async () => {
    const n = await node('n1');
    await alone(n);
    return {
      bus: n.bus,
      nodeId: n.nodeId,
      hold: async (userIds) => {
        for (const id of userIds) await n.presence.add(id);
      },
      close: n.close,
    };
  });

  it('hands every event to itself without a write to Redis, and leaves the order gate alone', async () => {
    const a = await node('a');
    await alone(a);
    const ua = `u-${randomUUID()}`;
    await a.presence.add(ua);
    const c = randomUUID();
    const writes = countWrites(a.redis, [ua, c]);
    closers.push(async () => writes.restore());
    await a.bus.publish(message(c, 1, [ua], { nodeId: 'a' }));
    await a.bus.publish(message(c, 2, [ua], { nodeId: 'a' }));
    await a.bus.publish({ type: 'deliver', userIds: [ua], text: 't', method: 'TYPING' });
    // A message whose predecessor this node never saw: no other node can have it on its way.
    await a.bus.publish(message(c, 5, [ua], { nodeId: 'a' }));
    expect(texts(a.events)).toEqual(['m1', 'm2', 'd', 'm5']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(writes.count()).toBe(0);
    expect(await seq(await admin(), c)).toBeNull();
  });

  it('a node that joins starts serving only after the node alone stopped and brought its gates up to date', async () => {
    const a = await node('a');
    await alone(a);
    const ua = `u-${randomUUID()}`;
    await a.presence.add(ua);
    const c = randomUUID();
    for (const id of [1, 2, 3]) await a.bus.publish(message(c, id, [ua], { nodeId: 'a' }));
    const r = await admin();
    expect(await seq(r, c)).toBeNull();

    // presence.start() resolves once the claim is gone, so b serves nobody before.
    let atStart: { solo: boolean; said: string[] } | null = null;
    const b = await node('b', 50, () => (atStart = { solo: a.bus.solo, said: [...a.said] }));
    expect(atStart).toEqual({ solo: false, said: expect.arrayContaining(['bus: another node joined, routing through redis']) });
    expect(await r.get(names.solo)).toBeNull();
    expect(await seq(r, c)).toBe('3');

    // a routes to b's users again, and b's next message of that conversation is not held.
    const ub = `u-${randomUUID()}`;
    await b.presence.add(ub);
    await a.bus.publish({ type: 'deliver', userIds: [ub], text: 'for b', method: 'TYPING' });
    await waitUntil(() => b.events.length === 1, 'the deliver on b');
    const started = Date.now();
    await b.bus.publish(message(c, 4, [ua, ub], { nodeId: 'b' }, true));
    await waitUntil(() => a.events.length === 4 && b.events.length === 2, 'm4 on both nodes');
    expect(Date.now() - started).toBeLessThan(250);
    expect(texts(a.events)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(b.bus.solo).toBe(false);
  });

  it("while alone its users' arrivals and online questions cost Redis nothing; a node that joins finds them online", async () => {
    const a = await node('a');
    await alone(a);
    const [ua, ub] = [`u-${randomUUID()}`, `u-${randomUUID()}`];
    const writes = countWrites(a.redis, [ua, ub]);
    closers.push(async () => writes.restore());
    expect(await a.presence.add(ua)).toBe(true);
    expect(await a.presence.add(ua)).toBe(false);
    expect(await a.presence.online([ua, ub])).toEqual(new Set([ua]));
    expect(writes.count()).toBe(0);
    // A departure still goes to Redis.
    expect(await a.presence.add(ub)).toBe(true);
    expect(await a.presence.remove(ub)).toBe(true);
    expect(writes.count()).toBe(1);

    // b's start waited for a's claim to go, which a dropped once its users were in Redis.
    const b = await node('b');
    expect(await b.presence.online([ua, ub])).toEqual(new Set([ua]));
    // And the other way: b's users are in Redis for a, which asks it again.
    const uc = `u-${randomUUID()}`;
    await b.presence.add(uc);
    expect(await a.presence.online([ua, uc])).toEqual(new Set([ua, uc]));
  });

  it('counts itself alone again once the other node left, and not while it is registered', async () => {
    const a = await node('a');
    const b = await node('b');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(a.bus.solo || b.bus.solo).toBe(false);
    await b.close();
    await alone(a);
  });

  it('a dropped subscriber ends it; a new barrier after the subscription is back starts it again', async () => {
    const a = await node('a');
    await alone(a);
    const r = await admin();
    const id = await a.sub.client('ID');
    const dropped = once(a.sub, 'close');
    await r.client('KILL', 'ID', String(id));
    await dropped;
    expect(a.bus.solo).toBe(false);
    await alone(a);
    expect(a.said.filter((s) => s === 'bus: the only node, routing nothing through redis')).toHaveLength(2);
  });

  it('an announcement ends it at once, and a barrier of an ended claim does not count', async () => {
    // One claim, at the subscription: no renewal during the test.
    const a = await node('a', 60_000);
    await alone(a);
    const r = await admin();
    const holder = await r.get(names.solo);
    expect(holder).toMatch(/^a /);
    await r.publish(names.nodesChannel, JSON.stringify({ joined: 'ghost' }));
    await waitUntil(() => !a.bus.solo, 'the end of solo');
    await waitUntil(async () => (await r.get(names.solo)) === null, 'the claim to be dropped', 1000);
    await r.publish(names.nodesChannel, JSON.stringify({ solo: 'a', holder }));
    // A fence: a's own announcement would not end anything; once this arrived, the barrier did.
    const ua = `u-${randomUUID()}`;
    await a.presence.add(ua);
    await r.publish(names.nodeChannel('a'), JSON.stringify({ node: 'x', type: 'deliver', userIds: [ua], text: 'fence', method: 'TYPING' }));
    await waitUntil(() => a.events.length === 1, 'the fence');
    expect(a.bus.solo).toBe(false);
  });

  it("a starting node waits for another node's claim to lapse, at most a lease; its own previous run's claim it drops", async () => {
    const r = await admin();
    await r.set(names.solo, 'ghost 1', 'PX', 400);
    const started = Date.now();
    const redis = await connect();
    closers.push(async () => void redis.disconnect());
    const presence = new RedisPresence({ redis, nodeId: 'n1', prefix, leaseTtlMs: LEASE_MS, heartbeatMs: 200 });
    closers.push(() => presence.close());
    await presence.start();
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(Date.now() - started).toBeLessThan(LEASE_MS);

    await r.set(names.solo, 'n2 old', 'PX', 60_000);
    const again = Date.now();
    const other = new RedisPresence({ redis, nodeId: 'n2', prefix, leaseTtlMs: LEASE_MS, heartbeatMs: 200 });
    closers.push(() => other.close());
    await other.start();
    expect(Date.now() - again).toBeLessThan(200);
    expect(await r.get(names.solo)).toBeNull();
  });
});
