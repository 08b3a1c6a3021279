/**
 * The Redis bus's order gate (see "ORDER ACROSS NODES" in redis.ts): the client side of the
 * GATE_* scripts. A message goes out only after its predecessor; one whose predecessor is missing
 * is parked in Redis, and released by the predecessor's arrival or, after `orderWaitMs`, forced.
 */
import type { Redis } from 'ioredis';
import type { Publishable } from './envelope.js';
import type { RedisNames } from './names.js';
import { GATE_ADVANCE, GATE_FORCE, GATE_PUBLISH, type Log, runScript } from './redis-scripts.js';

type MessageEvent = Extract<Publishable, { type: 'message' }>;

/**
 * How long recorded advances wait for this node's next Redis command, to go out in the same write
 * (`flushAdvances`). Under load the next group commit's look-up comes sooner, so a commit costs one
 * round trip to Redis instead of two; when it does not come, they go out alone after this.
 */
const ADVANCE_LINGER_MS = 5;

/** Conversations per GATE_ADVANCE call: a node alone that gets company may bring thousands up to date at once (advanceEach). */
const ADVANCE_CHUNK = 1000;

export interface OrderGateOptions {
  pub: Redis;
  names: RedisNames;
  /** How long a message waits for its predecessor before it is published anyway, in ms. */
  orderWaitMs: number;
  /** Idle lifetime of a conversation's order state, in ms. */
  orderIdleTtlMs: number;
  log: Log;
  /** A gate command failed: Redis is away (the bus logs it once per outage). */
  onFault: (err: unknown) => void;
}

export class OrderGate {
  readonly #o: OrderGateOptions;
  /** Messages this node parked, by `<conversationId>/<messageId>`: the force timer and its call. */
  readonly #parked = new Map<string, { timer: NodeJS.Timeout; force: () => Promise<void> }>();
  /** Per conversation, the newest message handed over directly and not yet advanced, to advance together. */
  readonly #toAdvance = new Map<string, string>();
  /** Sends the recorded advances if no other command takes them along first. */
  #advanceTimer: NodeJS.Timeout | null = null;

  constructor(options: OrderGateOptions) {
    this.#o = options;
  }

  /**
   * Publishes `envelope` to `channels` in the message's turn, or parks it: resolves true when it
   * parked. A parked message's `onLeft` is called once it left the gate: `sent` true when Redis
   * published it (released behind its predecessor or forced), false when it could not be forced
   * out (Redis away, or a timeout after it acted): this node's own clients then get it directly.
   */
  async publish(event: MessageEvent, envelope: string, channels: string[], onLeft: (sent: boolean) => void): Promise<boolean> {
    const { pub, orderIdleTtlMs } = this.#o;
    const keys = this.#keys(event);
    const prevId = event.prevId ?? '';
    const inFlight = event.prevInFlight ? '1' : '0';
    // Advances decided before this message go first, as they were decided.
    this.flushAdvances();
    const result = await runScript(pub, GATE_PUBLISH, keys, [event.messageId, prevId, inFlight, orderIdleTtlMs, envelope, ...channels]);
    if (result !== 'parked') return false;
    const key = `${event.conversationId}/${event.messageId}`;
    const force = async () => {
      this.#parked.delete(key);
      try {
        const forced = await runScript(pub, GATE_FORCE, keys, [event.messageId, prevId, orderIdleTtlMs]);
        if (forced === 'forced') {
          this.#o.log.warn({ conversationId: event.conversationId, messageId: event.messageId, prevId }, 'bus: predecessor never published, released anyway');
        }
      } catch (err) {
        // Redis is down (or timed out after releasing it: then its echo is dropped, self-echoes.ts):
        // the parked copy stays until a later force or its TTL.
        this.#o.onFault(err);
        onLeft(false);
        return;
      }
      onLeft(true);
    };
    this.#parked.set(key, { timer: setTimeout(() => void force(), this.#o.orderWaitMs), force });
    return true;
  }

  /**
   * A message handed over without the gate (redis.ts, LOCAL EVENTS) still moves its conversation's
   * seq on, off the message's path (not awaited), so a message another node stores next is not
   * held waiting for it; whatever was parked behind it is published. Advances are recorded and sent
   * together in one script call, ahead of this node's next gate command or look-up (in the same
   * write) or after ADVANCE_LINGER_MS: a message another node sends through the gate meanwhile may
   * park for that moment, and the advance releases it.
   */
  advance(event: MessageEvent): void {
    const last = this.#toAdvance.get(event.conversationId);
    if (last === undefined || last.length < event.messageId.length || (last.length === event.messageId.length && last < event.messageId)) {
      this.#toAdvance.set(event.conversationId, event.messageId);
    }
    if (this.#advanceTimer === null) {
      this.#advanceTimer = setTimeout(() => this.flushAdvances(), ADVANCE_LINGER_MS);
      this.#advanceTimer.unref();
    }
  }

  /**
   * Sends the recorded advances now. Called before this node's next Redis command about order or
   * routing in the same tick, so both go out in one write (ioredis pipelines a tick's commands).
   */
  flushAdvances(): void {
    if (this.#advanceTimer !== null) clearTimeout(this.#advanceTimer);
    this.#advanceTimer = null;
    if (this.#toAdvance.size === 0) return;
    const calls = this.#sendAdvances(this.#toAdvance);
    this.#toAdvance.clear();
    for (const call of calls) call.catch((err: unknown) => this.#o.onFault(err));
  }

  /**
   * Moves each conversation's seq on to the given message (or leaves it where it is ahead);
   * resolves when Redis ran it all. For a node that served conversations without the gate
   * (solo.ts) and now has company: thousands at once.
   */
  async advanceEach(lastIds: Iterable<[conversationId: string, messageId: string]>): Promise<void> {
    await Promise.all(this.#sendAdvances(lastIds));
  }

  /** GATE_ADVANCE for each (conversation, message), one call per ADVANCE_CHUNK conversations, sent now in this order. */
  #sendAdvances(lastIds: Iterable<[conversationId: string, messageId: string]>): Promise<unknown>[] {
    const calls: Promise<unknown>[] = [];
    let keys: string[] = [];
    let args: Array<string | number> = [this.#o.orderIdleTtlMs];
    const send = () => {
      calls.push(runScript(this.#o.pub, GATE_ADVANCE, keys, args));
      keys = [];
      args = [this.#o.orderIdleTtlMs];
    };
    for (const [conversationId, messageId] of lastIds) {
      keys.push(this.#o.names.conversationSeq(conversationId), this.#o.names.conversationPending(conversationId));
      args.push(messageId);
      if (args.length > ADVANCE_CHUNK) send();
    }
    if (args.length > 1) send();
    return calls;
  }

  /** Sends what is recorded and forces this node's parked messages out now; for close(). */
  async releaseAll(): Promise<void> {
    this.flushAdvances();
    const parked = [...this.#parked.values()];
    this.#parked.clear();
    for (const p of parked) clearTimeout(p.timer);
    await Promise.all(parked.map((p) => p.force()));
  }

  #keys(event: MessageEvent): string[] {
    return [this.#o.names.conversationSeq(event.conversationId), this.#o.names.conversationPending(event.conversationId)];
  }
}
