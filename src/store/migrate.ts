/**
 * The migration runner. Migrations are TypeScript modules rather than .sql files because the build
 * (tsc) copies nothing but compiled code: this way `node dist/...` and tsx/vitest see the same
 * list. Each version runs once and is recorded in massenger_migrations.
 */
import type { Db } from './store.js';
import * as base from './migrations/001_base.js';
import * as membersNotify from './migrations/002_members_notify.js';
import * as appendBatch from './migrations/003_append_batch.js';
import * as messageChanges from './migrations/004_message_changes.js';
import * as appendSet from './migrations/005_append_set.js';
import * as appendMembersOnce from './migrations/006_append_members_once.js';

interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** In order; append only, never edit one that has shipped. */
const migrations: Migration[] = [
  { version: 1, ...base },
  { version: 2, ...membersNotify },
  { version: 3, ...appendBatch },
  { version: 4, ...messageChanges },
  { version: 5, ...appendSet },
  { version: 6, ...appendMembersOnce },
];

/** 'mass' in ASCII: a fixed key every node agrees on, unlikely to collide with the main API's locks. */
const LOCK_KEY = 1835103091;

/**
 * Applies the pending migrations in one transaction under a transaction-scoped advisory lock: a
 * second node starting at the same moment waits, then finds everything applied. Transactional DDL
 * means a failure leaves the schema as it was.
 */
export async function migrate(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS massenger_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM massenger_migrations');
    const applied = new Set(rows.map((r) => Number(r.version)));
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      for (const statement of m.statements) await tx.query(statement);
      await tx.query('INSERT INTO massenger_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
  });
}
