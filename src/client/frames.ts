/**
 * The wire shapes a client sees (contract §2, docs/protocol.md), named verbatim. The server's
 * `src/protocol/frames.ts` describes the frames after decoding (ids normalised, `limit` filled in)
 * and grows with the server; these describe what a client writes and reads, and import nothing, so
 * a browser bundle of the library carries no server code.
 */

/** Ids are decimal strings on the wire, e.g. `"42"`; a client may send a positive integer. */
export type Id = string;
/** ISO 8601 UTC, e.g. `"2026-11-24T10:00:00.000Z"`. */
export type IsoTime = string;

export interface Message {
  id: Id;
  conversationId: Id;
  /** The author's user id. */
  author: Id;
  /** `""` once deleted. */
  content: string;
  createdAt: IsoTime;
  /** Later on every edit or delete: of two versions of a message, keep the later one. */
  updatedAt: IsoTime;
  /** null unless the message was deleted. */
  deletedAt: IsoTime | null;
  clientMessageId: string | null;
}

export interface ConversationUser {
  id: Id;
  username: string;
  profilePicture: string | null;
  lastVisit: IsoTime | null;
  online: boolean;
}

export interface Conversation {
  id: Id;
  createdAt: IsoTime;
  lastActivityAt: IsoTime;
  unread: boolean;
  /** Unread messages of other members, counted up to 100 (100 means 100 or more). */
  unreadCount: number;
  /** True when another member is online. */
  active: boolean;
  /** The private conversation of two friends. */
  private: boolean;
  lastMessage: Message | null;
  /** Every member, the user included. */
  users: ConversationUser[];
}

export interface OnlineFriend {
  id: Id;
  /** Their private conversation with the user, or null. */
  conversationId: Id | null;
}

/** The error codes of contract §2.4; the code, not the message, is the contract. */
export type ErrorCode =
  | 'BAD_FRAME'
  | 'UNKNOWN_METHOD'
  | 'INVALID_DATA'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** Client → server requests (contract §2.1): `data` by method. Every request may add `requestId`. */
export interface ClientRequests {
  AUTHENTICATE: { token: string; lastMessageId?: Id };
  SEND_MESSAGE: { conversationId: Id; content: string; clientMessageId?: string };
  OPEN_CONVERSATION: { conversationId: Id };
  TYPING: { conversationId: Id };
  FETCH_MESSAGES: { conversationId: Id; before?: Id; limit?: number };
  EDIT_MESSAGE: { messageId: Id; content: string };
  DELETE_MESSAGE: { messageId: Id };
  PING: Record<string, never>;
}

export type ClientMethod = keyof ClientRequests;

/** Server → client events (contract §2.2): `data` by method. */
export interface ServerEvents {
  INIT: {
    userId: Id;
    conversations: Conversation[];
    onlineFriends: OnlineFriend[];
    /** Present when AUTHENTICATE carried `lastMessageId`. */
    missedMessages?: Message[];
    /** false: more was missed than INIT could hold; reload the conversations. */
    recovered?: boolean;
  };
  USER_JOINED: { id: Id; userId: Id; conversationId: Id | null };
  USER_LEFT: { userId: Id };
  MESSAGE_SENT: { message: Message; requestId?: string };
  CONVERSATION_SEEN: { conversationId: Id; userId: Id; seenAt: IsoTime };
  INVITATION_SENT: { conversationId: Id };
  /** The notification as the main API gave it. */
  NOTIFICATION_SENT: { content: string; name?: string; img?: string; [field: string]: unknown };
  TYPING: { conversationId: Id; userId: Id };
  MESSAGES: { conversationId: Id; messages: Message[]; hasMore: boolean; requestId?: string };
  MESSAGE_EDITED: { message: Message; requestId?: string };
  MESSAGE_DELETED: { message: Message; requestId?: string };
  MEMBERS_CHANGED: { conversationId: Id; added: Id[]; removed: Id[]; by: Id };
  PONG: { requestId?: string };
  ERROR: { code: ErrorCode; message: string; method?: string; requestId?: string; clientMessageId?: string };
}

export type ServerMethod = keyof ServerEvents;

/** Every server method, for code that must check a frame's method at run time. */
export const SERVER_METHODS: readonly ServerMethod[] = [
  'INIT',
  'USER_JOINED',
  'USER_LEFT',
  'MESSAGE_SENT',
  'CONVERSATION_SEEN',
  'INVITATION_SENT',
  'NOTIFICATION_SENT',
  'TYPING',
  'MESSAGES',
  'MESSAGE_EDITED',
  'MESSAGE_DELETED',
  'MEMBERS_CHANGED',
  'PONG',
  'ERROR',
];

export type ServerFrame = { [M in ServerMethod]: { method: M; data: ServerEvents[M] } }[ServerMethod];
