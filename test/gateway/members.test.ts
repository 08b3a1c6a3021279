/**
 * The membership cache seen from the wire: members changed directly in the shared database (as
 * the main API may do) after a conversation's member list was cached. The database announces each
 * change (a trigger NOTIFYs, every node LISTENs), so the cache follows at once; the TTL is left at
 * its 60 s default here to show it is not what makes these pass.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { nodeForSuite, expectNone, freshUsers, waitFor } from './helpers.js';

for (const backend of await backends()) {
  describe(`gateway membership cache (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend);
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    it('a member added in SQL after the cache was filled can send at once, and every member receives it', async () => {
      const [a, b, late] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!]);
      const ca = await clients.online(a!);
      const cb = await clients.online(b!);
      // Fills the cache with [a, b].
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'before' }, 'MESSAGE_SENT');
      await t.db.query('INSERT INTO users_conversations (user_id, conversation_id, seen) VALUES ($1, $2, false)', [late, conv]);
      const cl = await clients.online(late!);
      // Sent at once, possibly before the change notification: the author's miss re-reads the list.
      const ack = await cl.request('SEND_MESSAGE', { conversationId: conv, content: 'I was just added' }, 'MESSAGE_SENT');
      expect(ack.method).toBe('MESSAGE_SENT');
      expect(ack.data.message.author).toBe(late);
      for (const other of [ca, cb]) expect((await waitFor(other, 'MESSAGE_SENT', (d) => d.message.author === late)).data.message).toEqual(ack.data.message);
      // The re-read list now holds the new member, so it receives the others' messages.
      const next = await cb.request('SEND_MESSAGE', { conversationId: conv, content: 'welcome' }, 'MESSAGE_SENT');
      expect((await waitFor(cl, 'MESSAGE_SENT', (d) => d.message.content === 'welcome')).data.message).toEqual(next.data.message);
    });

    it('a member added in SQL receives the others\u2019 messages at once, without sending first', async () => {
      const [a, b, late] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!]);
      const ca = await clients.online(a!);
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'cached' }, 'MESSAGE_SENT');
      await t.db.query('INSERT INTO users_conversations (user_id, conversation_id, seen) VALUES ($1, $2, false)', [late, conv]);
      const cl = await clients.online(late!);
      // No wait for the change notification: a message goes to the members it was stored with.
      const ack = await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'welcome aboard' }, 'MESSAGE_SENT');
      expect((await waitFor(cl, 'MESSAGE_SENT', (d) => d.message.content === 'welcome aboard')).data.message).toEqual(ack.data.message);
      const page = await cl.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES');
      expect(page.data.messages.map((m: any) => m.content)).toEqual(['cached', 'welcome aboard']);
    });

    it('a member removed in SQL is refused and stops receiving at once', async () => {
      const [a, b] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [a!, b!]);
      const ca = await clients.online(a!);
      const cb = await clients.online(b!);
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'both here' }, 'MESSAGE_SENT');
      await t.db.query('DELETE FROM users_conversations WHERE user_id = $1 AND conversation_id = $2', [b, conv]);
      // The store checks membership under the conversation's lock, so even a stale cache cannot let b write.
      const refused = await cb.request('SEND_MESSAGE', { conversationId: conv, content: 'still here?' }, 'MESSAGE_SENT');
      expect(refused.data).toMatchObject({ code: 'NOT_FOUND', method: 'SEND_MESSAGE' });
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'b is gone' }, 'MESSAGE_SENT');
      await expectNone(cb, 'MESSAGE_SENT', (f) => f.data.message.content === 'b is gone');
    });
  });
}
