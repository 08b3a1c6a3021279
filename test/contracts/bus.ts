/**
 * The Bus contract (style §13): what every implementation guarantees to one node. Multi-node
 * behaviour (routing, cross-node order, outages) is tested in bus/redis.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusEvent } from '../../src/bus/bus.js';
import { waitUntil } from '../../scripts/support/wait.js';

export interface BusFixture {
  bus: Bus;
  nodeId: string;
  /** Makes this node hold the users, so events routed by presence reach it. */
  hold(userIds: string[]): Promise<void>;
  /** Closes the bus and everything the fixture opened. */
  close(): Promise<void>;
}

/**
 * Subscribes a handler that records every event but notifications, which it hands to
 * `notifications` if given. On Redis, NOTIFICATIONS is one channel for every node on the server
 * (spec): suites running at the same time publish there too, so a test that counts events must
 * not count those.
 */
export function collect(bus: Bus, notifications?: (raw: string) => void): BusEvent[] {
  const events: BusEvent[] = [];
  bus.subscribe((e) => {
    if (e.type !== 'notification') events.push(e);
    else notifications?.(e.raw);
  });
  return events;
}

export function message(conversationId: string, id: number, userIds: string[], origin: { nodeId: string } | null = null, prevInFlight = false) {
  return {
    type: 'message' as const,
    conversationId,
    messageId: String(id),
    prevId: id === 1 ? null : String(id - 1),
    prevInFlight,
    userIds,
    text: `{"method":"MESSAGE_SENT","data":{"message":{"id":"${id}"}}}`,
    origin: origin && { nodeId: origin.nodeId, connectionId: 'c1', text: `{"own":${id}}` },
  };
}

export function busContract(name: string, makeBus: () => Promise<BusFixture>): void {
  describe(`Bus contract: ${name}`, () => {
    let f: BusFixture | null = null;
    const open = async () => (f = await makeBus());
    afterEach(async () => {
      await f?.close();
      f = null;
    });

    it('hands a deliver event to the handler once, with its text unchanged', async () => {
      const { bus, hold } = await open();
      const events = collect(bus);
      const user = `u-${randomUUID()}`;
      await hold([user]);
      const text = '{"method":"USER_LEFT","data":{"userId":"7"}}';
      await bus.publish({ type: 'deliver', userIds: [user], text, method: 'USER_LEFT' });
      await waitUntil(() => events.length === 1, 'the event');
      // The port's own fence: once flush() resolves, nothing this node published is on its way.
      await bus.flush();
      expect(events).toEqual([{ type: 'deliver', userIds: [user], text, method: 'USER_LEFT' }]);
    });

    it('hands the messages of a conversation over in publish order', async () => {
      const { bus, hold } = await open();
      const events = collect(bus);
      const user = `u-${randomUUID()}`;
      await hold([user]);
      const conversationId = randomUUID();
      // Issued back to back without awaiting each, as the core's per-conversation tail does.
      await Promise.all(Array.from({ length: 30 }, (_, i) => bus.publish(message(conversationId, i + 1, [user]))));
      await waitUntil(() => events.length === 30, '30 messages');
      expect(events.map((e) => (e.type === 'message' ? Number(e.messageId) : -1))).toEqual(
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
    });

    it("reaches the sender's node even when it holds none of the members", async () => {
      const { bus, nodeId } = await open();
      const events = collect(bus);
      const event = message(randomUUID(), 1, [`u-${randomUUID()}`], { nodeId });
      await bus.publish(event);
      await waitUntil(() => events.length === 1, 'the message');
      expect(events[0]).toEqual(event);
    });

    it('answers ping, and closes twice without error', async () => {
      const { bus } = await open();
      await expect(bus.ping()).resolves.toBeUndefined();
      await bus.close();
      await bus.close();
    });
  });
}
