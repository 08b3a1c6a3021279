/**
 * The client library's public face: one typed method per client → server method of the contract
 * and its server → client events by their contract names. Reconnecting, resuming, resending and
 * refreshing the sign-in happen underneath (session.ts); the app only listens and calls.
 */
import type { Listener } from './emitter.js';
import type { ClientRequests, Id, Message, ServerEvents } from './frames.js';
import { toClientMessageId, toContent, toId, toLimit } from './input.js';
import { settings, type ClientOptions } from './options.js';
import { Session, type ClientEvents, type ConnectionState } from './session.js';

export class MassengerClient {
  readonly #session: Session;

  /** Checks the options (a TypeError or RangeError names a wrong one); does not connect yet. */
  constructor(options: ClientOptions) {
    this.#session = new Session(settings(options));
  }

  /** idle, connecting, open, reconnecting or closed; every change is a `state` event. */
  get state(): ConnectionState {
    return this.#session.state;
  }

  /** The signed-in user's id, from the first INIT on. */
  get userId(): Id | null {
    return this.#session.userId;
  }

  /** The highest message id seen: where a reconnect resumes (keep it to resume a later session). */
  get lastMessageId(): Id | null {
    return this.#session.lastMessageId;
  }

  /** Sends not yet acknowledged by the server (they are written again after a reconnect). */
  get pendingSends(): number {
    return this.#session.pendingSends;
  }

  /** Listens to an event; returns a function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, listener: Listener<ClientEvents[E]>): () => void {
    return this.#session.events.on(event, listener);
  }

  /** Listens to the next `event` only. */
  once<E extends keyof ClientEvents>(event: E, listener: Listener<ClientEvents[E]>): () => void {
    return this.#session.events.once(event, listener);
  }

  off<E extends keyof ClientEvents>(event: E, listener: Listener<ClientEvents[E]>): void {
    this.#session.events.off(event, listener);
  }

  /**
   * Starts connecting (calling it again is harmless). Resolves with the first INIT; rejects only
   * if the client stops before it (close(), or a fixed token the server refused).
   */
  connect(): Promise<ServerEvents['INIT']> {
    return this.#session.connect();
  }

  /** Closes for good: the connection ends with 1000 and every waiting request fails with CLOSED. */
  close(): void {
    this.#session.close();
  }

  /**
   * SEND_MESSAGE. Resolves with the stored message (the sender's MESSAGE_SENT: it is durable).
   * Every send carries a `clientMessageId` (random unless given, at most 64 characters) and is
   * written again with it after a reconnect until acknowledged, so it is stored exactly once.
   * A refusal that stored nothing and may pass later (UNAVAILABLE, RATE_LIMITED) is retried after
   * a growing delay (250 ms doubling to 10 s); any other refusal rejects with its code. No timeout:
   * it settles when stored, refused, or the client is closed.
   */
  async send(conversationId: Id | number, content: string, options: { clientMessageId?: string } = {}): Promise<Message> {
    const clientMessageId = toClientMessageId(options.clientMessageId);
    const data: ClientRequests['SEND_MESSAGE'] = { conversationId: toId(conversationId, 'conversationId'), content: toContent(content), clientMessageId };
    return this.#session.request('SEND_MESSAGE', data, { clientMessageId }, false);
  }

  /** OPEN_CONVERSATION: marks it seen; resolves with the user's own CONVERSATION_SEEN. */
  async openConversation(conversationId: Id | number): Promise<ServerEvents['CONVERSATION_SEEN']> {
    const data: ClientRequests['OPEN_CONVERSATION'] = { conversationId: toId(conversationId, 'conversationId') };
    return this.#session.request('OPEN_CONVERSATION', data, { conversationId: data.conversationId });
  }

  /** TYPING: tells the other members; written only while connected (false otherwise), never queued. */
  typing(conversationId: Id | number): boolean {
    const data: ClientRequests['TYPING'] = { conversationId: toId(conversationId, 'conversationId') };
    return this.#session.writeNow('TYPING', data);
  }

  /** FETCH_MESSAGES: up to `limit` (default 50, at most 100) messages with id < `before`, newest last. */
  async fetchMessages(conversationId: Id | number, options: { before?: Id | number; limit?: number } = {}): Promise<ServerEvents['MESSAGES']> {
    const data: ClientRequests['FETCH_MESSAGES'] = { conversationId: toId(conversationId, 'conversationId') };
    if (options.before !== undefined) data.before = toId(options.before, 'before');
    if (options.limit !== undefined) data.limit = toLimit(options.limit);
    return this.#session.request('FETCH_MESSAGES', data, {});
  }

  /** EDIT_MESSAGE: the author replaces a message's content; resolves with the message as it is now. */
  async editMessage(messageId: Id | number, content: string): Promise<Message> {
    const data: ClientRequests['EDIT_MESSAGE'] = { messageId: toId(messageId, 'messageId'), content: toContent(content) };
    return this.#session.request('EDIT_MESSAGE', data, {});
  }

  /** DELETE_MESSAGE: the author deletes a message for everyone; resolves with its tombstone. */
  async deleteMessage(messageId: Id | number): Promise<Message> {
    const data: ClientRequests['DELETE_MESSAGE'] = { messageId: toId(messageId, 'messageId') };
    return this.#session.request('DELETE_MESSAGE', data, {});
  }

  /** PING: resolves with the round trip in ms. */
  async ping(): Promise<number> {
    const started = Date.now();
    await this.#session.request('PING', {}, {});
    return Date.now() - started;
  }
}
