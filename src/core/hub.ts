/**
 * This node's connections: user → the set of their authenticated connections (devices). The hub
 * knows nothing of sockets; a Peer is anything that can take an encoded frame.
 */
import type { ServerMethod } from '../protocol/frames.js';

export interface Peer {
  /** Unique on this node; the bus names the sender's connection by it. */
  readonly id: string;
  /**
   * Queues an encoded frame. `method` lets the transport apply its rules (spec §2.4: TYPING is the
   * first thing dropped under backpressure; messages never are) and count frames out; a
   * MESSAGE_SENT names its message, so a new session can skip what its INIT already holds.
   */
  send(text: string | Buffer, method: ServerMethod, messageId?: string): void;
}

export class Hub {
  /**
   * A user's one connection as is, a Set from the second on: most users hold one, and a Set
   * costs about 280 bytes per user on a node of idle connections.
   */
  readonly #byUser = new Map<string, Peer | Set<Peer>>();

  /** Adds a connection; true when it is the user's first on this node. */
  attach(userId: string, peer: Peer): boolean {
    const held = this.#byUser.get(userId);
    if (held === undefined) {
      this.#byUser.set(userId, peer);
      return true;
    }
    if (held instanceof Set) held.add(peer);
    else if (held !== peer) this.#byUser.set(userId, new Set([held, peer]));
    return false;
  }

  /** Removes a connection; true when it was the user's last on this node. */
  detach(userId: string, peer: Peer): boolean {
    const held = this.#byUser.get(userId);
    if (held === undefined) return false;
    if (held instanceof Set) {
      if (!held.delete(peer)) return false;
      // Back to a lone connection held as is.
      if (held.size === 1) this.#byUser.set(userId, held.values().next().value as Peer);
      return false;
    }
    if (held !== peer) return false;
    this.#byUser.delete(userId);
    return true;
  }

  holds(userId: string): boolean {
    return this.#byUser.has(userId);
  }

  /** Users with at least one connection on this node. */
  get userCount(): number {
    return this.#byUser.size;
  }

  /**
   * Sends one already-encoded frame to every local connection of these users (style §7: encode
   * once, send many). The text becomes bytes once, at the first recipient, and every connection is
   * handed those same bytes. The connection `except.peerId` gets `except.text` instead: the
   * sender's own copy, which carries its requestId. Returns how many connections were written to.
   */
  deliver(userIds: Iterable<string>, text: string, method: ServerMethod, except?: { peerId: string; text: string }, messageId?: string): number {
    let sent = 0;
    let bytes: Buffer | undefined;
    const write = (peer: Peer): void => {
      if (except !== undefined && peer.id === except.peerId) peer.send(except.text, method, messageId);
      else peer.send((bytes ??= Buffer.from(text)), method, messageId);
      sent++;
    };
    for (const userId of userIds) {
      const held = this.#byUser.get(userId);
      if (held === undefined) continue;
      if (held instanceof Set) held.forEach(write);
      else write(held);
    }
    return sent;
  }
}
