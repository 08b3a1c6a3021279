/**
 * The sender's own copy of a change it made (spec §2: only the sender's MESSAGE_EDITED or
 * MESSAGE_DELETED carries its requestId). A change reaches every member as one `deliver` event
 * whose text is encoded once (style §7); the requesting connection is on this node, so this node
 * remembers, by that shared text, which connection gets the copy with the requestId instead. The
 * copy then travels in the same place of the same stream as everyone else's, in bus order.
 */

/** How long a copy waits for its event; the bus hands an event back within milliseconds. */
const REPLY_WAIT_MS = 10_000;
/** Most copies waiting at once; the oldest are given up first (the sender then gets the shared copy). */
const MAX_WAITING = 10_000;

export interface OwnCopy {
  peerId: string;
  text: string;
}

export class Replies {
  /** By shared text, in insertion order, which is expiry order. */
  readonly #waiting = new Map<string, OwnCopy & { expiresAt: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Before publishing `text`: connection `peerId` of this node is to get `ownText` instead. */
  expect(text: string, peerId: string, ownText: string): void {
    this.#prune();
    if (this.#waiting.size >= MAX_WAITING) this.#waiting.delete(this.#waiting.keys().next().value as string);
    this.#waiting.set(text, { peerId, text: ownText, expiresAt: this.#now() + REPLY_WAIT_MS });
  }

  /** The sender's copy for an event of this text, once; undefined when none waits. */
  take(text: string): OwnCopy | undefined {
    if (this.#waiting.size === 0) return undefined;
    const copy = this.#waiting.get(text);
    if (copy === undefined) return undefined;
    this.#waiting.delete(text);
    return copy.expiresAt > this.#now() ? { peerId: copy.peerId, text: copy.text } : undefined;
  }

  get size(): number {
    return this.#waiting.size;
  }

  #prune(): void {
    const now = this.#now();
    for (const [text, copy] of this.#waiting) {
      if (copy.expiresAt > now) return;
      this.#waiting.delete(text);
    }
  }
}
