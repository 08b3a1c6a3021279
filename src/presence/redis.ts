/**
 * Leased presence for many nodes (style §11). Each node keeps a lease key
 * (`<p>:node:<id>:alive`, TTL `leaseTtlMs`) that its heartbeat refreshes, and records who it
 * holds both ways (node → users, user → nodes). A user is online while some node with a live
 * lease holds them, so a node killed with kill -9 stops counting as soon as its lease lapses,
 * without anyone's help. Survivors then reap it on their heartbeat and report the users that went
 * offline through `onLost`: a dead node's users are offline for friends within
 * `leaseTtlMs + heartbeatMs` (5 s with the defaults: spec §2.3 asks USER_LEFT within 5 s; the
 * lease is 4 heartbeats, so a node survives 3 missed or slow ones).
 *
 * A node that stalls past its lease (a long GC pause, a frozen VM) is reaped like a dead one while
 * its users stay connected. The reaper records whom it reported lost; when the stalled node's
 * heartbeat finds its lease gone and re-registers, those of them no other node holds are reported
 * through `onFound`, so the core announces them again.
 *
 * Redis faults: this node's own users are kept in a local Set, which is the truth for this node.
 * While Redis is unreachable every method answers from it and resolves (see each method); when
 * ioredis is 'ready' again the node re-registers itself and its users, since a restarted Redis
 * may have lost everything (nobody heard USER_LEFT for them then, so nobody is reported found).
 */
import type { Redis } from 'ioredis';
import { BatchLoader } from '../core/batch-loader.js';
import { NodesHolding } from './nodes-holding.js';
import type { Presence } from './presence.js';
import type { SoloClaims } from '../bus/solo.js';
import { redisNames, type RedisNames } from '../bus/names.js';
import {
  type Log,
  type Script,
  PRESENCE_ADD,
  PRESENCE_HEARTBEAT,
  PRESENCE_LEAVE,
  PRESENCE_ONLINE,
  PRESENCE_REAP,
  PRESENCE_REGISTER,
  PRESENCE_REMOVE,
  SOLO_CLAIM,
  SOLO_RELEASE,
  evalScript,
  runScript,
  silentLog,
} from '../bus/redis-scripts.js';

export interface RedisPresenceOptions {
  /**
   * A connected ioredis client. The caller owns it (creates it, quits it after close()); build it
   * with `redisOptions` from bus/redis.ts so an outage fails commands fast.
   */
  redis: Redis;
  /** This node's id, unique per process. */
  nodeId: string;
  /** Key prefix. Default `massenger`. */
  prefix?: string;
  /**
   * Lease of this node's alive key, in ms. Default 4000. A dead node's users go offline for their
   * friends within `leaseTtlMs + heartbeatMs` (spec §2.3: 5 s).
   */
  leaseTtlMs?: number;
  /** Heartbeat interval (lease refresh and reaping), in ms. Default 1000; keep it well under the lease. */
  heartbeatMs?: number;
  /** Default: silent. */
  log?: Log;
}

/** Lock a survivor takes before reaping a dead node, in ms. */
const REAP_LOCK_MS = 5000;
/** How long a reaped node's lost users are remembered for its return (a stall, not a death), in ms. */
const LOST_TTL_MS = 24 * 3_600_000;
/**
 * Each turn's calls go out at its end, even while an earlier turn's are in flight, so a Redis that
 * hangs delays a call by its own command timeout, never by the calls queued before it. Waiting for
 * the call in flight made no larger batches: 3,869 script calls for a storm of 10,000 sign-ins and
 * their sign-outs, against 3,948 and 4,083 without waiting.
 */
const TURNS = { concurrency: Infinity };

/** How often a starting node looks again whether another node still counts itself alone, in ms. */
const SOLO_POLL_MS = 10;

export class RedisPresence implements Presence, SoloClaims {
  readonly #redis: Redis;
  readonly #nodeId: string;
  readonly #names: RedisNames;
  readonly #nodesHolding: NodesHolding;
  readonly #leaseTtlMs: number;
  readonly #heartbeatMs: number;
  readonly #log: Log;
  /** Users this node holds: the truth for this node, whatever Redis says. */
  readonly #held = new Set<string>();
  /**
   * The adds, removes and online asks of one turn of the event loop, each kind one script call
   * (batch-loader.ts). At a connection storm every sign-in adds its user and asks who of its
   * people is online: a command each would make 20,000 for 10,000 sign-ins, each costing the event
   * loop ioredis's work per command (arguments, encoding, a timer, the reply) and Redis a read and
   * a write. A user's add and remove are never in flight together: the core awaits each before the
   * next (roster.ts).
   *
   * Their answers: for an add, whether no other live node held the user (they came online); for a
   * remove, whether no live node holds the user now (they went offline); for an online ask, its
   * users that Redis counts online.
   */
  readonly #adds = new BatchLoader<string, boolean>(
    (userIds) => this.#eachUser(PRESENCE_ADD, [this.#names.nodeUsers(this.#nodeId), this.#names.nodeLost(this.#nodeId)], userIds),
    TURNS,
  );
  readonly #removes = new BatchLoader<string, boolean>((userIds) => this.#eachUser(PRESENCE_REMOVE, [this.#names.nodeUsers(this.#nodeId)], userIds), TURNS);
  readonly #onlineAsks = new BatchLoader<readonly string[], Set<string>>((asks) => this.#onlineMany(asks), TURNS);
  readonly #lostListeners: ((userIds: string[]) => void)[] = [];
  /** Users found lost before anyone listened (the registration in start()). */
  readonly #pendingLost: string[] = [];
  readonly #foundListeners: ((userIds: string[]) => void)[] = [];
  /** Users found again before anyone listened. */
  readonly #pendingFound: string[] = [];
  #timer: NodeJS.Timeout | null = null;
  /** SOLO (began()): the only node, answering arrivals and online questions itself. */
  #alone = false;
  #beating = false;
  #down = false;
  #closed = false;

  readonly #onReady = () => void this.#register('redis ready');
  readonly #onError = (err: Error) => this.#fault(err);

  constructor(options: RedisPresenceOptions) {
    this.#redis = options.redis;
    this.#nodeId = options.nodeId;
    this.#names = redisNames(options.prefix);
    this.#nodesHolding = new NodesHolding(this.#redis, this.#names);
    this.#leaseTtlMs = options.leaseTtlMs ?? 4000;
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#log = options.log ?? silentLog;
    this.#redis.on('ready', this.#onReady);
    this.#redis.on('error', this.#onError);
  }

  /**
   * Registers the node (which announces it, bus/solo.ts) and starts the heartbeat, then waits until
   * no other node counts itself alone: that node stops routing nothing through Redis once it hears
   * the announcement, and this node must not serve anyone before. The wait is bounded by the lease
   * (a claim lapses with it). Resolves even when Redis is down ('ready' registers later).
   */
  async start(): Promise<void> {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.#heartbeat(), this.#heartbeatMs);
    this.#timer.unref();
    await this.#register('start');
    await this.#waitForNoSolo();
  }

  /** SOLO_CLAIM for the bus (bus/solo.ts), renewed for as long as the lease. */
  async claim(holder: string): Promise<'claimed' | 'held' | 'shared'> {
    const n = this.#names;
    // Plain EVAL, as the release: a NOSCRIPT retry would run a claim after a release sent later.
    return (await evalScript(this.#redis, SOLO_CLAIM, [n.nodes, n.solo], [this.#nodeId, holder, this.#leaseTtlMs, n.nodesChannel])) as 'claimed' | 'held' | 'shared';
  }

  async release(holder: string): Promise<void> {
    await evalScript(this.#redis, SOLO_RELEASE, [this.#names.solo], [holder]);
  }

  /**
   * SOLO: this node is the only one, so arrivals and online questions are answered from its own
   * users, without Redis (a storm of sign-ins costs Redis nothing). Departures still go to Redis,
   * so that it never holds a user this node let go.
   */
  began(): void {
    this.#alone = true;
  }

  /** Writes every user this node holds to Redis (PRESENCE_REGISTER) before another node serves. */
  async ended(): Promise<void> {
    if (!this.#alone) return;
    this.#alone = false;
    await this.#register('another node joined');
  }

  /**
   * Resolves true when no other live node held the user. Redis down: true unless this node already
   * held them. While this node is alone (SOLO, began()), the same answer without Redis: no other
   * node holds anyone, and ended() writes the user to Redis before another node serves.
   */
  async add(userId: string): Promise<boolean> {
    const wasHeld = this.#held.has(userId);
    this.#held.add(userId);
    if (this.#alone) return !wasHeld;
    try {
      const first = await this.#adds.load(userId);
      return !wasHeld && first === true;
    } catch (err) {
      this.#fault(err);
      return !wasHeld;
    }
  }

  /**
   * Resolves true when no live node holds the user now. Redis down: true (from this node's view
   * the user left; friends on other nodes cannot be reached during the outage anyway).
   */
  async remove(userId: string): Promise<boolean> {
    this.#held.delete(userId);
    try {
      return (await this.#removes.load(userId)) === true;
    } catch (err) {
      this.#fault(err);
      return true;
    }
  }

  /**
   * The asks of one turn share one round trip, whatever their number of ids. Redis down, or this
   * node alone (SOLO): the ids this node holds.
   */
  async online(userIds: readonly string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    if (this.#alone) return this.#heldOf(userIds);
    try {
      const online = (await this.#onlineAsks.load(userIds)) ?? new Set<string>();
      // Local truth wins: a user held here is online even if Redis lost the entry.
      for (const id of userIds) if (this.#held.has(id)) online.add(id);
      return online;
    } catch (err) {
      this.#fault(err);
      return this.#heldOf(userIds);
    }
  }

  /** Those of `userIds` this node holds: the whole answer when no other node can hold anyone, or Redis is away. */
  #heldOf(userIds: readonly string[]): Set<string> {
    return new Set(userIds.filter((id) => this.#held.has(id)));
  }

  /**
   * The ids of the nodes holding any of these users, for the Redis bus's routing; the asks of a
   * tick share one Redis call (nodes-holding.ts). May include a dead node until it is reaped: a
   * publish nobody hears costs little. Rejects when Redis does not answer (the bus then delivers locally).
   */
  nodesHolding(userIds: readonly string[]): Promise<string[]> {
    return this.#nodesHolding.ask(userIds);
  }

  onLost(listener: (userIds: string[]) => void): void {
    this.#lostListeners.push(listener);
    // start() registers before the core subscribes: hand it what that registration found.
    const pending = this.#pendingLost.splice(0);
    if (pending.length > 0) this.#reportLost(pending);
  }

  onFound(listener: (userIds: string[]) => void): void {
    this.#foundListeners.push(listener);
    const pending = this.#pendingFound.splice(0);
    if (pending.length > 0) this.#report(this.#foundListeners, pending, 'onFound');
  }

  /**
   * Stops the heartbeat and removes this node's entries (the core removes each user first, so
   * their friends are told; whatever is left goes too). Does not quit the client it was given.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#redis.off('ready', this.#onReady);
    const n = this.#names;
    try {
      await runScript(this.#redis, PRESENCE_LEAVE, [n.nodes, n.nodeUsers(this.#nodeId), n.alive(this.#nodeId), n.nodeLost(this.#nodeId)], [
        this.#nodeId,
        n.userNodesPattern.head,
        n.userNodesPattern.tail,
      ]);
    } catch (err) {
      // The lease expires on its own and a survivor reaps the rest.
      this.#fault(err);
    }
    this.#held.clear();
    this.#redis.off('error', this.#onError);
  }

  /** Waits while another node holds the solo claim, at most a lease and a heartbeat; a claim of this NODE_ID's previous run is dropped. */
  async #waitForNoSolo(): Promise<void> {
    const deadline = Date.now() + this.#leaseTtlMs + this.#heartbeatMs;
    try {
      for (;;) {
        const holder = await this.#redis.get(this.#names.solo);
        if (holder === null) return;
        if (holder.startsWith(`${this.#nodeId} `)) {
          await this.release(holder);
          continue;
        }
        if (Date.now() >= deadline) {
          this.#log.warn({ nodeId: this.#nodeId, holder }, 'presence: another node still counts itself alone; serving anyway');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, SOLO_POLL_MS));
      }
    } catch (err) {
      // Redis is away: nobody can count itself alone without it for longer than its lease.
      this.#fault(err);
    }
  }

  /**
   * One PRESENCE_ADD or PRESENCE_REMOVE for the users of a turn (their scripts take the same
   * arguments): each user's answer, 1 read as true.
   */
  async #eachUser(script: Script, keys: string[], userIds: string[]): Promise<Map<string, boolean>> {
    const n = this.#names;
    const answers = (await runScript(this.#redis, script, keys, [
      this.#nodeId,
      n.alivePattern.head,
      n.alivePattern.tail,
      n.userNodesPattern.head,
      n.userNodesPattern.tail,
      ...userIds,
    ])) as number[];
    return new Map(userIds.map((id, i) => [id, answers[i] === 1]));
  }

  /** One PRESENCE_ONLINE for the asks of a turn, each id read once: the subset of each ask online in Redis. */
  async #onlineMany(asks: (readonly string[])[]): Promise<Map<readonly string[], Set<string>>> {
    const n = this.#names;
    const ids = [...new Set(asks.flat())];
    const indexes = (await runScript(
      this.#redis,
      PRESENCE_ONLINE,
      ids.map((id) => n.userNodes(id)),
      [n.alivePattern.head, n.alivePattern.tail],
    )) as number[];
    const online = new Set(indexes.map((i) => ids[i - 1] as string));
    return new Map(asks.map((ask) => [ask, new Set(ask.filter((id) => online.has(id)))]));
  }

  /** Writes the node and every local user to Redis, replacing what Redis had for this node. */
  async #register(reason: string): Promise<void> {
    if (this.#closed) return;
    const n = this.#names;
    try {
      // Plain EVAL: the snapshot of #held must run where it was sent, never after a newer ADD or REMOVE.
      const [lost, found] = (await evalScript(
        this.#redis,
        PRESENCE_REGISTER,
        [n.nodes, n.nodeUsers(this.#nodeId), n.alive(this.#nodeId), n.nodeLost(this.#nodeId)],
        [this.#nodeId, this.#leaseTtlMs, n.userNodesPattern.head, n.userNodesPattern.tail, n.alivePattern.head, n.alivePattern.tail, n.nodesChannel, ...this.#held],
      )) as [string[], string[]];
      if (this.#down) this.#log.info({ nodeId: this.#nodeId, users: this.#held.size, reason }, 'presence re-registered');
      this.#down = false;
      // Users this NODE_ID held before (a crashed incarnation, or before an outage) and nobody holds now.
      if (lost.length > 0) this.#reportLost(lost);
      if (found.length > 0) {
        this.#log.info({ nodeId: this.#nodeId, users: found.length, reason }, 'presence: users reaped during a stall are online again');
        if (this.#foundListeners.length === 0) this.#pendingFound.push(...found);
        else this.#report(this.#foundListeners, found, 'onFound');
      }
    } catch (err) {
      this.#fault(err);
    }
  }

  async #heartbeat(): Promise<void> {
    // A slow Redis must not stack heartbeats up.
    if (this.#beating || this.#closed || this.#redis.status !== 'ready') return;
    this.#beating = true;
    const n = this.#names;
    try {
      const [existed, ...dead] = (await runScript(this.#redis, PRESENCE_HEARTBEAT, [n.alive(this.#nodeId), n.nodes], [
        this.#nodeId,
        this.#leaseTtlMs,
        n.alivePattern.head,
        n.alivePattern.tail,
      ])) as [number, ...string[]];
      if (existed === 0) {
        // Redis restarted, or this node stalled past its lease and a survivor may have reaped it.
        this.#log.warn({ nodeId: this.#nodeId }, 'presence lease had lapsed: re-registering');
        await this.#register('lease lapsed');
      } else if (this.#down) {
        // Commands failed (e.g. timed out) without a reconnect, so no 'ready' will come: reconcile now.
        await this.#register('commands work again');
      }
      for (const deadId of dead) await this.#reap(deadId);
    } catch (err) {
      this.#fault(err);
    } finally {
      this.#beating = false;
    }
  }

  async #reap(deadId: string): Promise<void> {
    const n = this.#names;
    const lost = (await runScript(
      this.#redis,
      PRESENCE_REAP,
      [n.nodes, n.nodeUsers(deadId), n.reapLock(deadId), n.alive(deadId), n.nodeLost(deadId)],
      [deadId, REAP_LOCK_MS, n.alivePattern.head, n.alivePattern.tail, n.userNodesPattern.head, n.userNodesPattern.tail, LOST_TTL_MS],
    )) as string[];
    if (lost.length === 0) return;
    this.#log.info({ nodeId: this.#nodeId, deadNodeId: deadId, users: lost.length }, 'reaped a dead node');
    this.#reportLost(lost);
  }

  #reportLost(lost: string[]): void {
    if (this.#lostListeners.length === 0) this.#pendingLost.push(...lost);
    else this.#report(this.#lostListeners, lost, 'onLost');
  }

  #report(listeners: readonly ((userIds: string[]) => void)[], userIds: string[], what: string): void {
    for (const listener of listeners) {
      try {
        listener(userIds);
      } catch (err) {
        this.#log.warn({ err }, `${what} listener threw`);
      }
    }
  }

  /** Logs once per outage; a successful #register ends it. */
  #fault(err: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.#log.warn({ err, nodeId: this.#nodeId }, 'presence: redis unavailable, answering from local state');
  }
}
