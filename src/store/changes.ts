/**
 * Changing stored messages (spec §2.3): the author edits or deletes; a delete leaves a tombstone
 * whose text is gone from the row. massenger keeps no history of versions, so an edit or delete
 * overwrites the only copy it has (PostgreSQL reclaims the old row version at its next vacuum).
 */
import { AppError } from '../errors.js';
import { isId, MESSAGE_COLUMNS, type Queryable, type Record_, toMessage } from './rows.js';
import type { MessageChange, MessageRow } from './store.js';

/**
 * The next updated_at of row m: now, but always at least a millisecond past the current value, so
 * every edit or delete gives a later time even within one millisecond or on a clock that stepped
 * back. Truncated to milliseconds because the wire carries milliseconds (ISO 8601): two versions
 * must differ there too, or a client could not tell which is newer.
 */
const NEXT_UPDATED_AT = `GREATEST(date_trunc('milliseconds', clock_timestamp()),
  date_trunc('milliseconds', m.updated_at) + interval '1 millisecond')`;

/** $2 is a member of the message's conversation: an author who left may change nothing there. */
const CALLER_IS_MEMBER = `EXISTS (SELECT 1 FROM users_conversations uc
  WHERE uc.conversation_id = m.conversation_id AND uc.user_id = $2::bigint)`;

const messageNotFound = () => new AppError('NOT_FOUND', 'message not found');

/** How often an edit retries when its row changed under it between the update and the diagnosis. */
const ATTEMPTS = 3;

export async function editMessage(db: Queryable, input: { messageId: string; authorId: string; content: string }): Promise<MessageChange> {
  if (!isId(input.messageId) || !isId(input.authorId)) throw messageNotFound();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // One statement: the row lock it takes orders concurrent changes, and each computes its
    // updated_at from the version it replaces.
    const { rows } = await db.query<Record_>(
      `UPDATE messages m SET content = $3::text, updated_at = ${NEXT_UPDATED_AT}
       WHERE m.id = $1::bigint AND m.author_id = $2::bigint AND m.deleted_at IS NULL AND ${CALLER_IS_MEMBER}
       RETURNING ${MESSAGE_COLUMNS}`,
      [input.messageId, input.authorId, input.content],
    );
    if (rows[0] !== undefined) return { message: toMessage(rows[0]), changed: true };
    const found = await diagnose(db, input.messageId, input.authorId);
    // Spec §2.3: editing a deleted message is NOT_FOUND, checked before the author (FORBIDDEN).
    if (found.message.deletedAt !== null) throw messageNotFound();
    if (found.message.authorId !== input.authorId) throw new AppError('FORBIDDEN', 'only the author may edit a message');
    // Everything holds now that did not a moment ago (the author was re-added): try again.
  }
  throw new AppError('UNAVAILABLE', 'the message kept changing; try again');
}

export async function deleteMessage(db: Queryable, input: { messageId: string; authorId: string }): Promise<MessageChange> {
  if (!isId(input.messageId) || !isId(input.authorId)) throw messageNotFound();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // content = '' erases the text (not hidden); updated_at and deleted_at share one instant.
    const { rows } = await db.query<Record_>(
      `UPDATE messages m SET (content, updated_at, deleted_at) = (SELECT '', t, t FROM (SELECT ${NEXT_UPDATED_AT} AS t) n)
       WHERE m.id = $1::bigint AND m.author_id = $2::bigint AND m.deleted_at IS NULL AND ${CALLER_IS_MEMBER}
       RETURNING ${MESSAGE_COLUMNS}`,
      [input.messageId, input.authorId],
    );
    if (rows[0] !== undefined) return { message: toMessage(rows[0]), changed: true };
    const found = await diagnose(db, input.messageId, input.authorId);
    if (found.message.authorId !== input.authorId) throw new AppError('FORBIDDEN', 'only the author may delete a message');
    // Spec §2.3: deleting a deleted message answers with the same tombstone and tells no one.
    if (found.message.deletedAt !== null) return { message: found.message, changed: false };
  }
  throw new AppError('UNAVAILABLE', 'the message kept changing; try again');
}

/**
 * Why a change matched no row: NOT_FOUND when the message is unknown or the caller is not a member
 * of its conversation (one answer for both, spec §2.3), else the message as it is.
 */
async function diagnose(db: Queryable, messageId: string, userId: string): Promise<{ message: MessageRow }> {
  const { rows } = await db.query<Record_>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1::bigint AND ${CALLER_IS_MEMBER}`,
    [messageId, userId],
  );
  if (rows[0] === undefined) throw messageNotFound();
  return { message: toMessage(rows[0]) };
}

/**
 * See Store.changedSince. "After lastId was stored" is compared at millisecond precision, as
 * updated_at is kept: a change in the same millisecond as that message is sent again rather than
 * missed (a client replaces what it has by id). Per conversation through the partial index of
 * changed messages (migration 003), so the work follows the edits, not the history.
 */
export async function changedSince(db: Queryable, userId: string, lastId: string, limit: number): Promise<MessageRow[]> {
  if (!isId(lastId) || !isId(userId)) return [];
  const { rows } = await db.query<Record_>(
    `WITH since AS (
       SELECT date_trunc('milliseconds', created_at) AS at FROM messages WHERE id <= $2::bigint ORDER BY id DESC LIMIT 1
     )
     SELECT m.* FROM since CROSS JOIN users_conversations uc
     CROSS JOIN LATERAL (
       SELECT ${MESSAGE_COLUMNS} FROM messages m
       WHERE m.conversation_id = uc.conversation_id AND m.updated_at > m.created_at
         AND m.updated_at >= since.at AND m.id <= $2::bigint
       ORDER BY m.id LIMIT $3
     ) m
     WHERE uc.user_id = $1::bigint
     ORDER BY m.id LIMIT $3`,
    [userId, lastId, limit],
  );
  return rows.map((r) => toMessage(r));
}
