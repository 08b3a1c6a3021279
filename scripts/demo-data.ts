/**
 * Fills the server's database with demo users alice, bob, carol and dave, all friends with each
 * other (one private conversation per pair) and together in one group conversation, then prints
 * each user's id and a development token. Running it again reuses what exists.
 *
 * Uses the server's configuration: DATABASE_URL, or the embedded database in DATA_DIR. The
 * embedded one holds its directory exclusively, so stop a server using it first.
 */
import { signDevToken } from '../src/auth/jwt.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { openDb } from '../src/build.js';
import { SqlStore } from '../src/store/sql-store.js';
import type { Db } from '../src/store/store.js';
import { befriend, createGroup, createUser } from './support/fixtures.js';

const USERNAMES = ['alice', 'bob', 'carol', 'dave'];

async function userId(db: Db, username: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM users WHERE username = $1 ORDER BY id LIMIT 1', [username]);
  return rows[0] === undefined ? createUser(db, username) : String(rows[0].id);
}

async function ensureFriends(db: Db, a: string, b: string): Promise<void> {
  const { rows } = await db.query(
    'SELECT 1 FROM friendship WHERE (user1_id = $1 AND user2_id = $2) OR (user1_id = $2 AND user2_id = $1)',
    [a, b],
  );
  if (rows.length === 0) await befriend(db, a, b);
}

/** A conversation whose members are exactly these users. */
async function ensureGroup(db: Db, memberIds: string[]): Promise<string> {
  const sorted = [...memberIds].sort((x, y) => Number(x) - Number(y));
  const { rows } = await db.query<{ conversation_id: string }>(
    `SELECT conversation_id FROM users_conversations GROUP BY conversation_id
     HAVING array_agg(user_id ORDER BY user_id) = $1::bigint[] ORDER BY conversation_id LIMIT 1`,
    [sorted],
  );
  return rows[0] === undefined ? createGroup(db, sorted) : String(rows[0].conversation_id);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const db = openDb(config);
  const store = new SqlStore(db);
  try {
    await store.migrate();
    const ids: string[] = [];
    for (const username of USERNAMES) ids.push(await userId(db, username));
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) await ensureFriends(db, ids[i]!, ids[j]!);
    }
    const group = await ensureGroup(db, ids);
    const where = config.databaseUrl !== null ? 'DATABASE_URL' : `${config.dataDir} (embedded)`;
    process.stdout.write(`demo data in ${where}; group conversation ${group}\n\n`);
    for (const [i, username] of USERNAMES.entries()) {
      const token = await signDevToken(config, ids[i]!);
      process.stdout.write(`${username.padEnd(6)} id=${ids[i]}  token=${token}\n`);
    }
    process.stdout.write(
      `\nConnect a WebSocket to ws://localhost:${config.port}/ and send first:\n` +
        `{"method":"AUTHENTICATE","data":{"token":"<token>"}}\n`,
    );
  } finally {
    await store.close();
  }
}

try {
  await main();
} catch (err) {
  // A configuration or database problem is one line for a person; anything else is a bug.
  const e = err as Error & { code?: unknown };
  const known = err instanceof ConfigError || err instanceof RangeError || e.code === 'UNAVAILABLE';
  const cause = e.code === 'UNAVAILABLE' && e.cause instanceof Error ? ` (${e.cause.message})` : '';
  process.stderr.write(`demo-data: ${known ? e.message + cause : String(e.stack ?? err)}\n`);
  process.exit(1);
}
