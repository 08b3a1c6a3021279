import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDb } from '../../src/store/db-pg.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { storeContract, type StoreUnderTest } from '../contracts/store.js';
import { storeBatchContract } from '../contracts/store-batch.js';
import { storeChangesContract } from '../contracts/store-changes.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { freshDatabase } from '../support/pg.js';
import { needs } from '../support/services.js';

const hasPostgres = await needs('postgres');

describe.runIf(hasPostgres)('PostgreSQL', () => {
  // Pool of 10: concurrent appends really run on different connections, so the ordering test means something.
  const makeStore = async (): Promise<StoreUnderTest> => {
    const database = await freshDatabase();
    const db = new PgDb({ connectionString: database.url, maxConnections: 10 });
    const store = new SqlStore(db);
    return {
      store,
      db,
      async cleanup() {
        await store.close();
        await database.drop();
      },
    };
  };
  storeContract('PostgreSQL', makeStore);
  storeBatchContract('PostgreSQL', makeStore);
  storeChangesContract('PostgreSQL', makeStore);

  it('lets two nodes migrate a fresh database at the same time', async () => {
    const database = await freshDatabase();
    const stores = [0, 1, 2].map(() => new SqlStore(new PgDb({ connectionString: database.url, maxConnections: 2 })));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const db = new PgDb({ connectionString: database.url });
      const { rows } = await db.query<{ version: number }>('SELECT version FROM massenger_migrations');
      await db.close();
      expect(rows.map((r) => Number(r.version)).sort((x, y) => x - y)).toEqual(rows.map((_, i) => i + 1));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await database.drop();
    }
  });

  it('adopts an existing main-API schema without dropping anything, backfilling from its messages', async () => {
    const database = await freshDatabase();
    const db = new PgDb({ connectionString: database.url });
    try {
      // int4 ids, extra columns, no massenger columns: what the main API may have created.
      for (const statement of [
        'CREATE TABLE users (id serial PRIMARY KEY, username varchar(255) NOT NULL, email text, profile_picture text, last_visit timestamptz)',
        'CREATE TABLE conversations (id serial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())',
        'CREATE TABLE users_conversations (user_id int REFERENCES users, conversation_id int REFERENCES conversations, seen boolean DEFAULT false, PRIMARY KEY (user_id, conversation_id))',
        'CREATE TABLE friendship (user1_id int, user2_id int, private_conversation_id int, created_at timestamptz DEFAULT now())',
        'CREATE TABLE messages (id serial PRIMARY KEY, conversation_id int, author_id int, content text, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())',
        "INSERT INTO users (username, email) VALUES ('ann', 'ann@x.test'), ('ben', 'ben@x.test')",
        'INSERT INTO conversations DEFAULT VALUES',
        'INSERT INTO users_conversations VALUES (1, 1, true), (2, 1, false)',
        'INSERT INTO friendship (user1_id, user2_id, private_conversation_id) VALUES (1, 2, 1)',
        "INSERT INTO messages (conversation_id, author_id, content) VALUES (1, 1, 'a'), (1, 2, 'b'), (1, 1, 'c')",
      ]) await db.query(statement);
      const store = new SqlStore(db);
      await store.migrate();
      expect((await store.messages('1', { limit: 10 })).messages.map((m) => [m.id, m.prevId])).toEqual([['1', null], ['2', '1'], ['3', '2']]);
      expect(await store.conversation('1', '1')).toMatchObject({ unread: false, lastMessage: { id: '3', content: 'c' } });
      expect(await store.conversation('2', '1')).toMatchObject({ unread: true });
      expect((await store.friends(['2'])).get('2')).toEqual([{ userId: '1', conversationId: '1' }]);
      const { message } = await store.appendMessage({ conversationId: '1', authorId: '2', content: 'd', clientMessageId: 'k' });
      expect(message).toMatchObject({ id: '4', prevId: '3', authorId: '2' });
      expect((await db.query('SELECT email FROM users ORDER BY id')).rows).toEqual([{ email: 'ann@x.test' }, { email: 'ben@x.test' }]);
    } finally {
      await db.close();
      await database.drop();
    }
  });

  it('answers UNAVAILABLE quickly when nothing listens', async () => {
    const store = new SqlStore(new PgDb({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMs: 500 }));
    const started = Date.now();
    await expect(store.ping()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(store.appendMessage({ conversationId: '1', authorId: '1', content: 'x', clientMessageId: null })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(2000);
    await store.close();
  });

  describe('when the server drops or stalls connections', () => {
    let database: Awaited<ReturnType<typeof freshDatabase>>;
    let admin: pg.Client;
    const poolErrors: Error[] = [];

    beforeAll(async () => {
      database = await freshDatabase();
      admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
    });
    afterAll(async () => {
      await admin.end();
      await database.drop();
    });

    // Only connections to this suite's own database, never another suite's.
    const terminateOthers = () =>
      admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');

    it('turns a terminated connection into UNAVAILABLE, then recovers', async () => {
      const store = new SqlStore(new PgDb({ connectionString: database.url, onError: (err) => poolErrors.push(err) }));
      await store.migrate();
      const [a, b] = [await createUser(admin, 'a'), await createUser(admin, 'b')];
      const c = await createGroup(admin, [a, b]);

      // Terminating an idle pooled connection: reported to onError, not thrown, not a crash.
      await terminateOthers();
      await expect.poll(() => poolErrors.length).toBeGreaterThan(0);
      await expect(store.ping()).resolves.toBeUndefined();

      // Terminating one mid-statement: the admin holds a lock the append waits on.
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE');
      // Settled into a value at once: it fails while this test is still awaiting the termination,
      // and a rejection nobody had claimed yet would count as unhandled.
      const pending = store.appendMessage({ conversationId: c, authorId: a, content: 'x', clientMessageId: null }).then(
        () => new Error('stored although its connection was terminated'),
        (err: unknown) => err,
      );
      await expect.poll(async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rowCount).toBe(1);
      await terminateOthers();
      expect(await pending).toMatchObject({ code: 'UNAVAILABLE' });
      await admin.query('ROLLBACK');

      expect((await store.appendMessage({ conversationId: c, authorId: a, content: 'after', clientMessageId: null })).created).toBe(true);
      await store.close();
    });

    it('keeps hearing membership changes after its listening connection is killed, and says it may have missed some', async () => {
      const store = new SqlStore(new PgDb({ connectionString: database.url, onError: (err) => poolErrors.push(err) }));
      await store.migrate();
      const [a, b] = [await createUser(admin, 'la'), await createUser(admin, 'lb')];
      const changed: string[] = [];
      let resets = 0;
      const stop = await store.watchMembers({ changed: (id) => changed.push(id), reset: () => resets++ });
      const first = await createGroup(admin, [a]);
      await expect.poll(() => changed).toContain(first);
      await terminateOthers();
      await expect.poll(() => resets, { timeout: 5000 }).toBe(1);
      const second = await createGroup(admin, [b]);
      await expect.poll(() => changed).toContain(second);
      await stop();
      await store.close();
    });

    it('turns a statement timeout into UNAVAILABLE', async () => {
      const store = new SqlStore(new PgDb({ connectionString: database.url, statementTimeoutMs: 200 }));
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE');
      try {
        await expect(store.conversations('1', { limit: 10 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      } finally {
        await admin.query('ROLLBACK');
        await store.close();
      }
    });
  });
});
