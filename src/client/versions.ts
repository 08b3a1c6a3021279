/**
 * What the client has seen of messages: the latest `updatedAt` of each (so a version it already
 * has, delivered again after a resend or a resume, is dropped; contract §2.3: keep the version
 * with the latest `updatedAt`) and the highest id (the `lastMessageId` a reconnect resumes from).
 */
import type { Id, Message } from './frames.js';

/** Ids are decimal strings without leading zeros, so a longer one is larger; no BigInt needed. */
export function compareIds(a: Id, b: Id): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class MessageVersions {
  /** id → updatedAt (ms), oldest entry first, bounded by `capacity`. */
  readonly #updatedAt = new Map<Id, number>();
  readonly #capacity: number;
  #lastMessageId: Id | null;

  constructor(capacity: number, lastMessageId: Id | null) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`dedupeCapacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
    this.#lastMessageId = lastMessageId;
  }

  /** The highest message id seen, or null before any (and before the first INIT). */
  get lastMessageId(): Id | null {
    return this.#lastMessageId;
  }

  /** Marks everything up to `id` as covered (INIT's last messages, a fetched page). */
  cover(id: Id): void {
    if (this.#lastMessageId === null || compareIds(id, this.#lastMessageId) > 0) this.#lastMessageId = id;
  }

  /**
   * Records a version of a message; true when it is newer than every version seen before (the
   * caller then passes it on), false for a repeat or an older version. `cover`: the message came
   * in the live stream (or a resume), so the resume point may move past it.
   */
  offer(message: Message, cover: boolean): boolean {
    if (cover) this.cover(message.id);
    const at = Date.parse(message.updatedAt);
    const known = this.#updatedAt.get(message.id);
    if (known !== undefined && !(at > known)) return false;
    // Re-inserting moves the id to the young end, so eviction drops the least recently changed.
    this.#updatedAt.delete(message.id);
    this.#updatedAt.set(message.id, at);
    if (this.#updatedAt.size > this.#capacity) {
      const oldest = this.#updatedAt.keys().next().value;
      if (oldest !== undefined) this.#updatedAt.delete(oldest);
    }
    return true;
  }
}
