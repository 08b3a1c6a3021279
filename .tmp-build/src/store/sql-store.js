/**
 * The Store over any Db: all of massenger's SQL, one dialect for PostgreSQL and PGlite. Driver
 * errors stop here (style §6): an unreachable database becomes UNAVAILABLE, anything else
 * INTERNAL, and the clientMessageId unique violation becomes the idempotent answer.
 */
import { AppError } from '../errors.js';
import { migrate } from './migrate.js';
const MESSAGE_COLUMNS = 'm.id, m.conversation_id, m.author_id, m.content, m.created_at, m.updated_at, m.client_message_id, m.prev_id';
/** The same columns prefixed m_, for the last message joined onto a conversation. */
const LAST_MESSAGE_COLUMNS = MESSAGE_COLUMNS.replace(/m\.(\w+)/g, 'm.$1 AS m_$1');
/**
 * A page of the user's conversations, newest activity first. The page is picked before the join
 * to messages, so only `limit` last messages are read however many conversations the user has.
 */
function conversationsSql(condition) {
    return `
    SELECT p.*, ${LAST_MESSAGE_COLUMNS} FROM (
      SELECT c.id, c.created_at, c.last_message_id, coalesce(c.last_activity_at, c.created_at) AS activity_at,
        c.last_message_id IS NOT NULL AND (uc.seen_message_id IS NULL OR uc.seen_message_id < c.last_message_id) AS unread
      FROM users_conversations uc JOIN conversations c ON c.id = uc.conversation_id
      WHERE uc.user_id = $1 ${condition}
      ORDER BY activity_at DESC, c.id DESC LIMIT $2
    ) p
    LEFT JOIN messages m ON m.id = p.last_message_id
    ORDER BY p.activity_at DESC, p.id DESC`;
}
const MAX_BIGINT = 9223372036854775807n;
export class SqlStore {
    #db;
    #onQuery;
    constructor(db, options = {}) {
        this.#db = db;
        this.#onQuery = options.onQuery;
    }
    migrate() {
        return this.#run('migrate', () => migrate(this.#db));
    }
    members(conversationId) {
        return this.#run('members', async () => {
            if (!isId(conversationId))
                return [];
            const { rows } = await this.#db.query('SELECT user_id FROM users_conversations WHERE conversation_id = $1 ORDER BY user_id', [conversationId]);
            return rows.map((r) => String(r.user_id));
        });
    }
    appendMessage(input) {
        return this.#run('append_message', async () => {
            if (!isId(input.conversationId) || !isId(input.authorId))
                throw notFound();
            try {
                return await this.#db.transaction((tx) => append(tx, input));
            }
            catch (err) {
                // The lookup in append() runs under the conversation's lock, so only a duplicate sent to
                // another conversation at the same moment gets here; the unique index picked the winner.
                if (input.clientMessageId === null || !isUniqueViolation(err))
                    throw err;
                const original = await byClientMessageId(this.#db, input.authorId, input.clientMessageId);
                if (original === null)
                    throw err;
                return { message: original, created: false };
            }
        });
    }
    messages(conversationId, opts) {
        return this.#run('messages', async () => {
            if (!isId(conversationId))
                return { messages: [], hasMore: false };
            // Newest first through messages(conversation_id, id), one extra row to learn hasMore.
            const { rows } = await this.#db.query(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3`, [conversationId, opts.before ?? MAX_BIGINT.toString(), opts.limit + 1]);
            const hasMore = rows.length > opts.limit;
            return { messages: rows.slice(0, opts.limit).reverse().map((r) => toMessage(r)), hasMore };
        });
    }
    messagesBetween(conversationId, afterId, beforeId) {
        return this.#run('messages_between', async () => {
            if (!isId(conversationId))
                return [];
            const { rows } = await this.#db.query(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND m.id > $2 AND m.id < $3 ORDER BY m.id`, [conversationId, afterId, beforeId]);
            return rows.map((r) => toMessage(r));
        });
    }
    messagesSince(userId, afterId, limit) {
        return this.#run('messages_since', async () => {
            // Per conversation through messages(conversation_id, id), at most `limit` each: the work follows
            // the user's own traffic since afterId, not everyone's.
            const { rows } = await this.#db.query(`SELECT m.* FROM users_conversations uc
         CROSS JOIN LATERAL (
           SELECT ${MESSAGE_COLUMNS} FROM messages m
           WHERE m.conversation_id = uc.conversation_id AND m.id > $2 ORDER BY m.id LIMIT $3
         ) m
         WHERE uc.user_id = $1
         ORDER BY m.id LIMIT $3`, [userId, afterId, limit]);
            return rows.map((r) => toMessage(r));
        });
    }
    conversations(userId, opts) {
        return this.#run('conversations', async () => {
            let condition = '';
            const values = [userId, opts.limit];
            if (opts.before !== undefined && 'conversationId' in opts.before) {
                // Keyset on (activity, id) so conversations with the same activity time are neither skipped nor repeated.
                condition = `AND (coalesce(c.last_activity_at, c.created_at), c.id) <
          (SELECT coalesce(b.last_activity_at, b.created_at), b.id FROM conversations b WHERE b.id = $3)`;
                values.push(opts.before.conversationId);
            }
            else if (opts.before !== undefined) {
                condition = 'AND coalesce(c.last_activity_at, c.created_at) < $3';
                values.push(opts.before.time);
            }
            const { rows } = await this.#db.query(conversationsSql(condition), values);
            return this.#withMembers(rows);
        });
    }
    conversation(userId, conversationId) {
        return this.#run('conversation', async () => {
            if (!isId(conversationId))
                return null;
            const { rows } = await this.#db.query(conversationsSql('AND c.id = $3'), [userId, 1, conversationId]);
            return (await this.#withMembers(rows))[0] ?? null;
        });
    }
    markSeen(userId, conversationId) {
        return this.#run('mark_seen', async () => {
            if (!isId(conversationId))
                return null;
            // GREATEST: a seen mark never moves back, and ignores a null on either side.
            const { rows } = await this.#db.query(`UPDATE users_conversations uc
         SET seen = true, seen_message_id = GREATEST(uc.seen_message_id, c.last_message_id), seen_at = now()
         FROM conversations c
         WHERE c.id = uc.conversation_id AND uc.user_id = $1 AND uc.conversation_id = $2
         RETURNING uc.seen_at`, [userId, conversationId]);
            return rows[0] === undefined ? null : rows[0].seen_at;
        });
    }
    friends(userId) {
        return this.#run('friends', async () => {
            // The main API may store a pair in either direction, or both: read both and keep one per friend.
            const { rows } = await this.#db.query(`SELECT DISTINCT ON (friend_id) friend_id, private_conversation_id FROM (
           SELECT user2_id AS friend_id, private_conversation_id FROM friendship WHERE user1_id = $1
           UNION ALL
           SELECT user1_id, private_conversation_id FROM friendship WHERE user2_id = $1
         ) f
         WHERE friend_id <> $1
         ORDER BY friend_id, private_conversation_id NULLS LAST`, [userId]);
            return rows.map((r) => ({ userId: String(r.friend_id), conversationId: idOrNull(r.private_conversation_id) }));
        });
    }
    existingUsers(userIds) {
        return this.#run('existing_users', () => existingUsers(this.#db, userIds));
    }
    createConversation(memberIds) {
        return this.#run('create_conversation', async () => {
            const ids = [...new Set(memberIds)];
            if (ids.length === 0)
                throw new AppError('INVALID_DATA', 'a conversation needs members');
            return this.#db.transaction(async (tx) => {
                const existing = await existingUsers(tx, ids);
                const unknown = ids.filter((id) => !existing.has(id));
                if (unknown.length > 0)
                    throw new AppError('INVALID_DATA', `unknown users: ${unknown.join(', ')}`);
                const { rows } = await tx.query('INSERT INTO conversations (created_at) VALUES (now()) RETURNING id');
                const id = String(rows[0]?.id);
                await tx.query('INSERT INTO users_conversations (user_id, conversation_id, seen) SELECT unnest($1::bigint[]), $2, false', [ids, id]);
                return id;
            });
        });
    }
    setLastVisit(userId, at) {
        return this.#run('set_last_visit', async () => {
            await this.#db.query('UPDATE users SET last_visit = $2 WHERE id = $1', [userId, at]);
        });
    }
    ping() {
        return this.#run('ping', async () => {
            await this.#db.query('SELECT 1');
        });
    }
    close() {
        return this.#db.close();
    }
    /** One query for the members of all these conversations, so a page costs two queries, not N+1. */
    async #withMembers(rows) {
        if (rows.length === 0)
            return [];
        const { rows: memberRows } = await this.#db.query(`SELECT uc.conversation_id, u.id, u.username, u.profile_picture, u.last_visit
       FROM users_conversations uc JOIN users u ON u.id = uc.user_id
       WHERE uc.conversation_id = ANY($1::bigint[]) ORDER BY u.id`, [rows.map((r) => String(r.id))]);
        const members = new Map();
        for (const r of memberRows) {
            const key = String(r.conversation_id);
            const user = {
                id: String(r.id),
                username: r.username,
                profilePicture: r.profile_picture ?? null,
                lastVisit: r.last_visit ?? null,
            };
            const list = members.get(key);
            if (list === undefined)
                members.set(key, [user]);
            else
                list.push(user);
        }
        return rows.map((r) => ({
            id: String(r.id),
            createdAt: r.created_at,
            lastActivityAt: r.activity_at,
            lastMessage: r.m_id === null ? null : toMessage(r, 'm_'),
            unread: r.unread === true,
            members: members.get(String(r.id)) ?? [],
        }));
    }
    async #run(operation, fn) {
        const started = performance.now();
        try {
            return await fn();
        }
        catch (err) {
            throw translate(err);
        }
        finally {
            this.#onQuery?.(operation, (performance.now() - started) / 1000);
        }
    }
}
/** The storing transaction; see Store.appendMessage for the guarantees. */
async function append(tx, input) {
    // The row lock serializes writers of one conversation: the id drawn after it is larger than every
    // committed one, and last_message_id read through it is the exact predecessor (prev_id).
    const { rows } = await tx.query(`SELECT c.last_message_id,
       EXISTS (SELECT 1 FROM users_conversations uc WHERE uc.conversation_id = c.id AND uc.user_id = $2) AS member
     FROM conversations c WHERE c.id = $1 FOR UPDATE`, [input.conversationId, input.authorId]);
    const conversation = rows[0];
    if (conversation === undefined || conversation.member !== true)
        throw notFound();
    if (input.clientMessageId !== null) {
        const original = await byClientMessageId(tx, input.authorId, input.clientMessageId);
        if (original !== null)
            return { message: original, created: false };
    }
    // One statement: the insert and its bookkeeping, so the lock is held for a single round trip.
    // clock_timestamp(), not now(): taken after the lock, so times grow with ids in a conversation.
    // Members who had seen the conversation no longer have (the main API's boolean stays honest);
    // the author has seen their own message.
    const inserted = await tx.query(`WITH m AS (
       INSERT INTO messages (conversation_id, author_id, content, client_message_id, prev_id, created_at, updated_at)
       SELECT $1::bigint, $2::bigint, $3::text, $4::text, $5::bigint, t, t FROM clock_timestamp() AS t
       RETURNING *
     ), c AS (
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
     SELECT ${MESSAGE_COLUMNS} FROM m`, [input.conversationId, input.authorId, input.content, input.clientMessageId, conversation.last_message_id]);
    return { message: toMessage(inserted.rows[0]), created: true };
}
async function byClientMessageId(db, authorId, clientMessageId) {
    const { rows } = await db.query(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.author_id = $1 AND m.client_message_id = $2`, [authorId, clientMessageId]);
    return rows[0] === undefined ? null : toMessage(rows[0]);
}
async function existingUsers(db, userIds) {
    const ids = userIds.filter(isId);
    if (ids.length === 0)
        return new Set();
    const { rows } = await db.query('SELECT id FROM users WHERE id = ANY($1::bigint[])', [ids]);
    return new Set(rows.map((r) => String(r.id)));
}
/** Columns are read by name with an optional prefix; ids go through String() because a main-API schema may use int4. */
function toMessage(r, prefix = '') {
    return {
        id: String(r[`${prefix}id`]),
        conversationId: String(r[`${prefix}conversation_id`]),
        authorId: String(r[`${prefix}author_id`]),
        content: r[`${prefix}content`],
        createdAt: r[`${prefix}created_at`],
        updatedAt: r[`${prefix}updated_at`],
        clientMessageId: r[`${prefix}client_message_id`] ?? null,
        prevId: idOrNull(r[`${prefix}prev_id`]),
    };
}
function idOrNull(value) {
    return value === null || value === undefined ? null : String(value);
}
/** A client-supplied id that cannot be a bigint names nothing, rather than failing the query. */
function isId(id) {
    return /^[0-9]{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}
function notFound() {
    return new AppError('NOT_FOUND', 'conversation not found');
}
function isUniqueViolation(err) {
    return err?.code === '23505';
}
/** Node socket errors that mean the server cannot be reached. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** pg and PGlite report a lost or closed connection only in the message. */
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end|Client was closed|Client has encountered a connection error|PGlite is closed/i;
function isUnavailable(err) {
    if (!(err instanceof Error))
        return false;
    if (err instanceof AggregateError && err.errors.some(isUnavailable))
        return true; // one per address tried
    const code = err.code;
    if (typeof code === 'string') {
        if (NETWORK_CODES.has(code))
            return true;
        // SQLSTATE 08: connection exception; 53: out of resources (too many connections);
        // 57P01-57P03: terminated, crashed, starting up; 57014: statement_timeout (rolled back).
        if (/^(08|53|57P0)/.test(code) || code === '57014')
            return true;
    }
    return UNAVAILABLE_MESSAGES.test(err.message);
}
function translate(err) {
    if (err instanceof AppError)
        return err;
    // PostgreSQL text cannot hold U+0000 (22021) or characters the encoding lacks (22P05): the
    // sender's content is the problem, not the database.
    const code = err?.code;
    if (code === '22021' || code === '22P05')
        return new AppError('INVALID_DATA', 'text cannot be stored', { cause: err });
    if (isUnavailable(err))
        return new AppError('UNAVAILABLE', 'database unavailable', { cause: err });
    return new AppError('INTERNAL', 'database error', { cause: err });
}
