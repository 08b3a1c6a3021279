/**
 * Edits, deletes, members and unread counts in the Store (issue 8), run against every Db: the
 * order of refusals, tombstones whose text is gone from the database, strictly later updatedAt,
 * the changed-since list of reconnect recovery, unreadCount and private.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MessageRow, Store } from '../../src/store/store.js';
import { befriend, createGroup, createUser } from '../../scripts/support/fixtures.js';
import type { StoreUnderTest } from './store.js';

/** Lets the database clock pass a millisecond, so two writes get different times on the wire. */
const nextMillisecond = () => sleep(3);

export function storeChangesContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`Store edits, deletes and members: ${name}`, () => {
    let store: Store;
    let db: Db;
    let cleanup: () => Promise<void>;
    let n = 0;

    beforeAll(async () => {
      ({ store, db, cleanup } = await makeStore());
      await store.migrate();
    });
    afterAll(() => cleanup());

    const user = () => createUser(db, `chg${++n}`);
    const send = (conversationId: string, authorId: string, content = 'hi') =>
      store.appendMessage({ conversationId, authorId, content, clientMessageId: null }).then((r) => r.message);
    const code = (p: Promise<unknown>) => p.then(() => 'resolved', (err: { code?: string }) => err.code);

    it('edits: the author replaces the content, stored as sent, and every edit moves updatedAt later', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const m = await send(c, a, 'first');
      let last = m.updatedAt.getTime();
      // Back to back, within one millisecond or not: each version is later on the wire (ms).
      for (const content of ['second', '  spaced \u{1F600} ', 'third']) {
        const { message, changed } = await store.editMessage({ messageId: m.id, authorId: a, content });
        expect(changed).toBe(true);
        expect(message).toMatchObject({ id: m.id, content, createdAt: m.createdAt, deletedAt: null, clientMessageId: null });
        expect(message.updatedAt.getTime()).toBeGreaterThan(last);
        last = message.updatedAt.getTime();
      }
      expect((await store.messages(c, { limit: 10 })).messages.map((x) => x.content)).toEqual(['third']);
    });

    it('refuses in order: unknown or stranger NOT_FOUND, deleted NOT_FOUND for edits, then another member FORBIDDEN', async () => {
      const [a, b, x] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const m = await send(c, a, 'mine');
      expect(await code(store.editMessage({ messageId: '999999999999', authorId: a, content: 'x' }))).toBe('NOT_FOUND');
      expect(await code(store.editMessage({ messageId: m.id, authorId: x, content: 'x' }))).toBe('NOT_FOUND');
      expect(await code(store.deleteMessage({ messageId: m.id, authorId: x }))).toBe('NOT_FOUND');
      expect(await code(store.editMessage({ messageId: m.id, authorId: b, content: 'x' }))).toBe('FORBIDDEN');
      expect(await code(store.deleteMessage({ messageId: m.id, authorId: b }))).toBe('FORBIDDEN');
      await store.deleteMessage({ messageId: m.id, authorId: a });
      // A deleted message cannot be edited, by anyone: NOT_FOUND comes before FORBIDDEN.
      expect(await code(store.editMessage({ messageId: m.id, authorId: a, content: 'x' }))).toBe('NOT_FOUND');
      expect(await code(store.editMessage({ messageId: m.id, authorId: b, content: 'x' }))).toBe('NOT_FOUND');
      expect(await code(store.deleteMessage({ messageId: m.id, authorId: b }))).toBe('FORBIDDEN');
      // An author who left is a stranger there.
      const kept = await send(c, b, 'b leaves');
      await store.leaveConversation(c, b);
      expect(await code(store.editMessage({ messageId: kept.id, authorId: b, content: 'x' }))).toBe('NOT_FOUND');
      expect(await code(store.deleteMessage({ messageId: kept.id, authorId: b }))).toBe('NOT_FOUND');
    });

    it('deletes: a tombstone keeps id, times and clientMessageId; its text and earlier versions are nowhere in the database', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const secret = `secret-${Date.now()}-original`;
      const { message: m } = await store.appendMessage({ conversationId: c, authorId: a, content: secret, clientMessageId: `cm-${n}` });
      await store.editMessage({ messageId: m.id, authorId: a, content: `${secret}-edited` });
      const { message: tomb, changed } = await store.deleteMessage({ messageId: m.id, authorId: a });
      expect(changed).toBe(true);
      expect(tomb).toMatchObject({ id: m.id, conversationId: c, authorId: a, content: '', createdAt: m.createdAt, clientMessageId: `cm-${n}` });
      expect(tomb.deletedAt).toEqual(tomb.updatedAt);
      // Deleting again changes nothing and answers the same tombstone.
      const again = await store.deleteMessage({ messageId: m.id, authorId: a });
      expect(again).toEqual({ message: tomb, changed: false });
      expect((await store.messages(c, { limit: 10 })).messages).toEqual([tomb]);
      expect((await store.conversation(b, c))?.lastMessage).toEqual(tomb);
      // Every text column of every table: the words are gone, not hidden.
      const { rows: columns } = await db.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb')`,
      );
      for (const col of columns) {
        const { rows } = await db.query(`SELECT 1 FROM "${col.table_name}" WHERE "${col.column_name}"::text LIKE $1 LIMIT 1`, [`%${secret}%`]);
        expect(rows, `${col.table_name}.${col.column_name}`).toEqual([]);
      }
    });

    it('changedSince: messages up to lastId changed after it was stored, current state, oldest first, only where the user is a member', async () => {
      const [a, b, x] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const other = await createGroup(db, [a, x]);
      const m1 = await send(c, a, 'one');
      const m2 = await send(c, b, 'two');
      const m3 = await send(other, x, 'three');
      const early = await send(c, a, 'edited before last');
      await store.editMessage({ messageId: early.id, authorId: a, content: 'changed before last' });
      await nextMillisecond();
      const last = await send(c, b, 'last seen');
      await nextMillisecond();
      const after = await send(c, a, 'after last');
      await store.editMessage({ messageId: m2.id, authorId: b, content: 'two, edited' });
      await store.deleteMessage({ messageId: m1.id, authorId: a });
      await store.editMessage({ messageId: m3.id, authorId: x, content: 'three, edited' });
      await store.editMessage({ messageId: after.id, authorId: a, content: 'newer than last: the first list has it' });
      const changed = await store.changedSince(a, last.id, 1001);
      const pick = (rows: MessageRow[]) => rows.filter((r) => [m1.id, m2.id, m3.id, early.id, after.id].includes(r.id));
      expect(pick(changed).map((r) => [r.id, r.content, r.deletedAt === null])).toEqual([
        [m1.id, '', false],
        [m2.id, 'two, edited', true],
        [m3.id, 'three, edited', true],
      ]);
      expect(pick(await store.changedSince(a, last.id, 2)).map((r) => r.id)).toEqual([m1.id, m2.id]);
      // b is not in `other`; a, once gone from c, no longer hears of c.
      expect(pick(await store.changedSince(b, last.id, 1001)).map((r) => r.id)).toEqual([m1.id, m2.id]);
      await store.leaveConversation(c, a);
      expect(pick(await store.changedSince(a, last.id, 1001)).map((r) => r.id)).toEqual([m3.id]);
      // lastId naming no message (deleted by the main API, say) counts from the newest one before it.
      await db.query('DELETE FROM messages WHERE id = $1', [last.id]);
      expect(pick(await store.changedSince(b, last.id, 1001)).map((r) => r.id)).toEqual([m1.id, m2.id, early.id]);
      expect(await store.changedSince(b, '0', 10)).toEqual([]);
    });

    it('unreadCount: others\u2019 messages, not deleted, after the seen mark and the user\u2019s own last one; up to 100', async () => {
      const [a, b, cc] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b, cc]);
      const count = async (u: string) => (await store.conversation(u, c))?.unreadCount;
      expect(await count(a)).toBe(0);
      const first = await send(c, b, 'b1');
      await send(c, cc, 'c1');
      expect(await store.conversation(a, c)).toMatchObject({ unread: true, unreadCount: 2 });
      expect(await count(b)).toBe(1);
      await store.deleteMessage({ messageId: first.id, authorId: b });
      expect(await count(a)).toBe(1);
      await store.markSeen(a, c);
      expect(await store.conversation(a, c)).toMatchObject({ unread: false, unreadCount: 0 });
      for (let i = 0; i < 3; i++) await send(c, b, `more ${i}`);
      expect(await count(a)).toBe(3);
      // A message stored by the main API directly: writing it means having read what came before.
      await db.query('INSERT INTO messages (conversation_id, author_id, content, created_at, updated_at) VALUES ($1, $2, $3, now(), now())', [c, a, 'from the main API']);
      expect(await count(a)).toBe(0);
      const many = Array.from({ length: 120 }, (_, i) => ({ conversationId: c, authorId: b, content: `bulk ${i}`, clientMessageId: null }));
      await store.appendMessages(many);
      expect(await count(a)).toBe(100);
      // The main API's boolean alone: seen means seen up to the newest message.
      await db.query('UPDATE users_conversations SET seen = true, seen_message_id = NULL WHERE user_id = $1 AND conversation_id = $2', [cc, c]);
      expect(await count(cc)).toBe(0);
      const list = await store.conversations(a, { limit: 10 });
      expect(list.find((r) => r.id === c)).toMatchObject({ unreadCount: 100, unread: true, private: false });
    });

    it('private: true for the friendship\u2019s conversation only', async () => {
      const [a, b] = [await user(), await user()];
      const priv = await befriend(db, a, b);
      const group = await createGroup(db, [a, b]);
      expect((await store.conversation(a, priv))?.private).toBe(true);
      expect((await store.conversation(a, group))?.private).toBe(false);
    });

    it('addMembers: ignores repeats and members, refuses in order (not a member, too many, private) changing nothing', async () => {
      const [a, b, c1, c2, x] = [await user(), await user(), await user(), await user(), await user()];
      const group = await createGroup(db, [a, b]);
      expect(await store.addMembers(group, a, [c1, c1, b, a, c2], 256)).toEqual({ added: [c1, c2], members: [a, b, c1, c2] });
      expect(await store.members(group)).toEqual([a, b, c1, c2].sort((p, q) => Number(p) - Number(q)));
      expect(await store.addMembers(group, a, [c1], 256)).toEqual({ added: [], members: [a, b, c1, c2].sort((p, q) => Number(p) - Number(q)) });
      expect(await code(store.addMembers(group, x, [x], 256))).toBe('NOT_FOUND');
      expect(await code(store.addMembers('999999999999', a, [x], 256))).toBe('NOT_FOUND');
      // Four members and the limit at five: one more fits, two do not, and the refusal adds no one.
      const y = await user();
      expect(await code(store.addMembers(group, a, [x, y], 5))).toBe('INVALID_DATA');
      expect(await store.members(group)).toHaveLength(4);
      expect((await store.addMembers(group, a, [x], 5)).added).toEqual([x]);
      const priv = await befriend(db, a, b);
      expect(await code(store.addMembers(priv, x, [y], 256))).toBe('NOT_FOUND');
      expect(await code(store.addMembers(priv, a, [y], 256))).toBe('FORBIDDEN');
      expect(await code(store.addMembers(priv, a, [y, x, c1, c2], 5))).toBe('INVALID_DATA');
      expect(await store.members(priv)).toHaveLength(2);
    });

    it('leaveConversation: removes the member, who no longer sees it; private refused; strangers NOT_FOUND', async () => {
      const [a, b, x] = [await user(), await user(), await user()];
      const group = await createGroup(db, [a, b]);
      await send(group, a, 'before leaving');
      expect(await store.leaveConversation(group, b)).toEqual({ added: [], members: [a] });
      expect(await store.conversation(b, group)).toBeNull();
      expect((await store.conversations(b, { limit: 10 })).map((r) => r.id)).not.toContain(group);
      expect(await code(store.leaveConversation(group, b))).toBe('NOT_FOUND');
      expect(await code(store.leaveConversation(group, x))).toBe('NOT_FOUND');
      // The last member leaves: the conversation stays stored, visible to no one.
      expect((await store.leaveConversation(group, a)).members).toEqual([]);
      expect(await store.members(group)).toEqual([]);
      expect((await db.query('SELECT id FROM conversations WHERE id = $1', [group])).rows).toHaveLength(1);
      const priv = await befriend(db, a, b);
      expect(await code(store.leaveConversation(priv, a))).toBe('FORBIDDEN');
      expect(await code(store.leaveConversation(priv, x))).toBe('NOT_FOUND');
    });
  });
}
