/**
 * The storage port: everything massenger keeps or reads in the database, as row types the core
 * understands. `SqlStore` is the only implementation (one SQL dialect for PostgreSQL and PGlite);
 * it runs over a `Db`, which is the part that differs between the two.
 *
 * Ids are decimal strings (PostgreSQL bigint), times are Date. Every method translates driver
 * failures at this boundary: a database that cannot be reached becomes AppError('UNAVAILABLE'),
 * so the core never sees a driver error.
 */
import type { AppError } from '../errors.js';

/** One SQL statement with its parameters. */
export interface Statement {
  text: string;
  values: unknown[];
}

export interface NotificationListener {
  onNotify(payload: string): void;
  onGap(): void;
}

/** Two-method database port (plus LISTEN); `db-pg.ts` and `db-pglite.ts` implement it. */
export interface Db {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
  /** Runs fn in one transaction on one connection; commits when fn resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Pick<Db, 'query'>) => Promise<T>): Promise<T>;
  /**
   * Delivers each NOTIFY payload sent on `channel` until the returned function is called. `onGap`
   * is called when notifications may have been missed (the listening connection was lost and is
   * back), so the caller can drop whatever it derived from them.
   */
  listen(channel: string, listener: NotificationListener): Promise<() => Promise<void>>;
  /**
   * Runs each statement once on every connection this database keeps, opening them all, so that
   * none pays its first-use planning (tens of milliseconds for the append function) under load.
   */
  warmUp(statements: readonly Statement[]): Promise<void>;
  close(): Promise<void>;
}

export interface UserRow {
  id: string;
  username: string;
  profilePicture: string | null;
  lastVisit: Date | null;
}

export interface MessageRow {
  id: string;
  conversationId: string;
  authorId: string;
  content: string;
  createdAt: Date;
  updatedAt: Date;
  /** Set when the author deleted it: `content` is then "" (spec §2.3 tombstone). */
  deletedAt: Date | null;
  clientMessageId: string | null;
  /** The id of the message stored just before this one in its conversation (null for the first). */
  prevId: string | null;
}

export interface ConversationRow {
  id: string;
  createdAt: Date;
  /** The newest message's time, or createdAt when there is none. */
  lastActivityAt: Date;
  lastMessage: MessageRow | null;
  /** For the user it was read for: exactly `unreadCount > 0`. */
  unread: boolean;
  /** Messages of others, not deleted, newer than the last one that user saw; at most 100. */
  unreadCount: number;
  /** The private conversation of two friends (friendship.private_conversation_id). */
  private: boolean;
  /** Every member, the reading user included, ordered by id. */
  members: UserRow[];
}

export interface Friend {
  userId: string;
  /** The private conversation of the two, or null. */
  conversationId: string | null;
}

export interface AppendMessageInput {
  conversationId: string;
  authorId: string;
  content: string;
  clientMessageId: string | null;
}

export interface AppendResult {
  message: MessageRow;
  /** False when the clientMessageId was already used: `message` is the original. */
  created: boolean;
  /** When the predecessor (`message.prevId`) was stored, by the database's clock; null without one or when not created. */
  prevCreatedAt: Date | null;
  /**
   * The conversation's members when the message was stored; null when not created. A
   * change of members takes the same row lock, so these are exactly who must receive it.
   */
  members: string[] | null;
}

/** One message's outcome in a batch: stored (or its original), or the error for that message alone. */
export type AppendOutcome = AppendResult | AppError;

/** An edit or delete as stored; `changed` is false when a delete found the message deleted already. */
export interface MessageChange {
  message: MessageRow;
  changed: boolean;
}

/** A membership change as stored: who was added (not already members), and the members after it. */
export interface MembersChange {
  added: string[];
  members: string[];
}

export interface Store {
  /** Runs pending migrations under an advisory lock, so nodes starting together are safe. */
  migrate(): Promise<void>;

  /**
   * Opens every database connection and plans the hot statements on each, so the first messages
   * after a start wait for no planning. Rejects when a connection cannot be opened or warmed; the
   * node still works with the others.
   */
  warmUp(): Promise<void>;

  /**
   * Calls `changed` with a conversation's id whenever its members change in the database, by
   * massenger or by anyone sharing the database (a trigger NOTIFYs), and `reset` when changes may
   * have been missed. Resolves with a function that stops watching.
   */
  watchMembers(listener: { changed(conversationId: string): void; reset(): void }): Promise<() => Promise<void>>;

  /** Member ids of a conversation, ordered; empty when it does not exist. */
  members(conversationId: string): Promise<string[]>;

  /**
   * Stores a message from a member. Locks the conversation row in the storing transaction, so
   * message ids of one conversation grow in commit order and `prevId` is exact.
   * With a clientMessageId already used by this author, stores nothing and returns the original
   * with `created: false` (spec §2.3 idempotency).
   * Throws NOT_FOUND when the conversation does not exist or the author is not a member.
   */
  appendMessage(input: AppendMessageInput): Promise<AppendResult>;

  /**
   * Group commit: stores a batch of messages, of any conversations, in one transaction, with the
   * guarantees of appendMessage for each. Outcomes come back in input order; a message that cannot
   * be stored (NOT_FOUND) gets its error in its place without failing the others. Rejects (nothing
   * stored) when the batch could not be committed at all.
   */
  appendMessages(inputs: readonly AppendMessageInput[]): Promise<AppendOutcome[]>;

  /** Messages with id < before (or the newest), up to limit, oldest first; hasMore when older ones exist. */
  messages(conversationId: string, opts: { before?: string; limit: number }): Promise<{ messages: MessageRow[]; hasMore: boolean }>;


  /** Messages of all the user's conversations with id > afterId, oldest first, at most limit. */
  messagesSince(userId: string, afterId: string, limit: number): Promise<MessageRow[]>;

  /**
   * Messages of the user's conversations with id <= lastId that were edited or deleted after the
   * message lastId was stored (the newest one up to it when lastId names none), in their current
   * state, oldest first, at most limit (spec §2.2 missedMessages, second list).
   */
  changedSince(userId: string, lastId: string, limit: number): Promise<MessageRow[]>;

  /**
   * Replaces the content of a message by its author; each change moves updatedAt past the last one.
   * Throws NOT_FOUND (unknown, deleted, or the author is not a member) or FORBIDDEN (not the author),
   * in that order (spec §2.3).
   */
  editMessage(input: { messageId: string; authorId: string; content: string }): Promise<MessageChange>;

  /**
   * Turns a message into a tombstone (content erased, deletedAt set) for its author. A message
   * deleted already comes back as it is with `changed: false`. Throws NOT_FOUND, then FORBIDDEN.
   */
  deleteMessage(input: { messageId: string; authorId: string }): Promise<MessageChange>;

  /**
   * Adds users to a conversation of `byUserId`; ids already members are ignored. Throws NOT_FOUND
   * when byUserId is not a member, INVALID_DATA when the conversation would pass `maxMembers`,
   * FORBIDDEN for a private conversation, in that order, changing nothing then. The users must exist.
   */
  addMembers(conversationId: string, byUserId: string, userIds: string[], maxMembers: number): Promise<MembersChange>;

  /** Removes the user from the conversation. Throws NOT_FOUND (not a member), then FORBIDDEN (private). */
  leaveConversation(conversationId: string, userId: string): Promise<MembersChange>;

  /**
   * The user's conversations by latest activity, newest first. `before` pages: a conversation id
   * (those whose activity is older than that conversation's) or a time (activity strictly before it).
   */
  conversations(userId: string, opts: { limit: number; before?: { conversationId: string } | { time: Date } }): Promise<ConversationRow[]>;

  /** One conversation as the user sees it; null when it does not exist or the user is not a member. */
  conversation(userId: string, conversationId: string): Promise<ConversationRow | null>;

  /** Marks the conversation seen by a member up to its newest message; returns when, or null when not a member. */
  markSeen(userId: string, conversationId: string): Promise<Date | null>;

  /**
   * The friends of each of these users, with the private conversation of each pair: one read for
   * many users (a connection storm signs thousands in at once). Every id asked is in the map.
   */
  friends(userIds: readonly string[]): Promise<Map<string, Friend[]>>;

  /**
   * The first `limit` conversations (by latest activity) of each of these users, as `conversations`
   * reads them for one: one read for the INITs of many sign-ins. Every id asked is in the map.
   */
  conversationsOf(userIds: readonly string[], limit: number): Promise<Map<string, ConversationRow[]>>;

  /** Which of these user ids exist. */
  existingUsers(userIds: string[]): Promise<Set<string>>;

  /** Creates a conversation with these members (all must exist); returns its id. */
  createConversation(memberIds: string[]): Promise<string>;

  /** Sets these users' last visit (spec §4 users.last_visit) in one statement: sign-outs come in storms too. */
  setLastVisit(userIds: readonly string[], at: Date): Promise<void>;

  /** Resolves when the database answers; for /readyz. */
  ping(): Promise<void>;

  close(): Promise<void>;
}
