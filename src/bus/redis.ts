/**
 * The bus for many nodes over Redis pub/sub (style §10).
 *
 * ROUTING BY INTEREST. Each node subscribes to three channels: its own node channel
 * `<p>:node:<id>`, the spec's `NOTIFICATIONS`, and `<p>:nodes`, where nodes announce themselves
 * (SOLO below).
 * A `deliver` or `message` event goes to the node channels of the nodes that hold its users, once
 * per node, this node included unless it handed the event over itself (LOCAL EVENTS, LOCAL FIRST
 * below, which say when that keeps the order). Where the users are is asked of presence through
 * `locate`: RedisPresence answers all the asks of a tick (a group commit's messages) with one Redis call, the union of each ask's node
 * sets, in the order asked (presence/nodes-holding.ts). Why per node: broadcast makes every node
 * parse all traffic (N times the bytes for N nodes); a channel per user makes subscriptions
 * O(users) (SUBSCRIBE on every connect, a PUBLISH per member); a channel per node keeps them
 * O(nodes) and fixed, and a node gets only traffic for its users, for one look-up.
 *
 * ORDER ACROSS NODES (spec §2.3: messages reach every member in stored order). Two nodes may store
 * messages 10 and 11 of one conversation (prevId chain 9 → 10 → 11, assigned by the database under
 * a row lock) and publish them in the opposite order. Every `message` goes through an atomic Lua
 * gate (redis-scripts.ts) over `<p>:conv:{<cid>}:seq` (last published id) and
 * `<p>:conv:{<cid>}:pending` (hash prevId → parked envelope and its target channels), both with an
 * idle TTL and hash-tagged into one Cluster slot:
 * - seq missing (and the predecessor not in flight), prevId empty, or prevId <= seq: publish, set seq = messageId, then release
 *   pending[messageId] and so on down the chain;
 * - messageId <= seq: already past; publish anyway (late, never lost), seq stays;
 * - otherwise park under pending[prevId].
 * The publisher of a parked message waits `orderWaitMs`; if it is still parked then, a force
 * script publishes it (and older parked ones, and the chain after it): its predecessor's publisher
 * died between commit and publish, and clients get that message from FETCH_MESSAGES or
 * lastMessageId recovery. When seq is missing (first use, idle expiry, Redis restart) a message is
 * parked all the same if its predecessor was stored moments before it (`prevInFlight`): that
 * predecessor may still be on its way from another node. Target channels are computed client-side and
 * passed in ARGV, so the script's KEYS stay within one slot. Known limit: a message parked by a
 * node that dies before its force timer (or whose force fails) stays parked until a later message
 * of the conversation is forced (GATE_FORCE releases older parked ones first) or the idle TTL
 * ends; it is stored, so clients get it through FETCH_MESSAGES and lastMessageId.
 *
 * LOCAL EVENTS. An event whose users are all on this node (and, for a message, whose sender is
 * here) is handed to this node directly, without a PUBLISH or the gate's round trip: no other node
 * needs it, and none can receive another message of that conversation before it. Only while
 * nothing this node sent itself through Redis is still on its way (self-echoes.ts), so a direct
 * event never overtakes one in flight (a parked message, a MEMBERS_CHANGED); and for a message,
 * only when its predecessor was handed over here already (another node's predecessor may be on its
 * way: the message then takes the gate like any other). A direct message then
 * moves the conversation's gate on (GATE_ADVANCE, off its path, in the write of the node's next
 * look-up or gate command), so a message another node stores next finds seq current, or is
 * released from parking when the advance arrives.
 *
 * LOCAL FIRST. Those two conditions say nothing of where the other members are, so a message that
 * meets them, published while no event before it still waits for its own look-up (which may yet
 * send it through this node's channel), is handed to this node before the look-up, whatever other
 * nodes need it: this node's members (the sender's acknowledgement included) never wait for a
 * Redis round trip. Then the look-up, and the gate for the other nodes' channels alone; with none,
 * the gate moves on as for a direct message. The order holds on every node: here, the predecessor was handed over already and
 * nothing of this node's is on its way; elsewhere, the gate, which sees this node's gate commands
 * in the order of its messages (the look-ups of successive ticks are answered in order, and an
 * advance goes out after the events decided before it and ahead of any gate command after it).
 *
 * SOLO. A node that is the only one registered, and knows it (solo.ts: a claim in Redis, a
 * barrier, and an announcement from every node that registers, which that node waits on before it
 * serves), hands every event to itself directly, without a look-up or the gate: as for LOCAL
 * EVENTS, only while nothing it sent itself through Redis is still on its way. When another node
 * joins, it brings the gates of the conversations it served up to date before the newcomer serves.
 *
 * SUBSCRIBER DOWN. The order above holds while this node's subscriber is subscribed. It counts as
 * subscribed only once Redis confirmed the SUBSCRIBE of its channels on the current connection
 * (after each reconnect too), and stops counting at 'close'/'reconnecting'/'end'. While it is not,
 * a publish hands this node's share to the local handler at once, before any await (so this
 * node's clients, the sender's ack included, get events in this node's publish order; events from
 * other nodes cannot reach them meanwhile) and leaves this node's channel out of the targets.
 *
 * PUBLISHER DOWN. Publish delivers to this node's handler directly (its own clients still get the
 * message, which is already stored) and resolves; one log line per outage and connection.
 * Ambiguous failures (a command timeout after the gate script ran, a connection lost between
 * sending and the reply) also deliver locally, and the envelope may come back through Redis too:
 * whichever comes first is handed over and the other is not (ONCE in self-echoes.ts), so this
 * node hands each event over once. A pipeline whose PUBLISH to this node's channel succeeded does
 * not fall back. Malformed envelopes are logged and dropped.
 *
 * Ownership: `pub` belongs to the caller (build.ts shares one client with RedisPresence and quits
 * it after both are closed); the subscriber connection is duplicated from it here and closed by
 * close().
 */
import type { Redis, RedisOptions } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Bus, BusEvent } from './bus.js';
import { decodeEnvelope, encodeEnvelope, type Publishable } from './envelope.js';
import { NOTIFICATIONS_CHANNEL, redisNames, type RedisNames } from './names.js';
import { OrderGate } from './order-gate.js';
import { type Log, silentLog } from './redis-scripts.js';
import { SelfEchoes } from './self-echoes.js';
import { Solo, type SoloClaims } from './solo.js';

/**
 * Client options for the ioredis client passed to RedisBus and RedisPresence: an outage fails
 * commands at once instead of queueing them, a command without an answer fails within 2 s, and
 * commands of one tick are pipelined.
 */
export const redisOptions: RedisOptions = {
  // Commands issued in the same tick go out in one write, in order: the publishes of one batch of
  // stored messages (their look-up, then their gate scripts) cost one round trip each, not one per message.
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
};

export interface RedisBusOptions {
  /** Connected client used for publishing and the scripts; owned by the caller. */
  pub: Redis;
  /**
   * The ids of the nodes holding any of these users: where an event must go. Presence owns that
   * knowledge (RedisPresence.nodesHolding); the bus only asks.
   */
  locate: (userIds: readonly string[]) => Promise<string[]>;
  /** This node's id, the same one RedisPresence uses. */
  nodeId: string;
  /** Key and channel prefix. Default `massenger`. */
  prefix?: string;
  /** How long a message waits for its predecessor before it is published anyway, in ms. Default 500. */
  orderWaitMs?: number;
  /** Idle lifetime of a conversation's order state, in ms. Default 3600000 (1 h). */
  orderIdleTtlMs?: number;
  /**
   * The claim that lets a node alone route nothing through Redis (SOLO, solo.ts); presence holds
   * the registry it depends on (RedisPresence). Without it the node always routes through Redis.
   */
  solo?: SoloClaims;
  /** How often the solo claim is tried or renewed, in ms. Default 1000; keep it well under the lease. */
  soloCheckMs?: number;
  /** Default: silent. */
  log?: Log;
}

/** Conversations whose newest message handed over here is remembered; beyond, the least recent are forgotten. */
const LAST_HERE_MAX = 50_000;

/** How long flush() waits for this node's own envelopes to come back through Redis. */
const FLUSH_WAIT_MS = 2000;

/** What #route learned: whether this node's share must be handed over here, and a partial failure to log. */
interface Routed {
  here: boolean;
  err?: unknown;
}

/**
 * What #route sent, kept by #publish even when #route throws: the number of an envelope addressed
 * to this node (self-echoes.ts), and whether the gate parked it (then the gate says when it left).
 */
interface Sent {
  echo: number | undefined;
  parked: boolean;
}

export class RedisBus implements Bus {
  readonly #pub: Redis;
  readonly #locate: RedisBusOptions['locate'];
  readonly #sub: Redis;
  readonly #nodeId: string;
  readonly #names: RedisNames;
  readonly #ownChannel: string;
  readonly #log: Log;
  #handler: ((event: BusEvent) => void) | null = null;
  /** Publishes under way, for flush(). */
  #publishing = 0;
  /** Per conversation, the newest message handed to this node's handler (LOCAL EVENTS); least recent out first. */
  readonly #lastHere = new LRUCache<string, string>({ max: LAST_HERE_MAX });
  /**
   * Publishes waiting for their look-up, whose way is not decided yet: one may yet go through this
   * node's channel, so no message is handed over ahead of it (LOCAL FIRST).
   */
  #undecided = 0;
  /** Envelopes this node addressed to itself and has not received back (LOCAL EVENTS). */
  readonly #echoes: SelfEchoes;
  readonly #gate: OrderGate;
  readonly #solo: Solo | null;
  readonly #firstSubscribed: Promise<void>;
  #onFirstSubscribed!: () => void;
  /** Redis confirmed the subscriptions on the sub connection as it is now. */
  #subscribed = false;
  #subError: unknown = null;
  /** An outage of that connection was logged; its end logs "back". */
  #pubDown = false;
  #subDown = false;
  #closed = false;

  readonly #onPubReady = () => this.#pubRecovered();
  readonly #onPubError = (err: Error) => this.#pubFault(err);

  constructor(options: RedisBusOptions) {
    this.#pub = options.pub;
    this.#locate = options.locate;
    this.#nodeId = options.nodeId;
    this.#names = redisNames(options.prefix);
    this.#ownChannel = this.#names.nodeChannel(this.#nodeId);
    this.#log = options.log ?? silentLog;
    const orderWaitMs = options.orderWaitMs ?? 500;
    this.#gate = new OrderGate({
      pub: this.#pub,
      names: this.#names,
      orderWaitMs,
      orderIdleTtlMs: options.orderIdleTtlMs ?? 3_600_000,
      log: this.#log,
      onFault: (err) => this.#pubFault(err),
    });
    // Longer than a parked message waits to be forced: only a publish that was lost ages out.
    this.#echoes = new SelfEchoes({ maxAgeMs: Math.max(10_000, 4 * orderWaitMs) });
    this.#solo =
      options.solo === undefined
        ? null
        : new Solo({
            claims: options.solo,
            nodeId: this.#nodeId,
            checkMs: options.soloCheckMs ?? 1000,
            // The gates of what was served alone, up to date before a newcomer serves (solo.ts).
            onLeave: () => this.#gate.advanceEach(this.#lastHere.entries()),
            log: this.#log,
          });
    this.#firstSubscribed = new Promise((resolve) => (this.#onFirstSubscribed = resolve));
    // ioredis's autoResubscribe writes SUBSCRIBE from its ready handler but emits no event when
    // Redis confirms it ('ready' comes before the reply). So this bus subscribes itself on every
    // 'ready' and counts as subscribed when that command resolves. Nothing queues offline, so
    // close() never waits behind a SUBSCRIBE for a Redis that is not there.
    this.#sub = this.#pub.duplicate({
      enableAutoPipelining: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      autoResubscribe: false,
      lazyConnect: false,
    });
    this.#sub.on('ready', () => void this.#subscribe());
    for (const event of ['close', 'reconnecting', 'end']) this.#sub.on(event, () => this.#subLost());
    this.#sub.on('error', (err: Error) => (this.#subError = err));
    this.#sub.on('message', (channel: string, text: string) => this.#receive(channel, text));
    this.#pub.on('ready', this.#onPubReady);
    this.#pub.on('error', this.#onPubError);
  }

  /**
   * Resolves once Redis confirmed this node's subscriptions; waits while Redis is down. Optional:
   * until then publishes deliver this node's share locally, and events from other nodes miss it.
   */
  start(): Promise<void> {
    return this.#firstSubscribed;
  }

  /** Whether this node counts itself alone and routes nothing through Redis (SOLO, header). */
  get solo(): boolean {
    return this.#solo?.alone === true;
  }

  subscribe(handler: (event: BusEvent) => void): void {
    this.#handler = handler;
  }

  /** Never rejects: without Redis the event goes to this node's handler only. */
  async publish(event: Publishable): Promise<void> {
    if (this.#closed) return;
    this.#publishing++;
    try {
      await this.#publish(event);
    } finally {
      this.#publishing--;
    }
  }

  async #publish(event: Publishable): Promise<void> {
    // SOLO (header): no other node to route to or order against.
    if (this.solo && this.#undecided === 0 && this.#echoes.clear) {
      this.#deliver(event);
      return;
    }
    // Not subscribed: Redis would drop this node's share, so it is handed over now (see header).
    const subscribed = this.#subscribed;
    if (!subscribed) this.#subFault();
    // LOCAL FIRST (header): this node's members get a message before the look-up of where the
    // others are, when nothing may come before it here.
    const handedOver = !subscribed || (event.type === 'message' && this.#undecided === 0 && this.#echoes.clear && this.#follows(event));
    if (handedOver) this.#deliver(event);
    else this.#undecided++;
    const sent: Sent = { echo: undefined, parked: false };
    let here: boolean;
    try {
      const routed = await this.#route(event, handedOver, sent);
      if (routed.err === undefined) this.#pubRecovered();
      else this.#pubFault(routed.err);
      here = routed.here;
    } catch (err) {
      // The gate or a PUBLISH failed: perhaps nothing was sent, perhaps (timeout, lost connection)
      // everything. Delivered here, unless its echo came back already (see header).
      this.#pubFault(err);
      here = true;
    }
    if (here && !handedOver) {
      if (this.#echoes.handOver(sent.echo)) this.#deliver(event);
    } else if (!sent.parked) {
      this.#echoes.settle(sent.echo);
    }
  }

  /** Waits (at most FLUSH_WAIT_MS) until every publish finished and what this node sent itself came back. */
  async flush(): Promise<void> {
    const deadline = Date.now() + FLUSH_WAIT_MS;
    const settled = () => this.#publishing === 0 && (this.#echoes.clear || !this.#subscribed);
    while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  /** Rejects when Redis does not answer within 1 s; for /readyz. */
  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis ping timed out')), 1000);
    });
    try {
      await Promise.race([this.#pub.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Releases this node's parked messages now, drops the subscriber; leaves `pub` to its owner. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#gate.releaseAll();
    await this.#solo?.close();
    this.#handler = null;
    this.#pub.off('ready', this.#onPubReady);
    this.#pub.off('error', this.#onPubError);
    // Not quit(): with Redis unreachable it would wait for a reconnect that never comes. A
    // subscriber has nothing to flush, so dropping the socket loses nothing.
    this.#sub.disconnect();
  }

  async #subscribe(): Promise<void> {
    try {
      await this.#sub.subscribe(this.#ownChannel, NOTIFICATIONS_CHANNEL, this.#names.nodesChannel);
    } catch (err) {
      // The connection went away meanwhile; the next 'ready' subscribes again.
      if (!this.#closed) this.#log.warn({ err, nodeId: this.#nodeId }, 'bus: subscribe failed');
      return;
    }
    // status is set before 'close' is emitted: a reply from a connection that is gone does not count.
    if (this.#closed || this.#sub.status !== 'ready') return;
    this.#subscribed = true;
    // What was on its way to the previous subscription will not come back.
    this.#echoes.reset();
    this.#solo?.subscribed();
    this.#subError = null;
    this.#onFirstSubscribed();
    if (this.#subDown) this.#log.info({ nodeId: this.#nodeId }, 'bus: subscribed again, events reach this node through redis');
    this.#subDown = false;
  }

  #subLost(): void {
    this.#subscribed = false;
    this.#solo?.unsubscribed();
    if (!this.#closed) this.#subFault();
  }

  /** Sends the event to the nodes that need it; `handedOver`: this node's share is delivered already. */
  async #route(event: Publishable, handedOver: boolean, sent: Sent): Promise<Routed> {
    let channels: string[];
    try {
      if (this.#pub.status !== 'ready') throw new Error(`redis is ${this.#pub.status}`);
      // The gate's advances recorded since the last look-up go out in the same write (order-gate.ts).
      this.#gate.flushAdvances();
      channels = await this.#targets(event.userIds, event.type === 'message' ? event.origin?.nodeId : undefined);
    } catch (err) {
      // Nothing was sent: this node's share is handed over now (PUBLISHER DOWN, header).
      if (!handedOver) {
        this.#undecided--;
        this.#deliver(event);
      }
      return { here: false, err };
    }
    if (handedOver) {
      channels = channels.filter((c) => c !== this.#ownChannel);
      if (channels.length === 0 && event.type === 'message' && this.#subscribed) {
        // LOCAL FIRST (header): no other node needs it. The gate still moves on.
        this.#gate.advance(event);
        return { here: false };
      }
    } else {
      // Decided below, in this turn: handed over here, its echo counted, or not for this node.
      this.#undecided--;
      if (channels.every((c) => c === this.#ownChannel) && this.#echoes.clear && this.#follows(event)) {
        // LOCAL EVENTS (header): no other node needs it, and nothing this node sent itself is on
        // its way. Handed over at once, where it was decided, so the next event's decision sees it.
        this.#deliver(event);
        if (event.type === 'message') this.#gate.advance(event);
        return { here: false };
      }
    }
    // Encoded once; the frame inside stays the text the core encoded (style §7).
    sent.echo = channels.includes(this.#ownChannel) ? this.#echoes.sent() : undefined;
    const envelope = encodeEnvelope(this.#nodeId, event, sent.echo);
    if (event.type === 'message') {
      const echo = sent.echo;
      sent.parked = await this.#gate.publish(event, envelope, channels, (published) => {
        if (published) this.#echoes.settle(echo);
        else if (!handedOver && this.#echoes.handOver(echo)) this.#deliver(event);
      });
      // The subscriber dropped while the gate ran: whether it got the message is unknown (header).
      return { here: !handedOver && !this.#subscribed };
    }
    if (channels.length === 0) return { here: false };
    const batch = this.#pub.pipeline();
    for (const channel of channels) batch.publish(channel, envelope);
    const results = (await batch.exec()) ?? [];
    const routed: Routed = { here: false };
    channels.forEach((channel, i) => {
      const [err, receivers] = results[i] ?? [new Error('no reply'), null];
      if (err) routed.err ??= err;
      // Only this node's own PUBLISH decides: 0 receivers means the subscriber is gone already.
      if (channel === this.#ownChannel && (err || receivers === 0)) routed.here = true;
    });
    return routed;
  }

  /** Node channels of the nodes holding any of the users, plus the sender's node. */
  async #targets(userIds: readonly string[], originNodeId: string | undefined): Promise<string[]> {
    const nodeIds = await this.#locate(userIds);
    if (originNodeId !== undefined && !nodeIds.includes(originNodeId)) nodeIds.push(originNodeId);
    return nodeIds.map((id) => this.#names.nodeChannel(id));
  }

  #receive(channel: string, text: string): void {
    if (channel === this.#names.nodesChannel) {
      this.#solo?.heard(text);
      return;
    }
    if (channel === NOTIFICATIONS_CHANNEL) {
      // The core parses and validates it, like the body of POST /socket/notifications.
      this.#deliver({ type: 'notification', raw: text });
      return;
    }
    const received = decodeEnvelope(text);
    if (received === null) {
      this.#log.warn({ channel, bytes: text.length }, 'bus: dropped a malformed envelope');
      return;
    }
    // A second copy of what this node's publisher handed over itself (ONCE in self-echoes.ts).
    if (received.node === this.#nodeId && received.echo !== null && !this.#echoes.received(received.echo)) return;
    this.#deliver(received.event);
  }

  /**
   * True unless `event` is a message whose predecessor this node has not handed over: that one may
   * still be on its way from another node (which held a member then), and must come first.
   */
  #follows(event: Publishable): boolean {
    return event.type !== 'message' || event.prevId === null || this.#lastHere.peek(event.conversationId) === event.prevId;
  }

  /** Hands an event to the core, synchronously (style §9: no await between receive and send). */
  #deliver(event: BusEvent): void {
    if (event.type === 'message') this.#noteHere(event.conversationId, event.messageId);
    try {
      this.#handler?.(event);
    } catch (err) {
      this.#log.warn({ err, type: event.type }, 'bus: handler threw');
    }
  }

  /** Remembers the newest message handed over here per conversation. */
  #noteHere(conversationId: string, messageId: string): void {
    const last = this.#lastHere.peek(conversationId);
    if (last !== undefined && (last.length > messageId.length || (last.length === messageId.length && last >= messageId))) return;
    this.#lastHere.set(conversationId, messageId);
  }

  /** Ends a publisher outage: pub is 'ready' again, or a publish went through (a timeout need not reconnect). */
  #pubRecovered(): void {
    if (this.#pubDown) this.#log.info({ nodeId: this.#nodeId }, 'bus: redis is back for publishing');
    this.#pubDown = false;
  }

  /** Logs once per publisher outage. */
  #pubFault(err: unknown): void {
    if (this.#pubDown || this.#closed) return;
    this.#pubDown = true;
    this.#log.warn({ err, nodeId: this.#nodeId }, 'bus: redis unavailable for publishing, delivering locally only');
  }

  /** Logs once per subscriber outage (a confirmed SUBSCRIBE ends it). */
  #subFault(): void {
    if (this.#subDown || this.#closed) return;
    this.#subDown = true;
    this.#log.warn({ err: this.#subError, nodeId: this.#nodeId }, "bus: not subscribed, handing this node's events to it directly");
  }
}
