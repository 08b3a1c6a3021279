/**
 * Changing who is in a conversation (spec §2.3 membership). Each change runs in one transaction
 * holding the conversation's row lock, the lock the storing path takes too: two adds cannot both
 * pass the member limit, and a message is stored wholly before or wholly after a change of members.
 * The users_conversations trigger (migration 002) tells every node's members cache on commit.
 */
import { AppError, conversationNotFound } from '../errors.js';
import { isId, type Queryable, type Record_ } from './rows.js';
import type { Db, MembersChange } from './store.js';

interface Locked {
  members: string[];
  private: boolean;
}

/**
 * Locks the conversation and reads its members; NOT_FOUND unless `userId` is one of them (an
 * unknown conversation and a stranger's get the same answer, spec §2.3).
 */
async function lockAsMember(tx: Queryable, conversationId: string, userId: string): Promise<Locked> {
  const { rows } = await tx.query<Record_>(
    `SELECT EXISTS (SELECT 1 FROM friendship f WHERE f.private_conversation_id = c.id) AS private
     FROM conversations c WHERE c.id = $1::bigint FOR UPDATE`,
    [conversationId],
  );
  if (rows[0] === undefined) throw conversationNotFound();
  const { rows: memberRows } = await tx.query<Record_>(
    'SELECT DISTINCT user_id FROM users_conversations WHERE conversation_id = $1::bigint ORDER BY user_id',
    [conversationId],
  );
  const members = memberRows.map((r) => String(r.user_id));
  if (!members.includes(userId)) throw conversationNotFound();
  return { members, private: rows[0].private === true };
}

/** See Store.addMembers. The users must exist (the caller checked: INVALID_DATA comes first). */
export async function addMembers(db: Db, conversationId: string, byUserId: string, userIds: string[], maxMembers: number): Promise<MembersChange> {
  if (!isId(conversationId) || !isId(byUserId)) throw conversationNotFound();
  return db.transaction(async (tx) => {
    const locked = await lockAsMember(tx, conversationId, byUserId);
    const current = new Set(locked.members);
    // Repeated ids and members already in do not count (spec §2.3).
    const fresh = [...new Set(userIds)].filter((id) => !current.has(id));
    // The member limit is checked after membership: a stranger must not learn a conversation's size.
    if (locked.members.length + fresh.length > maxMembers) {
      throw new AppError('INVALID_DATA', `a conversation holds at most ${maxMembers} members; it has ${locked.members.length}`);
    }
    if (locked.private) throw new AppError('FORBIDDEN', 'a private conversation never changes its members');
    if (fresh.length === 0) return { added: [], members: locked.members };
    // NOT EXISTS rather than ON CONFLICT: a main-API table may have no unique key to conflict on,
    // and the main API may add someone without taking this lock.
    const { rows } = await tx.query<Record_>(
      `INSERT INTO users_conversations (user_id, conversation_id, seen)
       SELECT u, $2::bigint, false FROM unnest($1::bigint[]) AS u
       WHERE NOT EXISTS (SELECT 1 FROM users_conversations WHERE user_id = u AND conversation_id = $2::bigint)
       RETURNING user_id`,
      [fresh, conversationId],
    );
    const inserted = new Set(rows.map((r) => String(r.user_id)));
    const added = fresh.filter((id) => inserted.has(id));
    return { added, members: [...locked.members, ...added] };
  });
}

/** See Store.leaveConversation. */
export async function leaveConversation(db: Db, conversationId: string, userId: string): Promise<MembersChange> {
  if (!isId(conversationId) || !isId(userId)) throw conversationNotFound();
  return db.transaction(async (tx) => {
    const locked = await lockAsMember(tx, conversationId, userId);
    if (locked.private) throw new AppError('FORBIDDEN', 'a private conversation never changes its members');
    await tx.query('DELETE FROM users_conversations WHERE conversation_id = $1::bigint AND user_id = $2::bigint', [conversationId, userId]);
    // A conversation whose last member left stays stored, visible to no one (spec §2.3).
    return { added: [], members: locked.members.filter((id) => id !== userId) };
  });
}
