/**
 * A node that refuses sends for now (UNAVAILABLE: its send queue is full, nothing stored): the
 * client writes each refused send again after a delay, with its clientMessageId, until it is
 * stored, so the app sees every send resolve and each message is stored once. And a node with a
 * smaller MAX_FRAME_BYTES than the client's: the frame it closed on (1009) fails instead of being
 * written again.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { befriend } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { freshUsers } from '../gateway/helpers.js';
import { Clients, NODE_START_MS, startTestNode } from './support.js';

describe('MassengerClient when the node refuses sends', () => {
  let t: TestNode;
  const clients = new Clients();
  beforeAll(async () => {
    t = await startTestNode({ SEND_QUEUE_MAX: '1', MAX_FRAME_BYTES: '2048' });
  }, NODE_START_MS);
  afterEach(() => clients.closeAll());
  afterAll(async () => {
    clients.closeAll();
    await t?.close();
  });

  async function refusals(): Promise<number> {
    const text = await (await fetch(`${t.http}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('massenger_errors_total') && l.includes('code="UNAVAILABLE"'));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  it('fails the send the node closed on with 1009, reconnects, and sends what fits', async () => {
    const [alice, bob] = await freshUsers(t, 2, 'toobig');
    const conversationId = await befriend(t.db, alice!, bob!);
    const { client, rec } = clients.make({ url: t.ws, token: () => t.token(alice!) });
    await client.connect();
    // 3000 characters fit the contract (4000) and the client's 64 KiB, not this node's 2 KiB frames.
    await expect(client.send(conversationId, 'x'.repeat(3000))).rejects.toMatchObject({ code: 'INVALID_DATA', message: expect.stringMatching(/1009/) });
    expect(await rec.waitFor('state', (s) => s.state === 'reconnecting')).toMatchObject({ code: 1009 });
    expect((await client.send(conversationId, 'this fits')).content).toBe('this fits');
    expect(client.pendingSends).toBe(0);
  });

  it('writes sends refused with UNAVAILABLE again until stored: all resolve, each stored once', async () => {
    const users = await freshUsers(t, 4, 'overload');
    const conversations = await Promise.all(users.slice(1).map((u) => befriend(t.db, users[0]!, u)));
    const senders = users.slice(1).map((u) => clients.make({ url: t.ws, token: () => t.token(u) }));
    await Promise.all(senders.map((s) => s.client.connect()));
    const before = await refusals();
    // Three connections, twenty sends each, at once: far more than a queue of one holds.
    const sends = senders.flatMap((s, i) => Array.from({ length: 20 }, (_, n) => s.client.send(conversations[i]!, `load ${i}.${n}`)));
    const stored = await Promise.all(sends);
    expect(await refusals()).toBeGreaterThan(before);
    const { rows } = await t.db.query<{ n: string; distinct_ids: string }>(
      'SELECT count(*) AS n, count(DISTINCT client_message_id) AS distinct_ids FROM messages WHERE client_message_id = ANY($1)',
      [stored.map((m) => m.clientMessageId)],
    );
    expect(rows[0]).toEqual({ n: '60', distinct_ids: '60' });
    expect(senders.every((s) => s.client.pendingSends === 0)).toBe(true);
  });
});
