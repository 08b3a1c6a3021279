/**
 * The Store over any Db: massenger's SQL (the storing statement in append.ts, the schema in
 * migrations/), one dialect for PostgreSQL and PGlite. Driver errors stop here (style §6): every
 * operation runs through #run, which maps them with translate(). Messages are stored in batches
 * (group commit, append.ts); appendMessage is a batch of one.
 */
import { AppError, conversationNotFound } from '../errors.js';
import { translate } from './db-errors.js';
import { APPEND_WARM_UP, appendBatch } from './append.js';
import { changedSince, deleteMessage, editMessage } from './changes.js';
import { addMembers, leaveConversation } from './membership.js';
import { migrate } from './migrate.js';
import { idOrNull, isId, MAX_BIGINT, MESSAGE_COLUMNS, type Queryable, type Record_, toMessage } from './rows.js';
import type { AppendMessageInput, AppendOutcome, AppendResult, ConversationRow, Db, Friend, MembersChange, MessageChange, MessageRow, Store, UserRow } from './store.js';
import { IS_PRIVATE, SEEN_UP_TO, unreadCount } from './unread.js';

export interface SqlStoreOptions {
  /** Called after every store operation with its name (e.g. 'append_message') and duration in seconds. */
  onQuery?: (operation: string, seconds: number) => void;
}

/** The same columns prefixed m_, for the last message joined onto a conversation. */
const LAST_MESSAGE_COLUMNS = MESSAGE_COLUMNS.replace(/m\.(\w+)/g, 'm.$1 AS m_$1');
/**
 * A conversation's newest message, read through messages(conversation_id, id): one index probe.
 * Reads trust the messages table rather than conversations.last_message_id, so messages the main
 * API (or anyone) inserts directly still count; the storing path keeps that column exact for
 * prev_id under its row lock.
 */
const NEWEST = '(SELECT id, author_id, created_at FROM messages WHERE conversation_id = c.id ORDER BY id DESC LIMIT 1)';
/** A conversation's latest activity: its newest message's time, or its creation. */
const ACTIVITY = 'coalesce(lm.created_at, c.created_at)';
/**
 * A page of conversations, newest activity first, for each viewer of `viewers` (a FROM item that
 * names the user ids `v.viewer`: one user, or many at once when a connection storm reads INITs).
 * The page is picked before the join to messages, so only `limit` ($2) last messages are read in
 * full however many conversations a user has; unreadCount and private (unread.ts) are computed
 * for those rows only. Each conversation row is read by its key (LATERAL … LIMIT 1): as a plain
 * join, PGlite, which has no statistics, planned to read the whole conversations table for every
 * viewer (34 ms instead of 4 for a batch of 12 sign-ins with 20,000 users).
 */
function conversationsSql(viewers: string, condition: string): string {
  return `
    SELECT v.viewer AS viewer_id, p.*, ${unreadCount('v.viewer')} AS unread_count, ${IS_PRIVATE} AS private, ${LAST_MESSAGE_COLUMNS}
    FROM ${viewers}
    CROSS JOIN LATERAL (
      SELECT c.id, c.created_at, lm.id AS last_message_id, ${ACTIVITY} AS activity_at, ${SEEN_UP_TO} AS seen_up_to
      FROM users_conversations uc
      CROSS JOIN LATERAL (SELECT id, created_at FROM conversations WHERE id = uc.conversation_id LIMIT 1) c
      LEFT JOIN LATERAL ${NEWEST} lm ON true
      WHERE uc.user_id = v.viewer ${condition}
      ORDER BY activity_at DESC, c.id DESC LIMIT $2
    ) p
    LEFT JOIN messages m ON m.id = p.last_message_id
    ORDER BY v.viewer, p.activity_at DESC, p.id DESC`;
}
/** One viewer, $1. */
const ONE_VIEWER = '(SELECT $1::bigint AS viewer) v';
/** Many viewers, $1 an array. */
const MANY_VIEWERS = 'unnest($1::bigint[]) AS v(viewer)';

/** The INIT conversations of many users at once ($1), `$2` each: what a connection storm reads. */
const CONVERSATIONS_OF_SQL = conversationsSql(MANY_VIEWERS, '');
/**
 * The members of conversations $1, with what a conversation view shows of each. Each member's user
 * row is read by its key (the LATERAL … LIMIT 1 keeps that join a loop of index probes): as a plain
 * join, the plan PostgreSQL caches for the statement after a few runs (a generic plan, which
 * guesses 10 elements for $1) read the whole users table and hashed it, at every sign-in batch
 * and every conversations page (2.5 ms instead of 0.12 ms with 10,000 users, and growing with
 * them).
 */
const MEMBERS_SQL = `SELECT uc.conversation_id, u.id, u.username, u.profile_picture, u.last_visit
  FROM users_conversations uc
  CROSS JOIN LATERAL (SELECT id, username, profile_picture, last_visit FROM users WHERE id = uc.user_id LIMIT 1) u
  WHERE uc.conversation_id = ANY($1::bigint[]) ORDER BY u.id`;
/**
 * The friends of users $1, with the private conversation of each pair. The main API may store a
 * pair in either direction, or both: both are read and one kept per friend.
 */
const FRIENDS_SQL = `SELECT DISTINCT ON (v.viewer, f.friend_id) v.viewer, f.friend_id, f.private_conversation_id
  FROM unnest($1::bigint[]) AS v(viewer)
  CROSS JOIN LATERAL (
    SELECT user2_id AS friend_id, private_conversation_id FROM friendship WHERE user1_id = v.viewer
    UNION ALL
    SELECT user1_id, private_conversation_id FROM friendship WHERE user2_id = v.viewer
  ) f
  WHERE f.friend_id <> v.viewer
  ORDER BY v.viewer, f.friend_id, f.private_conversation_id NULLS LAST`;
/** What a sign-in reads (and every conversations page reads again: its members), with nothing to read. */
export const SIGN_IN_READS = [{ text: FRIENDS_SQL, values: [[]] }, { text: CONVERSATIONS_OF_SQL, values: [[], 10] }, { text: MEMBERS_SQL, values: [[]] }];
/** What a connection plans before the node serves (Store.warmUp): a send's and a sign-in's statements, with nothing to store or read. */
const WARM_UP = [...SIGN_IN_READS, APPEND_WARM_UP];

/** Where the users_conversations trigger (migration 002) announces membership changes. */
const MEMBERS_CHANNEL = 'massenger_members';

// Every id parameter below is cast to bigint: a main-API schema may use int4 columns, and an
// uncast parameter would take the column's type and overflow on MAX_BIGINT or a large id.

export class SqlStore implements Store {
  #db: Db;
  #onQuery: SqlStoreOptions['onQuery'];

  constructor(db: Db, options: SqlStoreOptions = {}) {
    this.#db = db;
    this.#onQuery = options.onQuery;
  }

  migrate(): Promise<void> {
    return this.#run('migrate', () => migrate(this.#db));
  }

  warmUp(): Promise<void> {
    return this.#run('warm_up', () => this.#db.warmUp(WARM_UP));
  }

  watchMembers(listener: { changed(conversationId: string): void; reset(): void }): Promise<() => Promise<void>> {
    return this.#run('watch_members', () =>
      this.#db.listen(MEMBERS_CHANNEL, { onNotify: (payload) => listener.changed(payload), onGap: () => listener.reset() }),
    );
  }

  members(conversationId: string): Promise<string[]> {
    return this.#run('members', async () => {
      if (!isId(conversationId)) return [];
      const { rows } = await this.#db.query<Record_>(
        'SELECT user_id FROM users_conversations WHERE conversation_id = $1::bigint ORDER BY user_id',
        [conversationId],
      );
      return rows.map((r) => String(r.user_id));
    });
  }

  async appendMessage(input: AppendMessageInput): Promise<AppendResult> {
    const [outcome] = await this.appendMessages([input]);
    if (outcome === undefined || outcome instanceof AppError) throw outcome ?? new AppError('INTERNAL', 'no outcome');
    return outcome;
  }

  appendMessages(inputs: readonly AppendMessageInput[]): Promise<AppendOutcome[]> {
    return this.#run('append_messages', async () => {
      // Ids that cannot be bigints name nothing: answered here, so they cannot fail the batch.
      const valid: AppendMessageInput[] = [];
      const outcomes: Array<AppendOutcome | undefined> = inputs.map((i) => {
        if (isId(i.conversationId) && isId(i.authorId)) {
          valid.push(i);
          return undefined;
        }
        return conversationNotFound();
      });
      if (valid.length === 0) return outcomes as AppendOutcome[];
      let stored: AppendOutcome[];
      try {
        stored = await appendBatch(this.#db, valid);
      } catch (err) {
        // One message the database refuses (text it cannot hold) must not fail its neighbours:
        // store them one by one, each in its own statement. An unreachable database fails all.
        const appErr = translate(err);
        if (valid.length === 1 || appErr.code === 'UNAVAILABLE') throw appErr;
        stored = [];
        for (const input of valid) stored.push(await appendBatch(this.#db, [input]).then((o) => o[0] as AppendOutcome, (e: unknown) => translate(e)));
      }
      let next = 0;
      return outcomes.map((o) => o ?? (stored[next++] as AppendOutcome));
    });
  }

  messages(conversationId: string, opts: { before?: string; limit: number }): Promise<{ messages: MessageRow[]; hasMore: boolean }> {
    return this.#run('messages', async () => {
      if (!isId(conversationId)) return { messages: [], hasMore: false };
      // Newest first through messages(conversation_id, id), one extra row to learn hasMore.
      const { rows } = await this.#db.query<Record_>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1::bigint AND m.id < $2::bigint ORDER BY m.id DESC LIMIT $3`,
        [conversationId, opts.before ?? MAX_BIGINT.toString(), opts.limit + 1],
      );
      const hasMore = rows.length > opts.limit;
      return { messages: rows.slice(0, opts.limit).reverse().map((r) => toMessage(r)), hasMore };
    });
  }

  messagesSince(userId: string, afterId: string, limit: number): Promise<MessageRow[]> {
    return this.#run('messages_since', async () => {
      // Per conversation through messages(conversation_id, id), at most `limit` each: the work follows
      // the user's own traffic since afterId, not everyone's.
      const { rows } = await this.#db.query<Record_>(
        `SELECT m.* FROM users_conversations uc
         CROSS JOIN LATERAL (
           SELECT ${MESSAGE_COLUMNS} FROM messages m
           WHERE m.conversation_id = uc.conversation_id AND m.id > $2::bigint ORDER BY m.id LIMIT $3
         ) m
         WHERE uc.user_id = $1::bigint
         ORDER BY m.id LIMIT $3`,
        [userId, afterId, limit],
      );
      return rows.map((r) => toMessage(r));
    });
  }

  changedSince(userId: string, lastId: string, limit: number): Promise<MessageRow[]> {
    return this.#run('changed_since', () => changedSince(this.#db, userId, lastId, limit));
  }

  editMessage(input: { messageId: string; authorId: string; content: string }): Promise<MessageChange> {
    return this.#run('edit_message', () => editMessage(this.#db, input));
  }

  deleteMessage(input: { messageId: string; authorId: string }): Promise<MessageChange> {
    return this.#run('delete_message', () => deleteMessage(this.#db, input));
  }

  addMembers(conversationId: string, byUserId: string, userIds: string[], maxMembers: number): Promise<MembersChange> {
    return this.#run('add_members', () => addMembers(this.#db, conversationId, byUserId, userIds, maxMembers));
  }

  leaveConversation(conversationId: string, userId: string): Promise<MembersChange> {
    return this.#run('leave_conversation', () => leaveConversation(this.#db, conversationId, userId));
  }

  conversations(userId: string, opts: { limit: number; before?: { conversationId: string } | { time: Date } }): Promise<ConversationRow[]> {
    return this.#run('conversations', async () => {
      let condition = '';
      const values: unknown[] = [userId, opts.limit];
      if (opts.before !== undefined && 'conversationId' in opts.before) {
        // Keyset on (activity, id) so conversations with the same activity time are neither skipped nor repeated.
        // The cursor must be one of the caller's own conversations: another's (or an unknown id)
        // gives an empty page alike, so paging reveals nothing of conversations one is not in.
        condition = `AND (${ACTIVITY}, c.id) <
          (SELECT ${ACTIVITY}, c.id FROM conversations c
             JOIN users_conversations b ON b.conversation_id = c.id AND b.user_id = $1::bigint
             LEFT JOIN LATERAL ${NEWEST} lm ON true
           WHERE c.id = $3::bigint)`;
        values.push(opts.before.conversationId);
      } else if (opts.before !== undefined) {
        condition = `AND ${ACTIVITY} < $3::timestamptz`;
        values.push(opts.before.time);
      }
      const { rows } = await this.#db.query<Record_>(conversationsSql(ONE_VIEWER, condition), values);
      return this.#withMembers(rows);
    });
  }

  conversation(userId: string, conversationId: string): Promise<ConversationRow | null> {
    return this.#run('conversation', async () => {
      if (!isId(conversationId)) return null;
      const { rows } = await this.#db.query<Record_>(conversationsSql(ONE_VIEWER, 'AND c.id = $3::bigint'), [userId, 1, conversationId]);
      return (await this.#withMembers(rows))[0] ?? null;
    });
  }

  conversationsOf(userIds: readonly string[], limit: number): Promise<Map<string, ConversationRow[]>> {
    return this.#run('conversations_of', async () => {
      const ids = [...new Set(userIds.filter(isId))];
      const out = new Map<string, ConversationRow[]>(userIds.map((id) => [id, []]));
      if (ids.length === 0) return out;
      const { rows } = await this.#db.query<Record_>(CONVERSATIONS_OF_SQL, [ids, limit]);
      const conversations = await this.#withMembers(rows);
      rows.forEach((r, i) => out.get(String(r.viewer_id))?.push(conversations[i] as ConversationRow));
      return out;
    });
  }

  markSeen(userId: string, conversationId: string): Promise<Date | null> {
    return this.#run('mark_seen', async () => {
      if (!isId(conversationId)) return null;
      // GREATEST: a seen mark never moves back, and ignores a null on either side.
      const { rows } = await this.#db.query<Record_>(
        `UPDATE users_conversations uc
         SET seen = true, seen_at = now(), seen_message_id = GREATEST(uc.seen_message_id,
           (SELECT max(id) FROM messages WHERE conversation_id = $2::bigint))
         WHERE uc.user_id = $1::bigint AND uc.conversation_id = $2::bigint
         RETURNING uc.seen_at`,
        [userId, conversationId],
      );
      return rows[0] === undefined ? null : (rows[0].seen_at as Date);
    });
  }

  friends(userIds: readonly string[]): Promise<Map<string, Friend[]>> {
    return this.#run('friends', async () => {
      const ids = [...new Set(userIds.filter(isId))];
      const out = new Map<string, Friend[]>(userIds.map((id) => [id, []]));
      if (ids.length === 0) return out;
      const { rows } = await this.#db.query<Record_>(
        FRIENDS_SQL,
        [ids],
      );
      for (const r of rows) out.get(String(r.viewer))?.push({ userId: String(r.friend_id), conversationId: idOrNull(r.private_conversation_id) });
      return out;
    });
  }

  existingUsers(userIds: string[]): Promise<Set<string>> {
    return this.#run('existing_users', () => existingUsers(this.#db, userIds));
  }

  createConversation(memberIds: string[]): Promise<string> {
    return this.#run('create_conversation', async () => {
      const ids = [...new Set(memberIds)];
      if (ids.length === 0) throw new AppError('INVALID_DATA', 'a conversation needs members');
      return this.#db.transaction(async (tx) => {
        const existing = await existingUsers(tx, ids);
        const unknown = ids.filter((id) => !existing.has(id));
        if (unknown.length > 0) throw new AppError('INVALID_DATA', `unknown users: ${unknown.join(', ')}`);
        const { rows } = await tx.query<Record_>('INSERT INTO conversations (created_at) VALUES (now()) RETURNING id');
        const id = String(rows[0]?.id);
        await tx.query(
          'INSERT INTO users_conversations (user_id, conversation_id, seen) SELECT unnest($1::bigint[]), $2::bigint, false',
          [ids, id],
        );
        return id;
      });
    });
  }

  setLastVisit(userIds: readonly string[], at: Date): Promise<void> {
    return this.#run('set_last_visit', async () => {
      const ids = userIds.filter(isId);
      if (ids.length === 0) return;
      // Rows locked in id order: two nodes writing overlapping sets at once wait, never deadlock.
      await this.#db.query(
        `UPDATE users u SET last_visit = $2::timestamptz
         FROM (SELECT id FROM users WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE) locked
         WHERE u.id = locked.id`,
        [ids, at],
      );
    });
  }

  ping(): Promise<void> {
    return this.#run('ping', async () => {
      await this.#db.query('SELECT 1');
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  /** One query for the members of all these conversations, so a page costs two queries, not N+1. */
  async #withMembers(rows: Record_[]): Promise<ConversationRow[]> {
    if (rows.length === 0) return [];
    const { rows: memberRows } = await this.#db.query<Record_>(
      MEMBERS_SQL,
      [rows.map((r) => String(r.id))],
    );
    const members = new Map<string, UserRow[]>();
    for (const r of memberRows) {
      const key = String(r.conversation_id);
      if (!members.has(key)) members.set(key, []);
      members.get(key)?.push({
        id: String(r.id),
        username: r.username as string,
        profilePicture: (r.profile_picture as string | null) ?? null,
        lastVisit: (r.last_visit as Date | null) ?? null,
      });
    }
    return rows.map((r) => ({
      id: String(r.id),
      createdAt: r.created_at as Date,
      lastActivityAt: r.activity_at as Date,
      lastMessage: r.m_id === null ? null : toMessage(r, 'm_'),
      unread: Number(r.unread_count) > 0,
      unreadCount: Number(r.unread_count),
      private: r.private === true,
      members: members.get(String(r.id)) ?? [],
    }));
  }

  async #run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } catch (err) {
      throw translate(err);
    } finally {
      this.#onQuery?.(operation, (performance.now() - started) / 1000);
    }
  }
}

async function existingUsers(db: Queryable, userIds: string[]): Promise<Set<string>> {
  const ids = userIds.filter(isId);
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<Record_>('SELECT id FROM users WHERE id = ANY($1::bigint[])', [ids]);
  return new Set(rows.map((r) => String(r.id)));
}
