/**
 * What this node published to its own channel through Redis and has not received back yet, and
 * that each such event is handed to this node once.
 *
 * An event whose users are all on this node is handed to this node directly, without a PUBLISH
 * (redis.ts, "LOCAL EVENTS"). That is only safe while nothing this node sent itself through Redis
 * is still on its way: the direct event would overtake it (a message parked in the order gate, a
 * MEMBERS_CHANGED that must arrive before the messages after it). So each envelope this node
 * addresses to itself carries a number, and the direct path is open only when every such number
 * has come back. A number that never comes back (a publish that failed, a message parked by a
 * node that died) is forgotten after `maxAgeMs`, and all of them when the subscription is renewed
 * (whatever was on its way then is lost anyway).
 *
 * ONCE. A publish whose outcome is unknown (a command that timed out after it had acted, a
 * connection lost before the reply, a parked message whose force failed) is handed over by its
 * publisher directly, and its echo may come back too. The first of the two hands it over and the
 * second does not, as long as the echo comes within `maxAgeMs` (a command times out after 2 s), and
 * without remembering the ids of everything delivered lately. Each number is in one state:
 *
 *   awaited ──echo──▶ echoed ──publisher done──▶ (forgotten)
 *      │                 └──publisher's fallback──▶ (forgotten, not handed over again)
 *      ├──publisher done──▶ settled ──echo──▶ (forgotten)
 *      └──publisher's fallback──▶ handed ──echo──▶ (forgotten, the echo dropped)
 *
 * awaited, settled and handed are on their way; echoed has come back while its publisher may
 * still fall back.
 */
type EchoState = 'awaited' | 'echoed' | 'settled' | 'handed';

export class SelfEchoes {
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** Number → its state and when it was sent; in sending order, so the oldest comes first. */
  readonly #numbers = new Map<number, { state: EchoState; sentAt: number }>();
  #next = 0;

  constructor(options: { maxAgeMs: number; now?: () => number }) {
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now ?? Date.now;
  }

  /** Numbers an envelope addressed to this node. */
  sent(): number {
    const n = ++this.#next;
    this.#numbers.set(n, { state: 'awaited', sentAt: this.#now() });
    return n;
  }

  /** Its echo came back: true to hand the event over, false when its publisher already did. */
  received(n: number): boolean {
    const entry = this.#numbers.get(n);
    if (entry === undefined) return true;
    if (entry.state === 'awaited') {
      entry.state = 'echoed';
      return true;
    }
    this.#numbers.delete(n);
    return entry.state !== 'handed';
  }

  /** Its publisher is done and did not hand it over: only the echo will. */
  settle(n: number | undefined): void {
    const entry = n === undefined ? undefined : this.#numbers.get(n);
    if (entry?.state === 'awaited') entry.state = 'settled';
    else if (entry?.state === 'echoed') this.#numbers.delete(n as number);
  }

  /**
   * Its publisher does not know whether it was sent: true to hand the event over now, false when
   * its echo came back already. An event without a number (not addressed to this node) is handed over.
   */
  handOver(n: number | undefined): boolean {
    const entry = n === undefined ? undefined : this.#numbers.get(n);
    if (entry === undefined) return true;
    if (entry.state === 'echoed') {
      this.#numbers.delete(n as number);
      return false;
    }
    if (entry.state === 'handed') return false;
    entry.state = 'handed';
    return true;
  }

  /** True when nothing this node sent itself is on its way. */
  get clear(): boolean {
    const oldest = this.#now() - this.#maxAgeMs;
    for (const [n, entry] of this.#numbers) {
      if (entry.sentAt <= oldest) this.#numbers.delete(n);
      else if (entry.state !== 'echoed') return false;
    }
    return true;
  }

  /** The subscription was renewed: nothing on its way to the old one will come. */
  reset(): void {
    for (const [n, entry] of this.#numbers) if (entry.state !== 'echoed') this.#numbers.delete(n);
  }
}
