/**
 * SOLO: a node that is the only one registered routes nothing through Redis (redis.ts). One node
 * with REDIS_URL set (for the main API's NOTIFICATIONS, or a cluster of one) would otherwise ask
 * Redis where every message's members are, and move every conversation's order gate on, to learn
 * each time that they are all here.
 *
 * A node counts itself alone only while it holds the claim (`<p>:solo`, taken by SOLO_CLAIM only
 * while the registry of nodes holds this node and no other, renewed every `checkMs`, lapsing after
 * the lease) and after its barrier came back:
 * - The claim publishes the barrier on the nodes channel, after everything Redis ran before it, so
 *   when the barrier arrives every envelope another node published before it (one that left a
 *   moment ago) has been handed over here.
 * - A node registers with an announcement on the same channel (PRESENCE_REGISTER), and at start
 *   waits until no other node holds the claim (presence/redis.ts) before it serves anyone. A node
 *   that hears an announcement stops counting itself alone at once, in the same turn, so nothing it
 *   decides after that skips the look-up; it brings the order gates of the conversations it
 *   served up to date (`onLeave`) and its users into Redis (presence kept arrivals and online
 *   questions to itself meanwhile), and only then drops its claim: the newcomer's first message of
 *   such a conversation finds the gate current instead of waiting for a predecessor, and its
 *   users' INIT finds this node's users online.
 * - A claim taken after the newcomer registered fails (the registry holds two nodes), and an
 *   announcement that arrives before the barrier of an earlier claim is heard after it, so either
 *   way the node is not alone once the newcomer serves.
 * - The subscriber dropping ends it too, since announcements could be missed meanwhile; each end
 *   takes a new holder token, so a late barrier or a claim left behind never counts.
 *
 * Known limit: a node that stalls past its lease is reaped, and a node alone then stops routing to
 * it. When the stalled node comes back it registers and announces itself, and its users (still
 * connected) miss what the other node delivers before the announcement arrives there; they missed
 * the whole stall already, as they do without this, and get it back by `lastMessageId`.
 */
import { randomUUID } from 'node:crypto';
import type { Log } from './redis-scripts.js';

/**
 * Presence's side: it owns the registry of nodes the claim depends on, and while this node is
 * alone it answers from its own users without Redis (presence/redis.ts).
 */
export interface SoloClaims {
  /** SOLO_CLAIM: 'claimed' (the barrier is on its way), 'held' (renewed) or 'shared' (another node is registered). */
  claim(holder: string): Promise<'claimed' | 'held' | 'shared'>;
  /** Drops the claim if `holder` has it. */
  release(holder: string): Promise<void>;
  /** This node is alone from now on. */
  began(): void;
  /** This node is alone no more; resolves once what presence kept to itself is in Redis, before the claim is dropped. */
  ended(): Promise<void>;
}

export interface SoloOptions {
  claims: SoloClaims;
  nodeId: string;
  /** How often the claim is tried or renewed, in ms; well under the lease it lapses after. */
  checkMs: number;
  /** Brings the order gates of the conversations served alone up to date; awaited before the claim is dropped. */
  onLeave: () => Promise<void>;
  log: Log;
}

export class Solo {
  readonly #o: SoloOptions;
  /** `<nodeId> <token>`: the value of this node's claim; a new token after each end. */
  #holder: string;
  #alone = false;
  /** The subscriber is subscribed, to the nodes channel among others. */
  #listening = false;
  #checking = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: SoloOptions) {
    this.#o = options;
    this.#holder = this.#newHolder();
  }

  /** This node is the only one, and every envelope another node sent before that has been handed over. */
  get alone(): boolean {
    return this.#alone;
  }

  /** The subscriber is subscribed (again): claims may begin. */
  subscribed(): void {
    this.#listening = true;
    if (this.#timer === null) {
      this.#timer = setInterval(() => void this.#check(), this.#o.checkMs);
      this.#timer.unref();
    }
    void this.#check();
  }

  /** The subscriber is gone: announcements may be missed, so this node is not alone. */
  unsubscribed(): void {
    this.#listening = false;
    void this.#end();
  }

  /** A message on the nodes channel: an announcement, or a barrier. */
  heard(text: string): void {
    let said: { joined?: unknown; solo?: unknown; holder?: unknown };
    try {
      said = JSON.parse(text) as typeof said;
    } catch {
      return;
    }
    if (typeof said.joined === 'string' && said.joined !== this.#o.nodeId) {
      if (this.#alone) this.#o.log.info({ nodeId: this.#o.nodeId, joined: said.joined }, 'bus: another node joined, routing through redis');
      void this.#end();
    } else if (said.solo === this.#o.nodeId && said.holder === this.#holder && this.#listening && !this.#alone) {
      this.#alone = true;
      this.#o.claims.began();
      this.#o.log.info({ nodeId: this.#o.nodeId }, 'bus: the only node, routing nothing through redis');
    }
  }

  /** Stops claiming and drops the claim. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#listening = false;
    await this.#end();
  }

  async #check(): Promise<void> {
    if (!this.#listening || this.#checking) return;
    this.#checking = true;
    try {
      const held = await this.#o.claims.claim(this.#holder);
      if (held === 'shared' && this.#alone) await this.#end();
    } catch {
      // Redis is away: the bus's own fault handling says so. Alone no more, since nothing is heard.
      if (this.#alone) await this.#end();
    } finally {
      this.#checking = false;
    }
  }

  /** Not alone from now on; the gates are brought up to date, then the claim is dropped. */
  async #end(): Promise<void> {
    const wasAlone = this.#alone;
    this.#alone = false;
    const holder = this.#holder;
    this.#holder = this.#newHolder();
    try {
      if (wasAlone) await Promise.all([this.#o.onLeave(), this.#o.claims.ended()]);
      await this.#o.claims.release(holder);
    } catch {
      // The claim lapses with the lease; a newcomer waits for that at most.
    }
  }

  #newHolder(): string {
    return `${this.#o.nodeId} ${randomUUID()}`;
  }
}
