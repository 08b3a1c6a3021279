import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PgliteDb } from '../../src/store/db-pglite.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { storeContract, type StoreUnderTest } from '../contracts/store.js';
import { storeBatchContract } from '../contracts/store-batch.js';
import { storeChangesContract } from '../contracts/store-changes.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';

async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'massenger-pglite-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

const makeStore = async (): Promise<StoreUnderTest> => {
  const { dir, remove } = await tempDir();
  const db = new PgliteDb({ dataDir: dir });
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
  it('keeps data across close and reopen', async () => {
    const { dir, remove } = await tempDir();
    try {
      const writer = new PgliteDb({ dataDir: dir });
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

  it('answers UNAVAILABLE once closed, and reports each operation to onQuery', async () => {
    const seen: string[] = [];
    const store = new SqlStore(new PgliteDb(), { onQuery: (operation, seconds) => seen.push(`${operation}:${seconds >= 0}`) });
    await store.migrate();
    await store.ping();
    await expect(store.appendMessage({ conversationId: '1', authorId: '1', content: 'x', clientMessageId: null })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(seen).toEqual(['migrate:true', 'ping:true', 'append_messages:true']);
    await store.close();
    await expect(store.ping()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
