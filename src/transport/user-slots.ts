/**
 * MAX_CONNECTIONS_PER_USER: how many signed-in connections each user holds on this node. A session
 * takes a slot when it starts and gives it back when it ends, however it ends.
 */
export class UserSlots {
  readonly #max: number;
  readonly #held = new Map<string, number>();

  constructor(maxPerUser: number) {
    this.#max = maxPerUser;
  }

  /** Takes one of the user's slots; false when they are all taken. */
  take(userId: string): boolean {
    const held = this.#held.get(userId) ?? 0;
    if (held >= this.#max) return false;
    this.#held.set(userId, held + 1);
    return true;
  }

  give(userId: string): void {
    const held = this.#held.get(userId) ?? 0;
    // Deleted at zero, so the map holds only users who are signed in here.
    if (held <= 1) this.#held.delete(userId);
    else this.#held.set(userId, held - 1);
  }
}
