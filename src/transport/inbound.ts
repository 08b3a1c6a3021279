/**
 * What a connection reads (spec §2.4): its frames are handled one at a time, in order, under a
 * rate limit; and when too many wait, the socket itself stops reading (ws `pause()`), so a client
 * that sends faster than its frames can be handled is held back by TCP instead of by our memory.
 *
 *   reading ──too many waiting──▶ paused ──fewer waiting──▶ reading
 *   reading | paused ──stop──▶ stopped   (shutdown drain, or a flood: no more frames; socket paused)
 *   any ──close──▶ closed                (no more frames; the socket reads on, so the close handshake completes)
 *
 * The queue is a promise chain whose every link catches its task's failure: one task that rejects
 * (or throws) is logged and the frames behind it still run, so `drained()` always resolves and a
 * closed connection always reaches its disconnect (a ghost in presence otherwise).
 */
import type { WebSocket } from 'ws';
import type { ErrorContext } from '../errors.js';
import { RateLimiter } from './rate-limiter.js';

/** Frames waiting at which the socket is paused; it resumes at half of it. */
const PAUSE_AT_PENDING = 16;

type InboundState = 'reading' | 'paused' | 'stopped' | 'closed';

/** The tail of every queue with nothing in it. */
const IDLE: Promise<void> = Promise.resolve();

/** The limits every connection of a gateway shares (one object for all). */
export interface InboundLimits {
  rateLimitPerSec: number;
  /** Bucket size, and the most frames that may wait (more are refused, whatever the bucket holds). */
  rateLimitBurst: number;
  /** Refusals in a row after which the client counts as flooding. */
  rateLimitStrikes: number;
}

/** The connection the frames come from. */
export interface InboundOwner {
  /** Answers a refused frame with RATE_LIMITED; runs in the queue, in the frames' order. */
  refuse(context: ErrorContext): void;
  /** The client kept flooding: called once every frame accepted before has been handled (4429). */
  flooded(): void;
  /** A task failed in a way its own handling did not catch; the queue goes on. */
  frameTaskFailed(err: unknown): void;
}

export class Inbound {
  readonly #limits: InboundLimits;
  readonly #ws: Pick<WebSocket, 'pause' | 'resume'>;
  readonly #owner: InboundOwner;
  readonly #limiter: RateLimiter;
  #state: InboundState = 'reading';
  /** The tail of the chain of frames; it never rejects. IDLE while nothing waits, so an idle connection holds no promise of its own. */
  #tail: Promise<void> = IDLE;
  #pending = 0;

  constructor(limits: InboundLimits, ws: Pick<WebSocket, 'pause' | 'resume'>, owner: InboundOwner) {
    this.#limits = limits;
    this.#ws = ws;
    this.#owner = owner;
    this.#limiter = new RateLimiter(limits.rateLimitPerSec, limits.rateLimitBurst);
  }

  /** PAUSE_AT_PENDING, never above the most frames that may wait. */
  get #pauseAt(): number {
    return Math.max(1, Math.min(PAUSE_AT_PENDING, this.#limits.rateLimitBurst));
  }

  get state(): InboundState {
    return this.#state;
  }

  /** True while frames are taken (reading, or paused with some already read). */
  get accepting(): boolean {
    return this.#state === 'reading' || this.#state === 'paused';
  }

  /**
   * Runs `task` after the frames before it, unless the client is over its rate limit: then
   * RATE_LIMITED, and after enough in a row, `flooded`. Replies keep the order of the frames,
   * refusals included, and a flooding client still gets the answer to every frame accepted before
   * (a stored message's ack above all).
   */
  enqueue(task: () => Promise<void> | void, context: ErrorContext): void {
    if (!this.accepting) return;
    if (this.#limiter.take() && this.#pending < this.#limits.rateLimitBurst) {
      this.#chain(task);
      return;
    }
    // Refusals wait in the queue too, to keep the order of replies. They stay bounded: each accepted
    // frame (at most the bucket's rate) is followed by at most rateLimitStrikes of them.
    this.#chain(() => this.#owner.refuse(context));
    if (this.#limiter.strikes >= this.#limits.rateLimitStrikes) {
      this.stop();
      void this.#tail.then(() => this.#owner.flooded());
    }
  }

  /** Resolves when every frame taken so far has been handled; never rejects. */
  drained(): Promise<void> {
    return this.#tail;
  }

  /** Takes no more frames and stops reading the socket; what was taken still runs. */
  stop(): void {
    if (!this.accepting) return;
    this.#state = 'stopped';
    this.#ws.pause();
  }

  /** Takes no more frames, but lets the socket read, so the peer's close frame is seen. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#ws.resume();
  }

  #chain(task: () => Promise<void> | void): void {
    this.#pending++;
    if (this.#state === 'reading' && this.#pending >= this.#pauseAt) {
      this.#state = 'paused';
      this.#ws.pause();
    }
    // then(task): a task that throws synchronously becomes a rejection, caught below.
    // Closures made per frame, not kept per connection: an idle connection carries none.
    const tail: Promise<void> = this.#tail.then(task).then(
      () => this.#settled(tail),
      (err: unknown) => {
        this.#owner.frameTaskFailed(err);
        this.#settled(tail);
      },
    );
    this.#tail = tail;
  }

  #settled(link: Promise<void>): void {
    this.#pending--;
    // The last link settled: let it go.
    if (this.#tail === link) this.#tail = IDLE;
    if (this.#state === 'paused' && this.#pending <= Math.floor(this.#pauseAt / 2)) {
      this.#state = 'reading';
      this.#ws.resume();
    }
  }
}
