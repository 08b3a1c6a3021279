/**
 * Vitest global setup: one migrated embedded database that every test node on PGlite starts from
 * (node.ts), as a copy of its directory (PgliteDb's `template`). Creating a PGlite database runs
 * initdb, several seconds under the suite's load, and the migrations after it; a copy of this one
 * is ready in under one. Its directory is named by TEST_PGLITE_TEMPLATE in the environment, which
 * the test workers inherit, and so do the node processes they start themselves (churn-child.ts),
 * where vitest's inject() is not available. It is never opened again, so copies can be taken from
 * it at any time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteDb } from '../../src/store/db-pglite.js';
import { SqlStore } from '../../src/store/sql-store.js';

export default async function setup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'massenger-template-'));
  const store = new SqlStore(new PgliteDb({ dataDir: dir }));
  await store.migrate();
  await store.close();
  process.env.TEST_PGLITE_TEMPLATE = dir;
  return () => {
    delete process.env.TEST_PGLITE_TEMPLATE;
    rmSync(dir, { recursive: true, force: true });
  };
}
