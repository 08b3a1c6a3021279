/**
 * A token bucket per connection: `ratePerSec` frames per second on average, bursts up to
 * `burst`. Counts consecutive refusals so a client that keeps at it can be disconnected.
 */
/** Shared by every limiter: a bound function per connection would cost memory per connection. */
const monotonicNow = (): number => performance.now();

export class RateLimiter {
  #tokens: number;
  #last: number;
  #strikes = 0;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    readonly now: () => number = monotonicNow,
  ) {
    this.#tokens = burst;
    this.#last = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.ratePerSec);
    this.#last = t;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#strikes = 0;
      return true;
    }
    this.#strikes++;
    return false;
  }

  /** Refusals in a row since the last accepted frame. */
  get strikes(): number {
    return this.#strikes;
  }
}
