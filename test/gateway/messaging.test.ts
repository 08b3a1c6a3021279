/**
 * The chat methods over the wire (spec §2.1, §2.3): SEND_MESSAGE fan-out and acks, content rules,
 * clientMessageId idempotency, NOT_FOUND for non-members, OPEN_CONVERSATION, TYPING,
 * FETCH_MESSAGES paging and PING. One node per backend; every test makes its own users.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import type { TestClient } from '../support/client.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { nodeForSuite, expectNone, freshUsers, received, receivedAtLeast, waitFor } from './helpers.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const DECIMAL = /^[1-9][0-9]*$/;

for (const backend of await backends()) {
  describe(`gateway messaging (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend);
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    async function storedCount(conversationId: string): Promise<number> {
      const { rows } = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM messages WHERE conversation_id = $1', [conversationId]);
      return Number(rows[0]!.n);
    }

    /** A conversation of two fresh users, each signed in. */
    async function pair(): Promise<{ a: string; b: string; conv: string; ca: TestClient; cb: TestClient }> {
      const [a, b] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [a!, b!]);
      return { a: a!, b: b!, conv, ca: await clients.online(a!), cb: await clients.online(b!) };
    }

    it("SEND_MESSAGE reaches every connection of every member, the sender's other devices included; only the sender's copy has requestId", async () => {
      const [a, b, c] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!]);
      const a1 = await clients.online(a!);
      const a2 = await clients.online(a!);
      const b1 = await clients.online(b!);
      const b2 = await clients.online(b!);
      const outsider = await clients.online(c!);

      a1.send('SEND_MESSAGE', { conversationId: conv, content: 'hello everyone', requestId: 'req-1' });
      const ack = await waitFor(a1, 'MESSAGE_SENT');
      expect(ack.data.requestId).toBe('req-1');
      const message = ack.data.message;
      expect(message).toEqual({
        id: expect.stringMatching(DECIMAL),
        conversationId: conv,
        author: a,
        content: 'hello everyone',
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        deletedAt: null,
        clientMessageId: null,
      });
      for (const other of [a2, b1, b2]) {
        const copy = await waitFor(other, 'MESSAGE_SENT');
        expect(copy.data).toEqual({ message });
      }
      await expectNone(outsider, 'MESSAGE_SENT');
      await a1.fence();
      expect(received(a1, 'MESSAGE_SENT')).toHaveLength(1);
    });

    it('accepts ids as JSON numbers and answers with decimal strings', async () => {
      const { a, conv, ca } = await pair();
      const ack = await ca.request('SEND_MESSAGE', { conversationId: Number(conv), content: 'numeric id' }, 'MESSAGE_SENT');
      expect(ack.data.message).toMatchObject({ conversationId: conv, author: a });
      expect(typeof ack.data.message.id).toBe('string');
      const page = await ca.request('FETCH_MESSAGES', { conversationId: Number(conv), before: Number(ack.data.message.id) + 1 }, 'MESSAGES');
      expect(page.data.conversationId).toBe(conv);
      expect(page.data.messages.map((m: any) => m.id)).toEqual([ack.data.message.id]);
    });

    it('stores content exactly as sent (unicode, emoji, white space around, 4000 characters)', async () => {
      const { conv, ca, cb } = await pair();
      const contents = [
        'plain',
        '  leading and trailing  \n',
        'emoji 😀👍🏽👨‍👩‍👧‍👦 and flags 🇫🇷',
        'Ünïcödé ñ 中文 العربية עברית',
        'quotes " \' and \\ backslash, <b>html</b> {"json": true}',
        'x'.repeat(4000),
        '😀'.repeat(4000), // 4000 characters, 8000 UTF-16 units
        'a\u0301', // combining mark stays decomposed
      ];
      const ids: string[] = [];
      for (const content of contents) {
        const ack = await ca.request('SEND_MESSAGE', { conversationId: conv, content }, 'MESSAGE_SENT');
        expect(ack.method).toBe('MESSAGE_SENT');
        expect(ack.data.message.content).toBe(content);
        ids.push(ack.data.message.id);
      }
      const got = await receivedAtLeast(cb, 'MESSAGE_SENT', contents.length);
      expect(got.map((f) => f.data.message.content)).toEqual(contents);
      const page = await ca.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES');
      expect(page.data.messages.map((m: any) => m.content)).toEqual(contents);
      const { rows } = await t.db.query<{ content: string }>('SELECT content FROM messages WHERE id = ANY($1::bigint[]) ORDER BY id', [ids]);
      expect(rows.map((r) => r.content)).toEqual(contents);
    });

    it('refuses bad content with INVALID_DATA carrying method, requestId and clientMessageId, and stores nothing', async () => {
      const { conv, ca, cb } = await pair();
      const bad: unknown[] = ['x'.repeat(4001), '😀'.repeat(4001), '', '   ', ' \n\t\u00a0\u2003 ', 42, null, { text: 'hi' }, ['hi'], true];
      for (const [i, content] of bad.entries()) {
        const reply = await ca.request('SEND_MESSAGE', { conversationId: conv, content, clientMessageId: `bad-${i}` }, 'MESSAGE_SENT');
        expect(reply.method, `content ${JSON.stringify(content)?.slice(0, 20)}`).toBe('ERROR');
        expect(reply.data).toEqual({
          code: 'INVALID_DATA',
          message: expect.any(String),
          method: 'SEND_MESSAGE',
          requestId: reply.data.requestId,
          clientMessageId: `bad-${i}`,
        });
      }
      // A missing content field, too.
      const missing = await ca.request('SEND_MESSAGE', { conversationId: conv }, 'MESSAGE_SENT');
      expect(missing.data.code).toBe('INVALID_DATA');
      expect(await storedCount(conv)).toBe(0);
      await expectNone(cb, 'MESSAGE_SENT');
    });

    it('clientMessageId makes SEND_MESSAGE idempotent per author: the resend answers only the sender with the original', async () => {
      const [a, b] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [a!, b!]);
      const a1 = await clients.online(a!);
      const a2 = await clients.online(a!);
      const b1 = await clients.online(b!);

      const first = await a1.request('SEND_MESSAGE', { conversationId: conv, content: 'once', clientMessageId: 'cm-1' }, 'MESSAGE_SENT');
      expect(first.data.message).toMatchObject({ content: 'once', clientMessageId: 'cm-1' });
      await waitFor(b1, 'MESSAGE_SENT');
      await waitFor(a2, 'MESSAGE_SENT');
      // A retry, even with other content (the client lost the ack and resends what it has).
      const again = await a1.request('SEND_MESSAGE', { conversationId: conv, content: 'once, edited', clientMessageId: 'cm-1' }, 'MESSAGE_SENT');
      expect(again.method).toBe('MESSAGE_SENT');
      expect(again.data.message).toEqual(first.data.message);
      // From the other device of the same author, too.
      const fromA2 = await a2.request('SEND_MESSAGE', { conversationId: conv, content: 'once', clientMessageId: 'cm-1' }, 'MESSAGE_SENT');
      expect(fromA2.data.message).toEqual(first.data.message);
      // Another author may use the same clientMessageId.
      const fromB = await b1.request('SEND_MESSAGE', { conversationId: conv, content: 'mine', clientMessageId: 'cm-1' }, 'MESSAGE_SENT');
      expect(fromB.data.message.id).not.toBe(first.data.message.id);

      for (const c of [a1, a2, b1]) await c.fence();
      expect(await storedCount(conv)).toBe(2);
      expect(received(b1, 'MESSAGE_SENT').map((f) => f.data.message.id)).toEqual([first.data.message.id, fromB.data.message.id]);
      // a2 saw the original once as a member, and its own retry answered to it alone.
      expect(received(a2, 'MESSAGE_SENT').map((f) => f.data.message.id)).toEqual([first.data.message.id, first.data.message.id, fromB.data.message.id]);
      expect(received(a1, 'MESSAGE_SENT').map((f) => f.data.message.id)).toEqual([first.data.message.id, first.data.message.id, fromB.data.message.id]);
    });

    it('the same clientMessageId sent from two devices at once is stored once; both get the one message', async () => {
      const [a, b] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [a!, b!]);
      const a1 = await clients.online(a!);
      const a2 = await clients.online(a!);
      const b1 = await clients.online(b!);
      const replies = await Promise.all([a1, a2].map((c) => c.request('SEND_MESSAGE', { conversationId: conv, content: 'racing', clientMessageId: 'race-1' }, 'MESSAGE_SENT')));
      expect(replies.map((r) => r.method)).toEqual(['MESSAGE_SENT', 'MESSAGE_SENT']);
      expect(replies[1]!.data.message).toEqual(replies[0]!.data.message);
      await b1.fence();
      expect(await storedCount(conv)).toBe(1);
      expect(received(b1, 'MESSAGE_SENT')).toHaveLength(1);
    });

    it('a non-member and an unknown conversation get the same NOT_FOUND, for every method', async () => {
      const [a, b, c] = await freshUsers(t, 3);
      const theirs = await createGroup(t.db, [b!, c!]);
      const unknown = '987654321987';
      const ca = await clients.online(a!);
      const cb = await clients.online(b!);
      const cases: Array<[string, Record<string, unknown>]> = [
        ['SEND_MESSAGE', { content: 'let me in', clientMessageId: 'nf-1' }],
        ['OPEN_CONVERSATION', {}],
        ['TYPING', {}],
        ['FETCH_MESSAGES', { limit: 10 }],
      ];
      for (const [method, data] of cases) {
        const member = await ca.request(method, { ...data, conversationId: theirs }, 'NEVER');
        const none = await ca.request(method, { ...data, conversationId: unknown }, 'NEVER');
        expect(member.data).toMatchObject({ code: 'NOT_FOUND', method });
        const { requestId: r1, ...shapeMember } = member.data;
        const { requestId: r2, ...shapeUnknown } = none.data;
        expect(shapeMember).toEqual(shapeUnknown);
        expect(r1).not.toBe(r2);
        if (method === 'SEND_MESSAGE') expect(shapeMember.clientMessageId).toBe('nf-1');
      }
      expect(await storedCount(theirs)).toBe(0);
      await expectNone(cb, 'TYPING');
      expect(received(cb, 'CONVERSATION_SEEN')).toHaveLength(0);
    });

    it('OPEN_CONVERSATION sends CONVERSATION_SEEN to every connection of every member', async () => {
      const [a, b, c] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!]);
      const a1 = await clients.online(a!);
      const a2 = await clients.online(a!);
      const b1 = await clients.online(b!);
      const outsider = await clients.online(c!);
      await b1.request('SEND_MESSAGE', { conversationId: conv, content: 'read me' }, 'MESSAGE_SENT');
      const before = Date.now();
      a1.send('OPEN_CONVERSATION', { conversationId: conv });
      const seen = await waitFor(a1, 'CONVERSATION_SEEN');
      expect(seen.data).toEqual({ conversationId: conv, userId: a, seenAt: expect.stringMatching(ISO) });
      expect(Date.parse(seen.data.seenAt)).toBeGreaterThanOrEqual(before - 5000);
      expect((await waitFor(a2, 'CONVERSATION_SEEN')).data).toEqual(seen.data);
      expect((await waitFor(b1, 'CONVERSATION_SEEN')).data).toEqual(seen.data);
      await expectNone(outsider, 'CONVERSATION_SEEN');
      const { rows } = await t.db.query<{ seen: boolean }>('SELECT seen FROM users_conversations WHERE user_id = $1 AND conversation_id = $2', [a, conv]);
      expect(rows[0]!.seen).toBe(true);
    });

    it('TYPING reaches the other members only, and nothing is stored', async () => {
      const [a, b, c] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [a!, b!, c!]);
      const a1 = await clients.online(a!);
      const a2 = await clients.online(a!);
      const b1 = await clients.online(b!);
      const b2 = await clients.online(b!);
      const c1 = await clients.online(c!);
      a1.send('TYPING', { conversationId: Number(conv) });
      for (const other of [b1, b2, c1]) {
        expect((await waitFor(other, 'TYPING')).data).toEqual({ conversationId: conv, userId: a });
      }
      // One fan-out wrote every copy: the others have theirs, so the sender's would be here too.
      await expectNone(a1, 'TYPING');
      await expectNone(a2, 'TYPING');
      expect(await storedCount(conv)).toBe(0);
    });

    it('FETCH_MESSAGES pages by before and limit: default 50, at most 100, newest last, hasMore, requestId echoed', async () => {
      const { a, conv, ca } = await pair();
      const { rows } = await t.db.query<{ id: string }>(
        `INSERT INTO messages (conversation_id, author_id, content)
         SELECT $1::bigint, $2::bigint, 'm' || g FROM generate_series(1, 130) AS g RETURNING id`,
        [conv, a],
      );
      const ids = rows.map((r) => String(r.id)).sort((x, y) => Number(x) - Number(y));

      ca.send('FETCH_MESSAGES', { conversationId: conv, requestId: 'page-1' });
      const first = (await waitFor(ca, 'MESSAGES', (d) => d.requestId === 'page-1')).data;
      expect(first.conversationId).toBe(conv);
      expect(first.hasMore).toBe(true);
      expect(first.messages.map((m: any) => m.id)).toEqual(ids.slice(-50));
      expect(first.messages[49]).toMatchObject({ content: 'm130', author: a, conversationId: conv });

      const second = (await ca.request('FETCH_MESSAGES', { conversationId: conv, before: first.messages[0].id, limit: 100 }, 'MESSAGES')).data;
      expect(second.messages.map((m: any) => m.id)).toEqual(ids.slice(-150, -50));
      expect(second.hasMore).toBe(false);

      const exact = (await ca.request('FETCH_MESSAGES', { conversationId: conv, before: ids[30], limit: 30 }, 'MESSAGES')).data;
      expect(exact.messages.map((m: any) => m.id)).toEqual(ids.slice(0, 30));
      expect(exact.hasMore).toBe(false);
      const one = (await ca.request('FETCH_MESSAGES', { conversationId: conv, before: ids[30], limit: '29' }, 'MESSAGES')).data;
      expect(one.messages.map((m: any) => m.id)).toEqual(ids.slice(1, 30));
      expect(one.hasMore).toBe(true);

      for (const limit of [101, 0, -1, 1.5, 'ten']) {
        const reply = await ca.request('FETCH_MESSAGES', { conversationId: conv, limit }, 'MESSAGES');
        expect(reply.data, `limit ${limit}`).toMatchObject({ code: 'INVALID_DATA', method: 'FETCH_MESSAGES' });
      }
      const empty = await createGroup(t.db, [a]);
      const none = (await ca.request('FETCH_MESSAGES', { conversationId: empty }, 'MESSAGES')).data;
      expect(none).toMatchObject({ conversationId: empty, messages: [], hasMore: false });
    });

    it('PING answers PONG, with the requestId when there is one', async () => {
      const { ca } = await pair();
      ca.send('PING', { requestId: 'ping-1' });
      ca.send('PING');
      ca.send('PING', {});
      await receivedAtLeast(ca, 'PONG', 3);
      expect(received(ca, 'PONG').map((f) => f.data)).toEqual([{ requestId: 'ping-1' }, {}, {}]);
    });
  });
}
