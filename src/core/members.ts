/**
 * A bounded cache of conversation members, so sending a message does not ask the database who
 * the members are every time. An entry is dropped as soon as the database announces a change to
 * that conversation's members (build() wires Store.watchMembers to `invalidate`, on every node,
 * whoever made the change); the TTL is only a backstop. Only non-empty lists are cached: an
 * unknown conversation may be created later under that id.
 */
import type { Store } from '../store/store.js';

export class MembersCache {
  readonly #entries = new Map<string, { members: string[]; expiresAt: number }>();
  readonly #store: Pick<Store, 'members'>;
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { store: Pick<Store, 'members'>; maxEntries: number; ttlMs: number; now?: () => number }) {
    this.#store = opts.store;
    this.#maxEntries = opts.maxEntries;
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
  }

  /** Members of a conversation, from cache when fresh. */
  async get(conversationId: string): Promise<string[]> {
    const entry = this.#entries.get(conversationId);
    if (entry !== undefined && entry.expiresAt > this.#now()) {
      // Re-insert so Map order is least-recently-used first.
      this.#entries.delete(conversationId);
      this.#entries.set(conversationId, entry);
      return entry.members;
    }
    return this.refresh(conversationId);
  }

  /** Members as the database has them now; updates the cache. */
  async refresh(conversationId: string): Promise<string[]> {
    const members = await this.#store.members(conversationId);
    this.#entries.delete(conversationId);
    if (members.length > 0 && this.#maxEntries > 0 && this.#ttlMs > 0) {
      if (this.#entries.size >= this.#maxEntries) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
      this.#entries.set(conversationId, { members, expiresAt: this.#now() + this.#ttlMs });
    }
    return members;
  }

  /**
   * Members when `userId` is one of them. A cached list without the user is re-read once, so a
   * member added a moment ago (its change notification still on the way) is not refused; still
   * absent means NOT_FOUND for the caller.
   */
  async ofMember(conversationId: string, userId: string): Promise<string[] | null> {
    let members = await this.get(conversationId);
    if (!members.includes(userId)) members = await this.refresh(conversationId);
    return members.includes(userId) ? members : null;
  }

  invalidate(conversationId: string): void {
    this.#entries.delete(conversationId);
  }

  /** Drops everything: change notifications may have been missed. */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
