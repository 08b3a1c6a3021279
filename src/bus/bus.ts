/**
 * The bus port: moves already-encoded frames to the nodes that hold their recipients. The core
 * encodes once; the bus never parses or re-encodes `text` (style §7). `memory.ts` is one node,
 * `redis.ts` many.
 */

/** Where the sender's own copy goes: that connection gets `text` (it carries requestId) instead of the shared one. */
export interface Origin {
  nodeId: string;
  connectionId: string;
  text: string;
}

export type BusEvent =
  /** Send `text` to every connection of these users. */
  | { type: 'deliver'; userIds: string[]; text: string; kind: 'event' | 'typing' }
  /**
   * A stored chat message (MESSAGE_SENT). `prevId` is the message stored before it in its
   * conversation: the bus must hand messages of one conversation to every node in that order.
   */
  | {
      type: 'message';
      conversationId: string;
      messageId: string;
      prevId: string | null;
      userIds: string[];
      text: string;
      origin: Origin | null;
    }
  /** A conversation's membership changed: drop cached members. */
  | { type: 'invalidate'; conversationId: string };

export interface Bus {
  /** Hands an event to every node that holds one of its users (this node included). Rejects with UNAVAILABLE when it cannot. */
  publish(event: BusEvent): Promise<void>;
  /** The one handler for events this node must act on. Called in publish order per conversation. */
  subscribe(handler: (event: BusEvent) => void): void;
  /** Resolves when the bus's backing service answers; for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
