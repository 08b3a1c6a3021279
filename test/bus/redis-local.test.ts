/**
 * LOCAL EVENTS (bus/redis.ts): an event whose users are all on the publishing node is handed over
 * there without a PUBLISH, but never ahead of something that must come first: an envelope the node
 * sent itself through Redis, or a message's predecessor still on its way from another node.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusEvent } from '../../src/bus/bus.js';
import { redisNames } from '../../src/bus/names.js';
import { RedisBus } from '../../src/bus/redis.js';
import { RedisPresence } from '../../src/presence/redis.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { collect, message } from '../contracts/bus.js';
import { connect, countWrites as countRedisWrites, dropPrefix } from '../support/redis.js';
import { needs } from '../support/services.js';

const ids = (events: BusEvent[]) => events.map((e) => (e.type === 'message' ? `m${e.messageId}` : e.type === 'deliver' ? e.text : 'n'));

describe.runIf(await needs('redis'))('RedisBus local events', () => {
  const prefix = `test:local:${randomUUID()}`;
  const names = redisNames(prefix);
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await dropPrefix(prefix);
  });

  async function node(nodeId: string, orderWaitMs = 300) {
    const redis = await connect();
    const presence = new RedisPresence({ redis, nodeId, prefix });
    await presence.start();
    const bus = new RedisBus({ pub: redis, locate: (userIds) => presence.nodesHolding(userIds), nodeId, prefix, orderWaitMs });
    await bus.start();
    const events = collect(bus);
    closers.push(async () => {
      await presence.close();
      await bus.close();
      await redis.quit();
    });
    return { nodeId, redis, presence, bus, events };
  }

  /** countWrites (support/redis.ts), undone after the test. */
  function countWrites(redis: Redis, needles: string[]): () => number {
    const counter = countRedisWrites(redis, needles);
    closers.push(async () => counter.restore());
    return counter.count;
  }

  const seq = (redis: Redis, conversationId: string) => redis.get(names.conversationSeq(conversationId));

  /** Nodes a and b, with a user on each. */
  async function twoNodes() {
    const a = await node('a');
    const b = await node('b');
    const [ua, ub] = [`u-${randomUUID()}`, `u-${randomUUID()}`];
    await a.presence.add(ua);
    await b.presence.add(ub);
    return { a, b, ua, ub };
  }

  /** Every envelope published on a node's channel, seen by an outside subscriber. */
  async function watch(nodeId: string): Promise<string[]> {
    const spy = await connect();
    const seen: string[] = [];
    spy.on('message', (_channel: string, text: string) => seen.push(text));
    await spy.subscribe(names.nodeChannel(nodeId));
    closers.push(async () => void spy.disconnect());
    return seen;
  }

  it('hands over without a PUBLISH what only its own users need, and keeps the order gate current', async () => {
    const { a, b, ua, ub } = await twoNodes();
    const onA = await watch('a');
    const c = randomUUID();
    await a.bus.publish(message(c, 1, [ua], { nodeId: 'a' }));
    await a.bus.publish(message(c, 2, [ua], { nodeId: 'a' }));
    await a.bus.publish({ type: 'deliver', userIds: [ua], text: 't', method: 'TYPING' });
    expect(ids(a.events)).toEqual(['m1', 'm2', 't']);
    // A fence: an event for b goes through Redis; once it arrived, a's channel had its chance too.
    await a.bus.publish({ type: 'deliver', userIds: [ub], text: 'fence', method: 'TYPING' });
    await waitUntil(() => b.events.length === 1, 'the fence on b');
    expect(onA).toEqual([]);
    // The gate moved on: b's next message of that conversation (its user joined) is not held.
    const started = Date.now();
    await b.bus.publish(message(c, 3, [ua, ub], { nodeId: 'b' }));
    await waitUntil(() => a.events.length === 4 && b.events.length === 2, 'm3 on both nodes');
    expect(Date.now() - started).toBeLessThan(250);
    expect(ids(a.events)).toEqual(['m1', 'm2', 't', 'm3']);
  });

  it("sends a local message's gate advance in the write of the node's next look-up, or alone a moment later", async () => {
    const a = await node('a');
    const ua = `u-${randomUUID()}`;
    await a.presence.add(ua);
    const admin = await connect();
    closers.push(async () => void admin.disconnect());
    const [c1, c2] = [randomUUID(), randomUUID()];
    const writes = countWrites(a.redis, [ua, c1, c2]);
    await a.bus.publish(message(c1, 1, [ua], { nodeId: 'a' }));
    expect(writes()).toBe(1);
    // The next group commit comes in a later turn of the event loop (its database answer). Its
    // look-up takes c1's advance along: one write, one round trip.
    await new Promise((resolve) => setImmediate(resolve));
    await a.bus.publish(message(c2, 1, [ua], { nodeId: 'a' }));
    expect(writes()).toBe(2);
    expect(await seq(admin, c1)).toBe('1');
    // With nothing after it, c2's advance goes out by itself.
    await waitUntil(async () => (await seq(admin, c2)) === '1', "c2's advance", 1000);
    expect(writes()).toBe(3);
  });

  it('never hands over ahead of an envelope it sent itself that is still on its way', async () => {
    const { a, ua, ub } = await twoNodes();
    // The first goes through Redis (b needs it too); the second, for a's user alone, is published
    // right behind it: handed over directly it would arrive first.
    const first = a.bus.publish({ type: 'deliver', userIds: [ua, ub], text: 'through redis', method: 'TYPING' });
    const second = a.bus.publish({ type: 'deliver', userIds: [ua], text: 'local', method: 'TYPING' });
    await Promise.all([first, second]);
    await waitUntil(() => a.events.length === 2, 'both events', 3000);
    expect(ids(a.events)).toEqual(['through redis', 'local']);
    // Once the first is back, local events are handed over directly again.
    const onA = await watch('a');
    await a.bus.publish({ type: 'deliver', userIds: [ua], text: 'direct', method: 'TYPING' });
    expect(ids(a.events)).toEqual(['through redis', 'local', 'direct']);
    expect(onA).toEqual([]);
  });

  it('sends a message through the gate when its predecessor came from another node and has not arrived', async () => {
    const a = await node('a', 400);
    const b = await node('b', 400);
    const ua = `u-${randomUUID()}`;
    await a.presence.add(ua);
    const onA = await watch('a');
    const c = randomUUID();
    await a.bus.publish(message(c, 1, [ua], { nodeId: 'a' }));
    // 3's predecessor 2 is b's and still unpublished: 3 must wait for it, not be handed over.
    const third = a.bus.publish(message(c, 3, [ua], { nodeId: 'a' }));
    await b.bus.publish(message(c, 2, [ua], null));
    await third;
    await waitUntil(() => a.events.length === 3, 'three messages', 3000);
    expect(ids(a.events)).toEqual(['m1', 'm2', 'm3']);
    expect(onA.length).toBe(2);
  });

  it('LOCAL FIRST: hands a message to its own members before asking Redis where the others are, and the others still get it in order', async () => {
    const { a, b, ua, ub } = await twoNodes();
    const onA = await watch('a');
    const c = randomUUID();
    const admin = await connect();
    closers.push(async () => void admin.disconnect());
    // Redis answers nothing for 600 ms: the look-up waits, a's own members do not.
    await admin.call('CLIENT', 'PAUSE', '600', 'ALL');
    const paused = Date.now();
    const first = a.bus.publish(message(c, 1, [ua, ub], { nodeId: 'a' }));
    expect(ids(a.events)).toEqual(['m1']);
    await first;
    expect(Date.now() - paused).toBeGreaterThanOrEqual(500);
    await waitUntil(() => b.events.length === 1, 'm1 on b', 3000);
    // b stores the next one: it reaches a through Redis, after m1, and a's channel carried only it.
    await b.bus.publish(message(c, 2, [ua, ub], { nodeId: 'b' }));
    await waitUntil(() => a.events.length === 2 && b.events.length === 2, 'm2 on both nodes', 3000);
    expect(ids(a.events)).toEqual(['m1', 'm2']);
    expect(ids(b.events)).toEqual(['m1', 'm2']);
    expect(onA.length).toBe(1);
  });

  it('LOCAL FIRST: a message waits behind an event the node sent itself through Redis', async () => {
    const { a, b, ua, ub } = await twoNodes();
    const c = randomUUID();
    const first = a.bus.publish({ type: 'deliver', userIds: [ua, ub], text: 'through redis', method: 'MEMBERS_CHANGED' });
    const second = a.bus.publish(message(c, 1, [ua, ub], { nodeId: 'a' }));
    expect(a.events).toEqual([]);
    await Promise.all([first, second]);
    await waitUntil(() => a.events.length === 2 && b.events.length === 2, 'both events on both nodes', 3000);
    expect(ids(a.events)).toEqual(['through redis', 'm1']);
    expect(ids(b.events)).toEqual(['through redis', 'm1']);
    // Once it is back, the next message is handed over first again.
    void a.bus.publish(message(c, 2, [ua, ub], { nodeId: 'a' }));
    expect(ids(a.events)).toEqual(['through redis', 'm1', 'm2']);
  });

  it('flush() resolves once what the node sent itself through Redis has come back to it (shutdown, before 1001)', async () => {
    const { a, ua, ub } = await twoNodes();
    for (let i = 0; i < 20; i++) void a.bus.publish({ type: 'deliver', userIds: [ua, ub], text: `e${i}`, method: 'TYPING' });
    await a.bus.flush();
    expect(ids(a.events)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`));
  });
});
