/**
 * What this node published to its own channel through Redis and has not received back yet.
 *
 * An event whose users are all on this node is handed to this node directly, without a PUBLISH
 * (redis.ts, "LOCAL EVENTS"). That is only safe while nothing this node sent itself through Redis
 * is still on its way: the direct event would overtake it (a message parked in the order gate, a
 * MEMBERS_CHANGED that must arrive before the messages after it). So each envelope this node
 * addresses to itself carries a number, and the direct path is open only when every such number
 * has come back. A number that never comes back (a publish that failed, a message parked by a
 * node that died) is forgotten after `maxAgeMs`, and all of them when the subscription is renewed
 * (whatever was on its way then is lost anyway).
 */
export class SelfEchoes {
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** Number → when it was sent; in sending order, so the oldest comes first. */
  readonly #pending = new Map<number, number>();
  #next = 0;

  constructor(options: { maxAgeMs: number; now?: () => number }) {
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now ?? Date.now;
  }

  /** Numbers an envelope addressed to this node. */
  sent(): number {
    const n = ++this.#next;
    this.#pending.set(n, this.#now());
    return n;
  }

  received(n: number): void {
    this.#pending.delete(n);
  }

  /** True when nothing this node sent itself is on its way. */
  get clear(): boolean {
    const oldest = this.#now() - this.#maxAgeMs;
    for (const [n, sentAt] of this.#pending) {
      if (sentAt > oldest) return false;
      this.#pending.delete(n);
    }
    return true;
  }

  reset(): void {
    this.#pending.clear();
  }
}
