/**
 * The HTTP side of the core (spec §3): start a conversation, read conversations, push a
 * notification. The routes in src/http/ validate shapes and call these.
 */
import type { Bus } from '../bus/bus.js';
import { AppError, conversationNotFound } from '../errors.js';
import type { Presence } from '../presence/presence.js';
import { encode } from '../protocol/codec.js';
import type { Conversation, Message } from '../protocol/frames.js';
import type { Store } from '../store/store.js';
import { parseNotification } from './notifications.js';
import { memberIds, toConversation, toMessage } from './views.js';

/** Spec §3: a conversation is started with 1 to 255 other users. */
const MAX_INVITEES = 255;

export type ConversationPage = { before?: { conversationId: string } | { time: Date }; limit: number };

export class Directory {
  readonly #store: Store;
  readonly #bus: Pick<Bus, 'publish'>;
  readonly #presence: Pick<Presence, 'online'>;

  constructor(deps: { store: Store; bus: Pick<Bus, 'publish'>; presence: Pick<Presence, 'online'> }) {
    this.#store = deps.store;
    this.#bus = deps.bus;
    this.#presence = deps.presence;
  }

  /** Creates a conversation of the caller and `userIds`; online invitees hear INVITATION_SENT. */
  async startConversation(callerId: string, userIds: readonly string[]): Promise<string> {
    const others = [...new Set(userIds)].filter((id) => id !== callerId);
    if (others.length < 1 || others.length > MAX_INVITEES) {
      throw new AppError('INVALID_DATA', `userIds must name 1 to ${MAX_INVITEES} users other than the caller`);
    }
    const known = await this.#store.existingUsers(others);
    const unknown = others.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new AppError('INVALID_DATA', `unknown users: ${unknown.slice(0, 10).join(', ')}`);
    const conversationId = await this.#store.createConversation([callerId, ...others]);
    // The id is new, so no node can have cached its members; every other member is invited.
    await this.#bus.publish({
      type: 'deliver',
      userIds: others,
      method: 'INVITATION_SENT',
      text: encode({ method: 'INVITATION_SENT', data: { conversationId } }),
    });
    return conversationId;
  }

  async conversations(userId: string, page: ConversationPage): Promise<Conversation[]> {
    const rows = await this.#store.conversations(userId, page);
    const online = await this.#presence.online(memberIds(rows));
    return rows.map((row) => toConversation(row, userId, online));
  }

  async conversation(
    userId: string,
    conversationId: string,
    page: { before?: string; limit: number },
  ): Promise<Conversation & { messages: Message[]; hasMore: boolean }> {
    const row = await this.#store.conversation(userId, conversationId);
    if (row === null) throw conversationNotFound();
    const [online, messages] = await Promise.all([
      this.#presence.online(memberIds([row])),
      this.#store.messages(conversationId, page),
    ]);
    return { ...toConversation(row, userId, online), messages: messages.messages.map(toMessage), hasMore: messages.hasMore };
  }

  /** Pushes a notification to every online connection of its users; resolves how many of them are online. */
  async notify(body: unknown): Promise<number> {
    const notification = parseNotification(body);
    if (notification instanceof AppError) throw notification;
    const online = await this.#presence.online(notification.userIds);
    if (online.size > 0) {
      await this.#bus.publish({ type: 'deliver', userIds: [...online], method: 'NOTIFICATION_SENT', text: notification.text });
    }
    return online.size;
  }
}
