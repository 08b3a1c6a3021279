/**
 * Vitest global setup: one migrated embedded database, dumped to a file, that every test node on
 * PGlite starts from (node.ts). Creating a PGlite database runs initdb, several seconds under the
 * suite's load, and the migrations after it; a copy of this one is ready in about one. The file is
 * named by TEST_PGLITE_TEMPLATE in the environment, which the test workers inherit, and so do the
 * node processes they start themselves (churn-child.ts), where vitest's inject() is not available.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PgliteDb } from '../../src/store/db-pglite.js';
import { SqlStore } from '../../src/store/sql-store.js';

/** Writes the closed embedded database of PgliteDb's `dataDir` to `file`, as PgliteDb's `template` reads it. */
export async function dumpPglite(dataDir: string, file: string): Promise<void> {
  const pg = await PGlite.create({ dataDir: join(dataDir, 'db') });
  const dump = await pg.dumpDataDir('gzip');
  await pg.close();
  writeFileSync(file, new Uint8Array(await dump.arrayBuffer()));
}

export default async function setup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'massenger-template-'));
  const store = new SqlStore(new PgliteDb({ dataDir: dir }));
  await store.migrate();
  await store.close();
  const file = join(dir, 'template.tgz');
  await dumpPglite(dir, file);
  process.env.TEST_PGLITE_TEMPLATE = file;
  return () => {
    delete process.env.TEST_PGLITE_TEMPLATE;
    rmSync(dir, { recursive: true, force: true });
  };
}
