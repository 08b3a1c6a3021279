/**
 * Conversation.unreadCount and Conversation.private as SQL fragments for the conversations page
 * (sql-store.ts): computed in the outer query, so only for the `limit` conversations returned,
 * never for every conversation of the user. INIT at a connection storm reads this for 10
 * conversations per user, so each count is bounded: it walks at most UNREAD_SCAN_ROWS index
 * entries of messages(conversation_id, id), newest first.
 */

/** Spec §2.2: unreadCount is counted up to 100 (100 means 100 or more). */
const MAX_UNREAD_COUNT = 100;
/**
 * Newest messages past the seen mark that a count looks at: room for MAX_UNREAD_COUNT unread ones
 * among deleted ones and the user's own. A count can only come out low when more than half of the
 * newest 200 unseen messages are deleted, and then it still says "unread".
 */
const UNREAD_SCAN_ROWS = 2 * MAX_UNREAD_COUNT;

/**
 * Inner query (aliases uc, lm as in sql-store.ts): the id up to which the user has seen the
 * conversation. massenger's exact mark `seen_message_id` when there is one; else the main API's
 * boolean: `seen` means seen up to the newest message, not seen means nothing seen yet.
 */
export const SEEN_UP_TO = `CASE WHEN uc.seen IS TRUE AND uc.seen_message_id IS NULL THEN lm.id
  ELSE coalesce(uc.seen_message_id, 0) END`;

/**
 * Outer query (alias p with p.id and p.seen_up_to; `viewer` is the SQL for the user): messages of
 * others, not deleted, newer than both the seen mark and the user's own newest message (sending a
 * message means one has seen what came before it, spec §2.2, also when the main API stored it directly).
 */
export const unreadCount = (viewer: string) => `(SELECT least(count(*), ${MAX_UNREAD_COUNT}) FROM (
    SELECT w.deleted_at, bool_or(w.author_id = ${viewer}) OVER (ORDER BY w.id DESC) AS mine_or_older
    FROM (SELECT id, author_id, deleted_at FROM messages
          WHERE conversation_id = p.id AND id > p.seen_up_to ORDER BY id DESC LIMIT ${UNREAD_SCAN_ROWS}) w
  ) x WHERE NOT x.mine_or_older AND x.deleted_at IS NULL)`;

/**
 * Outer query: the private conversation of two friends (index from migration 004). One probe per
 * row (LIMIT 1): as EXISTS, PGlite planned to read the whole friendship table and hash it.
 */
export const IS_PRIVATE = '((SELECT true FROM friendship f WHERE f.private_conversation_id = p.id LIMIT 1) IS NOT NULL)';
