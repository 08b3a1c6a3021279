/**
 * The bus for many nodes over Redis pub/sub (style §10).
 *
 * ROUTING BY INTEREST. Each node subscribes to two channels: its own node channel
 * `<p>:node:<id>`, and the spec's `NOTIFICATIONS`.
 * A `deliver` or `message` event goes to the node channels of the nodes that hold its users (read
 * from RedisPresence's user → nodes sets, one SUNION), once per node, this node included: local
 * delivery goes through Redis too, so there is one path and one order. Why per node:
 * - broadcast to all nodes makes every node receive and parse all traffic, N times the bytes for
 *   N nodes, mostly for users it does not hold;
 * - a channel per user makes subscriptions O(users) (SUBSCRIBE/UNSUBSCRIBE on every connect and
 *   disconnect, and a PUBLISH per member);
 * - a channel per node keeps subscriptions O(nodes) and fixed, and a node receives only traffic
 *   for users it holds. The price is one SUNION before each publish.
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
 * passed in ARGV, so the script's KEYS stay within one slot.
 *
 * Redis down: publish delivers to this node's handler directly (its own clients still get the
 * message, which is already stored) and resolves; one log line per outage. Malformed envelopes
 * are logged and dropped.
 *
 * Ownership: `pub` belongs to the caller (main.ts shares one client with RedisPresence and quits
 * it after both are closed); the subscriber connection is duplicated from it here and quit by
 * close().
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { ServerMethod } from '../protocol/frames.js';
import type { Bus, BusEvent } from './bus.js';
import { NOTIFICATIONS_CHANNEL, redisNames, type RedisNames } from './names.js';
import { GATE_FORCE, GATE_PUBLISH, type Log, runScript, silentLog } from './redis-scripts.js';

/**
 * Client options for the ioredis client passed to RedisBus and RedisPresence: an outage fails
 * commands at once instead of queueing them, and a command without an answer fails within 2 s.
 */
export const redisOptions: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
};

export interface RedisBusOptions {
  /** Connected client used for publishing and the scripts; owned by the caller. */
  pub: Redis;
  /** This node's id, the same one RedisPresence uses. */
  nodeId: string;
  /** Key and channel prefix. Default `massenger`. */
  prefix?: string;
  /** How long a message waits for its predecessor before it is published anyway, in ms. Default 500. */
  orderWaitMs?: number;
  /** Idle lifetime of a conversation's order state, in ms. Default 3600000 (1 h). */
  orderIdleTtlMs?: number;
  /** Default: silent. */
  log?: Log;
}

type Publishable = Exclude<BusEvent, { type: 'notification' }>;
/** What travels on node channels: the event plus the publishing node (for logs). */
type Envelope = Publishable & { node: string };

const isString = (v: unknown): v is string => typeof v === 'string';
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/** Parses and checks an envelope; null when malformed. Never throws. */
function decodeEnvelope(text: string): Publishable | null {
  let e: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
    e = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  switch (e.type) {
    case 'deliver':
      // `method` only steers the receiver (TYPING may be dropped under backpressure); text is opaque.
      if (!isStrings(e.userIds) || !isString(e.text) || !isString(e.method)) return null;
      return { type: 'deliver', userIds: e.userIds, text: e.text, method: e.method as ServerMethod };
    case 'message': {
      const o = e.origin as Record<string, unknown> | null | undefined;
      const originOk = o === null || (typeof o === 'object' && isString(o.nodeId) && isString(o.connectionId) && isString(o.text));
      if (!isString(e.conversationId) || !isString(e.messageId) || !(e.prevId === null || isString(e.prevId))) return null;
      if (!isStrings(e.userIds) || !isString(e.text) || !originOk) return null;
      const origin = o === null ? null : { nodeId: o.nodeId as string, connectionId: o.connectionId as string, text: o.text as string };
      const prevInFlight = e.prevInFlight === true;
      return { type: 'message', conversationId: e.conversationId, messageId: e.messageId, prevId: e.prevId, prevInFlight, userIds: e.userIds, text: e.text, origin };
    }
    default:
      return null;
  }
}

export class RedisBus implements Bus {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #nodeId: string;
  readonly #names: RedisNames;
  readonly #orderWaitMs: number;
  readonly #orderIdleTtlMs: number;
  readonly #log: Log;
  #handler: ((event: BusEvent) => void) | null = null;
  /** Messages this node parked, by `<conversationId>/<messageId>`: the force timer and its args. */
  readonly #parked = new Map<string, { timer: NodeJS.Timeout; force: () => Promise<void> }>();
  readonly #subscribed: Promise<void>;
  #down = false;
  #closed = false;

  readonly #onPubReady = () => this.#recovered();
  readonly #onPubError = (err: Error) => this.#fault(err);

  constructor(options: RedisBusOptions) {
    this.#pub = options.pub;
    this.#nodeId = options.nodeId;
    this.#names = redisNames(options.prefix);
    this.#orderWaitMs = options.orderWaitMs ?? 500;
    this.#orderIdleTtlMs = options.orderIdleTtlMs ?? 3_600_000;
    this.#log = options.log ?? silentLog;
    // The subscriber queues its SUBSCRIBE until connected; ioredis re-subscribes after reconnects.
    this.#sub = this.#pub.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    this.#sub.on('error', (err) => this.#fault(err));
    this.#sub.on('message', (channel: string, text: string) => this.#receive(channel, text));
    this.#pub.on('ready', this.#onPubReady);
    this.#pub.on('error', this.#onPubError);
    const n = this.#names;
    this.#subscribed = this.#sub.subscribe(n.nodeChannel(this.#nodeId), NOTIFICATIONS_CHANNEL).then(
      () => undefined,
      (err: unknown) => this.#log.warn({ err }, 'bus: subscribe failed'),
    );
  }

  /**
   * Resolves once Redis confirmed this node's subscriptions (made by the constructor); waits while
   * Redis is down. Optional, but events published before it resolves may miss this node.
   */
  start(): Promise<void> {
    return this.#subscribed;
  }

  subscribe(handler: (event: BusEvent) => void): void {
    this.#handler = handler;
  }

  /** Never rejects: without Redis the event goes to this node's handler only. */
  async publish(event: Publishable): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#route(event);
      this.#recovered();
    } catch (err) {
      this.#fault(err);
      this.#deliver(event);
    }
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

  /** Releases this node's parked messages now, quits the subscriber; leaves `pub` to its owner. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const parked = [...this.#parked.values()];
    this.#parked.clear();
    for (const p of parked) clearTimeout(p.timer);
    await Promise.all(parked.map((p) => p.force()));
    this.#handler = null;
    this.#pub.off('ready', this.#onPubReady);
    this.#pub.off('error', this.#onPubError);
    await this.#sub.quit().catch(() => this.#sub.disconnect());
  }

  async #route(event: Publishable): Promise<void> {
    if (this.#pub.status !== 'ready') throw new Error(`redis is ${this.#pub.status}`);
    // Encoded once; the frame inside stays the text the core encoded (style §7).
    const envelope = JSON.stringify({ node: this.#nodeId, ...event } satisfies Envelope);
    const channels = await this.#targets(event.userIds, event.type === 'message' ? event.origin?.nodeId : undefined);
    if (event.type === 'message') return this.#gate(event, envelope, channels);
    if (channels.length === 0) return;
    const batch = this.#pub.pipeline();
    for (const channel of channels) batch.publish(channel, envelope);
    const results = await batch.exec();
    const failed = results?.find(([err]) => err !== null);
    if (failed) throw failed[0];
  }

  /** Node channels of the nodes holding any of the users, plus the sender's node. */
  async #targets(userIds: readonly string[], originNodeId: string | undefined): Promise<string[]> {
    const n = this.#names;
    // Dead nodes' stale entries may be included until reaped: a publish nobody hears costs little.
    const nodeIds = userIds.length === 0 ? [] : await this.#pub.sunion(...userIds.map((id) => n.userNodes(id)));
    if (originNodeId !== undefined && !nodeIds.includes(originNodeId)) nodeIds.push(originNodeId);
    return nodeIds.map((id) => n.nodeChannel(id));
  }

  async #gate(event: Extract<Publishable, { type: 'message' }>, envelope: string, channels: string[]): Promise<void> {
    const n = this.#names;
    const keys = [n.conversationSeq(event.conversationId), n.conversationPending(event.conversationId)];
    const prevId = event.prevId ?? '';
    const inFlight = event.prevInFlight ? '1' : '0';
    const result = await runScript(this.#pub, GATE_PUBLISH, keys, [event.messageId, prevId, inFlight, this.#orderIdleTtlMs, envelope, ...channels]);
    if (result !== 'parked') return;
    const key = `${event.conversationId}/${event.messageId}`;
    const force = async () => {
      this.#parked.delete(key);
      try {
        const forced = await runScript(this.#pub, GATE_FORCE, keys, [event.messageId, prevId, this.#orderIdleTtlMs]);
        if (forced === 'forced') {
          this.#log.warn({ conversationId: event.conversationId, messageId: event.messageId, prevId }, 'bus: predecessor never published, released anyway');
        }
      } catch (err) {
        // Redis is down: the parked copy stays until its TTL; this node's own clients still get it.
        this.#fault(err);
        this.#deliver(event);
      }
    };
    this.#parked.set(key, { timer: setTimeout(() => void force(), this.#orderWaitMs), force });
  }

  #receive(channel: string, text: string): void {
    if (channel === NOTIFICATIONS_CHANNEL) {
      // The core parses and validates it, like the body of POST /socket/notifications.
      this.#deliver({ type: 'notification', raw: text });
      return;
    }
    const event = decodeEnvelope(text);
    if (event === null) {
      this.#log.warn({ channel, bytes: text.length }, 'bus: dropped a malformed envelope');
      return;
    }
    this.#deliver(event);
  }

  /** Hands an event to the core, synchronously (style §9: no await between receive and send). */
  #deliver(event: BusEvent): void {
    try {
      this.#handler?.(event);
    } catch (err) {
      this.#log.warn({ err, type: event.type }, 'bus: handler threw');
    }
  }

  /** Ends an outage: pub is 'ready' again, or a publish went through (a timeout need not reconnect). */
  #recovered(): void {
    if (this.#down) this.#log.info({ nodeId: this.#nodeId }, 'bus: redis is back');
    this.#down = false;
  }

  /** Logs once per outage. */
  #fault(err: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.#log.warn({ err, nodeId: this.#nodeId }, 'bus: redis unavailable, delivering locally only');
  }
}
