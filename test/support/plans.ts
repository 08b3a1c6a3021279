/**
 * How the sign-in reads are planned. After a few runs PostgreSQL may keep one generic plan per
 * prepared statement, made without the parameters' values (it guesses 10 elements for an array),
 * and PGlite plans without statistics (no autovacuum): a read planned to scan a table whole does
 * so at every sign-in batch and every conversations page, however few rows it wants.
 */
import { SIGN_IN_READS } from '../../src/store/sql-store.js';
import type { Db } from '../../src/store/store.js';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/**
 * A social network of `users` users in conversations of 8, each befriended with the next, each with
 * one message. Not the soak's seed() (scripts/soak-node.ts): its private conversations double
 * users_conversations, and with those statistics PostgreSQL's generic plan of the members read
 * happened to probe `users` by key even as a plain join, so this check passed on that bug.
 */
export async function seedNetwork(db: Pick<Db, 'query'>, users: number): Promise<void> {
  for (const statement of [
    "INSERT INTO users (username) SELECT 'u' || g FROM generate_series(1, $1::int) g",
    'INSERT INTO conversations (created_at) SELECT now() FROM generate_series(1, ($1::int + 7) / 8)',
    'INSERT INTO users_conversations (user_id, conversation_id, seen) SELECT id, (id - 1) / 8 + 1, false FROM users WHERE id <= $1::int',
    'INSERT INTO friendship (user1_id, user2_id) SELECT id, id + 1 FROM users WHERE id < $1::int',
    "INSERT INTO messages (conversation_id, author_id, content) SELECT (id - 1) / 8 + 1, id, 'm' FROM users WHERE id <= $1::int",
  ]) await db.query(statement, [users]);
}

/** Twelve users of a seeded network, from twelve conversations: a sign-in batch's ids. */
const SOME_IDS = `'{${Array.from({ length: 12 }, (_, i) => 1 + 8 * i).join(',')}}'::bigint[]`;

/**
 * The tables that the plans of the sign-in reads scan whole, as "custom plan, read N: table": with
 * the plan made for the values at hand (what PGlite runs, and PostgreSQL at first) and with the
 * generic one.
 */
export function wholeTableScans(db: Db): Promise<string[]> {
  return db.transaction(async (tx) => {
    const scans: string[] = [];
    for (const mode of ['custom', 'generic']) {
      await tx.query(`SET LOCAL plan_cache_mode = force_${mode}_plan`);
      for (const [i, read] of SIGN_IN_READS.entries()) {
        await tx.query(`PREPARE sign_in_read_${i} AS ${read.text}`);
        const args = read.values.map((v) => (Array.isArray(v) ? SOME_IDS : String(v)));
        const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) EXECUTE sign_in_read_${i}(${args.join(', ')})`);
        await tx.query(`DEALLOCATE sign_in_read_${i}`);
        const explained = rows[0]?.['QUERY PLAN'];
        const [{ Plan }] = (typeof explained === 'string' ? JSON.parse(explained) : explained) as [{ Plan: PlanNode }];
        scans.push(...seqScans(Plan).map((table) => `${mode} plan, read ${i}: ${table}`));
      }
    }
    return scans;
  });
}

function seqScans(node: PlanNode): string[] {
  const own = node['Node Type'] === 'Seq Scan' ? [node['Relation Name'] ?? '?'] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}
