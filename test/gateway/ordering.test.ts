/**
 * Spec §2.3: messages of one conversation reach every member in the order they were stored, even
 * when several members send at once. On PostgreSQL the node's pool has several connections, so
 * stores of one conversation can run concurrently: this is where an ordering bug would show.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { Clients, freshUsers, received, receivedAtLeast } from './helpers.js';

const SENDERS = 4;
const EACH = 50;

for (const backend of await backends()) {
  describe(`gateway ordering (${backend.name})`, () => {
    let t: BackendNode;
    const clients = new Clients(() => t);

    beforeAll(async () => {
      // Burst and rate large enough that the senders are never limited. On PostgreSQL the harness's
      // pool holds 10 connections (test/support/node.ts).
      t = await backend.start({ RATE_LIMIT_BURST: '1000', RATE_LIMIT_PER_SEC: '1000' });
    });
    afterEach(() => clients.closeAll());
    afterAll(async () => {
      await clients.closeAll();
      await t?.close();
    });

    it(`${SENDERS} members sending ${EACH} messages each at once: every connection gets all of them in stored order`, async () => {
      const users = await freshUsers(t, SENDERS + 1); // the last one only listens
      const conv = await createGroup(t.db, users);
      const senders = await Promise.all(users.slice(0, SENDERS).map((u) => clients.online(u)));
      const listeners = [...senders, await clients.online(users[SENDERS]!), await clients.online(users[0]!)];
      const total = SENDERS * EACH;

      // Interleave the senders frame by frame so their requests reach the server together.
      for (let i = 0; i < EACH; i++) {
        for (const [s, client] of senders.entries()) {
          client.send('SEND_MESSAGE', { conversationId: conv, content: `s${s} #${i}`, clientMessageId: `o-${s}-${i}`, requestId: `q-${s}-${i}` });
        }
      }

      const streams = await Promise.all(listeners.map((c) => receivedAtLeast(c, 'MESSAGE_SENT', total, undefined, 30_000)));
      const stored = await fetchAll(senders[0]!, conv);
      expect(stored).toHaveLength(total);
      const storedIds = stored.map((m) => m.id);
      for (const [n, stream] of streams.entries()) {
        const ids = stream.map((f) => f.data.message.id as string);
        expect(ids, `listener ${n}`).toEqual(storedIds);
        for (let i = 1; i < ids.length; i++) expect(BigInt(ids[i]!) > BigInt(ids[i - 1]!)).toBe(true);
      }
      // Each sender's own messages keep its sending order, and only its own copies carry requestIds.
      for (const [s, client] of senders.entries()) {
        const mine = stored.filter((m) => m.author === users[s]).map((m) => m.clientMessageId);
        expect(mine).toEqual(Array.from({ length: EACH }, (_, i) => `o-${s}-${i}`));
        const withRequestId = received(client, 'MESSAGE_SENT', (d) => d.requestId !== undefined);
        expect(withRequestId.map((f) => f.data.requestId)).toEqual(Array.from({ length: EACH }, (_, i) => `q-${s}-${i}`));
        expect(withRequestId.every((f) => f.data.message.author === users[s])).toBe(true);
      }
      expect(received(listeners[SENDERS]!, 'MESSAGE_SENT', (d) => d.requestId !== undefined)).toEqual([]);
      expect(listeners.flatMap((c) => received(c, 'ERROR'))).toEqual([]);
    });
  });
}

/** Every message of the conversation through FETCH_MESSAGES pages, oldest first. */
async function fetchAll(client: Awaited<ReturnType<Clients['online']>>, conversationId: string): Promise<Array<Record<string, any>>> {
  const all: Array<Record<string, any>> = [];
  let before: string | undefined;
  for (;;) {
    const page = await client.request('FETCH_MESSAGES', { conversationId, limit: 100, ...(before === undefined ? {} : { before }) }, 'MESSAGES');
    expect(page.method).toBe('MESSAGES');
    all.unshift(...page.data.messages);
    if (!page.data.hasMore) return all;
    before = page.data.messages[0].id;
  }
}
