/**
 * The bus port: moves already-encoded frames to the nodes that hold their recipients. The core
 * encodes once; the bus never parses or re-encodes `text` (style §7). `memory.ts` is one node,
 * `redis.ts` many.
 */
import type { ServerMethod } from '../protocol/frames.js';

/** Where the sender's own copy goes: that connection gets `text` (it carries requestId) instead of the shared one. */
export interface Origin {
  nodeId: string;
  connectionId: string;
  text: string;
}

export type BusEvent =
  /** Send `text`, an encoded frame of this `method`, to every connection of these users. */
  | { type: 'deliver'; userIds: string[]; text: string; method: ServerMethod }
  /**
   * A stored chat message (MESSAGE_SENT). `prevId` is the message stored before it in its
   * conversation: the bus must hand messages of one conversation to every node in that order.
   */
  | {
      type: 'message';
      conversationId: string;
      messageId: string;
      prevId: string | null;
      /**
       * The predecessor was stored moments before this message, so its publication may still be
       * on its way: the bus waits for it even where it has no record of the conversation's order.
       */
      prevInFlight: boolean;
      userIds: string[];
      text: string;
      origin: Origin | null;
    }
  /**
   * A raw JSON text published by the main API on the Redis channel NOTIFICATIONS (spec §3).
   * Every node receives each one and delivers it to its own connections only; the core parses it.
   * Only the bus produces this type.
   */
  | { type: 'notification'; raw: string };

export interface Bus {
  /**
   * Hands an event to every node that holds one of its users (this node included), once to each,
   * keeping the order of `message` events of a conversation by their `prevId` chain. When the
   * backing service is unreachable it delivers to this node only (the message is already stored)
   * and resolves.
   */
  publish(event: Exclude<BusEvent, { type: 'notification' }>): Promise<void>;
  /** The one handler for events this node must act on. Called in publish order per conversation. */
  subscribe(handler: (event: BusEvent) => void): void;
  /**
   * Resolves once what this node published so far has reached this node's own handler (its
   * clients' acknowledgements among it), or after a bounded wait; for shutdown, before 1001.
   */
  flush(): Promise<void>;
  /** Resolves when the bus's backing service answers; for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
