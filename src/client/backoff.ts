/**
 * Reconnect delays: exponential with full jitter, so clients that lost the same server do not all
 * come back in the same instant, and a floor after a rate-limit close (4429), which the server
 * would answer the same way again if the client came straight back.
 */

export interface BackoffOptions {
  /** First delay's ceiling; doubles with every failed attempt. Default 500 ms. */
  baseMs?: number;
  /** Largest delay. Default 30000 ms. */
  maxMs?: number;
  /** Least delay after the server closed with 4429. Default 10000 ms. */
  rateLimitedMs?: number;
  /** Random number in [0, 1); replaceable so tests can pin the jitter. Default Math.random. */
  random?: () => number;
}

export class Backoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #rateLimitedMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = positive(options.baseMs ?? 500, 'baseMs');
    this.#maxMs = positive(options.maxMs ?? 30_000, 'maxMs');
    this.#rateLimitedMs = positive(options.rateLimitedMs ?? 10_000, 'rateLimitedMs');
    this.#random = options.random ?? Math.random;
  }

  /** How many delays were handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * The delay before the next attempt. Full jitter in [ceiling/2, ceiling): never zero, so a
   * server that closes at once is not hammered. After a 4429 the delay is at least rateLimitedMs
   * (plus up to half again of jitter), whatever the attempt count.
   */
  next(rateLimited = false): number {
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const jittered = ceiling / 2 + (this.#random() * ceiling) / 2;
    if (!rateLimited) return Math.round(jittered);
    return Math.round(Math.max(jittered, this.#rateLimitedMs * (1 + this.#random() / 2)));
  }

  /** After a connection that worked: the next failure starts from the base again. */
  reset(): void {
    this.#attempt = 0;
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}
