/**
 * Group commit, set-based. Migration 003 stored a batch one row at a time in a plpgsql loop; at a
 * few thousand messages a second that loop was most of PostgreSQL's CPU (about 150 µs a message in
 * batches of 20, measured alone). This version stores the whole batch with one INSERT … SELECT and
 * keeps every rule of 003 (read it for the why of each):
 *
 * - the batch's conversation rows are locked first, in id order (never a deadlock between nodes);
 * - then one statement, whose snapshot is taken after the locks, so it sees every committed
 *   message of those conversations: it classifies each input (not a member: 'not_found'; a
 *   clientMessageId already stored, or used earlier in this batch: 'duplicate'), draws the new
 *   ids from the sequence in (conversation, position) order, chains prev_id within the batch from
 *   the conversation's last message, inserts, and updates last_message_id and the seen marks;
 * - the members, read under the lock, come back once per conversation (on its first stored
 *   message) instead of on every row: the caller carries them to the conversation's other rows.
 *
 * Two cases the set cannot settle alone fall back to 003's row loop, renamed
 * massenger_append_messages_by_row, inside the same transaction: a clientMessageId stored at the
 * same moment by a concurrent batch of another conversation (the unique index raises instead of
 * leaving a gap in a prev_id chain), and a messages.id without a sequence of its own (a main-API
 * schema whose ids come from elsewhere). The statement's results are gathered in arrays before
 * anything is returned, so a fallback never returns half a batch twice.
 *
 * Times are taken per row after the ids are drawn, in the same order: they grow with ids in a
 * conversation, as before.
 *
 * Measured alone on PostgreSQL 15 (backend CPU per stored message, batches over 125 conversations
 * of 8, medians of three runs): 228 µs in batches of 5, as the row loop (but 397 with custom
 * plans), 117 in batches of 20 (the row loop: 130), and in single runs 82 in batches of 100 (87)
 * and 57 in batches of 500 (74). Under load batches grow, and so does the difference.
 */
export const name = 'append_set';

export const statements: string[] = [
  `ALTER FUNCTION massenger_append_messages(bigint[], bigint[], text[], text[]) RENAME TO massenger_append_messages_by_row`,
  `CREATE FUNCTION massenger_append_messages(
     p_conversation_ids bigint[], p_author_ids bigint[], p_contents text[], p_client_message_ids text[])
   RETURNS TABLE (n bigint, outcome text, message_id bigint, message_prev_id bigint,
                  message_created_at timestamptz, prev_created_at timestamptz, members text[])
   LANGUAGE plpgsql
   -- Planned once per connection: with custom plans the statement below was planned again on
   -- most calls, which cost more than storing a batch of a few messages.
   SET plan_cache_mode = force_generic_plan
   AS $fn$
   DECLARE
     id_sequence text := pg_get_serial_sequence('messages', 'id');
     o_n bigint[]; o_outcome text[]; o_id bigint[]; o_prev bigint[]; o_at timestamptz[]; o_prev_at timestamptz[];
     o_members text[];
     o_members_at int[];
   BEGIN
     IF id_sequence IS NULL THEN
       RETURN QUERY SELECT * FROM massenger_append_messages_by_row(p_conversation_ids, p_author_ids, p_contents, p_client_message_ids);
       RETURN;
     END IF;

     PERFORM 1 FROM conversations c WHERE c.id = ANY (p_conversation_ids) ORDER BY c.id FOR UPDATE;

     BEGIN
       WITH input AS (
         SELECT u.cid, u.aid, u.body, u.cmid, u.pos
         FROM unnest(p_conversation_ids, p_author_ids, p_contents, p_client_message_ids) WITH ORDINALITY AS u(cid, aid, body, cmid, pos)
       ),
       conv AS MATERIALIZED (
         SELECT c.id, c.last_message_id, c.last_activity_at,
                (SELECT array_agg(DISTINCT uc.user_id::text) FROM users_conversations uc WHERE uc.conversation_id = c.id) AS members
         FROM conversations c WHERE c.id IN (SELECT DISTINCT cid FROM input)
       ),
       admitted AS (
         SELECT i.*, cv.last_message_id, cv.last_activity_at, cv.members
         FROM input i JOIN conv cv ON cv.id = i.cid
         WHERE i.aid::text = ANY (cv.members)
       ),
       ranked AS (
         SELECT a.*,
                (SELECT m.id FROM messages m WHERE m.author_id = a.aid AND m.client_message_id = a.cmid) AS stored_id,
                CASE WHEN a.cmid IS NULL THEN 1 ELSE row_number() OVER (PARTITION BY a.aid, a.cmid ORDER BY a.cid, a.pos) END AS use_rank
         FROM admitted a
       ),
       drawn AS (
         SELECT r.*, nextval(id_sequence) AS id, clock_timestamp() AS t
         FROM ranked r WHERE r.stored_id IS NULL AND r.use_rank = 1
         ORDER BY r.cid, r.pos
       ),
       fresh AS (
         SELECT d.*,
                coalesce(lag(d.id) OVER w, d.last_message_id) AS prev_id,
                CASE WHEN lag(d.id) OVER w IS NOT NULL THEN lag(d.t) OVER w
                     WHEN d.last_message_id IS NOT NULL THEN d.last_activity_at END AS prev_at,
                row_number() OVER w AS nth,
                d.id = max(d.id) OVER (PARTITION BY d.cid) AS newest,
                d.id = max(d.id) OVER (PARTITION BY d.cid, d.aid) AS authors_newest,
                last_value(d.aid) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS newest_aid,
                array_agg(d.aid) OVER (PARTITION BY d.cid) AS authors
         FROM drawn d WINDOW w AS (PARTITION BY d.cid ORDER BY d.pos)
       ),
       inserted AS (
         INSERT INTO messages (id, conversation_id, author_id, content, client_message_id, prev_id, created_at, updated_at)
         OVERRIDING SYSTEM VALUE -- the ids come from the column's own sequence, also for GENERATED ALWAYS
         SELECT f.id, f.cid, f.aid, f.body, f.cmid, f.prev_id, f.t, f.t FROM fresh f
       ),
       moved AS (
         UPDATE conversations c SET last_message_id = f.id, last_activity_at = f.t
         FROM fresh f WHERE f.newest AND c.id = f.cid
       ),
       authors_seen AS (
         UPDATE users_conversations uc SET seen = (own.newest_aid = own.aid), seen_message_id = own.id, seen_at = own.t
         FROM fresh own
         WHERE own.authors_newest AND uc.conversation_id = own.cid AND uc.user_id = own.aid
       ),
       others_unseen AS (
         UPDATE users_conversations uc SET seen = false
         FROM fresh x
         WHERE x.newest AND uc.conversation_id = x.cid AND uc.seen AND uc.user_id <> ALL (x.authors)
       ),
       outcomes AS (
         SELECT i.pos,
                CASE WHEN f.id IS NOT NULL THEN 'created' WHEN r.cid IS NULL THEN 'not_found' ELSE 'duplicate' END AS outcome,
                coalesce(f.id, r.stored_id, (SELECT first.id FROM fresh first WHERE first.aid = r.aid AND first.cmid = r.cmid)) AS id,
                f.prev_id, f.t, f.prev_at,
                CASE WHEN f.nth = 1 THEN f.members END AS members
         FROM input i
         LEFT JOIN ranked r ON r.pos = i.pos
         LEFT JOIN fresh f ON f.pos = i.pos
       )
       SELECT array_agg(x.pos ORDER BY x.pos), array_agg(x.outcome ORDER BY x.pos), array_agg(x.id ORDER BY x.pos),
              array_agg(x.prev_id ORDER BY x.pos), array_agg(x.t ORDER BY x.pos), array_agg(x.prev_at ORDER BY x.pos),
              coalesce(array_agg(array_to_string(x.members, ',')) FILTER (WHERE x.members IS NOT NULL), '{}'),
              coalesce(array_agg(x.pos::int) FILTER (WHERE x.members IS NOT NULL), '{}')
         INTO o_n, o_outcome, o_id, o_prev, o_at, o_prev_at, o_members, o_members_at
       FROM outcomes x;
     EXCEPTION WHEN unique_violation THEN
       RETURN QUERY SELECT * FROM massenger_append_messages_by_row(p_conversation_ids, p_author_ids, p_contents, p_client_message_ids);
       RETURN;
     END;

     RETURN QUERY
       SELECT u.n, u.outcome, u.id, u.prev, u.at, u.prev_at, string_to_array(mm.list, ',')
       FROM unnest(o_n, o_outcome, o_id, o_prev, o_at, o_prev_at) AS u(n, outcome, id, prev, at, prev_at)
       LEFT JOIN unnest(o_members, o_members_at) AS mm(list, pos) ON mm.pos = u.n;
   END
   $fn$`,
];
