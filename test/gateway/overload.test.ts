/**
 * Overload is explicit (send-pipeline.ts): when more sends wait than SEND_QUEUE_MAX, the extra
 * ones are answered at once with UNAVAILABLE and nothing of them is stored; every SEND_MESSAGE
 * gets an answer, and exactly the acknowledged messages are in the database.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { Clients, freshUsers, received } from './helpers.js';

const SENDERS = 12;
const EACH = 20;

for (const backend of await backends()) {
  describe(`gateway overload (${backend.name})`, () => {
    let t: BackendNode;
    const clients = new Clients(() => t);

    beforeAll(async () => {
      // A queue of 2 behind the batch being committed: 12 connections sending at once overflow it.
      t = await backend.start({ SEND_QUEUE_MAX: '2', RATE_LIMIT_BURST: '1000', RATE_LIMIT_PER_SEC: '1000' });
    });
    afterEach(() => clients.closeAll());
    afterAll(async () => {
      await clients.closeAll();
      await t?.close();
    });

    it('answers every send, refuses the overflow with UNAVAILABLE, and stores exactly what it acknowledged', async () => {
      const users = await freshUsers(t, SENDERS);
      const conv = await createGroup(t.db, users);
      const senders = await Promise.all(users.map((u) => clients.online(u)));
      for (let i = 0; i < EACH; i++) {
        for (const [s, client] of senders.entries()) {
          client.send('SEND_MESSAGE', { conversationId: conv, content: `s${s} #${i}`, clientMessageId: `ov-${s}-${i}`, requestId: `r-${s}-${i}` });
        }
      }
      // Every request is answered: its own MESSAGE_SENT (with its requestId) or an ERROR naming it.
      const answered = (client: (typeof senders)[number]) =>
        received(client, 'MESSAGE_SENT', (d) => d.requestId !== undefined).length + received(client, 'ERROR').length;
      await waitUntil(() => senders.every((c) => answered(c) === EACH), 'an answer to every SEND_MESSAGE', 30_000);

      const acked = senders.flatMap((c) => received(c, 'MESSAGE_SENT', (d) => d.requestId !== undefined).map((f) => f.data.message.clientMessageId as string));
      const refused = senders.flatMap((c) => received(c, 'ERROR'));
      expect(refused.length).toBeGreaterThan(0);
      for (const f of refused) expect(f.data).toMatchObject({ code: 'UNAVAILABLE', method: 'SEND_MESSAGE' });
      expect(acked.length + refused.length).toBe(SENDERS * EACH);

      const { rows } = await t.db.query<{ client_message_id: string }>('SELECT client_message_id FROM messages WHERE conversation_id = $1::bigint', [conv]);
      expect(rows.map((r) => r.client_message_id).sort()).toEqual([...acked].sort());

      // A refused send, sent again with the same clientMessageId, is stored once.
      const retry = refused[0]!.data.clientMessageId as string;
      const [s] = retry.slice(3).split('-');
      const again = await senders[Number(s)]!.request('SEND_MESSAGE', { conversationId: conv, content: 'again', clientMessageId: retry }, 'MESSAGE_SENT');
      expect(again.data.message.clientMessageId).toBe(retry);
    });
  });
}
