/**
 * The membership cache seen from the wire: members changed directly in the shared database (as
 * the main API may do) after a conversation's member list was cached. The author's side re-reads
 * on a miss; the recipients' side is covered by MEMBERS_CACHE_TTL_MS, short on this node.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { createGroup } from '../support/fixtures.js';
import { Clients, expectNone, freshUsers, sleep, waitFor } from './helpers.js';

/** Short, so the tests can wait it out. */
const TTL_MS = 1500;

for (const backend of await backends()) {
  describe(`gateway membership cache (${backend.name})`, () => {
    let t: BackendNode;
    const clients = new Clients(() => t);

    beforeAll(async () => {
      t = await backend.start({ MEMBERS_CACHE_TTL_MS: String(TTL_MS) });
    });
    afterEach(() => clients.closeAll());
    afterAll(async () => {
      await clients.closeAll();
      await t?.close();
    });

    it('a member added in SQL after the cache was filled can send at once, and every member receives it', async () => {
      const [a, b, late] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!]);
      const ca = await clients.online(a!);
      const cb = await clients.online(b!);
      const started = Date.now();
      // Fills the cache with [a, b].
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'before' }, 'MESSAGE_SENT');
      await t.db.query('INSERT INTO users_conversations (user_id, conversation_id, seen) VALUES ($1, $2, false)', [late, conv]);
      const cl = await clients.online(late!);
      const ack = await cl.request('SEND_MESSAGE', { conversationId: conv, content: 'I was just added' }, 'MESSAGE_SENT');
      // Only meaningful while the cached list is still fresh: the author's miss re-read it.
      expect(Date.now() - started).toBeLessThan(TTL_MS);
      expect(ack.method).toBe('MESSAGE_SENT');
      expect(ack.data.message.author).toBe(late);
      for (const other of [ca, cb]) expect((await waitFor(other, 'MESSAGE_SENT', (d) => d.message.author === late)).data.message).toEqual(ack.data.message);
      // The re-read list now holds the new member, so it receives the others' messages.
      const next = await cb.request('SEND_MESSAGE', { conversationId: conv, content: 'welcome' }, 'MESSAGE_SENT');
      expect((await waitFor(cl, 'MESSAGE_SENT', (d) => d.message.content === 'welcome')).data.message).toEqual(next.data.message);
    });

    // What the TTL covers: a member added directly in the database (not through this service)
    // starts receiving others' messages once the cached list expires, at most MEMBERS_CACHE_TTL_MS
    // later (or at once, when they send or fetch themselves). Messages sent in between reach them
    // through FETCH_MESSAGES or missedMessages, never lost.
    it('a member added in SQL receives the others\u2019 messages once MEMBERS_CACHE_TTL_MS has passed', async () => {
      const [a, b, late] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!]);
      const ca = await clients.online(a!);
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'cached' }, 'MESSAGE_SENT');
      await t.db.query('INSERT INTO users_conversations (user_id, conversation_id, seen) VALUES ($1, $2, false)', [late, conv]);
      const cl = await clients.online(late!);
      await sleep(TTL_MS + 100);
      const ack = await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'after the ttl' }, 'MESSAGE_SENT');
      expect((await waitFor(cl, 'MESSAGE_SENT', (d) => d.message.content === 'after the ttl')).data.message).toEqual(ack.data.message);
      const page = await cl.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES');
      expect(page.data.messages.map((m: any) => m.content)).toEqual(['cached', 'after the ttl']);
    });

    it('a member removed in SQL is refused once the cached list is re-read', async () => {
      const [a, b] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [a!, b!]);
      const ca = await clients.online(a!);
      const cb = await clients.online(b!);
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'both here' }, 'MESSAGE_SENT');
      await t.db.query('DELETE FROM users_conversations WHERE user_id = $1 AND conversation_id = $2', [b, conv]);
      // The store checks membership under the conversation's lock, so even a stale cache cannot let b write.
      const refused = await cb.request('SEND_MESSAGE', { conversationId: conv, content: 'still here?' }, 'MESSAGE_SENT');
      expect(refused.data).toMatchObject({ code: 'NOT_FOUND', method: 'SEND_MESSAGE' });
      await sleep(TTL_MS + 100);
      await ca.request('SEND_MESSAGE', { conversationId: conv, content: 'b is gone' }, 'MESSAGE_SENT');
      await expectNone(cb, 'MESSAGE_SENT', (f) => f.data.message.content === 'b is gone', 300);
    });
  });
}
