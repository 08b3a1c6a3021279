/**
 * One clock for every deadline of a gateway's connections: the sign-in deadline, each token's
 * `exp`, the end of INIT's memory and the slow-reader check. A timer wheel: deadlines sit in
 * slots of `tickMs`, and one interval of that fixed period fires the slots that are due.
 *
 * Why not a setTimeout per deadline: Node keeps one timer list per distinct duration, and does not
 * delete an emptied list of unref'd timers on clearTimeout (only when it would have fired). Each
 * connection's `exp` is a distinct duration, so a node churning connections with 24-hour tokens
 * held a list per closed connection for a day. Here a cancelled deadline leaves nothing behind,
 * and the one interval always has the same duration.
 *
 * A deadline never fires early (slot s fires once `now >= s * tickMs >= at`) and at most about one
 * tick late. The interval runs only while deadlines are pending and is unref'd: it never keeps a
 * process alive.
 */

export interface Deadline {
  readonly at: number;
}

interface Entry extends Deadline {
  slot: number;
  readonly fire: (target: unknown) => void;
  readonly target: unknown;
}

export class Deadlines {
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  readonly #slots = new Map<number, Set<Entry>>();
  /** The first slot not yet fired. */
  #next: number;
  #size = 0;
  #timer: NodeJS.Timeout | null = null;

  /**
   * @param opts.tickMs the wheel's resolution: how late a deadline may fire (default 100 ms).
   * @param opts.now epoch milliseconds (default Date.now, the clock a token's `exp` is on).
   * @param opts.onError told of a callback that threw; the others still fire.
   */
  constructor(opts: { tickMs?: number; now?: () => number; onError: (err: unknown) => void }) {
    this.#tickMs = opts.tickMs ?? 100;
    this.#now = opts.now ?? Date.now;
    this.#onError = opts.onError;
    this.#next = Math.floor(this.#now() / this.#tickMs);
  }

  /** Deadlines pending. */
  get size(): number {
    return this.#size;
  }

  /**
   * Calls `fire` once, at or after `at` (epoch ms), unless cancelled first; with `target`, as
   * `fire(target)`. A deadline every connection holds passes one shared function and itself as
   * the target: a closure and its context per connection would cost about 100 bytes each.
   */
  schedule(at: number, fire: () => void): Deadline;
  schedule<T>(at: number, fire: (target: T) => void, target: T): Deadline;
  schedule(at: number, fire: (target: unknown) => void, target?: unknown): Deadline {
    if (this.#timer === null) this.#start();
    // A deadline already due goes into the next slot to fire, never into one already fired.
    const slot = Math.max(Math.ceil(at / this.#tickMs), this.#next);
    const entry: Entry = { at, slot, fire, target };
    let set = this.#slots.get(slot);
    if (set === undefined) this.#slots.set(slot, (set = new Set()));
    set.add(entry);
    this.#size++;
    return entry;
  }

  /** Forgets a deadline that has not fired; returns null, so callers can write `x = cancel(x)`. */
  cancel(deadline: Deadline | null): null {
    if (deadline === null) return null;
    const entry = deadline as Entry;
    const set = this.#slots.get(entry.slot);
    if (set !== undefined && set.delete(entry)) {
      this.#size--;
      if (set.size === 0) this.#slots.delete(entry.slot);
    }
    return null;
  }

  /** Stops the clock and forgets every deadline; for shutdown. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#slots.clear();
    this.#size = 0;
  }

  #start(): void {
    // After an idle spell, skip the empty slots in between instead of visiting each.
    this.#next = Math.max(this.#next, Math.floor(this.#now() / this.#tickMs));
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref();
  }

  #tick(): void {
    const due = Math.floor(this.#now() / this.#tickMs);
    // A late tick (a busy event loop) visits each slot it missed: a Map lookup apiece.
    while (this.#next <= due) {
      const slot = this.#next++;
      const set = this.#slots.get(slot);
      if (set === undefined) continue;
      // Taken out one by one, so a callback that cancels a later deadline of this slot (a close
      // cancels the connection's other deadlines) keeps it from firing.
      for (const entry of set) {
        set.delete(entry);
        this.#size--;
        try {
          entry.fire(entry.target);
        } catch (err) {
          this.#onError(err);
        }
      }
      this.#slots.delete(slot);
    }
    if (this.#size === 0 && this.#timer !== null) {
      // Stopped from the tick rather than on each cancel, so churn does not restart it per connection.
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}
