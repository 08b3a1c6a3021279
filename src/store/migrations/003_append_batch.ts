/**
 * Group commit: one call stores a whole batch of messages, for any mix of conversations, in one
 * statement and so one transaction and one WAL flush. A commit costs the same for one message or
 * hundreds, so batching sends that arrive while a commit is in flight is what lets a node store
 * every message and still keep up with a relay that stores nothing.
 *
 * The function, top to bottom:
 * - walks the batch in (conversation id, position) order and locks each conversation row as it
 *   reaches it, so two batches (of two nodes) lock rows in the same order and never deadlock;
 * - under that lock, reads the conversation's last message: under READ COMMITTED a writer that
 *   waited for the lock sees the row as the previous writer committed it, so `last_message_id` is
 *   the exact predecessor (prev_id), and an id drawn after the lock is larger than every committed
 *   one of that conversation (ids grow in commit order);
 * - reads the conversation's members under that lock (a change of members takes the same lock, so
 *   the list is exact at the moment the message is stored: the fan-out's recipients);
 * - checks the author is a member (else 'not_found'), inserts, and chains prev_id within the batch;
 * - a clientMessageId already used by the author (before, or earlier in this batch, or by a
 *   concurrent batch: the unique index decides) stores nothing: 'duplicate' with the original id;
 * - at the end, per conversation: last_message_id/last_activity_at once; the authors have seen up
 *   to their own newest message; the main API's `seen` flag is true only for the author of the
 *   newest message, false for everyone else who had it.
 *
 * prev_id chains the messages massenger stored (and so published): a message the main API inserts
 * directly is never published, so it must not enter the chain the bus orders by.
 * clock_timestamp(), not now(): taken after the lock, so times grow with ids in a conversation.
 */
export const name = 'append_batch';

export const statements: string[] = [
  `CREATE OR REPLACE FUNCTION massenger_append_messages(
     p_conversation_ids bigint[], p_author_ids bigint[], p_contents text[], p_client_message_ids text[])
   RETURNS TABLE (n bigint, outcome text, message_id bigint, message_prev_id bigint,
                  message_created_at timestamptz, prev_created_at timestamptz, members text[])
   LANGUAGE plpgsql AS $fn$
   DECLARE
     r record;
     cur bigint;
     cur_exists boolean := false;
     cur_members text[];
     last_id bigint;
     last_at timestamptz;
     t timestamptz;
     new_id bigint;
     m_cid bigint[] := '{}';
     m_aid bigint[] := '{}';
     m_mid bigint[] := '{}';
     m_at timestamptz[] := '{}';
   BEGIN
     FOR r IN
       SELECT u.cid, u.aid, u.body, u.cmid, u.pos
       FROM unnest(p_conversation_ids, p_author_ids, p_contents, p_client_message_ids) WITH ORDINALITY AS u(cid, aid, body, cmid, pos)
       ORDER BY u.cid, u.pos
     LOOP
       IF cur IS DISTINCT FROM r.cid THEN
         cur := r.cid;
         SELECT c.last_message_id, c.last_activity_at INTO last_id, last_at FROM conversations c WHERE c.id = r.cid FOR UPDATE;
         cur_exists := FOUND;
         SELECT coalesce(array_agg(DISTINCT uc.user_id::text), '{}') INTO cur_members
           FROM users_conversations uc WHERE uc.conversation_id = r.cid;
       END IF;
       n := r.pos; message_id := NULL; message_prev_id := NULL; message_created_at := NULL; prev_created_at := NULL; members := NULL;
       IF NOT cur_exists OR NOT (r.aid::text = ANY (cur_members)) THEN
         outcome := 'not_found';
         RETURN NEXT;
         CONTINUE;
       END IF;
       t := clock_timestamp();
       new_id := NULL;
       INSERT INTO messages AS m (conversation_id, author_id, content, client_message_id, prev_id, created_at, updated_at)
         VALUES (r.cid, r.aid, r.body, r.cmid, last_id, t, t)
         ON CONFLICT (author_id, client_message_id) WHERE client_message_id IS NOT NULL DO NOTHING
         RETURNING m.id INTO new_id;
       IF new_id IS NULL THEN
         outcome := 'duplicate';
         SELECT m.id INTO message_id FROM messages m WHERE m.author_id = r.aid AND m.client_message_id = r.cmid;
         RETURN NEXT;
         CONTINUE;
       END IF;
       outcome := 'created';
       members := cur_members;
       message_id := new_id;
       message_prev_id := last_id;
       message_created_at := t;
       -- With a last message, last_activity_at is that message's created_at (set together below).
       prev_created_at := CASE WHEN last_id IS NULL THEN NULL ELSE last_at END;
       RETURN NEXT;
       last_id := new_id;
       last_at := t;
       m_cid := m_cid || r.cid;
       m_aid := m_aid || r.aid;
       m_mid := m_mid || new_id;
       m_at := m_at || t;
     END LOOP;

     IF cardinality(m_mid) = 0 THEN RETURN; END IF;

     UPDATE conversations c SET last_message_id = x.mid, last_activity_at = x.at
     FROM (SELECT DISTINCT ON (u.cid) u.cid, u.mid, u.at FROM unnest(m_cid, m_mid, m_at) AS u(cid, mid, at) ORDER BY u.cid, u.mid DESC) x
     WHERE c.id = x.cid;

     UPDATE users_conversations uc SET seen = (nw.aid = own.aid), seen_message_id = own.mid, seen_at = own.at
     FROM (SELECT DISTINCT ON (u.cid, u.aid) u.cid, u.aid, u.mid, u.at
           FROM unnest(m_cid, m_aid, m_mid, m_at) AS u(cid, aid, mid, at) ORDER BY u.cid, u.aid, u.mid DESC) own
     JOIN (SELECT DISTINCT ON (u.cid) u.cid, u.aid FROM unnest(m_cid, m_aid, m_mid) AS u(cid, aid, mid) ORDER BY u.cid, u.mid DESC) nw
       ON nw.cid = own.cid
     WHERE uc.conversation_id = own.cid AND uc.user_id = own.aid;

     UPDATE users_conversations uc SET seen = false
     FROM (SELECT DISTINCT u.cid FROM unnest(m_cid) AS u(cid)) x
     WHERE uc.conversation_id = x.cid AND uc.seen
       AND NOT EXISTS (SELECT 1 FROM unnest(m_cid, m_aid) AS a(cid, aid) WHERE a.cid = uc.conversation_id AND a.aid = uc.user_id);
   END
   $fn$`,
];
