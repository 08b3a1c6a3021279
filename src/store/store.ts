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
  /** For the user it was read for: true when that user has not seen the newest message. */
  unread: boolean;
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
}

/** One message's outcome in a batch: stored (or its original), or the error for that message alone. */
export type AppendOutcome = AppendResult | AppError;

export interface Store {
  /** Runs pending migrations under an advisory lock, so nodes starting together are safe. */
  migrate(): Promise<void>;

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
   * The user's conversations by latest activity, newest first. `before` pages: a conversation id
   * (those whose activity is older than that conversation's) or a time (activity strictly before it).
   */
  conversations(userId: string, opts: { limit: number; before?: { conversationId: string } | { time: Date } }): Promise<ConversationRow[]>;

  /** One conversation as the user sees it; null when it does not exist or the user is not a member. */
  conversation(userId: string, conversationId: string): Promise<ConversationRow | null>;

  /** Marks the conversation seen by a member up to its newest message; returns when, or null when not a member. */
  markSeen(userId: string, conversationId: string): Promise<Date | null>;

  /** The user's friends, with the private conversation of each pair. */
  friends(userId: string): Promise<Friend[]>;

  /** Which of these user ids exist. */
  existingUsers(userIds: string[]): Promise<Set<string>>;

  /** Creates a conversation with these members (all must exist); returns its id. */
  createConversation(memberIds: string[]): Promise<string>;

  setLastVisit(userId: string, at: Date): Promise<void>;

  /** Resolves when the database answers; for /readyz. */
  ping(): Promise<void>;

  close(): Promise<void>;
}
