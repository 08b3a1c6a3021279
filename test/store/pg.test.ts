import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPLICATION_NAME, PgDb } from '../../src/store/db-pg.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { storeContract, type StoreUnderTest } from '../contracts/store.js';
import { storeBatchContract } from '../contracts/store-batch.js';
import { storeChangesContract } from '../contracts/store-changes.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { postgresOnly } from '../support/backends.js';
import { freshDatabase } from '../support/pg.js';
import { seedNetwork, wholeTableScans } from '../support/plans.js';
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

  // Message ids the main API may define: an identity column (ids can only be given with OVERRIDING
  // SYSTEM VALUE), and a default drawn from a sequence the column does not own (the batch then goes
  // row by row, with the column's own default).
  for (const idColumn of ['id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY', "id bigint PRIMARY KEY DEFAULT nextval('message_ids')"]) {
    it(`stores batches into a main-API messages table with ${idColumn}`, async () => {
      const database = await freshDatabase();
      const db = new PgDb({ connectionString: database.url });
      try {
        for (const statement of [
          'CREATE SEQUENCE message_ids',
          'CREATE TABLE users (id bigserial PRIMARY KEY, username text NOT NULL, profile_picture text, last_visit timestamptz)',
          'CREATE TABLE conversations (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())',
          `CREATE TABLE messages (${idColumn}, conversation_id bigint NOT NULL, author_id bigint NOT NULL, content text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`,
        ]) await db.query(statement);
        const store = new SqlStore(db);
        await store.migrate();
        const [a, b] = [await createUser(db, 'ia'), await createUser(db, 'ib')];
        const [c1, c2] = [await createGroup(db, [a, b]), await createGroup(db, [a, b])];
        const outcomes = await store.appendMessages(
          [[c1, a], [c2, b], [c1, b], [c2, a]].map(([conversationId, authorId], i) => ({ conversationId: conversationId!, authorId: authorId!, content: `m${i}`, clientMessageId: `k${i}` })),
        );
        const created = outcomes.map((o) => (o instanceof Error ? o : o.message));
        expect(created.map((m) => (m instanceof Error ? m.message : m.content))).toEqual(['m0', 'm1', 'm2', 'm3']);
        for (const c of [c1, c2]) {
          const { messages } = await store.messages(c, { limit: 10 });
          expect(messages).toHaveLength(2);
          expect(messages.map((m) => m.prevId)).toEqual([null, messages[0]?.id]);
        }
      } finally {
        await db.close();
        await database.drop();
      }
    });
  }

  it('stores once a clientMessageId that a concurrent transaction commits for another conversation, keeping the chain exact', async () => {
    const database = await freshDatabase();
    const db = new PgDb({ connectionString: database.url, maxConnections: 4 });
    const store = new SqlStore(db);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await store.migrate();
      const [a, b] = [await createUser(db, 'ca'), await createUser(db, 'cb')];
      const [c1, c2] = [await createGroup(db, [a, b]), await createGroup(db, [a, b])];
      const first = await store.appendMessages([{ conversationId: c1, authorId: b, content: 'first', clientMessageId: null }]);
      // Another writer holds the same (author, clientMessageId) in another conversation, not yet
      // committed: the batch waits on the unique index, then finds it taken.
      await admin.query('BEGIN');
      const { rows } = await admin.query<{ id: string }>(
        "INSERT INTO messages (conversation_id, author_id, content, client_message_id) VALUES ($1, $2, 'elsewhere', 'k') RETURNING id::text",
        [c2, a],
      );
      // A batch of one: no retry one message at a time can hide a failure of the batch itself.
      const pending = store.appendMessages([{ conversationId: c1, authorId: a, content: 'taken', clientMessageId: 'k' }]);
      await expect.poll(async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rowCount).toBe(1);
      await admin.query('COMMIT');
      const [taken] = await pending;
      expect(taken).toMatchObject({ created: false, message: { id: rows[0]?.id, content: 'elsewhere' } });
      const [second] = await store.appendMessages([{ conversationId: c1, authorId: b, content: 'second', clientMessageId: null }]);
      expect(second).toMatchObject({ created: true, message: { content: 'second', prevId: (first[0] as { message: { id: string } }).message.id } });
      expect((await store.messages(c1, { limit: 10 })).messages.map((m) => m.content)).toEqual(['first', 'second']);
    } finally {
      await admin.end();
      await store.close();
      await database.drop();
    }
  });

  /** The node's connections to a database, with what each ran last. */
  const connectionsTo = async (admin: pg.Client, database: string) =>
    (await admin.query<{ state: string; query: string }>('SELECT state, query FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [database, APPLICATION_NAME])).rows;

  it('warms up every pooled connection: each is opened and has run the append function, which stores nothing', async () => {
    const database = await freshDatabase();
    const store = new SqlStore(new PgDb({ connectionString: database.url, maxConnections: 3 }));
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await store.migrate();
      await store.warmUp();
      const connections = await connectionsTo(admin, database.name);
      expect(connections).toHaveLength(3);
      for (const c of connections) expect(c).toEqual({ state: 'idle', query: expect.stringContaining('massenger_append_messages(') });
      expect((await admin.query('SELECT count(*)::int AS n FROM messages')).rows[0].n).toBe(0);
    } finally {
      await admin.end();
      await store.close();
      await database.drop();
    }
  });

  it('rejects a warm-up whose statement fails, drops those connections and keeps serving', async () => {
    const database = await freshDatabase();
    const db = new PgDb({ connectionString: database.url, maxConnections: 2 });
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await expect(db.warmUp([{ text: 'SELECT no_such_function($1::int)', values: [1] }])).rejects.toThrow(/no_such_function/);
      // A dropped connection's backend leaves pg_stat_activity a moment after the client hangs up.
      await waitUntil(async () => (await connectionsTo(admin, database.name)).length === 0, 'the failed connections to be dropped', 3000);
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
      await db.close();
      await database.drop();
    }
  });

  it('a node warms up DB_POOL_SIZE connections before it listens', async () => {
    const [postgres] = await postgresOnly();
    const t = await postgres!.start({ DB_POOL_SIZE: '4' });
    const admin = new pg.Client({ connectionString: t.config.databaseUrl! });
    await admin.connect();
    try {
      const connections = await connectionsTo(admin, t.databaseName!);
      // The pool's four, and the connection that LISTENs for membership changes.
      expect(connections.filter((c) => c.query.includes('massenger_append_messages('))).toHaveLength(4);
      expect(connections).toHaveLength(5);
    } finally {
      await admin.end();
      await t.close();
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
  // With statistics, as autovacuum keeps them (test/support/plans.ts says why).
  it('plans the sign-in reads as key look-ups, in custom and generic plans', async () => {
    const database = await freshDatabase();
    const db = new PgDb({ connectionString: database.url });
    try {
      await new SqlStore(db).migrate();
      await seedNetwork(db, 20_000);
      await db.query('ANALYZE');
      expect(await wholeTableScans(db)).toEqual([]);
    } finally {
      await db.close();
      await database.drop();
    }
  });
});
