/**
 * A small local picture of the chat, built only from server events: conversations with their
 * unread marks, online friends, messages by id (each at its latest `updatedAt`), seen receipts,
 * who is typing, and recent notifications. It knows nothing of sockets: `attach` follows a
 * client, and `apply` takes events from anywhere (a test, a worker, a replay).
 */
import type { Conversation, Id, IsoTime, Message, OnlineFriend, ServerEvents, ServerFrame, ServerMethod } from './frames.js';
import { compareIds } from './versions.js';

/** How long a TYPING event shows the member as typing (the app sends TYPING every few seconds). */
const TYPING_SHOWN_MS = 5000;
/** Spec §2.2: unreadCount is counted up to 100 (100 means 100 or more). */
const MAX_UNREAD = 100;
/** Notifications kept, newest last. */
const MAX_NOTIFICATIONS = 50;

/** What `attach` needs of a client: its `on`. */
export interface EventSource {
  on<E extends ServerMethod>(event: E, listener: (data: ServerEvents[E]) => void): () => void;
}

const FOLLOWED: readonly ServerMethod[] = [
  'INIT', 'USER_JOINED', 'USER_LEFT', 'MESSAGE_SENT', 'CONVERSATION_SEEN', 'NOTIFICATION_SENT',
  'TYPING', 'MESSAGES', 'MESSAGE_EDITED', 'MESSAGE_DELETED', 'MEMBERS_CHANGED',
];

export class ChatState {
  #userId: Id | null = null;
  #needsReload = false;
  /** Objects are replaced, never changed in place, so a view can compare them by reference. */
  readonly #conversations = new Map<Id, Conversation>();
  readonly #onlineFriends = new Map<Id, Id | null>();
  readonly #messages = new Map<Id, Message>();
  readonly #messageIds = new Map<Id, Set<Id>>();
  /** Messages of others received since the user last saw the conversation, to undo a deleted one's unread mark. */
  readonly #unreadIds = new Map<Id, Set<Id>>();
  readonly #seen = new Map<Id, Map<Id, IsoTime>>();
  readonly #typing = new Map<Id, Map<Id, number>>();
  readonly #notifications: Array<ServerEvents['NOTIFICATION_SENT']> = [];
  readonly #listeners = new Set<() => void>();

  /** Follows every event of `client` that changes the state; returns a function that stops. */
  attach(client: EventSource): () => void {
    const offs = FOLLOWED.map((method) => client.on(method, (data) => this.apply(method, data)));
    return () => offs.forEach((off) => off());
  }

  /** Calls `listener` after every change; returns a function that stops it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get userId(): Id | null {
    return this.#userId;
  }

  /** True after an INIT with `recovered: false`, until the next complete one: reload what is shown. */
  get needsReload(): boolean {
    return this.#needsReload;
  }

  /** Known conversations, latest activity first. */
  get conversations(): Conversation[] {
    return [...this.#conversations.values()].sort((a, b) => Date.parse(b.lastActivityAt) - Date.parse(a.lastActivityAt) || compareIds(b.id, a.id));
  }

  conversation(id: Id): Conversation | undefined {
    return this.#conversations.get(id);
  }

  get onlineFriends(): OnlineFriend[] {
    return [...this.#onlineFriends].map(([id, conversationId]) => ({ id, conversationId }));
  }

  isOnline(userId: Id): boolean {
    return this.#onlineFriends.has(userId);
  }

  message(id: Id): Message | undefined {
    return this.#messages.get(id);
  }

  /** A conversation's known messages, oldest first (tombstones included: `deletedAt` is set). */
  messages(conversationId: Id): Message[] {
    const ids = [...(this.#messageIds.get(conversationId) ?? [])].sort(compareIds);
    return ids.map((id) => this.#messages.get(id)!);
  }

  /** When each other member last marked the conversation seen (seen receipts). */
  seenBy(conversationId: Id): ReadonlyMap<Id, IsoTime> {
    return this.#seen.get(conversationId) ?? new Map();
  }

  /** Members who sent TYPING in the conversation within the last 5 s. */
  typing(conversationId: Id, now = Date.now()): Id[] {
    return [...(this.#typing.get(conversationId) ?? [])].filter(([, at]) => now - at < TYPING_SHOWN_MS).map(([id]) => id);
  }

  /** The latest notifications (at most 50), oldest first. */
  get notifications(): ReadonlyArray<ServerEvents['NOTIFICATION_SENT']> {
    return this.#notifications;
  }

  /** Applies one server event. */
  apply<M extends ServerMethod>(method: M, data: ServerEvents[M]): void {
    this.#apply({ method, data } as ServerFrame);
    for (const listener of [...this.#listeners]) listener();
  }

  #apply(e: ServerFrame): void {
    switch (e.method) {
      case 'INIT': {
        this.#userId = e.data.userId;
        this.#needsReload = e.data.recovered === false;
        // INIT's conversations carry fresh unread counts that already include missedMessages.
        for (const c of e.data.conversations) {
          this.#conversations.set(c.id, c);
          this.#unreadIds.delete(c.id);
          if (c.lastMessage !== null) this.#putMessage(c.lastMessage);
        }
        this.#onlineFriends.clear();
        for (const f of e.data.onlineFriends) this.#onlineFriends.set(f.id, f.conversationId);
        for (const m of e.data.missedMessages ?? []) this.#putMessage(m);
        return;
      }
      case 'MESSAGE_SENT':
        return this.#received(e.data.message);
      case 'MESSAGE_EDITED':
      case 'MESSAGE_DELETED':
        return this.#changed(e.data.message);
      case 'MESSAGES':
        for (const m of e.data.messages) this.#putMessage(m);
        return;
      case 'CONVERSATION_SEEN': {
        const { conversationId, userId, seenAt } = e.data;
        if (userId === this.#userId) return this.#markSeen(conversationId);
        let seen = this.#seen.get(conversationId);
        if (seen === undefined) this.#seen.set(conversationId, (seen = new Map()));
        seen.set(userId, seenAt);
        return;
      }
      case 'USER_JOINED':
        this.#onlineFriends.set(e.data.userId, e.data.conversationId);
        return this.#setOnline(e.data.userId, true);
      case 'USER_LEFT':
        this.#onlineFriends.delete(e.data.userId);
        return this.#setOnline(e.data.userId, false);
      case 'TYPING': {
        let typing = this.#typing.get(e.data.conversationId);
        if (typing === undefined) this.#typing.set(e.data.conversationId, (typing = new Map()));
        typing.set(e.data.userId, Date.now());
        return;
      }
      case 'MEMBERS_CHANGED':
        return this.#membersChanged(e.data);
      case 'NOTIFICATION_SENT':
        this.#notifications.push(e.data);
        if (this.#notifications.length > MAX_NOTIFICATIONS) this.#notifications.shift();
        return;
      default:
        return; // PONG, ERROR, INVITATION_SENT change nothing here (an invitation: load the conversation over HTTP)
    }
  }

  /** Keeps the version with the latest updatedAt; true when `m` was kept. */
  #putMessage(m: Message): boolean {
    const known = this.#messages.get(m.id);
    if (known !== undefined && !(Date.parse(m.updatedAt) > Date.parse(known.updatedAt))) return false;
    this.#messages.set(m.id, m);
    let ids = this.#messageIds.get(m.conversationId);
    if (ids === undefined) this.#messageIds.set(m.conversationId, (ids = new Set()));
    ids.add(m.id);
    return true;
  }

  #received(m: Message): void {
    if (!this.#putMessage(m)) return;
    this.#typing.get(m.conversationId)?.delete(m.author);
    const c = this.#conversations.get(m.conversationId);
    if (c === undefined) return;
    const newest = c.lastMessage === null || compareIds(m.id, c.lastMessage.id) >= 0;
    const next: Conversation = newest ? { ...c, lastMessage: m, lastActivityAt: m.createdAt } : { ...c };
    if (m.author === this.#userId) {
      // Contract §2.2: sending a message marks the conversation seen.
      Object.assign(next, { unread: false, unreadCount: 0 });
      this.#unreadIds.delete(c.id);
    } else {
      let ids = this.#unreadIds.get(c.id);
      if (ids === undefined) this.#unreadIds.set(c.id, (ids = new Set()));
      ids.add(m.id);
      const unreadCount = Math.min(MAX_UNREAD, (c.unreadCount ?? 0) + 1);
      Object.assign(next, { unread: true, unreadCount });
    }
    this.#conversations.set(c.id, next);
  }

  #changed(m: Message): void {
    if (!this.#putMessage(m)) return;
    const c = this.#conversations.get(m.conversationId);
    if (c === undefined) return;
    const next: Conversation = c.lastMessage?.id === m.id ? { ...c, lastMessage: m } : { ...c };
    // Contract §2.2: deleted messages do not count as unread.
    const unread = this.#unreadIds.get(c.id);
    if (m.deletedAt !== null && unread?.delete(m.id) === true) {
      next.unreadCount = Math.max(0, (c.unreadCount ?? 1) - 1);
      next.unread = next.unreadCount > 0;
    }
    this.#conversations.set(c.id, next);
  }

  #markSeen(conversationId: Id): void {
    this.#unreadIds.delete(conversationId);
    const c = this.#conversations.get(conversationId);
    if (c !== undefined) this.#conversations.set(conversationId, { ...c, unread: false, unreadCount: 0 });
  }

  #setOnline(userId: Id, online: boolean): void {
    for (const c of this.#conversations.values()) {
      if (!c.users.some((u) => u.id === userId && u.online !== online)) continue;
      const users = c.users.map((u) => (u.id === userId ? { ...u, online } : u));
      const active = users.some((u) => u.id !== this.#userId && u.online);
      this.#conversations.set(c.id, { ...c, users, active });
    }
  }

  #membersChanged({ conversationId, added, removed }: ServerEvents['MEMBERS_CHANGED']): void {
    if (this.#userId !== null && removed.includes(this.#userId)) {
      // Contract §2.3: a conversation one left is gone from everything one sees.
      this.#conversations.delete(conversationId);
      for (const id of this.#messageIds.get(conversationId) ?? []) this.#messages.delete(id);
      for (const map of [this.#messageIds, this.#unreadIds, this.#seen, this.#typing]) map.delete(conversationId);
      return;
    }
    const c = this.#conversations.get(conversationId);
    if (c === undefined) return;
    const known = new Set(c.users.map((u) => u.id));
    // Names and pictures of added members are not in the event: load the conversation over HTTP for them.
    const users = c.users
      .filter((u) => !removed.includes(u.id))
      .concat(added.filter((id) => !known.has(id)).map((id) => ({ id, username: '', profilePicture: null, lastVisit: null, online: this.#onlineFriends.has(id) })));
    this.#conversations.set(conversationId, { ...c, users });
  }
}
