/**
 * The presence port: is a user online anywhere in the cluster? The hub counts a user's
 * connections on this node and calls `add` for the first and `remove` after the last, so this
 * port only ever sees node-level facts. `memory.ts` serves one node; `redis.ts` many, with leases
 * that expire when a node dies (spec §2.3: USER_LEFT within 5 s of the last close).
 */
export interface Presence {
  /** This node now holds the user. Resolves true when no node held them before (the user came online). */
  add(userId: string): Promise<boolean>;
  /** This node no longer holds the user. Resolves true when no node holds them now (the user went offline). */
  remove(userId: string): Promise<boolean>;
  /** The subset of userIds online on any node. */
  online(userIds: readonly string[]): Promise<Set<string>>;
  /**
   * Called with users that went offline because the node holding them died (never for this
   * node's own users), so the core can tell their friends. The memory variant never calls it.
   */
  onLost(listener: (userIds: string[]) => void): void;
  /**
   * Called with users of this node that the cluster had counted offline (this node's lease lapsed
   * and a survivor reaped it while they stayed connected) and that are online again now, so the
   * core can tell their friends once more. The memory variant never calls it.
   */
  onFound(listener: (userIds: string[]) => void): void;
  close(): Promise<void>;
}
