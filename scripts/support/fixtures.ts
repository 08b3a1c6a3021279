/**
 * Rows the main API would own (users, friendships, their private conversations), written with
 * plain SQL so the demo script, the benchmark and the tests do not depend on the store under test.
 */
import type { Db } from '../../src/store/store.js';

type Queryable = Pick<Db, 'query'>;

/** Inserts a user; returns its id. */
export async function createUser(db: Queryable, username: string, profilePicture?: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    'INSERT INTO users (username, profile_picture) VALUES ($1, $2) RETURNING id',
    [username, profilePicture ?? null],
  );
  return String(rows[0]?.id);
}

/** Creates a conversation with these members (no messages); returns its id. */
export async function createGroup(db: Queryable, memberIds: string[]): Promise<string> {
  const { rows } = await db.query<{ id: string }>('INSERT INTO conversations (created_at) VALUES (now()) RETURNING id');
  const id = String(rows[0]?.id);
  await db.query(
    'INSERT INTO users_conversations (user_id, conversation_id, seen) SELECT unnest($1::bigint[]), $2::bigint, false',
    [memberIds, id],
  );
  return id;
}

/** Makes a and b friends the way the main API does (one row, a → b) with their private conversation; returns its id. */
export async function befriend(db: Queryable, a: string, b: string): Promise<string> {
  const conversationId = await createGroup(db, [a, b]);
  await db.query(
    'INSERT INTO friendship (user1_id, user2_id, private_conversation_id, created_at) VALUES ($1, $2, $3, now())',
    [a, b, conversationId],
  );
  return conversationId;
}
