/**
 * Store rows → wire shapes (spec §2.2). Ids stay decimal strings; times become ISO 8601 UTC.
 */
import type { Conversation, Message } from '../protocol/frames.js';
import type { ConversationRow, MessageRow } from '../store/store.js';

export function toMessage(row: MessageRow): Message {
  const createdAt = row.createdAt.toISOString();
  return {
    id: row.id,
    conversationId: row.conversationId,
    author: row.authorId,
    content: row.content,
    createdAt,
    // A message just stored has one time for both.
    updatedAt: row.updatedAt === row.createdAt ? createdAt : row.updatedAt.toISOString(),
    deletedAt: row.deletedAt === null ? null : row.deletedAt.toISOString(),
    clientMessageId: row.clientMessageId,
  };
}

/** `online` holds the members online anywhere; `active` is true when a member other than `viewerId` is. */
export function toConversation(row: ConversationRow, viewerId: string, online: ReadonlySet<string>): Conversation {
  return {
    id: row.id,
    createdAt: row.createdAt.toISOString(),
    lastActivityAt: row.lastActivityAt.toISOString(),
    unread: row.unreadCount > 0,
    unreadCount: row.unreadCount,
    active: row.members.some((m) => m.id !== viewerId && online.has(m.id)),
    private: row.private,
    lastMessage: row.lastMessage === null ? null : toMessage(row.lastMessage),
    users: row.members.map((m) => ({
      id: m.id,
      username: m.username,
      profilePicture: m.profilePicture,
      lastVisit: m.lastVisit === null ? null : m.lastVisit.toISOString(),
      online: online.has(m.id),
    })),
  };
}

/** Every member id of these conversations, once each: one presence look-up for a whole page. */
export function memberIds(rows: readonly ConversationRow[]): string[] {
  const ids = new Set<string>();
  for (const row of rows) for (const m of row.members) ids.add(m.id);
  return [...ids];
}

/** A reply's data with the request's requestId, last, when it had one (spec §2: direct replies carry it back). */
export function withRequestId<T extends object>(data: T, requestId: string | undefined): T & { requestId?: string } {
  return requestId === undefined ? data : { ...data, requestId };
}
