/**
 * Storing a batch reads each conversation's members in one pass instead of one per conversation.
 * Migration 005 read them with a subquery per conversation, and cleared the other members' seen
 * marks with a scan per conversation: PostgreSQL runs each of those as a bitmap scan started again,
 * and every restart asks the kernel for the table's length (an lseek). A batch over 32
 * conversations did 64 of them.
 *
 * This is 005's function with two changes, each swapped in below so that the difference is all
 * there is to read:
 * - the members of every conversation in the batch come from one grouped scan over
 *   `conversation_id = ANY (the batch's conversations)`;
 * - clearing the seen marks names the same condition, so the scan can start from that set.
 *
 * Measured alone on PostgreSQL 15 (batches of 37 over 125 conversations of 8, three runs each,
 * alternated): 51.0 to 53.7 µs of backend CPU per stored message against 57.4 to 62.5 before, and
 * 2.62 to 2.77 ms per batch against 2.88 to 3.05, commit included.
 */
import { statements as appendSet } from './005_append_set.js';

export const name = 'append_members_once';

const MEMBERS_PER_CONVERSATION = `conv AS MATERIALIZED (
         SELECT c.id, c.last_message_id, c.last_activity_at,
                (SELECT array_agg(DISTINCT uc.user_id::text) FROM users_conversations uc WHERE uc.conversation_id = c.id) AS members
         FROM conversations c WHERE c.id IN (SELECT DISTINCT cid FROM input)
       ),`;

// DISTINCT: a main-API table without a primary key may hold a membership twice.
const MEMBERS_AT_ONCE = `member_lists AS (
         SELECT uc.conversation_id, array_agg(DISTINCT uc.user_id::text) AS members
         FROM users_conversations uc WHERE uc.conversation_id = ANY (p_conversation_ids)
         GROUP BY uc.conversation_id
       ),
       conv AS MATERIALIZED (
         SELECT c.id, c.last_message_id, c.last_activity_at, ml.members
         FROM conversations c LEFT JOIN member_lists ml ON ml.conversation_id = c.id
         WHERE c.id = ANY (p_conversation_ids)
       ),`;

const UNSEEN_PER_CONVERSATION = 'WHERE x.newest AND uc.conversation_id = x.cid AND uc.seen';
const UNSEEN_AT_ONCE = 'WHERE x.newest AND uc.conversation_id = x.cid AND uc.conversation_id = ANY (p_conversation_ids) AND uc.seen';

/** `text` with `from` replaced by `to`; fails at load, not in a database, if `from` is not there once. */
function swap(text: string, from: string, to: string): string {
  if (text.split(from).length !== 2) throw new Error(`migration ${name}: the text to replace is not in 005's function exactly once`);
  return text.replace(from, to);
}

const previous = appendSet.find((s) => s.startsWith('CREATE FUNCTION massenger_append_messages('));
if (previous === undefined) throw new Error(`migration ${name}: 005's function not found`);

export const statements: string[] = [
  swap(swap(swap(previous, 'CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION'), MEMBERS_PER_CONVERSATION, MEMBERS_AT_ONCE), UNSEEN_PER_CONVERSATION, UNSEEN_AT_ONCE),
];
