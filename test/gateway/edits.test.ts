/**
 * EDIT_MESSAGE and DELETE_MESSAGE over the wire (spec §2.1-§2.3, issue 8): every connection of
 * every member hears each change once, after the message's MESSAGE_SENT, with requestId on the
 * sender's copy only; refusals come in the contract's order and change nothing; tombstones stay in
 * history; reconnect recovery carries the changes. What must not arrive is proven with a fence: a
 * PING answered after the change was handed to every socket (one node: the bus is synchronous).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import type { TestClient } from '../support/client.js';
import { befriend, createGroup } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { expectAlive, freshUsers, nodeForSuite, received, waitFor } from './helpers.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Answers once every frame written to this connection before it has arrived. */
const fence = (client: TestClient) => expectAlive(client);

for (const backend of await backends()) {
  describe(`gateway edits and deletes (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend);
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    /** a (two devices) and b in a conversation; x, online, in none of it. */
    async function group() {
      const [a, b, x] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!]);
      return { a: a!, b: b!, x: x!, conv, a1: await clients.online(a!), a2: await clients.online(a!), b1: await clients.online(b!), x1: await clients.online(x!) };
    }

    async function send(client: TestClient, conversationId: string, content: string, extra: Record<string, unknown> = {}) {
      const reply = await client.request('SEND_MESSAGE', { conversationId, content, ...extra }, 'MESSAGE_SENT');
      expect(reply.method, JSON.stringify(reply.data)).toBe('MESSAGE_SENT');
      return reply.data.message;
    }

    const errorOf = async (client: TestClient, method: string, data: Record<string, unknown>) => {
      const reply = await client.request(method, data, method === 'EDIT_MESSAGE' ? 'MESSAGE_EDITED' : 'MESSAGE_DELETED');
      expect(reply.method, JSON.stringify(reply.data)).toBe('ERROR');
      expect(reply.data).toMatchObject({ method, requestId: expect.any(String) });
      return reply.data.code;
    };

    it('EDIT_MESSAGE reaches every connection of every member once, after MESSAGE_SENT; requestId only on the sender\u2019s copy', async () => {
      const { conv, a1, a2, b1, x1 } = await group();
      const m = await send(a1, conv, 'original');
      const reply = await a1.request('EDIT_MESSAGE', { messageId: m.id, content: 'edited \u{1F600}' }, 'MESSAGE_EDITED');
      expect(reply.method).toBe('MESSAGE_EDITED');
      const edited = reply.data.message;
      expect(reply.data).toEqual({ message: { ...m, content: 'edited \u{1F600}', updatedAt: expect.stringMatching(ISO) }, requestId: expect.any(String) });
      expect(Date.parse(edited.updatedAt)).toBeGreaterThan(Date.parse(m.updatedAt));
      for (const other of [a2, b1]) {
        const copy = await waitFor(other, 'MESSAGE_EDITED');
        expect(copy.data).toEqual({ message: edited });
        const order = other.frames.map((f) => f.method).filter((x) => x === 'MESSAGE_SENT' || x === 'MESSAGE_EDITED');
        expect(order).toEqual(['MESSAGE_SENT', 'MESSAGE_EDITED']);
      }
      for (const c of [a1, a2, b1, x1]) await fence(c);
      expect(received(a1, 'MESSAGE_EDITED')).toHaveLength(1);
      expect(received(a2, 'MESSAGE_EDITED')).toHaveLength(1);
      expect(received(b1, 'MESSAGE_EDITED')).toHaveLength(1);
      expect(received(x1, 'MESSAGE_EDITED')).toEqual([]);
      const page = await b1.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES');
      expect(page.data.messages).toEqual([edited]);
    });

    it('content rules apply to edits: INVALID_DATA naming the request, and nothing changes', async () => {
      const { conv, a1, b1 } = await group();
      const m = await send(a1, conv, 'keep me');
      for (const content of ['', '  \n\t ', 'x'.repeat(4001), 42, null, 'nul\u0000here', 'lone \uD800']) {
        expect(await errorOf(a1, 'EDIT_MESSAGE', { messageId: m.id, content }), JSON.stringify(content)).toBe('INVALID_DATA');
      }
      expect(await errorOf(a1, 'EDIT_MESSAGE', { content: 'no id' })).toBe('INVALID_DATA');
      expect(await errorOf(a1, 'EDIT_MESSAGE', { messageId: 'abc', content: 'x' })).toBe('INVALID_DATA');
      expect(await errorOf(a1, 'DELETE_MESSAGE', { messageId: -1 })).toBe('INVALID_DATA');
      // 4000 characters are 4000 code points: emoji count once.
      const long = await a1.request('EDIT_MESSAGE', { messageId: m.id, content: '\u{1F600}'.repeat(4000) }, 'MESSAGE_EDITED');
      expect(long.method).toBe('MESSAGE_EDITED');
      await fence(b1);
      expect(received(b1, 'MESSAGE_EDITED')).toHaveLength(1);
    });

    it('refuses in the contract\u2019s order: INVALID_DATA, then NOT_FOUND (stranger, unknown, deleted), then FORBIDDEN (another member)', async () => {
      const { conv, a1, b1, x1 } = await group();
      const m = await send(a1, conv, 'only a may change this');
      expect(await errorOf(x1, 'EDIT_MESSAGE', { messageId: m.id, content: '' })).toBe('INVALID_DATA');
      expect(await errorOf(b1, 'EDIT_MESSAGE', { messageId: m.id, content: '' })).toBe('INVALID_DATA');
      expect(await errorOf(x1, 'EDIT_MESSAGE', { messageId: m.id, content: 'x' })).toBe('NOT_FOUND');
      expect(await errorOf(x1, 'DELETE_MESSAGE', { messageId: m.id })).toBe('NOT_FOUND');
      expect(await errorOf(a1, 'EDIT_MESSAGE', { messageId: '9223372036854775807', content: 'x' })).toBe('NOT_FOUND');
      expect(await errorOf(b1, 'EDIT_MESSAGE', { messageId: m.id, content: 'x' })).toBe('FORBIDDEN');
      expect(await errorOf(b1, 'DELETE_MESSAGE', { messageId: m.id })).toBe('FORBIDDEN');
      await a1.request('DELETE_MESSAGE', { messageId: m.id }, 'MESSAGE_DELETED');
      expect(await errorOf(a1, 'EDIT_MESSAGE', { messageId: m.id, content: 'x' })).toBe('NOT_FOUND');
      expect(await errorOf(b1, 'EDIT_MESSAGE', { messageId: m.id, content: 'x' })).toBe('NOT_FOUND');
      expect(await errorOf(b1, 'DELETE_MESSAGE', { messageId: m.id })).toBe('FORBIDDEN');
      const page = await a1.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES');
      expect(page.data.messages.map((x: any) => x.content)).toEqual(['']);
    });

    it('DELETE_MESSAGE: a tombstone for everyone, kept in history and lastMessage; deleting again answers that request alone', async () => {
      const { a, conv, a1, a2, b1, x1 } = await group();
      const m = await send(a1, conv, 'regrettable', { clientMessageId: `cm-${conv}` });
      const reply = await a1.request('DELETE_MESSAGE', { messageId: m.id }, 'MESSAGE_DELETED');
      const tomb = reply.data.message;
      expect(reply.data).toEqual({ message: { ...m, content: '', updatedAt: expect.stringMatching(ISO), deletedAt: expect.stringMatching(ISO) }, requestId: expect.any(String) });
      expect(tomb.deletedAt).toBe(tomb.updatedAt);
      expect(tomb.clientMessageId).toBe(`cm-${conv}`);
      for (const other of [a2, b1]) expect((await waitFor(other, 'MESSAGE_DELETED')).data).toEqual({ message: tomb });
      // Again, from another device: that request is answered with the same tombstone, no one else hears.
      const again = await a2.request('DELETE_MESSAGE', { messageId: m.id }, 'MESSAGE_DELETED');
      expect(again.data).toEqual({ message: tomb, requestId: expect.any(String) });
      for (const c of [a1, a2, b1, x1]) await fence(c);
      expect(received(a1, 'MESSAGE_DELETED')).toHaveLength(1);
      expect(received(a2, 'MESSAGE_DELETED')).toHaveLength(2);
      expect(received(b1, 'MESSAGE_DELETED')).toHaveLength(1);
      expect(received(x1, 'MESSAGE_DELETED')).toEqual([]);
      expect((await b1.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES')).data.messages).toEqual([tomb]);
      const { init } = await clients.signIn(a);
      expect(init.conversations.find((c: any) => c.id === conv).lastMessage).toEqual(tomb);
      const { rows } = await t.db.query<{ content: string }>('SELECT content FROM messages WHERE id = $1', [m.id]);
      expect(rows).toEqual([{ content: '' }]);
    });

    it('every edit and the delete give a later updatedAt, even sent back to back', async () => {
      const { conv, a1, b1 } = await group();
      const m = await send(a1, conv, 'v0');
      for (let i = 1; i <= 5; i++) a1.send('EDIT_MESSAGE', { messageId: m.id, content: `v${i}`, requestId: `e${i}` });
      a1.send('DELETE_MESSAGE', { messageId: m.id, requestId: 'd' });
      await waitUntil(() => received(b1, 'MESSAGE_DELETED').length === 1, 'the delete');
      const versions = b1.frames.filter((f) => f.method === 'MESSAGE_EDITED' || f.method === 'MESSAGE_DELETED').map((f) => f.data.message);
      expect(versions.map((v) => v.content)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', '']);
      const times = [m.updatedAt, ...versions.map((v) => v.updatedAt)].map((x) => Date.parse(x));
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]!);
    });

    it('reconnecting with lastMessageId: new messages, then older ones changed since, in their current state; recovered', async () => {
      const { b, conv, a1, b1 } = await group();
      const m1 = await send(a1, conv, 'one');
      const m2 = await send(a1, conv, 'two: the last b saw');
      await waitUntil(() => received(b1, 'MESSAGE_SENT').length === 2, 'b has both');
      b1.close();
      const m3 = await send(a1, conv, 'three');
      const e1 = (await a1.request('EDIT_MESSAGE', { messageId: m1.id, content: 'one, edited' }, 'MESSAGE_EDITED')).data.message;
      const d2 = (await a1.request('DELETE_MESSAGE', { messageId: m2.id }, 'MESSAGE_DELETED')).data.message;
      const e3 = (await a1.request('EDIT_MESSAGE', { messageId: m3.id, content: 'three, edited' }, 'MESSAGE_EDITED')).data.message;
      const { init } = await clients.signIn(b, { lastMessageId: m2.id });
      expect(init.missedMessages).toEqual([e3, e1, d2]);
      expect(init.recovered).toBe(true);
      const { init: fromStart } = await clients.signIn(b, { lastMessageId: '0' });
      expect(fromStart.missedMessages).toEqual([e1, d2, e3]);
    });

    it('more than 1000 messages changed since lastMessageId: the oldest 1000, and recovered false', async () => {
      const { a, b, conv, a1 } = await group();
      // Stored and edited directly, as the main API might: 1001 changes after the last message was stored.
      await t.db.query(
        `INSERT INTO messages (conversation_id, author_id, content, created_at, updated_at)
         SELECT $1::bigint, $2::bigint, 'bulk ' || g, now() - interval '1 minute', now() + interval '1 minute' FROM generate_series(1, 1001) AS g`,
        [conv, a],
      );
      const last = await send(a1, conv, 'the last one b saw');
      const { init } = await clients.signIn(b, { lastMessageId: last.id });
      expect(init.missedMessages).toHaveLength(1000);
      expect(init.missedMessages[0].content).toBe('bulk 1');
      expect(init.recovered).toBe(false);
    });

    it('INIT carries unreadCount and private', async () => {
      const [a, b] = await freshUsers(t, 2);
      const priv = await befriend(t.db, a!, b!);
      const grp = await createGroup(t.db, [a!, b!]);
      const b1 = await clients.online(b!);
      for (const content of ['1', '2', '3']) await send(b1, grp, content);
      const doomed = await send(b1, grp, 'deleted, so not unread');
      await b1.request('DELETE_MESSAGE', { messageId: doomed.id }, 'MESSAGE_DELETED');
      const { init } = await clients.signIn(a!);
      const byId = new Map<string, any>(init.conversations.map((c: any) => [c.id, c]));
      expect(byId.get(grp)).toMatchObject({ unread: true, unreadCount: 3, private: false });
      expect(byId.get(priv)).toMatchObject({ unread: false, unreadCount: 0, private: true });
    });
  });

  describe(`gateway edits and deletes are rate limited like sends (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend, { RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_STRIKES: '100' });

    it('a burst of EDIT_MESSAGE past the limit gets RATE_LIMITED naming the method', async () => {
      const [a, b] = await freshUsers(node(), 2);
      const conv = await createGroup(node().db, [a!, b!]);
      const a1 = await clients.online(a!);
      const { rows } = await node().db.query<{ id: string }>(
        "INSERT INTO messages (conversation_id, author_id, content) VALUES ($1, $2, 'x') RETURNING id",
        [conv, a],
      );
      const messageId = String(rows[0]!.id);
      for (let i = 0; i < 12; i++) a1.send('EDIT_MESSAGE', { messageId, content: `v${i}`, requestId: `e${i}` });
      await waitUntil(() => received(a1, 'MESSAGE_EDITED').length + received(a1, 'ERROR').length >= 12, 'an answer to every edit');
      const limited = received(a1, 'ERROR');
      expect(limited.length).toBeGreaterThanOrEqual(5);
      for (const e of limited) expect(e.data).toMatchObject({ code: 'RATE_LIMITED', method: 'EDIT_MESSAGE' });
    });
  });
}
