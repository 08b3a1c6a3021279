/**
 * Editing and deleting messages (spec §2.1 EDIT_MESSAGE, DELETE_MESSAGE; §3 PATCH and DELETE
 * /massenger/messages/:messageId), for the WebSocket and the HTTP side alike: store the change,
 * then tell every connection of every member.
 */
import type { Bus } from '../bus/bus.js';
import { encode } from '../protocol/codec.js';
import type { ClientFrame, Message, ServerFrame } from '../protocol/frames.js';
import type { MessageChange, Store } from '../store/store.js';
import type { Client } from './chat.js';
import type { MembersCache } from './members.js';
import type { Replies } from './replies.js';
import { toMessage, withRequestId } from './views.js';

type Data<M extends ClientFrame['method']> = Extract<ClientFrame, { method: M }>['data'];
type ChangeMethod = 'MESSAGE_EDITED' | 'MESSAGE_DELETED';

/** The connection that asked, for its own copy (spec §2: only it carries the requestId). */
interface Requester {
  client: Client;
  requestId: string | undefined;
}

export interface MessageChangesDeps {
  store: Pick<Store, 'editMessage' | 'deleteMessage'>;
  bus: Pick<Bus, 'publish'>;
  members: Pick<MembersCache, 'ofMember'>;
  replies: Pick<Replies, 'expect'>;
}

export class MessageChanges {
  readonly #d: MessageChangesDeps;

  constructor(deps: MessageChangesDeps) {
    this.#d = deps;
  }

  async editMessage(client: Client, userId: string, data: Data<'EDIT_MESSAGE'>): Promise<void> {
    await this.edit(userId, data.messageId, data.content, { client, requestId: data.requestId });
  }

  async deleteMessage(client: Client, userId: string, data: Data<'DELETE_MESSAGE'>): Promise<void> {
    await this.delete(userId, data.messageId, { client, requestId: data.requestId });
  }

  /** Stores the author's new content and announces it; resolves with the message as it is now. */
  async edit(userId: string, messageId: string, content: string, requester?: Requester): Promise<Message> {
    const change = await this.#d.store.editMessage({ messageId, authorId: userId, content });
    return this.#announce('MESSAGE_EDITED', userId, change, requester);
  }

  /** Makes the message a tombstone and announces it; resolves with the tombstone. */
  async delete(userId: string, messageId: string, requester?: Requester): Promise<Message> {
    const change = await this.#d.store.deleteMessage({ messageId, authorId: userId });
    return this.#announce('MESSAGE_DELETED', userId, change, requester);
  }

  async #announce(method: ChangeMethod, userId: string, change: MessageChange, requester: Requester | undefined): Promise<Message> {
    const message = toMessage(change.message);
    const text = encode(changed(method, message, undefined));
    const own = requester?.requestId === undefined ? text : encode(changed(method, message, requester.requestId));
    if (!change.changed) {
      // Spec §2.3: deleting a deleted message answers that request with the tombstone, and no one else.
      requester?.client.send(own, method);
      return message;
    }
    // Spec §2.3: stored (the statement committed) before anyone hears of it; the requester's copy
    // is the acknowledgement. ofMember re-reads a cached list that lacks the author (just added).
    const members = (await this.#d.members.ofMember(message.conversationId, userId)) ?? [userId];
    if (requester !== undefined && own !== text) this.#d.replies.expect(text, requester.client.id, own);
    // ORDER (spec §2.3: a change reaches each member after the MESSAGE_SENT of its message). The
    // message went through the bus's order gate, which publishes it to all its target node
    // channels in one atomic script (bus/redis.ts), and Redis hands each channel's messages over
    // in publish order. Its author learns its id from that MESSAGE_SENT, so this `deliver`,
    // published afterwards onto the same node channels, reaches every node after it; on one node
    // (MemoryBus) publishing is synchronous and in call order. This holds as long as the id came
    // from the message's own MESSAGE_SENT or a later read. It does not when a client reads the
    // id from the database (FETCH_MESSAGES, HTTP) in the moment between the message's commit and
    // its publication (up to the gate's 500 ms wait when a predecessor is missing), or when the
    // sending node's Redis subscriber is down (it hands its own clients the message before the
    // gate runs): a member may then get the change first, and clients keep the version with the
    // latest updatedAt (spec §2.2), which the change always is.
    await this.#d.bus.publish({ type: 'deliver', userIds: members, method, text });
    return message;
  }
}

function changed(method: ChangeMethod, message: Message, requestId: string | undefined): ServerFrame {
  return { method, data: withRequestId({ message }, requestId) };
}
