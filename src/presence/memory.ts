/**
 * Presence for one node: the set of users this process holds. No node can die without this one
 * dying too, so `onLost` listeners are never called.
 */
import type { Presence } from './presence.js';

export class MemoryPresence implements Presence {
  readonly #online = new Set<string>();

  /** True unless this node already held the user. */
  async add(userId: string): Promise<boolean> {
    if (this.#online.has(userId)) return false;
    this.#online.add(userId);
    return true;
  }

  /** Always true: with one node, nobody holds the user afterwards. */
  async remove(userId: string): Promise<boolean> {
    this.#online.delete(userId);
    return true;
  }

  async online(userIds: readonly string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.#online.has(id)));
  }

  onLost(_listener: (userIds: string[]) => void): void {}

  onFound(_listener: (userIds: string[]) => void): void {}

  async close(): Promise<void> {
    this.#online.clear();
  }
}
