/**
 * The WebSocket methods of spec §2.1, one function each, behind one `switch (frame.method)`.
 * Chat knows nothing of sockets or SQL: it talks to a Client (the transport's connection), the
 * Store, the Bus and Presence through their ports.
 */
import type { TokenVerifier } from '../auth/jwt.js';
import type { Bus } from '../bus/bus.js';
import { AppError, conversationNotFound } from '../errors.js';
import type { Presence } from '../presence/presence.js';
import { encode } from '../protocol/codec.js';
import type { ClientFrame, ServerFrame } from '../protocol/frames.js';
import type { Store } from '../store/store.js';
import type { Hub, Peer } from './hub.js';
import type { MembersCache } from './members.js';
import type { MessageChanges } from './message-changes.js';
import type { Roster } from './roster.js';
import type { SendPipeline } from './send-pipeline.js';
import type { SignInReads } from './sign-in-reads.js';
import { memberIds, toConversation, toMessage, withRequestId } from './views.js';

/** Spec §2.2: missedMessages holds at most 1000 messages. */
const MAX_MISSED_MESSAGES = 1000;
/**
 * missedMessages holds at most this many bytes of encoded messages (then `recovered` is false,
 * spec §2.2): 1000 messages of 4000 emoji would make a 16 MB INIT, four times MAX_BUFFERED_BYTES.
 */
export const MAX_MISSED_BYTES = 2 * 1024 * 1024;

/** A connection as the core sees it; the transport implements it. */
export interface Client extends Peer {
  /** The signed-in user, or null before AUTHENTICATE succeeds. */
  readonly userId: string | null;
  /**
   * Records a (re)authentication; the transport ends the session at `expiresAt` (ms epoch, null:
   * never). Throws an AppError, changing nothing, when the transport refuses a new session (a cap).
   */
  signIn(userId: string, expiresAt: number | null): void;
  /** Undoes a first signIn whose INIT could not be built. */
  signOut(): void;
  /** Queues every frame sent from now on until `release`, so INIT is the first thing a new session sees. */
  hold(): void;
  /**
   * Sends `first` and then what was held, less the MESSAGE_SENT of messages in `sent` (INIT's
   * missedMessages already holds them); with null, drops what was held (the session did not start).
   */
  release(first: string | null, sent?: ReadonlySet<string>): void;
}

type Data<M extends ClientFrame['method']> = Extract<ClientFrame, { method: M }>['data'];

export interface ChatDeps {
  store: Store;
  bus: Pick<Bus, 'publish' | 'flush'>;
  presence: Pick<Presence, 'online'>;
  hub: Hub;
  roster: Roster;
  members: MembersCache;
  verifier: TokenVerifier;
  /** INIT's reads, batched across sign-ins. */
  reads: Pick<SignInReads, 'friends' | 'initConversations'>;
  /** Where SEND_MESSAGE goes: group commit, then publish in order. */
  sends: Pick<SendPipeline, 'send' | 'idle'>;
  /** EDIT_MESSAGE and DELETE_MESSAGE, shared with the HTTP side. */
  changes: Pick<MessageChanges, 'editMessage' | 'deleteMessage'>;
}

export class Chat {
  readonly #d: ChatDeps;
  constructor(deps: ChatDeps) {
    this.#d = deps;
  }

  /**
   * Handles one decoded request. Rejects with an AppError that the transport answers as ERROR.
   * `receivedAt` is when its frame arrived (performance.now() ms): a send refused for its age
   * (overload) is refused by that.
   */
  handle(client: Client, frame: ClientFrame, receivedAt: number = performance.now()): Promise<void> {
    if (frame.method === 'AUTHENTICATE') return this.authenticate(client, frame.data);
    if (frame.method === 'PING') {
      client.send(encode({ method: 'PONG', data: withRequestId({}, frame.data.requestId) }), 'PONG');
      return Promise.resolve();
    }
    const userId = client.userId;
    if (userId === null) return Promise.reject(new AppError('UNAUTHENTICATED', 'send AUTHENTICATE first'));
    switch (frame.method) {
      case 'SEND_MESSAGE':
        return this.sendMessage(client, userId, frame.data, receivedAt);
      case 'OPEN_CONVERSATION':
        return this.openConversation(userId, frame.data);
      case 'TYPING':
        return this.typing(userId, frame.data);
      case 'FETCH_MESSAGES':
        return this.fetchMessages(client, userId, frame.data);
      case 'EDIT_MESSAGE':
        return this.#d.changes.editMessage(client, userId, frame.data);
      case 'DELETE_MESSAGE':
        return this.#d.changes.deleteMessage(client, userId, frame.data);
    }
  }

  async authenticate(client: Client, data: Data<'AUTHENTICATE'>): Promise<void> {
    const { userId, expiresAt } = await this.#d.verifier.verify(data.token);
    if (client.userId !== null && client.userId !== userId) {
      throw new AppError('FORBIDDEN', 'this connection is signed in as another user');
    }
    const first = client.userId === null;
    client.signIn(userId, expiresAt);
    let init: string;
    let frame: Extract<ServerFrame, { method: 'INIT' }>;
    try {
      if (first) {
        // Attached and routed here before reading, so nothing stored meanwhile is missed; held, so
        // INIT comes first, and what INIT already holds is not sent again live.
        client.hold();
        await this.#d.roster.connect(userId, client);
      }
      frame = await this.#init(userId, data.lastMessageId);
      init = encode(frame);
    } catch (err) {
      if (first) {
        // No INIT, no session: the client may try again on the same connection.
        client.release(null);
        client.signOut();
        void this.#d.roster.disconnect(userId, client);
      }
      throw err;
    }
    if (first) client.release(init, new Set(frame.data.missedMessages?.map((m) => m.id)));
    else client.send(init, 'INIT');
  }

  async #init(userId: string, lastMessageId: string | undefined): Promise<Extract<ServerFrame, { method: 'INIT' }>> {
    const { store, presence, reads } = this.#d;
    const [rows, friends, missed, changed] = await Promise.all([
      reads.initConversations(userId),
      reads.friends(userId),
      lastMessageId === undefined ? null : store.messagesSince(userId, lastMessageId, MAX_MISSED_MESSAGES + 1),
      lastMessageId === undefined ? null : store.changedSince(userId, lastMessageId, MAX_MISSED_MESSAGES + 1),
    ]);
    const online = await presence.online([...memberIds(rows), ...friends.map((f) => f.userId)]);
    online.add(userId);
    const data: Extract<ServerFrame, { method: 'INIT' }>['data'] = {
      userId,
      conversations: rows.map((row) => toConversation(row, userId, online)),
      onlineFriends: friends.filter((f) => online.has(f.userId)).map((f) => ({ id: f.userId, conversationId: f.conversationId })),
    };
    if (missed !== null && changed !== null) {
      // Spec §2.2: the messages after lastMessageId, then those up to it changed since it was
      // stored, each list at most 1000. One more than the limit was read: its presence is how we
      // know a list is incomplete (then the client must reload: never a silent gap).
      const listed = [...missed.slice(0, MAX_MISSED_MESSAGES), ...changed.slice(0, MAX_MISSED_MESSAGES)].map(toMessage);
      // Cut to a byte budget too, oldest kept, so INIT drains like any frame and reconnecting converges.
      data.missedMessages = fitBytes(listed, MAX_MISSED_BYTES);
      const complete = missed.length <= MAX_MISSED_MESSAGES && changed.length <= MAX_MISSED_MESSAGES;
      data.recovered = complete && data.missedMessages.length === listed.length;
    }
    return { method: 'INIT', data };
  }

  /** Stored with others that arrive meanwhile (group commit), then published in order: send-pipeline.ts. */
  async sendMessage(client: Client, userId: string, data: Data<'SEND_MESSAGE'>, receivedAt: number): Promise<void> {
    const members = await this.#membersOrNotFound(data.conversationId, userId);
    await this.#d.sends.send({
      client,
      input: { conversationId: data.conversationId, authorId: userId, content: data.content, clientMessageId: data.clientMessageId ?? null },
      requestId: data.requestId,
      members,
      receivedAt,
    });
  }

  async openConversation(userId: string, data: Data<'OPEN_CONVERSATION'>): Promise<void> {
    const seenAt = await this.#d.store.markSeen(userId, data.conversationId);
    if (seenAt === null) throw conversationNotFound();
    const members = await this.#d.members.get(data.conversationId);
    await this.#d.bus.publish({
      type: 'deliver',
      userIds: members,
      method: 'CONVERSATION_SEEN',
      text: encode({ method: 'CONVERSATION_SEEN', data: { conversationId: data.conversationId, userId, seenAt: seenAt.toISOString() } }),
    });
  }

  async typing(userId: string, data: Data<'TYPING'>): Promise<void> {
    const members = await this.#membersOrNotFound(data.conversationId, userId);
    const others = members.filter((id) => id !== userId);
    if (others.length === 0) return;
    await this.#d.bus.publish({
      type: 'deliver',
      userIds: others,
      method: 'TYPING',
      text: encode({ method: 'TYPING', data: { conversationId: data.conversationId, userId } }),
    });
  }

  async fetchMessages(client: Client, userId: string, data: Data<'FETCH_MESSAGES'>): Promise<void> {
    await this.#membersOrNotFound(data.conversationId, userId);
    const page = await this.#d.store.messages(data.conversationId, data.before === undefined ? { limit: data.limit } : { before: data.before, limit: data.limit });
    const reply = withRequestId(
      { conversationId: data.conversationId, messages: page.messages.map(toMessage), hasMore: page.hasMore },
      data.requestId,
    );
    client.send(encode({ method: 'MESSAGES', data: reply }), 'MESSAGES');
  }

  /** A closed connection; the roster tells friends when it was the user's last. */
  disconnect(client: Client): Promise<void> {
    return client.userId === null ? Promise.resolve() : this.#d.roster.disconnect(client.userId, client);
  }

  /**
   * Resolves once what was published so far reached this node's clients (on many nodes the
   * sender's acknowledgement comes back through Redis); for shutdown, before 1001.
   */
  flush(): Promise<void> {
    return this.#d.bus.flush();
  }

  /** Resolves when every send in flight has been stored and published; for shutdown. */
  idle(): Promise<void> {
    return this.#d.sends.idle();
  }

  async #membersOrNotFound(conversationId: string, userId: string): Promise<string[]> {
    const members = await this.#d.members.ofMember(conversationId, userId);
    if (members === null) throw conversationNotFound();
    return members;
  }
}

/** The longest prefix of `messages` whose encoded size fits in `budget` bytes. */
function fitBytes<T>(messages: T[], budget: number): T[] {
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    bytes += Buffer.byteLength(JSON.stringify(messages[i]));
    if (bytes > budget) return messages.slice(0, i);
  }
  return messages;
}
