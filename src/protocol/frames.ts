/**
 * Spec §2.1 and §2.2 as data: one discriminated union per direction, keyed on `method`,
 * with names copied verbatim from the spec. Ids are decimal strings, times ISO 8601 UTC strings.
 */

export type Id = string;
export type IsoTime = string;

export interface Message {
  id: Id;
  conversationId: Id;
  author: Id;
  content: string;
  createdAt: IsoTime;
  /** Later than the previous value on every edit or delete (spec §2.2): clients keep the latest version. */
  updatedAt: IsoTime;
  /** Set when deleted; the message is then a tombstone with `content: ""`. */
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
  /** Exactly `unreadCount > 0`. */
  unread: boolean;
  /** Messages of other members, not deleted, newer than the last one the user saw; at most 100. */
  unreadCount: number;
  active: boolean;
  /** The private conversation of two friends: its members never change. */
  private: boolean;
  lastMessage: Message | null;
  users: ConversationUser[];
}

/** Every request may carry `requestId`; direct replies echo it (spec §2). */
interface Request {
  requestId?: string;
}

export type ClientFrame =
  | { method: 'AUTHENTICATE'; data: Request & { token: string; lastMessageId?: Id } }
  | { method: 'SEND_MESSAGE'; data: Request & { conversationId: Id; content: string; clientMessageId?: string } }
  | { method: 'OPEN_CONVERSATION'; data: Request & { conversationId: Id } }
  | { method: 'TYPING'; data: Request & { conversationId: Id } }
  | { method: 'FETCH_MESSAGES'; data: Request & { conversationId: Id; before?: Id; limit: number } }
  | { method: 'EDIT_MESSAGE'; data: Request & { messageId: Id; content: string } }
  | { method: 'DELETE_MESSAGE'; data: Request & { messageId: Id } }
  | { method: 'PING'; data: Request };

export type ClientMethod = ClientFrame['method'];

export interface OnlineFriend {
  id: Id;
  conversationId: Id | null;
}

export type ServerFrame =
  | {
      method: 'INIT';
      data: {
        userId: Id;
        conversations: Conversation[];
        onlineFriends: OnlineFriend[];
        missedMessages?: Message[];
        recovered?: boolean;
      };
    }
  | { method: 'USER_JOINED'; data: { id: Id; userId: Id; conversationId: Id | null } }
  | { method: 'USER_LEFT'; data: { userId: Id } }
  | { method: 'MESSAGE_SENT'; data: { message: Message; requestId?: string } }
  | { method: 'CONVERSATION_SEEN'; data: { conversationId: Id; userId: Id; seenAt: IsoTime } }
  | { method: 'INVITATION_SENT'; data: { conversationId: Id } }
  | { method: 'NOTIFICATION_SENT'; data: Record<string, unknown> }
  | { method: 'TYPING'; data: { conversationId: Id; userId: Id } }
  | { method: 'MESSAGES'; data: { conversationId: Id; messages: Message[]; hasMore: boolean; requestId?: string } }
  | { method: 'MESSAGE_EDITED'; data: { message: Message; requestId?: string } }
  | { method: 'MESSAGE_DELETED'; data: { message: Message; requestId?: string } }
  | { method: 'MEMBERS_CHANGED'; data: { conversationId: Id; added: Id[]; removed: Id[]; by: Id } }
  | { method: 'PONG'; data: { requestId?: string } }
  | {
      method: 'ERROR';
      data: { code: string; message: string; method?: string; requestId?: string; clientMessageId?: string };
    };

export type ServerMethod = ServerFrame['method'];
