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
  /** Bumped by every invalidation; a read that straddles one is not cached. */
  #generation = 0;

  constructor(opts: { store: Pick<Store, 'members'>; maxEntries: number; ttlMs: number; now?: () => number }) {
    this.#store = opts.store;
    this.#maxEntries = opts.maxEntries;
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
  }

  /** Members of a conversation, from cache when fresh. */
  async get(conversationId: string): Promise<string[]> {
    const cached = this.#fresh(conversationId);
    if (cached !== null) return cached;
    const generation = this.#generation;
    const members = await this.#store.members(conversationId);
    this.#put(conversationId, members, generation);
    return members;
  }

  /**
   * Members when `userId` is one of them, else null (NOT_FOUND for the caller). A cached list
   * without the user is re-read, so a member added a moment ago (the change notification still on
   * its way) is not refused. A non-member's probe caches nothing, so no client can churn the
   * cache by asking about conversations it is not in.
   */
  async ofMember(conversationId: string, userId: string): Promise<string[] | null> {
    const cached = this.#fresh(conversationId);
    if (cached?.includes(userId)) return cached;
    const generation = this.#generation;
    const members = await this.#store.members(conversationId);
    if (!members.includes(userId)) return null;
    this.#put(conversationId, members, generation);
    return members;
  }

  invalidate(conversationId: string): void {
    this.#generation++;
    this.#entries.delete(conversationId);
  }

  /** Drops everything: change notifications may have been missed. */
  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  #fresh(conversationId: string): string[] | null {
    const entry = this.#entries.get(conversationId);
    if (entry === undefined || entry.expiresAt <= this.#now()) return null;
    // Re-insert so Map order is least-recently-used first.
    this.#entries.delete(conversationId);
    this.#entries.set(conversationId, entry);
    return entry.members;
  }

  /**
   * Caches a list read when the generation was `generation`. A change announced while the read
   * was under way may not be in it, so such a read is used once and not kept.
   */
  #put(conversationId: string, members: string[], generation: number): void {
    if (generation !== this.#generation || members.length === 0 || this.#maxEntries === 0 || this.#ttlMs === 0) return;
    this.#entries.delete(conversationId);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(conversationId, { members, expiresAt: this.#now() + this.#ttlMs });
  }

  get size(): number {
    return this.#entries.size;
  }
}
