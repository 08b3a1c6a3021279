/**
 * Adding people to a conversation and leaving it (spec §2.3 membership; §3 POST and DELETE
 * /massenger/:conversationId/members). Checks go in the contract's order, bad input (400), not a
 * member (404), not allowed (403), so a stranger learns nothing about a conversation. A change is
 * stored, then published as MEMBERS_CHANGED before it is answered: by the time the caller hears
 * of it, every node holding a member has dropped its cached list and, for a leave, stopped
 * delivering that conversation to the one who left (departures.ts).
 */
import type { Bus } from '../bus/bus.js';
import { AppError, conversationNotFound } from '../errors.js';
import { encode } from '../protocol/codec.js';
import type { Store } from '../store/store.js';
import type { MembersCache } from './members.js';

/** Spec §2.3: a conversation holds at most 256 members. */
const MAX_MEMBERS = 256;
/** Spec §3: one request adds 1 to 255 users. */
export const MAX_ADDED = 255;

export interface MembershipDeps {
  store: Pick<Store, 'existingUsers' | 'members' | 'addMembers' | 'leaveConversation'>;
  bus: Pick<Bus, 'publish'>;
  members: Pick<MembersCache, 'invalidate'>;
}

export class Membership {
  readonly #d: MembershipDeps;

  constructor(deps: MembershipDeps) {
    this.#d = deps;
  }

  /** Adds users to a conversation of the caller; resolves with those who were not members yet. */
  async add(callerId: string, conversationId: string, userIds: readonly string[]): Promise<string[]> {
    if (userIds.length < 1 || userIds.length > MAX_ADDED) throw new AppError('INVALID_DATA', `userIds must name 1 to ${MAX_ADDED} users`);
    const ids = [...new Set(userIds)];
    const known = await this.#d.store.existingUsers(ids);
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new AppError('INVALID_DATA', `unknown users: ${unknown.slice(0, 10).join(', ')}`);
    const { added, members } = await this.#d.store.addMembers(conversationId, callerId, ids, MAX_MEMBERS);
    if (added.length === 0) return added;
    this.#d.members.invalidate(conversationId);
    // Everyone, the added included, hears who joined; then the added who are online are invited.
    await this.#announce(members, { conversationId, added, removed: [], by: callerId });
    await this.#d.bus.publish({
      type: 'deliver',
      userIds: added,
      method: 'INVITATION_SENT',
      text: encode({ method: 'INVITATION_SENT', data: { conversationId } }),
    });
    return added;
  }

  /** The caller leaves the conversation; only oneself may be removed (spec §2.3). */
  async leave(callerId: string, conversationId: string, userId: string): Promise<string[]> {
    if (userId !== callerId) {
      // 404 before 403: asking to remove someone from a conversation one is not in reveals nothing.
      const members = await this.#d.store.members(conversationId);
      if (!members.includes(callerId)) throw conversationNotFound();
      throw new AppError('FORBIDDEN', 'a member may only remove themselves');
    }
    const { members } = await this.#d.store.leaveConversation(conversationId, callerId);
    this.#d.members.invalidate(conversationId);
    // The one who left hears it too, and nothing of this conversation after it.
    await this.#announce([...members, callerId], { conversationId, added: [], removed: [callerId], by: callerId });
    return [callerId];
  }

  #announce(userIds: string[], data: { conversationId: string; added: string[]; removed: string[]; by: string }): Promise<void> {
    return this.#d.bus.publish({ type: 'deliver', userIds, method: 'MEMBERS_CHANGED', text: encode({ method: 'MEMBERS_CHANGED', data }) });
  }
}
