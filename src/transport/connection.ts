/**
 * One WebSocket connection, as the core sees it (a Client) and as the gateway drives it. It
 * composes three parts that change for different reasons: the sign-in (session.ts), what it writes
 * (outbound.ts) and what it reads (inbound.ts). Its own life is a small state machine:
 *
 *   open ──drain──▶ draining ──close──▶ closing ──socket gone──▶ closed
 *     │                 └──────────socket gone───────────────────▲
 *     ├──close──▶ closing                                        │
 *     └──socket gone─────────────────────────────────────────────┘
 *
 * draining: shutdown; no new frames are read, those taken are handled and their replies written.
 * closing: the close frame is queued after every reply; nothing more is read or written; a peer
 *   that does not answer it within CLOSE_HANDSHAKE_TIMEOUT_MS is cut off.
 * closed: the socket is gone; the session has given back its deadlines and its slot.
 */
import type { WebSocket } from 'ws';
import type { Client } from '../core/chat.js';
import type { Log } from '../core/log.js';
import { AppError, type ErrorContext } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { CLOSE_AUTH, CLOSE_RATE, CLOSE_SLOW } from '../protocol/close-codes.js';
import { encode, errorFrame } from '../protocol/codec.js';
import type { ServerMethod } from '../protocol/frames.js';
import type { Deadline, Deadlines } from './deadlines.js';
import { Inbound, type InboundOwner } from './inbound.js';
import { Outbound, type OutboundOwner, type OutboundSocket } from './outbound.js';
import { Session, type SessionOwner } from './session.js';
import type { TextFrames } from './text-frames.js';
import type { UserSlots } from './user-slots.js';
import type { WriteBatches } from './write-batches.js';

export interface ConnectionLimits {
  /** Time from accept to a successful AUTHENTICATE (spec §2.4: 4401). */
  authTimeoutMs: number;
  maxBufferedBytes: number;
  /** How long the unsent buffer may stay above maxBufferedBytes without going down (4408). */
  slowReaderGraceMs: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  rateLimitStrikes: number;
}

type ConnectionPhase = 'open' | 'draining' | 'closing' | 'closed';

/**
 * How long a closing connection waits for the peer's close frame before the socket is cut (ws
 * would wait 30 s): a peer that does not answer (a slowloris, a reader that stopped) frees its
 * place and its buffers sooner.
 */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 5000;

/** A peer that did not answer the close frame in time is cut off. */
function terminate(ws: WebSocket): void {
  ws.terminate();
}

/** The transitions the diagram above allows; any other request is ignored. */
const NEXT: Record<ConnectionPhase, readonly ConnectionPhase[]> = {
  open: ['draining', 'closing', 'closed'],
  draining: ['closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

/**
 * What every connection of a gateway shares: one object for all of them. A connection keeps only
 * what is its own; its parts call back into it through methods, not closures, so an idle
 * connection costs little memory (thousands of them are held at once).
 */
export interface ConnectionContext {
  limits: ConnectionLimits;
  clock: Deadlines;
  slots: UserSlots;
  writes: WriteBatches;
  frames: TextFrames;
  metrics: Pick<Metrics, 'countFrameOut' | 'errors' | 'closes'>;
  log: Log;
}

export class Connection implements Client, SessionOwner, OutboundOwner, InboundOwner {
  readonly id: string;
  readonly #ws: WebSocket;
  readonly #c: ConnectionContext;
  readonly #session: Session;
  readonly #out: Outbound;
  readonly #in: Inbound;
  #phase: ConnectionPhase = 'open';
  #handshake: Deadline | null = null;
  /** The peer answered the gateway's last heartbeat ping (or none was sent yet). */
  answeredPing = true;

  /** `socket` is the one under `ws`, as the upgrade handed it over. */
  constructor(id: string, ws: WebSocket, socket: OutboundSocket, context: ConnectionContext) {
    this.id = id;
    this.#ws = ws;
    this.#c = context;
    this.#session = new Session(context, this);
    this.#out = new Outbound(context, ws, socket, this);
    this.#in = new Inbound(context.limits, ws, this);
  }

  get phase(): ConnectionPhase {
    return this.#phase;
  }

  /** The signed-in user; stays set once the connection is gone, so its disconnect can be told. */
  get userId(): string | null {
    return this.#session.userId;
  }

  /** True before a successful AUTHENTICATE (spec §2.4: only AUTHENTICATE and PING are served). */
  get awaitingAuth(): boolean {
    return this.#session.state === 'awaiting-auth';
  }

  /** False while the socket is paused for backpressure: its pongs cannot be read, so the heartbeat waits. */
  get reading(): boolean {
    return this.#in.state !== 'paused' && this.#in.state !== 'stopped';
  }

  /** True while new frames are taken. */
  get accepting(): boolean {
    return this.#phase === 'open' && this.#in.accepting;
  }

  signIn(userId: string, expiresAt: number | null): void {
    this.#session.signIn(userId, expiresAt);
  }

  signOut(): void {
    this.#session.signOut();
  }

  hold(): void {
    this.#out.hold();
  }

  release(first: string | null, sent?: ReadonlySet<string>): void {
    this.#out.release(first, sent);
    if (first !== null) this.#session.started();
  }

  send(text: string | Buffer, method: ServerMethod, messageId?: string): void {
    this.#out.send(text, method, messageId);
  }

  /** Sends ERROR for a failed request; counts it by code. */
  sendError(err: AppError): void {
    this.#c.metrics.errors.inc({ code: err.code });
    this.send(encode(errorFrame(err)), 'ERROR');
  }

  /** Runs a frame's task in turn (inbound.ts). */
  enqueue(task: () => Promise<void> | void, context: ErrorContext): void {
    if (this.#phase !== 'open') return;
    this.#in.enqueue(task, context);
  }

  /**
   * Answers a failed request. A connection that is not signed in and failed its AUTHENTICATE
   * ends (spec §2.4: 4401 after the ERROR); one refused for MAX_CONNECTIONS_PER_USER ends with
   * 4429; a failed refresh leaves a live sign-in as it was.
   */
  fail(err: AppError): void {
    this.sendError(err);
    if (this.#session.state === 'refused') {
      this.close(CLOSE_RATE, 'too many connections for this user');
    } else if (err.context?.method === 'AUTHENTICATE' && err.code === 'UNAUTHENTICATED' && this.awaitingAuth) {
      this.close(CLOSE_AUTH, 'authentication failed');
    }
  }

  /** Shutdown, first step: reads no new frame; those taken are handled and answered. */
  drain(): void {
    if (!this.#enter('draining')) return;
    this.#in.stop();
  }

  /** Resolves when the frames taken so far have been handled; never rejects. */
  drained(): Promise<void> {
    return this.#in.drained();
  }

  /** Queues the close frame after every reply already written. */
  close(code: number, reason: string): void {
    if (!this.#enter('closing')) return;
    this.#in.close();
    this.#out.stop();
    this.#session.end();
    this.#c.metrics.closes.inc({ code: String(code) });
    this.#ws.close(code, reason);
    this.#handshake = this.#c.clock.schedule(Date.now() + CLOSE_HANDSHAKE_TIMEOUT_MS, terminate, this.#ws);
  }

  /** Called by the gateway when the socket is gone, however it went. */
  closed(): void {
    if (!this.#enter('closed')) return;
    this.#handshake = this.#c.clock.cancel(this.#handshake);
    this.#in.close();
    this.#out.stop();
    this.#session.end();
  }

  #enter(next: ConnectionPhase): boolean {
    if (!NEXT[this.#phase].includes(next)) return false;
    this.#phase = next;
    return true;
  }

  // What its parts tell it (SessionOwner, OutboundOwner, InboundOwner).

  authTimedOut(message: string): void {
    this.sendError(new AppError('UNAUTHENTICATED', message));
    this.close(CLOSE_AUTH, 'authentication timeout');
  }

  signInExpired(): void {
    // If the sign-in ends before its INIT went out (exp within the verifier's clock tolerance),
    // drop what was held so the ERROR is not held, and lost, with it.
    this.#out.dropHeld();
    this.sendError(new AppError('UNAUTHENTICATED', 'token expired; authenticate again'));
    this.close(CLOSE_AUTH, 'token expired');
  }

  readerTooSlow(): void {
    this.close(CLOSE_SLOW, 'client reads too slowly');
  }

  refuse(context: ErrorContext): void {
    this.sendError(new AppError('RATE_LIMITED', 'too many frames; slow down', undefined, context));
  }

  flooded(): void {
    this.close(CLOSE_RATE, 'rate limit exceeded');
  }

  frameTaskFailed(err: unknown): void {
    this.#c.log.error({ err, connectionId: this.id }, 'a frame task failed; the connection goes on');
  }
}
