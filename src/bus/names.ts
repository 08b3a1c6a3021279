/**
 * Every Redis key and channel name massenger uses, under one prefix (style §10), so two
 * deployments (or two test runs) can share one Redis. The one exception is the spec's fixed
 * channel `NOTIFICATIONS` (spec §3), which the main API publishes on.
 *
 * Keys and channels live in separate Redis namespaces, so the node channel `<p>:node:<id>` and
 * the node keys `<p>:node:<id>:alive` do not collide.
 */

/** The channel the main API publishes notifications on (spec §3); not prefixed. */
export const NOTIFICATIONS_CHANNEL = 'NOTIFICATIONS';

/**
 * A name that Lua scripts build themselves for ids they only learn while running (other nodes'
 * alive keys, users' node sets): `head + id + tail`.
 */
export interface NamePattern {
  head: string;
  tail: string;
}

/** The names under one prefix. Build once per adapter with {@link redisNames}. */
export interface RedisNames {
  readonly prefix: string;
  /** Set of every node id that registered and was not reaped yet. */
  readonly nodes: string;
  /** String with a TTL (the lease): the node is alive while it exists. */
  alive(nodeId: string): string;
  /** Set of user ids the node holds. */
  nodeUsers(nodeId: string): string;
  /** Set of node ids holding the user. */
  userNodes(userId: string): string;
  /** Short lock (SET NX PX) so one survivor reaps a dead node. */
  reapLock(nodeId: string): string;
  /**
   * Set of the node's users that a survivor reported offline when it reaped the node, kept (with
   * a TTL) so the node, if it was only stalled, announces them again when it re-registers.
   */
  nodeLost(nodeId: string): string;
  readonly alivePattern: NamePattern;
  readonly userNodesPattern: NamePattern;
  /** Pub/sub channel of one node: events for users it holds. */
  nodeChannel(nodeId: string): string;
  /**
   * Pub/sub channel every node subscribes to, for what nodes tell each other about themselves: a
   * node that registers announces itself, and a node about to count itself alone sends its
   * barrier (bus/solo.ts).
   */
  readonly nodesChannel: string;
  /**
   * String with a TTL: `<nodeId> <token>` of the node that counts itself alone, while it does
   * (bus/solo.ts). A node that registers waits until no other node holds it.
   */
  readonly solo: string;
  /**
   * Id of the last message of the conversation published through the order gate. Hash-tagged
   * with the conversation id so `seq` and `pending` share a Redis Cluster slot.
   */
  conversationSeq(conversationId: string): string;
  /** Hash prevId → message parked until its predecessor is published. Same slot as `seq`. */
  conversationPending(conversationId: string): string;
}

/** The names under `prefix` (default `massenger`). */
export function redisNames(prefix = 'massenger'): RedisNames {
  const node = `${prefix}:node:`;
  const user = `${prefix}:user:`;
  return {
    prefix,
    nodes: `${prefix}:nodes`,
    alive: (nodeId) => `${node}${nodeId}:alive`,
    nodeUsers: (nodeId) => `${node}${nodeId}:users`,
    userNodes: (userId) => `${user}${userId}:nodes`,
    reapLock: (nodeId) => `${node}${nodeId}:reaping`,
    nodeLost: (nodeId) => `${node}${nodeId}:lost`,
    alivePattern: { head: node, tail: ':alive' },
    userNodesPattern: { head: user, tail: ':nodes' },
    nodeChannel: (nodeId) => `${node}${nodeId}`,
    nodesChannel: `${prefix}:nodes`,
    solo: `${prefix}:solo`,
    conversationSeq: (conversationId) => `${prefix}:conv:{${conversationId}}:seq`,
    conversationPending: (conversationId) => `${prefix}:conv:{${conversationId}}:pending`,
  };
}
