/**
 * Storing a message: the hot path of the store, and the one place where order is made (spec §2.3:
 * messages reach members in stored order; the bus orders by the prev_id chain made here).
 */
import { conversationNotFound } from '../errors.js';
import { MESSAGE_COLUMNS, type Queryable, type Record_, toMessage } from './rows.js';
import type { AppendMessageInput, AppendResult, MessageRow } from './store.js';

/**
 * Stores a message in one statement; see Store.appendMessage for the guarantees. One statement,
 * committed on its own, holds the conversation's row lock for a single round trip: writers of a
 * busy conversation queue on that lock, so its hold time bounds the conversation's throughput.
 */
export async function append(db: Queryable, input: AppendMessageInput): Promise<AppendResult> {
  if (input.clientMessageId !== null) {
    // A stored message never changes, so the idempotent answer needs no lock. A duplicate racing
    // this one is caught by the unique index (appendMessage re-reads the winner).
    const original = await byClientMessageId(db, input.authorId, input.clientMessageId);
    if (original !== null) return { message: original, created: false, prevCreatedAt: null };
  }
  // c locks the conversation row (members only): under READ COMMITTED a writer that waited for the
  // lock reads the row as the previous writer committed it, so last_message_id is the exact
  // predecessor (prev_id) and the id drawn after the lock is larger than every committed one.
  // prev_id chains the messages massenger stored (and so published): the bus orders by it, so a
  // message inserted directly by the main API, which no node publishes, must not enter the chain.
  // clock_timestamp(), not now(): taken after the lock, so times grow with ids in a conversation.
  // Members who had seen the conversation no longer have (the main API's boolean stays honest);
  // the author has seen their own message.
  const { rows } = await db.query<Record_>(
    `WITH c AS (
       SELECT id, last_message_id, last_activity_at FROM conversations
       WHERE id = $1::bigint
         AND EXISTS (SELECT 1 FROM users_conversations WHERE conversation_id = $1::bigint AND user_id = $2::bigint)
       FOR UPDATE
     ), m AS (
       INSERT INTO messages (conversation_id, author_id, content, client_message_id, prev_id, created_at, updated_at)
       SELECT c.id, $2::bigint, $3::text, $4::text, c.last_message_id, t, t FROM c, clock_timestamp() AS t
       RETURNING *
     ), cu AS (
       UPDATE conversations SET last_message_id = m.id, last_activity_at = m.created_at
       FROM m WHERE conversations.id = m.conversation_id
     ), uc AS (
       UPDATE users_conversations SET
         seen = users_conversations.user_id = m.author_id,
         seen_message_id = CASE WHEN users_conversations.user_id = m.author_id THEN m.id ELSE users_conversations.seen_message_id END,
         seen_at = CASE WHEN users_conversations.user_id = m.author_id THEN m.created_at ELSE users_conversations.seen_at END
       FROM m
       WHERE users_conversations.conversation_id = m.conversation_id
         AND (users_conversations.seen OR users_conversations.user_id = m.author_id)
     )
     SELECT ${MESSAGE_COLUMNS}, c.last_activity_at AS prev_created_at FROM m, c`,
    [input.conversationId, input.authorId, input.content, input.clientMessageId],
  );
  const row = rows[0];
  if (row === undefined) throw conversationNotFound();
  const message = toMessage(row);
  // With a last message, last_activity_at is that message's created_at (this statement sets both).
  return { message, created: true, prevCreatedAt: message.prevId === null ? null : (row.prev_created_at as Date) };
}

export async function byClientMessageId(db: Queryable, authorId: string, clientMessageId: string): Promise<MessageRow | null> {
  const { rows } = await db.query<Record_>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.author_id = $1::bigint AND m.client_message_id = $2::text`,
    [authorId, clientMessageId],
  );
  return rows[0] === undefined ? null : toMessage(rows[0]);
}

