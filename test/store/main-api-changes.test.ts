/**
 * Issue 8 on a schema the main API created and filled first (spec §4): int4 ids, extra columns,
 * no unique key on memberships, messages it edited itself. After massenger's migrations every
 * row is still there and edits, deletes, members, unread counts, recovery and storing work on it.
 */
import { describe, expect, it } from 'vitest';
import { PgDb } from '../../src/store/db-pg.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { freshDatabase } from '../support/pg.js';
import { needs } from '../support/services.js';
import { stored } from '../contracts/store-batch.js';

describe.runIf(await needs('postgres'))('a main-API schema with rows (PostgreSQL)', () => {
  it('keeps every row and works for edits, deletes, members, unread counts and recovery', async () => {
    const database = await freshDatabase();
    const db = new PgDb({ connectionString: database.url });
    const store = new SqlStore(db);
    try {
      for (const statement of [
        'CREATE TABLE users (id serial PRIMARY KEY, username varchar(255) NOT NULL, email text, profile_picture text, last_visit timestamptz)',
        'CREATE TABLE conversations (id serial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())',
        'CREATE TABLE users_conversations (user_id int, conversation_id int, seen boolean DEFAULT false)',
        'CREATE TABLE friendship (user1_id int, user2_id int, private_conversation_id int, created_at timestamptz DEFAULT now())',
        'CREATE TABLE messages (id serial PRIMARY KEY, conversation_id int, author_id int, content text, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())',
        "INSERT INTO users (username, email) VALUES ('ann', 'ann@x.test'), ('ben', 'ben@x.test'), ('cat', 'cat@x.test')",
        'INSERT INTO conversations DEFAULT VALUES',
        'INSERT INTO conversations DEFAULT VALUES',
        'INSERT INTO users_conversations VALUES (1, 1, true), (2, 1, false), (1, 2, false), (2, 2, false)',
        'INSERT INTO friendship (user1_id, user2_id, private_conversation_id) VALUES (1, 2, 1)',
        // Message 2 was edited through the main API an hour after it was written.
        `INSERT INTO messages (conversation_id, author_id, content, created_at, updated_at) VALUES
           (2, 1, 'a', now() - interval '2 hours', now() - interval '2 hours'),
           (2, 2, 'b', now() - interval '2 hours', now()),
           (2, 1, 'c', now() - interval '90 minutes', now() - interval '90 minutes')`,
      ]) await db.query(statement);
      await store.migrate();
      expect((await db.query('SELECT count(*)::int AS n FROM messages')).rows).toEqual([{ n: 3 }]);
      expect((await db.query<{ email: string }>('SELECT email FROM users ORDER BY id')).rows.map((r) => r.email)).toEqual(['ann@x.test', 'ben@x.test', 'cat@x.test']);

      expect(await store.conversation('1', '2')).toMatchObject({ unreadCount: 0, private: false });
      expect(await store.conversation('2', '2')).toMatchObject({ unreadCount: 1, unread: true });
      expect((await store.conversation('1', '1'))?.private).toBe(true);
      // The main API's own edit of message 2 came after message 3 was stored: recovery carries it.
      expect((await store.changedSince('1', '3', 10)).map((m) => [m.id, m.content])).toEqual([['2', 'b']]);

      const edited = await store.editMessage({ messageId: '1', authorId: '1', content: 'a, edited' });
      expect(edited.message).toMatchObject({ id: '1', content: 'a, edited', deletedAt: null });
      const tomb = await store.deleteMessage({ messageId: '3', authorId: '1' });
      expect(tomb.message).toMatchObject({ id: '3', content: '', deletedAt: expect.any(Date) });
      expect(await store.conversation('2', '2')).toMatchObject({ unreadCount: 0, lastMessage: { id: '3', content: '' } });

      expect(await store.addMembers('2', '1', ['3', '3', '2'], 256)).toEqual({ added: ['3'], members: ['1', '2', '3'] });
      expect((await db.query('SELECT count(*)::int AS n FROM users_conversations WHERE user_id = 3')).rows).toEqual([{ n: 1 }]);
      expect(await store.leaveConversation('2', '3')).toEqual({ added: [], members: ['1', '2'] });
      await expect(store.leaveConversation('1', '1')).rejects.toMatchObject({ code: 'FORBIDDEN' });

      // Without a unique key the main API may hold a membership twice: a stored message still
      // names each member once, and both of ben's rows lose their seen mark.
      await db.query('UPDATE users_conversations SET seen = true WHERE conversation_id = 2');
      await db.query('INSERT INTO users_conversations VALUES (2, 2, true)');
      const result = stored((await store.appendMessages([{ conversationId: '2', authorId: '1', content: 'd', clientMessageId: null }]))[0]);
      expect(result).toMatchObject({ created: true, message: { content: 'd' } });
      expect(result.members?.slice().sort()).toEqual(['1', '2']);
      expect((await db.query('SELECT user_id, seen FROM users_conversations WHERE conversation_id = 2 ORDER BY user_id')).rows).toEqual([
        { user_id: 1, seen: true },
        { user_id: 2, seen: false },
        { user_id: 2, seen: false },
      ]);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
