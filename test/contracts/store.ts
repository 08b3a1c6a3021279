/**
 * The Store contract, run against every Db (style §13). Each test makes its own users and
 * conversations, so one migrated database serves the whole suite.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MessageRow, Store } from '../../src/store/store.js';
import { befriend, createGroup, createUser } from '../../scripts/support/fixtures.js';

export interface StoreUnderTest {
  store: Store;
  db: Db;
  cleanup(): Promise<void>;
}

export function storeContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let db: Db;
    let cleanup: () => Promise<void>;
    let n = 0;

    beforeAll(async () => {
      ({ store, db, cleanup } = await makeStore());
      await store.migrate();
    });
    afterAll(() => cleanup());

    const user = (prefix = 'u') => createUser(db, `${prefix}${++n}`, `https://img.test/${n}.png`);
    const send = (conversationId: string, authorId: string, content = 'hi', clientMessageId: string | null = null) =>
      store.appendMessage({ conversationId, authorId, content, clientMessageId }).then((r) => r.message);
    const ids = (messages: MessageRow[]) => messages.map((m) => m.id);

    it('runs migrations again as a no-op', async () => {
      await store.migrate();
      await Promise.all([store.migrate(), store.migrate()]);
      const { rows } = await db.query<{ version: number; count: string }>(
        'SELECT version, count(*) AS count FROM massenger_migrations GROUP BY version ORDER BY version',
      );
      // Every migration recorded exactly once, versions 1..N without a gap.
      expect(rows.map((r) => [Number(r.version), Number(r.count)])).toEqual(rows.map((_, i) => [i + 1, 1]));
      expect(rows.length).toBeGreaterThanOrEqual(3);
    });

    it('warms up without storing or changing anything, and stores as before afterwards', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      await store.warmUp();
      await Promise.all([store.warmUp(), store.warmUp()]);
      expect((await store.messages(c, { limit: 10 })).messages).toEqual([]);
      expect((await store.conversation(a, c))?.lastMessage).toBeNull();
      const { message } = await store.appendMessage({ conversationId: c, authorId: a, content: 'after', clientMessageId: null });
      expect(message).toMatchObject({ content: 'after', prevId: null });
    });

    it('stores a message and chains prevId to the previous one', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const first = await store.appendMessage({ conversationId: c, authorId: a, content: 'one', clientMessageId: 'x1' });
      expect(first.created).toBe(true);
      expect(first.message).toMatchObject({ conversationId: c, authorId: a, content: 'one', clientMessageId: 'x1', prevId: null });
      expect(first.message.id).toMatch(/^[0-9]+$/);
      expect(first.message.createdAt).toBeInstanceOf(Date);
      expect(first.message.updatedAt).toBeInstanceOf(Date);
      expect(first.prevCreatedAt).toBeNull();
      const third = await store.appendMessage({ conversationId: c, authorId: b, content: 'probe', clientMessageId: null });
      // The predecessor's time comes back with the new message: the bus uses it to judge ordering.
      expect(third.prevCreatedAt).toEqual(first.message.createdAt);
      const second = await send(c, b, 'two');
      expect(second.prevId).toBe(third.message.id);
      expect(second.clientMessageId).toBeNull();
      expect(BigInt(second.id) > BigInt(first.message.id)).toBe(true);
      const conversation = await store.conversation(a, c);
      expect(conversation?.lastMessage).toEqual(second);
      expect(conversation?.lastActivityAt).toEqual(second.createdAt);
    });

    it('answers a repeated clientMessageId with the original, per author', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const original = await send(c, a, 'first try', 'dup');
      const again = await store.appendMessage({ conversationId: c, authorId: a, content: 'second try', clientMessageId: 'dup' });
      expect(again).toEqual({ message: original, created: false, prevCreatedAt: null, members: null });
      const other = await store.appendMessage({ conversationId: c, authorId: b, content: 'mine', clientMessageId: 'dup' });
      expect(other.created).toBe(true);
      expect((await store.messages(c, { limit: 10 })).messages).toHaveLength(2);
    });

    it('stores concurrent duplicates once', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const results = await Promise.all(
        Array.from({ length: 8 }, () => store.appendMessage({ conversationId: c, authorId: a, content: 'once', clientMessageId: 'same' })),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
      // The same id sent to two conversations at once: the unique index decides, the loser gets the winner.
      const d = await createGroup(db, [a, b]);
      const pair = await Promise.all([c, d].map((conversationId) => store.appendMessage({ conversationId, authorId: a, content: 'x', clientMessageId: 'twice' })));
      expect(pair.filter((r) => r.created)).toHaveLength(1);
      expect(pair[0]?.message.id).toBe(pair[1]?.message.id);
    });

    it('answers NOT_FOUND alike for a non-member and an unknown conversation', async () => {
      const [a, b, outsider] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b]);
      for (const conversationId of [c, '999999999', 'abc', '99999999999999999999']) {
        const authorId = conversationId === c ? outsider : a;
        await expect(send(conversationId, authorId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
      expect(await store.members('999999999')).toEqual([]);
      expect(await store.members(c)).toEqual([a, b].sort((x, y) => Number(x) - Number(y)));
    });

    it('pages messages oldest first with before, limit and hasMore', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const sent: MessageRow[] = [];
      for (let i = 0; i < 5; i++) sent.push(await send(c, i % 2 ? a : b, `m${i}`));
      const page1 = await store.messages(c, { limit: 2 });
      expect(ids(page1.messages)).toEqual(ids(sent.slice(3)));
      expect(page1.hasMore).toBe(true);
      const page2 = await store.messages(c, { limit: 2, before: sent[3]!.id });
      expect(ids(page2.messages)).toEqual(ids(sent.slice(1, 3)));
      expect(page2.hasMore).toBe(true);
      const page3 = await store.messages(c, { limit: 2, before: sent[1]!.id });
      expect(page3).toEqual({ messages: [sent[0]], hasMore: false });
      expect(await store.messages(c, { limit: 5 })).toEqual({ messages: sent, hasMore: false });
    });

    it('lists messages since an id across the user\'s conversations only', async () => {
      const [a, b, c] = [await user(), await user(), await user()];
      const ab = await befriend(db, a, b);
      const bc = await befriend(db, b, c);
      const before = await send(ab, a, 'old');
      const m1 = await send(ab, b);
      const hidden = await send(bc, c, 'not for a');
      const m2 = await send(ab, a);
      const m3 = await send(ab, b);
      expect(ids(await store.messagesSince(a, before.id, 10))).toEqual(ids([m1, m2, m3]));
      expect(ids(await store.messagesSince(a, before.id, 2))).toEqual(ids([m1, m2]));
      expect(ids(await store.messagesSince(b, before.id, 10))).toEqual(ids([m1, hidden, m2, m3]));
    });

    it('lists conversations by latest activity with members, unread and paging', async () => {
      const [me, x, y] = [await user('me'), await user(), await user()];
      const c1 = await createGroup(db, [me, x]);
      const c2 = await createGroup(db, [me, y]);
      const c3 = await createGroup(db, [me, x, y]);
      const empty = await createGroup(db, [me, y]); // newest creation, but no message
      await createGroup(db, [x, y]); // not mine
      // A few ms apart: the time cursor below is an ISO time, which holds milliseconds only, while
      // the database keeps microseconds; two messages in one millisecond would share a cursor.
      const apart = () => sleep(3);
      await send(c2, y, 'to me');
      await apart();
      await send(c3, me, 'from me');
      await apart();
      await send(c1, x, 'latest');
      const all = await store.conversations(me, { limit: 10 });
      expect(all.map((c) => c.id)).toEqual([c1, c3, c2, empty]);
      expect(all.map((c) => c.unread)).toEqual([true, false, true, false]);
      expect(all[0]?.lastMessage?.content).toBe('latest');
      expect(all[3]).toMatchObject({ lastMessage: null });
      expect(all[3]?.lastActivityAt).toEqual(all[3]?.createdAt);
      expect(all[1]?.members.map((u) => u.id)).toEqual([me, x, y].sort((p, q) => Number(p) - Number(q)));
      expect(all[1]?.members.find((u) => u.id === me)).toMatchObject({ username: expect.stringMatching(/^me/), profilePicture: expect.any(String), lastVisit: null });

      // Many users' first pages in one read: each as conversations() reads it for that user alone.
      const many = await store.conversationsOf([me, x, 'not-an-id'], 10);
      expect(many.get(me)).toEqual(all);
      expect(many.get(x)).toEqual(await store.conversations(x, { limit: 10 }));
      expect(many.get('not-an-id')).toEqual([]);
      expect((await store.conversationsOf([me], 2)).get(me)?.map((c) => c.id)).toEqual([c1, c3]);

      const top2 = await store.conversations(me, { limit: 2 });
      expect(top2.map((c) => c.id)).toEqual([c1, c3]);
      const rest = await store.conversations(me, { limit: 10, before: { conversationId: c3 } });
      expect(rest.map((c) => c.id)).toEqual([c2, empty]);
      const byTime = await store.conversations(me, { limit: 10, before: { time: all[1]!.lastActivityAt } });
      expect(byTime.map((c) => c.id)).toEqual([c2, empty]);
    });

    it('reads one conversation only for a member', async () => {
      const [a, b, outsider] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b]);
      expect(await store.conversation(outsider, c)).toBeNull();
      expect(await store.conversation(a, '999999999')).toBeNull();
      expect(await store.conversation(a, 'nope')).toBeNull();
      expect(await store.conversation(a, c)).toMatchObject({ id: c, unread: false, lastMessage: null });
    });

    it('flips unread with new messages and markSeen, keeping the seen boolean in step', async () => {
      const [a, b, outsider] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const seenFlag = async (u: string) =>
        (await db.query<{ seen: boolean }>('SELECT seen FROM users_conversations WHERE user_id = $1 AND conversation_id = $2', [u, c])).rows[0]?.seen;
      await send(c, a);
      expect((await store.conversation(a, c))?.unread).toBe(false);
      expect((await store.conversation(b, c))?.unread).toBe(true);
      expect([await seenFlag(a), await seenFlag(b)]).toEqual([true, false]);
      const seenAt = await store.markSeen(b, c);
      expect(seenAt).toBeInstanceOf(Date);
      expect((await store.conversation(b, c))?.unread).toBe(false);
      expect(await seenFlag(b)).toBe(true);
      await send(c, a);
      expect((await store.conversation(b, c))?.unread).toBe(true);
      expect(await seenFlag(b)).toBe(false);
      expect(await store.markSeen(outsider, c)).toBeNull();
      expect(await store.markSeen(a, 'nope')).toBeNull();
    });

    it('reads friendships in both directions', async () => {
      const [a, b, c, loner] = [await user(), await user(), await user(), await user()];
      const ab = await befriend(db, a, b);
      const ca = await befriend(db, c, a);
      const byId = (p: { userId: string }, q: { userId: string }) => Number(p.userId) - Number(q.userId);
      // One read for many users, every one of them answered.
      const friends = await store.friends([a, b, loner, 'not-an-id']);
      expect(friends.get(a)?.sort(byId)).toEqual([{ userId: b, conversationId: ab }, { userId: c, conversationId: ca }]);
      expect(friends.get(b)).toEqual([{ userId: a, conversationId: ab }]);
      expect(friends.get(loner)).toEqual([]);
      expect(friends.get('not-an-id')).toEqual([]);
    });

    it('creates conversations of existing users only', async () => {
      const [a, b] = [await user(), await user()];
      expect(await store.existingUsers([a, b, '999999999', 'x'])).toEqual(new Set([a, b]));
      const c = await store.createConversation([a, b, a]);
      expect(await store.members(c)).toEqual([a, b]);
      expect(await store.conversation(b, c)).toMatchObject({ id: c, unread: false, lastMessage: null });
      await expect(store.createConversation([a, '999999999'])).rejects.toMatchObject({ code: 'INVALID_DATA', message: expect.stringContaining('999999999') });
      await expect(store.createConversation([])).rejects.toMatchObject({ code: 'INVALID_DATA' });
    });

    it('stores content exactly as sent', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const contents = ['héllo 👋🏽 家族', `"quotes" 'single' \\ back\\slash; DROP TABLE messages; --`, ' \n\t spaced \r\n', 'x'.repeat(3999) + '🎉'];
      for (const content of contents) expect((await send(c, a, content)).content).toBe(content);
      expect((await store.messages(c, { limit: 10 })).messages.map((m) => m.content)).toEqual(contents);
      await expect(send(c, a, 'nul \u0000 byte')).rejects.toMatchObject({ code: 'INVALID_DATA' });
    });

    it('keeps concurrent messages of one conversation in id order with an exact prevId chain', async () => {
      const members = [await user(), await user(), await user()];
      const c = await createGroup(db, members);
      const start = await send(c, members[0]!, 'start');
      const sent = await Promise.all(Array.from({ length: 120 }, (_, i) => send(c, members[i % 3]!, `m${i}`)));
      const ordered = [...sent].sort((p, q) => (BigInt(p.id) < BigInt(q.id) ? -1 : 1));
      expect(ordered.map((m) => m.prevId)).toEqual([start.id, ...ordered.slice(0, -1).map((m) => m.id)]);
      for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.createdAt.getTime()).toBeGreaterThanOrEqual(ordered[i - 1]!.createdAt.getTime());
      expect((await store.conversation(members[0]!, c))?.lastMessage?.id).toBe(ordered.at(-1)?.id);
    });

    it('counts messages the main API inserts directly, and never marks a user\'s own newest message unread', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const first = await send(c, a, 'through massenger');
      const { rows } = await db.query<{ id: string }>(
        'INSERT INTO messages (conversation_id, author_id, content, created_at, updated_at) VALUES ($1, $2, $3, now(), now()) RETURNING id',
        [c, b, 'inserted by the main API'],
      );
      const forA = await store.conversation(a, c);
      expect(forA?.lastMessage?.id).toBe(String(rows[0]!.id));
      expect(forA?.lastMessage?.content).toBe('inserted by the main API');
      expect(forA?.lastActivityAt).toEqual(forA?.lastMessage?.createdAt);
      expect(forA?.unread).toBe(true);
      expect((await store.conversation(b, c))?.unread).toBe(false);
      await store.markSeen(a, c);
      expect((await store.conversation(a, c))?.unread).toBe(false);
      // The chain the bus orders by holds massenger's own messages: the next one follows the first.
      const next = await send(c, a, 'after');
      expect(next.prevId).toBe(first.id);
      expect(BigInt(next.id) > BigInt(rows[0]!.id)).toBe(true);
    });

    it('announces membership changes, whoever makes them, and not the seen marks of every message', async () => {
      const [a, b, c] = [await user(), await user(), await user()];
      const changed: string[] = [];
      const stop = await store.watchMembers({ changed: (id) => changed.push(id), reset: () => {} });
      try {
        const group = await store.createConversation([a, b]);
        await expect.poll(() => changed).toContain(group);
        changed.length = 0;
        await send(group, a, 'seen marks change, members do not');
        await store.markSeen(b, group);
        await db.query('INSERT INTO users_conversations (user_id, conversation_id, seen) VALUES ($1, $2, false)', [c, group]);
        await expect.poll(() => changed).toEqual([group]);
        await db.query('DELETE FROM users_conversations WHERE user_id = $1 AND conversation_id = $2', [c, group]);
        await expect.poll(() => changed).toEqual([group, group]);
      } finally {
        await stop();
      }
    });

    it('reads the main API\'s seen flag: seen without massenger\'s mark is read, cleared is unread', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      await send(c, b, 'from b');
      expect((await store.conversation(a, c))?.unread).toBe(true);
      // The main API marks it read its own way: the boolean only, no seen_message_id.
      await db.query('UPDATE users_conversations SET seen = true WHERE user_id = $1 AND conversation_id = $2', [a, c]);
      expect((await store.conversation(a, c))?.unread).toBe(false);
      await db.query('UPDATE users_conversations SET seen = false WHERE user_id = $1 AND conversation_id = $2', [a, c]);
      expect((await store.conversation(a, c))?.unread).toBe(true);
      // markSeen, then a new message from b: unread again, whatever the race between the two writes.
      await store.markSeen(a, c);
      expect((await store.conversation(a, c))?.unread).toBe(false);
      await send(c, b, 'again');
      expect((await store.conversation(a, c))?.unread).toBe(true);
    });

    it('pages only from the caller\'s own conversations: another\'s id as cursor gives an empty page, like an unknown one', async () => {
      const [a, b, x] = [await user(), await user(), await user()];
      await createGroup(db, [a, b]);
      const notMine = await createGroup(db, [b, x]);
      expect(await store.conversations(a, { limit: 10, before: { conversationId: notMine } })).toEqual([]);
      expect(await store.conversations(a, { limit: 10, before: { conversationId: '999999999' } })).toEqual([]);
    });

    it('sets last visit and answers ping', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const at = new Date('2026-11-24T10:00:00.000Z');
      await store.setLastVisit([a, b], at);
      const members = (await store.conversation(b, c))?.members;
      expect(members?.find((u) => u.id === a)?.lastVisit).toEqual(at);
      expect(members?.find((u) => u.id === b)?.lastVisit).toEqual(at);
      await expect(store.setLastVisit([], at)).resolves.toBeUndefined();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
