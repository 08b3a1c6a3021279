import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { PgliteDb } from '../../src/store/db-pglite.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { storeContract, type StoreUnderTest } from '../contracts/store.js';
import { storeBatchContract } from '../contracts/store-batch.js';
import { storeChangesContract } from '../contracts/store-changes.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { seedNetwork, wholeTableScans } from '../support/plans.js';

async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'massenger-pglite-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A copy of the suite's migrated database; the contracts migrate it again (a no-op, which they check). */
const makeStore = async (): Promise<StoreUnderTest> => {
  const { dir, remove } = await tempDir();
  const db = new PgliteDb({ dataDir: dir, template: process.env.TEST_PGLITE_TEMPLATE });
  const store = new SqlStore(db);
  return {
    store,
    db,
    async cleanup() {
      await store.close();
      await remove();
    },
  };
};
storeContract('PGlite', makeStore);
storeBatchContract('PGlite', makeStore);
storeChangesContract('PGlite', makeStore);

describe('PgliteDb', () => {
  // Without statistics, as the embedded database runs (no autovacuum; test/support/plans.ts says why).
  it('plans the sign-in reads as key look-ups, in custom and generic plans', async () => {
    const { dir, remove } = await tempDir();
    const db = new PgliteDb({ dataDir: dir, template: process.env.TEST_PGLITE_TEMPLATE });
    try {
      await new SqlStore(db).migrate();
      await seedNetwork(db, 20_000);
      expect(await wholeTableScans(db)).toEqual([]);
    } finally {
      await db.close();
      await remove();
    }
  });

  it('keeps data across close and reopen', async () => {
    const { dir, remove } = await tempDir();
    try {
      // A copy of the suite's migrated database (a fresh one is made by the global setup, and by
      // the process suites' `npm start` on an empty DATA_DIR): initdb in WebAssembly takes seconds.
      const writer = new PgliteDb({ dataDir: dir, template: process.env.TEST_PGLITE_TEMPLATE });
      const store = new SqlStore(writer);
      await store.migrate();
      const [a, b] = [await createUser(writer, 'a'), await createUser(writer, 'b')];
      const c = await createGroup(writer, [a, b]);
      const { message } = await store.appendMessage({ conversationId: c, authorId: a, content: 'durable 💾', clientMessageId: 'k' });
      await store.close();

      const again = new SqlStore(new PgliteDb({ dataDir: dir }));
      await again.migrate();
      expect((await again.messages(c, { limit: 10 })).messages).toEqual([message]);
      expect((await again.conversation(b, c))?.unread).toBe(true);
      await again.close();
    } finally {
      await remove();
    }
  });

  it('starts a new database as a copy of a template, and opens an existing one as it is', async () => {
    const [source, copy] = [await tempDir(), await tempDir()];
    try {
      // The source is itself a copy of the suite's migrated database (test/support/pglite-template.ts).
      const original = new PgliteDb({ dataDir: source.dir, template: process.env.TEST_PGLITE_TEMPLATE });
      await original.query("INSERT INTO users (username) VALUES ('in the template')");
      await original.close();
      const template = source.dir;

      const names = async (db: PgliteDb) => (await db.query<{ username: string }>('SELECT username FROM users ORDER BY id')).rows.map((r) => r.username);
      const first = new PgliteDb({ dataDir: copy.dir, template });
      expect(await names(first)).toEqual(['in the template']);
      await first.query("INSERT INTO users (username) VALUES ('in the copy')");
      await first.close();
      // The copy is a database now: opened as it is, not replaced by the template again.
      const again = new PgliteDb({ dataDir: copy.dir, template });
      expect(await names(again)).toEqual(['in the template', 'in the copy']);
      await again.close();
      // The template is as it was, and one is only ever copied into a directory.
      const unchanged = new PgliteDb({ dataDir: source.dir });
      expect(await names(unchanged)).toEqual(['in the template']);
      await unchanged.close();
      expect(() => new PgliteDb({ template })).toThrow(/dataDir/);
    } finally {
      await source.remove();
      await copy.remove();
    }
  });

  it('passes values and results far larger than its thread young generation', async () => {
    // The thread's young generation is kept small (db-pglite.ts). Values and results many times
    // its size still pass whole: a 16 MB value, and 16 MB of rows, as an INIT of 1,000 long
    // messages reads.
    const { dir, remove } = await tempDir();
    const db = new PgliteDb({ dataDir: dir, template: process.env.TEST_PGLITE_TEMPLATE });
    onTestFinished(async () => {
      await db.close();
      await remove();
    });
    const big = '😀'.repeat(4_000_000);
    const echoed = await db.query<{ n: number }>('SELECT char_length($1::text) AS n', [big]);
    expect(echoed.rows).toEqual([{ n: 4_000_000 }]);
    const rows = await db.query<{ i: number; s: string }>("SELECT i, repeat('é', 16000) AS s FROM generate_series(1, 1000) AS i");
    expect(rows.rows).toHaveLength(1000);
    expect(rows.rows.every((r, k) => r.i === k + 1 && r.s.length === 16000)).toBe(true);
  });

  it('answers UNAVAILABLE once closed, and reports each operation to onQuery', async () => {
    const seen: string[] = [];
    const { dir, remove } = await tempDir();
    onTestFinished(remove);
    const store = new SqlStore(new PgliteDb({ dataDir: dir, template: process.env.TEST_PGLITE_TEMPLATE }), { onQuery: (operation, seconds) => seen.push(`${operation}:${seconds >= 0}`) });
    await store.migrate();
    await store.ping();
    await expect(store.appendMessage({ conversationId: '1', authorId: '1', content: 'x', clientMessageId: null })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(seen).toEqual(['migrate:true', 'ping:true', 'append_messages:true']);
    await store.close();
    await expect(store.ping()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
