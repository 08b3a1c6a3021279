/**
 * One WebSocket connection: its sign-in state, its outgoing rules (backpressure, INIT hold) and its
 * incoming rules (rate limit, one frame at a time). Spec §2.4 is the reference for every limit.
 */
import type { WebSocket } from 'ws';
import type { Client } from '../core/chat.js';
import type { Log } from '../core/log.js';
import type { Metrics } from '../metrics.js';
import { CLOSE_AUTH, CLOSE_RATE, CLOSE_SLOW } from '../protocol/close-codes.js';
import { encode, errorFrame } from '../protocol/codec.js';
import type { ServerMethod } from '../protocol/frames.js';
import { AppError, type ErrorContext } from '../errors.js';
import { RateLimiter } from './rate-limiter.js';

export interface ConnectionLimits {
  /** Time from accept to a successful AUTHENTICATE (spec §2.4: 4401). */
  authTimeoutMs: number;
  maxBufferedBytes: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  rateLimitStrikes: number;
}

/** How long after INIT a message it held is still expected live (publish lags commit by far less). */
const IN_INIT_MEMORY_MS = 5000;
/** setTimeout cannot wait longer than this (about 24.8 days); longer deadlines re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** awaiting-auth → authenticated (signIn; signOut goes back) → closing, which is final. */
export type ConnectionState = 'awaiting-auth' | 'authenticated' | 'closing';

export class Connection implements Client {
  readonly id: string;
  readonly #ws: WebSocket;
  readonly #limits: ConnectionLimits;
  readonly #metrics: Pick<Metrics, 'framesOut' | 'errors' | 'closes'>;
  readonly #log: Log;
  readonly #limiter: RateLimiter;
  #userId: string | null = null;
  #closing = false;
  #held: Array<[text: string, method: ServerMethod, messageId: string | undefined]> | null = null;
  /** Ids of INIT's missedMessages, for a moment after INIT: those are not sent again live. */
  #inInit: ReadonlySet<string> | null = null;
  #heldBytes = 0;
  #expiryTimer: NodeJS.Timeout | null = null;
  /** When the sign-in ends (ms epoch), null for never. */
  #expiresAt: number | null = null;
  /** An unauthenticated connection holds this timer and little else. */
  #authTimer: NodeJS.Timeout | null;
  /** The deadline passed while a first AUTHENTICATE was under way: if it fails, the connection ends. */
  #authDeadlinePassed = false;
  /** True while above half of maxBufferedBytes, so a slow reader is logged once per crossing. */
  #congested = false;
  /** Frames are handled one at a time: this is the tail of that chain, and how many wait in it. */
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  /** Closing for its rate once the frames accepted before are answered: takes no more frames. */
  #rateClosing = false;

  constructor(deps: { id: string; ws: WebSocket; limits: ConnectionLimits; metrics: Pick<Metrics, 'framesOut' | 'errors' | 'closes'>; log: Log }) {
    this.id = deps.id;
    this.#ws = deps.ws;
    this.#limits = deps.limits;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#limiter = new RateLimiter(deps.limits.rateLimitPerSec, deps.limits.rateLimitBurst);
    this.#authTimer = setTimeout(() => {
      this.#authTimer = null;
      this.#authDeadlinePassed = true;
      if (this.state === 'awaiting-auth') this.#endUnauthenticated(`no AUTHENTICATE within ${this.#limits.authTimeoutMs} ms`);
    }, deps.limits.authTimeoutMs);
    this.#authTimer.unref();
  }

  get userId(): string | null {
    return this.#userId;
  }

  get state(): ConnectionState {
    return this.#closing ? 'closing' : this.#userId === null ? 'awaiting-auth' : 'authenticated';
  }

  /** A refresh extends the sign-in (spec §2.3): a token that expires sooner never shortens it. */
  signIn(userId: string, expiresAt: number | null): void {
    const extends_ = this.#userId === userId;
    this.#userId = userId;
    if (extends_ && (this.#expiresAt === null || (expiresAt !== null && expiresAt < this.#expiresAt))) return;
    this.#armExpiry(expiresAt);
  }

  signOut(): void {
    this.#userId = null;
    this.#armExpiry(null);
    // The first AUTHENTICATE outlived the deadline and then failed: no second chance.
    if (this.#authDeadlinePassed) this.#endUnauthenticated(`no successful AUTHENTICATE within ${this.#limits.authTimeoutMs} ms`);
  }

  hold(): void {
    this.#held ??= [];
  }

  release(first: string | null, sent?: ReadonlySet<string>): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#heldBytes = 0;
    if (first === null) return;
    this.send(first, 'INIT');
    if (sent !== undefined && sent.size > 0) {
      // A message INIT holds may also be on its way live (stored just before INIT was read,
      // published just after): skip it for a moment, held or not.
      this.#inInit = sent;
      setTimeout(() => (this.#inInit = null), IN_INIT_MEMORY_MS).unref();
    }
    for (const [text, method, messageId] of held) {
      // Writing may have crossed MAX_BUFFERED_BYTES and closed the connection: stop there.
      if (this.#closing) return;
      if (messageId !== undefined && this.#inInit?.has(messageId)) continue;
      this.#write(text, method);
    }
  }

  send(text: string, method: ServerMethod, messageId?: string): void {
    if (this.#closing) return;
    if (messageId !== undefined && this.#inInit?.has(messageId)) return;
    this.#metrics.framesOut.inc({ method });
    if (this.#held !== null && method !== 'INIT') {
      this.#held.push([text, method, messageId]);
      this.#heldBytes += Buffer.byteLength(text);
      if (this.#heldBytes > this.#limits.maxBufferedBytes) this.close(CLOSE_SLOW, 'client reads too slowly');
      return;
    }
    this.#write(text, method);
  }

  /** Sends ERROR for a failed request; counts it by code. */
  sendError(err: AppError): void {
    this.#metrics.errors.inc({ code: err.code });
    this.send(encode(errorFrame(err)), 'ERROR');
  }

  /**
   * Runs `task` after the frames before it (one frame at a time per connection), unless the
   * client is over its rate limit: then RATE_LIMITED, and after enough in a row, close 4429.
   * Replies keep the order of the frames, refusals included, and a connection closed for its rate
   * still gets the answers to every frame accepted before (a stored message's ack above all).
   */
  enqueue(task: () => Promise<void>, context: ErrorContext): void {
    if (this.#closing || this.#rateClosing) return;
    if (this.#limiter.take() && this.#pending < this.#limits.rateLimitBurst) {
      this.#chain(task);
      return;
    }
    // Refusals wait in the queue too, to keep the order of replies. They stay bounded: each accepted
    // frame (at most the bucket's rate) is followed by at most rateLimitStrikes of them.
    const refusal = new AppError('RATE_LIMITED', 'too many frames; slow down', undefined, context);
    this.#chain(async () => this.sendError(refusal));
    if (this.#limiter.strikes >= this.#limits.rateLimitStrikes) {
      this.#rateClosing = true;
      void this.#tail.then(() => this.close(CLOSE_RATE, 'rate limit exceeded'));
    }
  }

  #chain(task: () => Promise<void>): void {
    this.#pending++;
    this.#tail = this.#tail.then(task).finally(() => {
      this.#pending--;
    });
  }

  /** Resolves when the frames queued so far have been handled. */
  drained(): Promise<void> {
    return this.#tail;
  }

  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#clearTimers();
    this.#metrics.closes.inc({ code: String(code) });
    this.#ws.close(code, reason);
  }

  /** Called by the gateway when the socket is gone, however it went. */
  closed(): void {
    this.#closing = true;
    this.#clearTimers();
  }

  #clearTimers(): void {
    this.#armExpiry(null);
    if (this.#authTimer !== null) clearTimeout(this.#authTimer);
    this.#authTimer = null;
  }

  #endUnauthenticated(message: string): void {
    this.sendError(new AppError('UNAUTHENTICATED', message));
    this.close(CLOSE_AUTH, 'authentication timeout');
  }

  #write(text: string, method: ServerMethod): void {
    const buffered = this.#ws.bufferedAmount;
    const half = this.#limits.maxBufferedBytes / 2;
    if (buffered > half) {
      if (!this.#congested) {
        this.#congested = true;
        this.#log.warn({ connectionId: this.id, userId: this.#userId, buffered }, 'slow reader: dropping TYPING events');
      }
      // Spec §2.4: cheap events go first under backpressure; messages never do.
      if (method === 'TYPING') return;
    } else {
      this.#congested = false;
    }
    this.#ws.send(text);
    if (this.#ws.bufferedAmount > this.#limits.maxBufferedBytes) {
      this.#log.warn({ connectionId: this.id, userId: this.#userId }, 'slow reader: closing with 4408');
      this.close(CLOSE_SLOW, 'client reads too slowly');
    }
  }

  #armExpiry(expiresAt: number | null): void {
    this.#expiresAt = expiresAt;
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    if (expiresAt === null || this.#closing) return;
    const wait = expiresAt - Date.now();
    this.#expiryTimer = setTimeout(
      () => {
        if (Date.now() < expiresAt) return this.#armExpiry(expiresAt);
        // Spec §2.3: a sign-in lasts until the token's exp unless AUTHENTICATE refreshed it.
        // If it ends before its INIT went out (exp within the verifier's clock tolerance), drop
        // what was held so the ERROR is not held, and lost, with it.
        this.#held = null;
        this.#heldBytes = 0;
        this.sendError(new AppError('UNAUTHENTICATED', 'token expired; authenticate again'));
        this.close(CLOSE_AUTH, 'token expired');
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
    this.#expiryTimer.unref();
  }
}
